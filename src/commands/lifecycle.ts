// Stopping and removing workers: shared by orch stop, orch rm and orch clean.

import fs from "node:fs";
import path from "node:path";
import * as gitAdapter from "../adapters/git.ts";
import * as gtr from "../adapters/gtr.ts";
import { planWorkerEnd, type NotEnded } from "../adapters/processes.ts";
import { MARKER_FILE, type Context, type WorkerMarker } from "../context.ts";
import { OrchError } from "../errors.ts";
import { checkSshSetupFor, movedWorktree, placeOf } from "../hosts/place.ts";
import { readJson } from "../store/files.ts";
import type { StoreLayout } from "../store/layout.ts";
import { findWorker, forgetWorker, isWaitingToStart, type WorkerRecord } from "../store/workers.ts";
import {
  claimRemoval, claimResume, claimStart, claimSync, releaseRemoval, releaseResume, releaseStart, releaseSync,
  resumeClaimHeld, syncClaimVerb, type SyncClaimer,
} from "../store/worker-claims.ts";
import { recordWorkerEvent, workerState } from "../store/worker-status.ts";
import { runningAgentPid } from "../store/watchdog.ts";

export interface StopOutcome {
  agent_stopped: boolean;
  window_closed: boolean;
  /** How many processes of the worker (the agent, its tools, daemons it left) were ended. */
  processes_ended?: number;
  /** Processes of the worker orch found and could not end, with the reason. */
  not_ended?: NotEnded[];
}

/** Stops a started worker wherever it lives (see stopHere); one still pending is refused. */
export async function stopWorker(layout: StoreLayout, record: WorkerRecord, ctx: Context): Promise<StopOutcome> {
  if (record.pending) {
    const waits = `it waits for ${(record.after ?? []).join(", ")}`;
    const instead = "orch rm it to cancel it";
    throw new OrchError("refused", `worker ${record.worker_id} has not started yet (${waits}): ${instead}`);
  }
  return (await placeOf(layout, record, ctx)).stop();
}

/**
 * Ends the agent and what it started — its process tree and every process that carries the worker's
 * ORCH_ID and ORCH_WORKER, daemons that left the tree with setsid included — then closes its window;
 * the worktree and branch stay. A recorded pid is signalled only while it is still the process the
 * runner started (pid and start time): a reused pid is never touched.
 */
export async function stopHere(
  layout: StoreLayout, record: WorkerRecord, ctx: Context, by: "stop" | "rm" = "stop",
): Promise<StopOutcome> {
  // Under the resume claim: a resume at the same time starts no agent in a worker being stopped or removed.
  await waitForResumeClaim(layout, record, by);
  try {
    // Read again: the resume or spawn it waited for may have recorded a window since.
    const current = findWorker(layout, record.orchestrator_id, record.worker_id) ?? record;
    return await stopClaimed(layout, current, ctx);
  } finally {
    releaseResume(layout, record);
  }
}

/** How long stop and rm wait for a resume under way to have started its agent (it holds its claim until then). */
const RESUME_WAIT_MS = 30_000;

async function waitForResumeClaim(layout: StoreLayout, record: WorkerRecord, by: "stop" | "rm"): Promise<void> {
  const held = () => resumeClaimHeld(layout, record);
  await waitToClaim(record, RESUME_WAIT_MS, () => claimResume(layout, record, by), held);
}

/**
 * Takes a claim of the worker (`claim`), waiting up to `waitMs` while another command holds it; then refused
 * (`held` says by whom), and not_found when the worker was removed meanwhile.
 */
