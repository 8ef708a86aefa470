// orch rm WORKER: stop it, remove its worktree (git-gtr's hooks around it), forget it (mirrors git gtr rm).

import { requireRepo, resolveSession, type Context } from "../context.ts";
import { booleanFlag, positional, stringFlag, type Flags } from "../flags.ts";
import { loadWorker } from "../store/workers.ts";
import { confirm } from "./confirm.ts";
import { removeWorker } from "./lifecycle.ts";
import type { CommandResult } from "./types.ts";

export async function main(args: string[], flags: Flags, ctx: Context): Promise<CommandResult> {
  const force = booleanFlag(flags, "force");
  const deleteBranch = booleanFlag(flags, "deleteBranch");
  const { layout, session } = await resolveSession(ctx, stringFlag(flags, "orch"));
  const record = loadWorker(layout, session.orchestrator_id, positional(args, 0, "worker"));
  const repo = await requireRepo(ctx);
  if (deleteBranch && !booleanFlag(flags, "yes")) await confirm(`Also delete branch ${record.branch}?`);
  const outcome = await removeWorker(layout, record, { force, deleteBranch, forceBranch: force }, ctx, repo.mainRoot);
  return {
    json: { success: true, removed: true, ...outcome },
    human: (c) => `${c.green("removed")} ${c.bold(record.worker_id)}: worktree ${record.worktree_path}${outcome.branch_deleted ? `, branch ${record.branch}` : ` (branch ${record.branch} kept)`}\n`,
  };
}
