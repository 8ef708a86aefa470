// orch rm WORKER: stop it, remove its worktree (git-gtr's hooks around it), forget it (mirrors git gtr rm).

import { repoOf, requireRepo, resolveSession, type Context } from "../context.ts";
import { OrchError } from "../errors.ts";
import { isWorkerId, workerIdForBranch } from "../ids.ts";
import { booleanFlag, positional, stringFlag, type Flags } from "../flags.ts";
import { loadWorker } from "../store/workers.ts";
import { confirm } from "./confirm.ts";
import { removeWorker, type RemoveOutcome } from "./lifecycle.ts";
import { repairSpawn } from "./spawn-journal.ts";
import type { CommandResult } from "./types.ts";

export async function main(args: string[], flags: Flags, ctx: Context): Promise<CommandResult> {
  const force = booleanFlag(flags, "force");
  const deleteBranch = booleanFlag(flags, "deleteBranch");
  const { layout, session } = await resolveSession(ctx, stringFlag(flags, "orch"));
  const name = positional(args, 0, "worker");
  let record;
  try {
    record = loadWorker(layout, session.orchestrator_id, name);
  } catch (error) {
    // No record, but perhaps the remains of a spawn killed before it made one: rm removes those.
    if (!(error instanceof OrchError) || error.kind !== "not_found") throw error;
    const repo = await repoOf(ctx);
    const repaired = repo ? await repairSpawn(layout, session.orchestrator_id, isWorkerId(name) ? name : workerIdForBranch(name), repo.mainRoot) : [];
    if (repaired.length === 0) throw error;
    return {
      json: { success: true, removed: true, worker_id: name, repaired },
      human: (c) => `${c.green("removed")} what an interrupted spawn of ${name} left:\n${repaired.map((line) => `  ${line}\n`).join("")}`,
    };
  }
  const repo = await requireRepo(ctx);
  if (deleteBranch && !booleanFlag(flags, "yes")) await confirm(`Also delete branch ${record.branch}?`);
  const outcome = await removeWorker(layout, record, { force, deleteBranch, forceBranch: force }, ctx, repo.mainRoot);
  return {
    json: { success: true, removed: true, ...outcome },
    human: (c) => `${c.green("removed")} ${c.bold(record.worker_id)}: ${removedWhat(record.pending === true, outcome)}\n`,
  };
}

/** A pending worker (spawn --after, never started) had no worktree or branch: there is nothing to name. */
function removedWhat(pending: boolean, outcome: RemoveOutcome): string {
  if (pending) return "forgotten (pending: it had no worktree or branch yet)";
  const branch = outcome.branch_deleted ? `, branch ${outcome.branch}` : ` (branch ${outcome.branch} kept)`;
  return `worktree ${outcome.worktree_path}${branch}`;
}