async function waitToClaim(
  record: WorkerRecord, waitMs: number, claim: () => "claimed" | "held" | "gone", held: () => OrchError,
): Promise<void> {
  const until = Date.now() + waitMs;
  for (;;) {
    const outcome = claim();
    if (outcome === "claimed") return;
    if (outcome === "gone") {
      throw new OrchError("not_found", `no worker ${record.worker_id}: another orch command removed it meanwhile`);
    }
    if (Date.now() > until) throw held();
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function stopClaimed(layout: StoreLayout, record: WorkerRecord, ctx: Context): Promise<StopOutcome> {
  // Recorded first: the runner and the watchdogs then see a stopped worker, not a dead one, and send
  // no task_failed for the agent ending under the signal.
  if (workerState(layout, record).status !== "stopped") {
    recordWorkerEvent(layout, record, "stopped", "stopped by the orchestrator");
  }
  const agentPid = runningAgentPid(layout, record);
  const endProcesses = planWorkerEnd({ orchestratorId: record.orchestrator_id, workerId: record.worker_id }, agentPid);
  let windowClosed = false;
  if (record.window_id) {
    const { killWindow } = await import("../adapters/tmux.ts");
    windowClosed = await killWindow(record.window_id, ctx.env, record.tmux_server);
  }
  const outcome = await endProcesses();
  for (const left of outcome.notEnded) {
    ctx.warn(`could not end process ${left.pid} (${left.name}) of worker ${record.worker_id}: ${left.reason}`);
  }
  fs.rmSync(layout.agentPidFile(record.orchestrator_id, record.worker_id), { force: true });
  return {
    agent_stopped: agentPid !== undefined && !outcome.notEnded.some((left) => left.pid === agentPid),
    window_closed: windowClosed,
    processes_ended: outcome.ended.length,
    not_ended: outcome.notEnded,
  };
}

export interface RemoveOptions {
  force: boolean;
  deleteBranch: boolean;
  /**
   * Delete the branch even when its changes are not in the main worktree's HEAD (rm --force, a PR merged on
   * GitHub).
   */
  forceBranch: boolean;
}

export interface RemoveOutcome extends StopOutcome {
  worker_id: string;
  branch: string;
  /** null for a pending worker: it had none. */
  worktree_path: string | null;
  branch_deleted: boolean;
  /** The branch is still there after the removal (false: deleted now, or gone before it). */
  branch_kept?: boolean;
  /** A remote worker its host no longer had (its store, session or clone gone there): only forgotten here. */
  forgotten_only?: boolean;
}

/**
 * Why the folder a worker's record names is not the worktree orch made for it, or undefined when it is:
 * one of this repository's linked worktrees (git worktree list) whose private git dir holds this worker's
 * marker. An edited record could otherwise have rm remove another worker's worktree, or any folder.
 */
export async function notTheWorkersWorktree(mainRoot: string, record: WorkerRecord): Promise<string | undefined> {
  const real = fs.realpathSync(record.worktree_path);
  const linked = await gitAdapter.linkedWorktrees(mainRoot);
  if (!linked.some((dir) => fs.existsSync(dir) && fs.realpathSync(dir) === real)) {
    return `is not a linked worktree of ${mainRoot} (git worktree list)`;
  }
  const halfRemoved = !fs.existsSync(path.join(record.worktree_path, ".git"));
  const gitDir = halfRemoved
    ? gitAdapter.orphanedWorktreeGitDir(await gitAdapter.commonGitDir(mainRoot), record.worktree_path)
    : gitAdapter.worktreeGitDir(record.worktree_path);
  if (gitDir === undefined) return "is no worktree git knows (it has no .git, and no git worktree names it)";
  const markerFile = path.join(gitDir, MARKER_FILE);
  let marker: WorkerMarker | undefined;
  try {
    marker = readJson<WorkerMarker>(markerFile);
  } catch {
    marker = undefined; // a damaged marker names nobody
  }
  if (marker?.orchestrator_id === record.orchestrator_id && marker.worker_id === record.worker_id) return undefined;
  return "is not this worker's worktree (its marker names another worker, or none)";
}

/**
 * Removes a worker wherever it lives, under its removal claim (one command at a time; the record is read
 * again once claimed); one still pending (spawn --after) is only forgotten.
 */
export async function removeWorker(
  layout: StoreLayout, given: WorkerRecord, options: RemoveOptions, ctx: Context, mainRoot: string,
): Promise<RemoveOutcome> {
  // Refused before the claim: taking it over from a command that was killed would change the store.
  await checkSshSetupFor([given], ctx);
  const claim = claimRemoval(layout, given);
  const record = claim === "claimed" ? findWorker(layout, given.orchestrator_id, given.worker_id) : undefined;
  // Marked so that clean can tell a worker another command removes from one it failed to remove.
  const byOther = { removed_by_other: true };
  if (claim === "held") {
    throw new OrchError("refused", `worker ${given.worker_id} is being removed by another orch command`, byOther);
  }
  if (record === undefined) {
    if (claim === "claimed") releaseRemoval(layout, given);
    const why = `no worker ${given.worker_id}: another orch command removed it meanwhile`;
    throw new OrchError("not_found", why, byOther);
  }
  let syncClaimed = false;
  try {
    // A sync under way rebases in the worktree and tells the worker: it ends first (one that comes after
    // sees the removal claim and skips the worker). The sync claim is kept: it goes with the worker.
    await waitForSyncClaim(layout, record);
    syncClaimed = true;
    return await removeClaimed(layout, record, options, ctx, mainRoot);
  } catch (error) {
    if (findWorker(layout, record.orchestrator_id, record.worker_id)) {
      // Only a sync claim this rm took: a wait that ran out leaves the sync's own to it.
      if (syncClaimed) releaseSync(layout, record);
      releaseRemoval(layout, record);
    }
    throw error;
  }
}

/** How long rm, clean, merge and apply wait for a sync of the worker under way to end (a rebase, then telling it). */
const SYNC_WAIT_MS = 60_000;

/**
 * Waits for the worker's sync claim (a sync, or an apply, under way ends first) and takes it for `by`. Refused
 * once the wait runs out; not_found when the worker was removed meanwhile.
 */
export async function waitForSyncClaim(
  layout: StoreLayout, record: WorkerRecord, by: SyncClaimer = "sync",
): Promise<void> {
  const held = () => new OrchError(
    "refused", `worker ${record.worker_id} is being ${syncClaimVerb(layout, record)} by another orch command`);
  await waitToClaim(record, SYNC_WAIT_MS, () => claimSync(layout, record, by), held);
}

/** How long rm and clean wait for a start of a pending worker under way (its worktree, window, agent). */
const START_WAIT_MS = 60_000;

/**
 * A pending worker read again once no start of it is under way: under its start claim (a start that comes
 * later leaves it), or as the start under way saved it (started, or failed to). Before, a start that saved
 * it started just after rm read it pending had it forgotten: its worktree, branch, window and agent left.
 */
async function startSettled(layout: StoreLayout, record: WorkerRecord): Promise<WorkerRecord> {
  const until = Date.now() + START_WAIT_MS;
  for (;;) {
    const claimed = claimStart(layout, record);
    const now = findWorker(layout, record.orchestrator_id, record.worker_id) ?? record;
    if (claimed && !now.pending) releaseStart(layout, record); // started before: removed as started
    if (claimed || !isWaitingToStart(now)) return now;
    if (Date.now() > until) {
      throw new OrchError("refused", `worker ${record.worker_id} is being started by another orch command`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function removeClaimed(
  layout: StoreLayout, record: WorkerRecord, options: RemoveOptions, ctx: Context, mainRoot: string,
): Promise<RemoveOutcome> {
  if (record.pending) {
    const now = await startSettled(layout, record);
    if (!now.pending) return (await placeOf(layout, now, ctx)).remove(options, mainRoot);
    // Recorded by spawn --after and never started: no worktree, window or agent to remove, but what a start of
    // it killed with -9 half-way left (its worktree, the branch it made).
    forgetWorker(layout, record.orchestrator_id, record.worker_id);
    const { repairSpawnsOf } = await import("./spawn-journal.ts");
    for (const line of await repairSpawnsOf(layout, record.orchestrator_id, record.branch, mainRoot)) ctx.warn(line);
    return {
      worker_id: record.worker_id,
      branch: record.branch,
      worktree_path: null,
      branch_deleted: false,
      agent_stopped: false,
      window_closed: false,
    };
  }
  return (await placeOf(layout, record, ctx)).remove(options, mainRoot);
}

/**
 * removeWorker of a started worker on this machine: refuses a dirty worktree without force, runs preRemove
 * (which can refuse), stops the agent, removes the worktree (and the branch if asked), runs postRemove,
 * forgets the worker.
 */
export async function removeHere(
  layout: StoreLayout, record: WorkerRecord, options: RemoveOptions, ctx: Context, mainRoot: string,
): Promise<RemoveOutcome> {
  const present = fs.existsSync(record.worktree_path);
  const moved = options.force ? undefined : await movedWorktree(layout, record);
  if (moved !== undefined) throw new OrchError("refused", `worker ${record.worker_id}: ${moved}; nothing was removed`);
  const notOurs = present ? await notTheWorkersWorktree(mainRoot, record) : undefined;
  if (notOurs !== undefined) {
    const what = `worker ${record.worker_id}'s record names ${record.worktree_path}, which ${notOurs}`;
    if (!options.force) {
      throw new OrchError("refused", `${what}: nothing was removed (orch rm ${record.worker_id} --force forgets ` +
        "the worker and leaves that folder)");
    }
    ctx.warn(`${what}: it is left as it is; only the worker was stopped and forgotten`);
    const stopped = await stopHere(layout, record, ctx, "rm");
    forgetWorker(layout, record.orchestrator_id, record.worker_id);
    return {
      worker_id: record.worker_id, branch: record.branch, worktree_path: null, branch_deleted: false,
      forgotten_only: true, ...stopped,
    };
  }
  if (options.deleteBranch) {
    // git deletes no branch checked out somewhere: found only after the worktree went, the worker would be
    // half removed (its worktree gone, its branch and record kept).
    const real = (dir: string) => (fs.existsSync(dir) ? fs.realpathSync(dir) : dir);
    const own = real(record.worktree_path);
    const elsewhere = (await gitAdapter.worktreesOfBranch(mainRoot, record.branch)).find((dir) => real(dir) !== own);
    if (elsewhere !== undefined) throw gitAdapter.branchInUse(record.branch, elsewhere);
  }
  if (options.deleteBranch && !options.forceBranch && (await gitAdapter.branchExists(mainRoot, record.branch))) {
    if (!(await gitAdapter.isMergedInto(mainRoot, `refs/heads/${record.branch}`, "HEAD"))) {
      throw new OrchError("refused", `branch ${record.branch} is not merged into ${mainRoot}'s HEAD: ` +
        "nothing was removed (use --force to delete it anyway)");
    }
  }
  // Its .git gone, what is left of it was being removed by an rm or clean that was killed half-way.
  const halfRemoved = present && !fs.existsSync(path.join(record.worktree_path, ".git"));
  if (halfRemoved && !options.force) {
    throw new OrchError("refused", `worker ${record.worker_id}'s worktree ${record.worktree_path} was partly removed ` +
      `(its .git is gone: an rm or clean killed half-way?): nothing was removed; orch rm ${record.worker_id} ` +
      "--force removes the rest");
  }
  if (present && !options.force) {
    const dirty = await gitAdapter.dirtyPaths(record.worktree_path);
    if (dirty.length) {
      const listed = `${dirty.slice(0, 5).join(", ")}${dirty.length > 5 ? ", …" : ""}`;
      const message = `worker ${record.worker_id} has uncommitted changes (${listed}): commit them or use --force`;
      throw new OrchError("refused", message);
    }
  }
  const settings = await gitAdapter.readSettings(mainRoot);
  const where = { repoRoot: mainRoot, worktreePath: record.worktree_path, branch: record.branch };
  if (present && record.backend === "git") {
    const failures = await gtr.runHooks("preRemove", settings, { ...where, cwd: record.worktree_path }, ctx.env);
    if (failures.length && !options.force) {
      const hooksFailed = gtr.describeHookFailures("preRemove", failures);
      throw new OrchError("refused", `${hooksFailed}: nothing was removed (use --force to remove anyway)`);
    }
  }
  const stopped = await stopHere(layout, record, ctx, "rm");
  let branchDeleted = false;
  if (record.backend === "gtr" && present) {
    await gtr.gtrRemove(mainRoot, record.branch, { force: options.force, deleteBranch: false }, ctx.env);
  } else {
    await gitAdapter.worktreeRemove(mainRoot, record.worktree_path, options.force, record.worker_id);
  }
  // Gone already when an rm killed after deleting it is run again, or someone deleted it by hand.
  const branchThere = await gitAdapter.branchExists(mainRoot, record.branch);
  if (options.deleteBranch && branchThere) {
    // Checked above: merged (by content, so squash merges count) or forced, hence -D.
    await gitAdapter.deleteBranch(mainRoot, record.branch, true, ctx.warn);
    branchDeleted = true;
  }
  if (record.backend === "git") {
    const failures = await gtr.runHooks("postRemove", settings, { ...where, cwd: mainRoot }, ctx.env);
    if (failures.length) ctx.warn(gtr.describeHookFailures("postRemove", failures));
  }
  forgetWorker(layout, record.orchestrator_id, record.worker_id);
  return {
    worker_id: record.worker_id,
    branch: record.branch,
    worktree_path: record.worktree_path,
    branch_deleted: branchDeleted,
    branch_kept: branchThere && !branchDeleted,
    ...stopped,
  };
}
