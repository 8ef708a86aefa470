// orch rm WORKER: stop it, remove its worktree (git-gtr's hooks around it), forget it (mirrors git gtr rm).

import path from "node:path";
import { repoOf, requireRepo, resolveSession, type Context } from "../context.ts";
import { OrchError } from "../errors.ts";
import { isWorkerId } from "../ids.ts";
import { booleanFlag, positional, stringFlag, type Flags } from "../flags.ts";
import { checkSshSetupFor, onHost } from "../hosts/place.ts";
import { CorruptWorkerRecord, forgetWorker, loadWorker, type WorkerRecord } from "../store/workers.ts";
import { confirm } from "./confirm.ts";
import { removeWorker, type RemoveOutcome } from "./lifecycle.ts";
import { repairSpawn, repairSpawnsOf } from "./spawn-journal.ts";
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
    // An unreadable record says nothing of a worktree or a branch: --force forgets the worker, as promised,
    // when named by its id (by a branch, it may be another branch's: the error names the id).
    if (error instanceof CorruptWorkerRecord && force && error.workerId === name) {
      forgetWorker(layout, session.orchestrator_id, error.workerId);
      const left = "its worktree and branch, if it had any, are left (git worktree list shows them)";
      ctx.warn(`worker ${error.workerId} had an unreadable record: only the record was removed; ${left}`);
      return {
        json: { success: true, removed: true, worker_id: error.workerId, record_unreadable: true },
        human: (c) => `${c.green("removed")} ${c.bold(error.workerId)}: its unreadable record\n`,
      };
    }
    // No record, but perhaps the remains of a spawn killed before it made one: rm removes those.
    if (!(error instanceof OrchError) || error.kind !== "not_found") throw error;
    const repo = await repoOf(ctx);
    const repair = isWorkerId(name) ? repairSpawn : repairSpawnsOf;
    const repaired = repo ? await repair(layout, session.orchestrator_id, name, repo.mainRoot) : [];
    if (repaired.length === 0) throw error;
    return {
      json: { success: true, removed: true, worker_id: name, repaired },
      human: (c) => {
        const leftovers = repaired.map((line) => `  ${line}\n`).join("");
        return `${c.green("removed")} what an interrupted spawn of ${name} left:\n${leftovers}`;
      },
    };
  }
  const repo = await requireRepo(ctx);
  if (record.host === undefined && !record.pending) {
    const { refuseBlockedTmux, refuseReadOnlyFolders } = await import("../sandbox.ts");
    refuseReadOnlyFolders([
      { dir: repo.commonDir, why: "rm removes the worktree (and the branch) from the git dir" },
      { dir: path.dirname(record.worktree_path), why: "rm removes the worker's worktree there" },
    ], ctx.env);
    if (record.window_id) await refuseBlockedTmux(ctx.env);
  }
  // Refused before asking anything: the answer would be wasted.
  await checkSshSetupFor([record], ctx);
  if (deleteBranch && !booleanFlag(flags, "yes")) await confirm(`Also delete branch ${record.branch}?`);
  const outcome = await removeWorker(layout, record, { force, deleteBranch, forceBranch: force }, ctx, repo.mainRoot);
  return {
    json: { success: true, removed: true, ...outcome },
    human: (c) => `${c.green("removed")} ${c.bold(record.worker_id)}: ${removedWhat(record, outcome)}\n`,
  };
}

/** A pending worker (spawn --after, never started) had no worktree or branch: there is nothing to name. */
function removedWhat(record: WorkerRecord, outcome: RemoveOutcome): string {
  // Started meanwhile (its start saved it as this rm read it pending), it is removed as started.
  if (record.pending === true && outcome.worktree_path === null && !outcome.forgotten_only) {
    return "forgotten (pending: it had no worktree or branch yet)";
  }
  if (outcome.forgotten_only && !onHost(record)) {
    return `forgotten only (the folder its record names, ${record.worktree_path}, is not its worktree and is left)`;
  }
  if (outcome.forgotten_only) {
    const branch = outcome.branch_deleted ? `; branch ${outcome.branch} deleted here` : "";
    return `forgotten here only (its worktree on its host, if any, is left)${branch}`;
  }
  return `worktree ${outcome.worktree_path}${branchWhat(outcome)}`;
}

/** What became of the branch: deleted by this rm, kept, or gone before it (a killed rm deleted it). */
function branchWhat(outcome: RemoveOutcome): string {
  if (outcome.branch_deleted) return `, branch ${outcome.branch}`;
  if (outcome.branch_kept === false) return ` (branch ${outcome.branch} was gone already)`;
  return ` (branch ${outcome.branch} kept)`;
}
