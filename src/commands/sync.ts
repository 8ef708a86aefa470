// orch sync [WORKER…|--all] [--rebase|--merge]: bring workers onto the current tip of their base branch,
// in their own worktrees, when the worktree is clean and the agent is not in a turn; a conflicting one is
// left exactly as it was and told its conflict. Every worker whose base moved is told (base_moved).

import fs from "node:fs";
import path from "node:path";
import * as gitAdapter from "../adapters/git.ts";
import type { Repo } from "../adapters/repo.ts";
import { MARKER_FILE, requireRepo, resolveSession, type Context, type WorkerMarker } from "../context.ts";
import { OrchError, usage } from "../errors.ts";
import { guardInterrupts, interruptSignal } from "../interrupt.ts";
import { booleanFlag, stringFlag, type Flags } from "../flags.ts";
import type { Colors } from "../output.ts";
import {
  branchesReadableHere, checkSshSetupFor, fetchBranchesWherePossible, onHost, placeOf, type WorkerPlace,
} from "../hosts/place.ts";
import { claimTelling, noteToldBase, owesSync, type SyncOwed } from "../store/coherence.ts";
import { processGroupExists, isSameProcess, processStartTime } from "../proc.ts";
import { readJson, storeError, toJson, writeJsonAtomic } from "../store/files.ts";
import type { StoreLayout } from "../store/layout.ts";
import { findWorker, listWorkers, loadWorker, saveWorker, type WorkerRecord } from "../store/workers.ts";
import { claimSync, releaseSync, removalUnderWay, syncClaimVerb } from "../store/worker-claims.ts";
import { workerState } from "../store/worker-status.ts";
import { runningAgentPid } from "../store/watchdog.ts";
import { baseTipsOf, reconcile, standingsOf, tellOnce, tellWorker, type MoveNotice } from "./coherence.ts";
import type { CommandResult } from "./types.ts";

export type SyncMethod = "rebase" | "merge";

export interface SyncOutcome {
  synced: string[];
  conflicted: { worker_id: string; conflict_paths: string[] }[];
  told: string[];
  up_to_date: string[];
  skipped: { worker_id: string; reason: string }[];
}

/**
 * Whether the agent is in a turn: its process runs and its status says it is at work (running), or
 * holds a turn open while it waits (waiting for an answer, blocked on a person). An agent that is
 * gone, idle at its prompt, or has reported done or failed is not in a turn.
 */
export function agentInTurn(layout: StoreLayout, record: WorkerRecord): boolean {
  const status = workerState(layout, record).status;
  if (status !== "running" && status !== "waiting" && status !== "blocked") return false;
  return runningAgentPid(layout, record) !== undefined;
}

/** Why a worker cannot be synced onto `tip` now, or undefined when it can. */
async function syncBlocker(layout: StoreLayout, record: WorkerRecord, tip: string): Promise<string | undefined> {
  const worktree = record.worktree_path;
  if (!fs.existsSync(worktree)) return `its worktree ${worktree} is gone`;
  if (agentInTurn(layout, record)) return "its agent is in a turn (sync it when it is idle or done)";
  // A held index lock: another git runs there, and a merge that cannot write the index leaves MERGE_HEAD behind.
  if (fs.existsSync(path.join(gitAdapter.worktreeGitDir(worktree), "index.lock"))) {
    return "its index is locked (index.lock): another git command runs in its worktree, or died there";
  }
  const operation = await gitAdapter.operationInProgress(worktree);
  if (operation) return `${operation} is in progress in its worktree`;
  // git rebase and git merge work on whatever is checked out: another branch, or a detached HEAD, would
  // be moved instead of the worker's branch.
  const checkedOut = await gitAdapter.currentBranch(worktree);
  if (checkedOut !== record.branch) {
    return `its worktree has ${checkedOut === null ? "a detached HEAD" : `branch ${checkedOut}`} checked out, ` +
      `not ${record.branch}`;
  }
  const dirty = await gitAdapter.dirtyPaths(worktree);
  if (dirty.length) return `uncommitted changes in ${dirty.slice(0, 5).join(", ")}${dirty.length > 5 ? ", …" : ""}`;
  // An ignored file (a .env, build output) where the new base brings a tracked file: git's checkout
  // would overwrite it without a word.
  const inTheWay = await gitAdapter.dirtyPathsTouched(worktree, worktree, "HEAD", tip);
  if (inTheWay.length) {
    const more = inTheWay.length > 5 ? ", …" : "";
    return `untracked or ignored files where ${record.base_branch ?? "the base"} brings tracked ones: ` +
      `${inTheWay.slice(0, 5).join(", ")}${more}`;
  }
  return undefined;
}

/**
 * Written in the worktree's git dir while sync's git rebase (or merge) runs there. A sync killed meanwhile
 * leaves it, so the next one can tell the rebase it left in progress (onto this tip, with neither that orch
 * nor its git running) from one the user or the agent started.
 */
interface SyncInProgress {
  pid: number;
  start_time: string | null;
  tip: string;
  method: SyncMethod;
  /** git's pid, which leads a process group of its own (the hooks it runs are in it too). */
  git_pid?: number;
}

function syncInProgressFile(worktree: string): string {
  return path.join(gitAdapter.worktreeGitDir(worktree), "orch-sync.json");
}

/** What the rebase (or merge) in progress in a worktree's git dir goes onto, or undefined when none is. */
function operationOnto(gitDir: string, method: SyncMethod): string | undefined {
  const files = method === "rebase" ? ["rebase-merge/onto", "rebase-apply/onto"] : ["MERGE_HEAD"];
  for (const file of files) {
    try {
      return fs.readFileSync(path.join(gitDir, file), "utf8").split("\n")[0]!.trim();
    } catch {
      // not this one
    }
  }
  return undefined;
}

/**
 * A sync killed during its git rebase (or merge) left it in progress in the worktree, which every later
 * sync would skip for good: put back with --abort once neither that orch nor its git runs. Returns why
 * the worker cannot be synced now when they still run.
 */
async function undoAbandonedSync(worktree: string, workerId: string, ctx: Context): Promise<string | undefined> {
  const file = syncInProgressFile(worktree);
  let left: SyncInProgress | undefined;
  try {
    left = readJson<SyncInProgress>(file);
  } catch {
    left = undefined; // damaged: it names nothing that could be undone
  }
  if (left && (left.method === "rebase" || left.method === "merge")) {
    const orchRuns = isSameProcess(left.pid, left.start_time ?? undefined);
    if (orchRuns || (left.git_pid !== undefined && processGroupExists(left.git_pid))) {
      return "it is being synced by another orch command";
    }
    if (operationOnto(gitAdapter.worktreeGitDir(worktree), left.method) === left.tip) {
      await gitAdapter.git([left.method, "--abort"], worktree, { allowFailure: true });
      ctx.warn(`${workerId}: the git ${left.method} of a sync that was killed was left in progress: ` +
        `undone (git ${left.method} --abort)`);
    }
  }
  fs.rmSync(file, { force: true });
  return undefined;
}

/**
 * Rebases (or merges) the worktree's branch onto `tip`; on a conflict undoes it and returns the paths. Its
 * SyncInProgress says what runs meanwhile; where that cannot be written (a full disk), nothing runs and
 * `unrecorded` says why.
 */
async function bringOnto(
  worktree: string,
  tip: string,
  method: SyncMethod,
  message: string,
  env: NodeJS.ProcessEnv,
): Promise<{ ok: boolean; paths: string[]; error: string; unrecorded?: string }> {
  const file = syncInProgressFile(worktree);
  const mine: SyncInProgress = { pid: process.pid, start_time: processStartTime(process.pid) ?? null, tip, method };
  try {
    writeJsonAtomic(file, mine);
  } catch (error) {
    return { ok: false, paths: [], error: "", unrecorded: storeError("record the sync in", file, error).message };
  }
  const onStart = (pid: number) => {
    try {
      writeJsonAtomic(file, { ...mine, git_pid: pid });
    } catch {
      // git, already running, may have filled the disk first (its checkout of a large file): the record written
      // above still names this orch, which a later sync checks first. Thrown, it would leave git unwatched.
    }
  };
  // --ff: a user's merge.ff=only would refuse to merge a branch with commits of its own.
  const merge = ["merge", "--ff", "--no-edit", "--quiet", "-m", message, tip];
  const args = method === "rebase" ? ["rebase", "--quiet", tip] : merge;
  try {
    // The notes of the worker's commits (git notes) go with them onto their new ids: git copies them only where
    // notes.rewriteRef names them, which is unset unless the user set it.
    const notesGo = method === "rebase" && !env.GIT_NOTES_REWRITE_REF &&
      !(await gitAdapter.git(["config", "--get-all", "notes.rewriteRef"], worktree, { allowFailure: true })).stdout
        .trim();
    // Let finish on Ctrl-C (its own process group, which a terminal's signal misses): a rebase cut
    // mid-write leaves the worktree half-way; sync stops after this worker instead.
    const gitEnv = notesGo ? { ...env, GIT_NOTES_REWRITE_REF: "refs/notes/*" } : env;
    const options = { allowFailure: true, env: gitEnv, finishOnInterrupt: true, onStart };
    return await runOnto(worktree, method, tip, args, options);
  } finally {
    fs.rmSync(file, { force: true });
  }
}

/** git rebase (or merge) onto `tip` with `args`, undone (--abort) when it stops on a conflict. */
async function runOnto(
  worktree: string, method: SyncMethod, tip: string, args: string[], options: gitAdapter.GitOptions,
): Promise<{ ok: boolean; paths: string[]; error: string }> {
  const before = await gitAdapter.gitOut(["rev-parse", "HEAD"], worktree);
  const result = await gitAdapter.git(args, worktree, options);
  if (result.code === 0) return { ok: true, paths: [], error: "" };
  const paths = await gitAdapter.unmergedPaths(worktree);
  await gitAdapter.git([method, "--abort"], worktree, options);
  const output = `${result.stdout}\n${result.stderr}`;
  let error = gitAdapter.gitSaid(output);
  // A disk that filled while git checked the new base out (before it had a rebase or merge to abort) leaves
  // the files it wrote or removed so in the worktree, which was clean: put them back as the branch has them.
  if (paths.length === 0 && (await gitAdapter.gitOut(["rev-parse", "HEAD"], worktree)) === before) {
    error += gitAdapter.notPutBack(await gitAdapter.putBackPaths(worktree, before, tip, output));
  }
  return { ok: false, paths, error };
}

/** After a sync the worker's base is the tip it is now on: diff, apply and merge count from there. */
export function recordNewBase(layout: StoreLayout, record: WorkerRecord, tip: string): WorkerRecord {
  const synced: WorkerRecord = { ...record, base_commit: tip, base_tip: tip };
  saveWorker(layout, synced);
  noteToldBase(layout, record.orchestrator_id, record.worker_id, tip);
  return synced;
}

/** What one worker's sync came to, here or on its host. */
export type SyncAttempt =
  | { status: "synced" }
  | { status: "blocked"; reason: string }
  /** Not tried: the end result would conflict (merge-tree said so where the standing was computed). */
  | { status: "would_conflict" }
  | { status: "stopped"; conflict_paths: string[]; error: string };

export interface SyncRequest {
  tip: string;
  method: SyncMethod;
  /** Whether the branch merges onto `tip` without conflicts; when not, nothing is tried. */
  mergesCleanly: boolean;
  message: string;
}

/**
 * Syncs a worker whose worktree is on this machine onto `tip` (a commit of this repository), under the
 * rules of sync; a host's orch runs this for its workers too (orch __coherence).
 */
export async function syncHere(
  layout: StoreLayout,
  record: WorkerRecord,
  request: SyncRequest,
  ctx: Context,
): Promise<SyncAttempt> {
  const { tip, method, message } = request;
  if (fs.existsSync(record.worktree_path)) {
    const held = await undoAbandonedSync(record.worktree_path, record.worker_id, ctx);
    if (held) return { status: "blocked", reason: held };
    // Already on it: a sync killed after its git, before it recorded that (finishKilledSyncs asks this).
    if (await gitAdapter.isAncestor(record.worktree_path, tip, `refs/heads/${record.branch}`)) {
      recordSyncedHere(layout, record, tip);
      return { status: "synced" };
    }
  }
  const blocker = await syncBlocker(layout, record, tip);
  if (blocker) return { status: "blocked", reason: blocker };
  if (!request.mergesCleanly) return { status: "would_conflict" };
  const env = { ...(await gitAdapter.commitIdentity(record.worktree_path, ctx.env)), GIT_EDITOR: "true" };
  const result = await bringOnto(record.worktree_path, tip, method, message, env);
  if (result.unrecorded) return { status: "blocked", reason: result.unrecorded };
  if (!result.ok && result.paths.length === 0) {
    // Refused before any conflict (a pre-rebase hook, a held index.lock): nothing says the branch conflicts.
    return { status: "blocked", reason: `git ${method} failed: ${result.error}` };
  }
  if (!result.ok) return { status: "stopped", conflict_paths: result.paths, error: result.error };
  recordSyncedHere(layout, record, tip);
  return { status: "synced" };
}

/** The new base of a worker synced here, in its record and in its worktree's marker. */
function recordSyncedHere(layout: StoreLayout, record: WorkerRecord, tip: string): void {
  recordNewBase(layout, record, tip);
  const markerFile = path.join(gitAdapter.worktreeGitDir(record.worktree_path), MARKER_FILE);
  const marker = readJson<WorkerMarker>(markerFile);
  if (marker) fs.writeFileSync(markerFile, toJson({ ...marker, base_commit: tip }), { mode: 0o600 });
}

/**
 * Records the new base of a worker whose branch is on the tip of the sync `owed` names already. That sync is
 * asked of its place again, which records it there without running git (see syncHere): on a host, in the
 * host's record too; here, in the worktree's marker too. Where that sync's git (or the host's orch) still
 * runs, the place leaves its part to it, and the record here is written alone.
 */
async function recordOwedSync(
  layout: StoreLayout, place: WorkerPlace, repo: Repo, record: WorkerRecord, owed: SyncOwed,
): Promise<void> {
  const attempt = await place.sync(repo, { tip: owed.tip, method: owed.method, mergesCleanly: true, message: "" });
  if (attempt.status !== "synced") recordNewBase(layout, record, owed.tip);
}

/**
 * What a sync killed after its git left undone (the new base recorded, the worker told it was synced), done
 * by the commands that read the workers' bases (status, diff, apply, merge, land, the coherence check): until
 * then they counted from the old base, and took the base's own commits for the worker's. Under the sync
 * claim, so a sync that still runs finishes its own. A sync killed before its git ran, or whose git put the
 * branch back, moved nothing: it is left for the next sync. Returns the records as they are now.
 */
export async function finishKilledSyncs(
  layout: StoreLayout, repo: Repo, records: WorkerRecord[], ctx: Context, skip?: Set<string>,
): Promise<WorkerRecord[]> {
  const now: WorkerRecord[] = [];
  for (const record of records) {
    const owing = !skip?.has(record.worker_id) && owesSync(layout, record);
    now.push(owing ? await finishKilledSync(layout, repo, record, ctx) : record);
  }
  return now;
}

async function finishKilledSync(
  layout: StoreLayout, repo: Repo, given: WorkerRecord, ctx: Context,
): Promise<WorkerRecord> {
  if (claimSync(layout, given) !== "claimed") return given;
  try {
    return await finishClaimedSync(layout, repo, given, ctx);
  } finally {
    releaseSync(layout, given);
  }
}

/** finishKilledSync of a worker whose sync claim this command holds (apply): read again, finished if owed. */
export async function finishClaimedSync(
  layout: StoreLayout, repo: Repo, given: WorkerRecord, ctx: Context,
): Promise<WorkerRecord> {
  const { orchestrator_id: orchestratorId, worker_id: workerId } = given;
  try {
    const record = findWorker(layout, orchestratorId, workerId);
    if (!record?.base_branch) return record ?? given;
    const place = await placeOf(layout, record, ctx);
    const owed = place.syncOwed();
    if (!owed) return record;
    // A remote worker's branch as its host has it now: its sync moved it there.
    const fetched = () => fetchBranchesWherePossible(layout, [record], repo.mainRoot, ctx);
    if (onHost(record) && (await fetched()).length === 0) return record;
    const branchRef = `refs/heads/${record.branch}`;
    if (!(await gitAdapter.isAncestor(repo.mainRoot, owed.tip, branchRef))) return record;
    await recordOwedSync(layout, place, repo, record, owed);
    claimTelling(layout, orchestratorId, workerId, owed.tip);
    const standing = { merges_cleanly: true, conflict_paths: [] };
    const notice: MoveNotice = { baseBranch: record.base_branch, from: owed.from, to: owed.tip, standing };
    await tellWorker(layout, repo, record, { ...notice, synced: true, syncedBy: owed.method }, ctx);
    place.settleSync();
    ctx.warn(`${workerId}: a sync killed after its git ${owed.method} onto ${owed.tip.slice(0, 12)} ` +
      "is finished: its new base recorded, the worker told");
    return findWorker(layout, orchestratorId, workerId) ?? record;
  } catch (error) {
    ctx.warn(`${workerId}: what a killed sync left undone could not be finished: ${(error as Error).message}`);
    return findWorker(layout, orchestratorId, workerId) ?? given;
  }
}

/** Syncs the given workers; the coherence check first tells everyone else whose base moved. */
export async function syncWorkers(
  layout: StoreLayout,
  repo: Repo,
  records: WorkerRecord[],
  method: SyncMethod,
  ctx: Context,
): Promise<SyncOutcome> {
  const outcome: SyncOutcome = { synced: [], conflicted: [], told: [], up_to_date: [], skipped: [] };
  if (records.length === 0) return outcome;
  // A bad ssh setup is refused before the coherence check tells anyone and before any sync claim is taken.
  await checkSshSetupFor(records, ctx);
  const orchestratorId = records[0]!.orchestrator_id;
  const skipTelling = new Set(records.map((r) => r.worker_id));
  const checked = await reconcile(layout, orchestratorId, repo, ctx, { skipTelling });
  outcome.told.push(...checked.told);
  for (const record of records.filter((r) => r.pending)) {
    outcome.skipped.push({ worker_id: record.worker_id, reason: "pending: not started yet" });
  }
  const claimed = claimSyncs(layout, records.filter((r) => !r.pending), outcome);
  try {
    await guardInterrupts(() => syncClaimed(layout, repo, claimed, method, outcome, ctx).catch((error: unknown) => {
      // A git the signal reached failed: what was synced before it still is.
      const signal = interruptSignal();
      throw signal ? syncInterrupted(signal, outcome) : error;
    }));
  } finally {
    for (const record of claimed) releaseSync(layout, record);
  }
  return outcome;
}

/** A sync stopped by a signal after the worker it was at: what it did stays, the rest was left as it was. */
function syncInterrupted(signal: NodeJS.Signals, outcome: SyncOutcome): OrchError {
  const synced = outcome.synced.length ? `synced ${outcome.synced.join(", ")}` : "nothing was synced";
  const message = `interrupted by ${signal}: ${synced}; the other workers were left as they were`;
  return new OrchError("interrupted", message, { signal, synced: outcome.synced });
}

/**
 * The workers this command may sync, each under its sync claim and read again under it (a sync that held
 * it may have moved its base); the others are skipped, said why.
 */
function claimSyncs(layout: StoreLayout, records: WorkerRecord[], outcome: SyncOutcome): WorkerRecord[] {
  const claimed: WorkerRecord[] = [];
  for (const given of records) {
    const claim = claimSync(layout, given);
    const record = claim === "claimed" ? findWorker(layout, given.orchestrator_id, given.worker_id) : undefined;
    // Read after the sync claim, which an rm, clean or merge takes too once it has claimed the removal.
    const removal = claim === "gone" ? undefined : removalUnderWay(layout, given);
    if (record && !removal) {
      claimed.push(record);
      continue;
    }
    if (claim === "claimed") releaseSync(layout, given);
    const reason = removal === "removing"
      ? "it is being removed by another orch command"
      : removal === "interrupted"
        ? `an orch rm or clean of it was killed half-way: orch rm ${given.worker_id} finishes the removal`
        : claim === "held"
          ? `it is being ${syncClaimVerb(layout, given)} by another orch command`
          : "it was removed meanwhile";
    outcome.skipped.push({ worker_id: given.worker_id, reason });
  }
  return claimed;
}

async function syncClaimed(
  layout: StoreLayout,
  repo: Repo,
  candidates: WorkerRecord[],
  method: SyncMethod,
  outcome: SyncOutcome,
  ctx: Context,
): Promise<void> {
  if (candidates.length === 0) return;
  const orchestratorId = candidates[0]!.orchestrator_id;
  // A remote worker's branch is read here as its host has it now (fetched over ssh).
  const { readable: started, unfetched } = await branchesReadableHere(layout, candidates, repo.mainRoot, ctx);
  for (const record of unfetched) {
    const reason = `its branch could not be fetched from host ${record.host}`;
    outcome.skipped.push({ worker_id: record.worker_id, reason });
  }
  const views = await standingsOf(layout, repo, started, await baseTipsOf(repo, started));
  for (const view of views) {
    // A signal ends the sync between workers: the one it was at is synced and told, or left as it was.
    const signal = interruptSignal();
    if (signal) throw syncInterrupted(signal, outcome);
    const { record, baseTip, standing } = view;
    const id = record.worker_id;
    if (!record.base_branch) {
      // Spawned while the main worktree had a detached HEAD: there is no branch whose moves it could follow.
      const reason = "it has no base branch (the main worktree had a detached HEAD when it was spawned)";
      outcome.skipped.push({ worker_id: id, reason });
      continue;
    }
    if (view.unrelated) {
      const why = await gitAdapter.noMergeBaseWhy(repo.mainRoot);
      const reason = `its branch shares no commit with ${record.base_branch} here: ${why}`;
      outcome.skipped.push({ worker_id: id, reason });
      continue;
    }
    if (!baseTip || !standing) {
      const gone = !baseTip
        ? `its base branch ${record.base_branch}`
        : `its branch ${record.branch}`;
      outcome.skipped.push({ worker_id: id, reason: `${gone} does not exist here (renamed or deleted?)` });
      continue;
    }
    const known = view.state.told_base ?? record.base_tip ?? record.base_commit;
    const baseBranch = record.base_branch;
    const place = await placeOf(layout, record, ctx);
    const owed = place.syncOwed();
    const tellSynced = async (from: string, syncedBy: SyncMethod) => {
      claimTelling(layout, orchestratorId, id, baseTip);
      // Its branch moved under it: the agent is told even if it heard of this move before.
      const moved: MoveNotice = { baseBranch, from, to: baseTip, standing };
      await tellWorker(layout, repo, record, { ...moved, synced: true, syncedBy }, ctx);
      place.settleSync();
      outcome.synced.push(id);
      outcome.told.push(id);
    };
    if (owed && owed.tip === baseTip && standing.behind === 0 && !standing.landed) {
      // Its place synced it onto this very tip for an earlier sync, which could not record it or tell it.
      try {
        await recordOwedSync(layout, place, repo, record, owed);
        await tellSynced(owed.from, owed.method);
      } catch (error) {
        outcome.skipped.push({ worker_id: id, reason: (error as Error).message });
      }
      continue;
    }
    if (owed) place.settleSync();
    if (standing.behind === 0 || standing.landed) {
      if (standing.landed) outcome.skipped.push({ worker_id: id, reason: `already landed on ${record.base_branch}` });
      else outcome.up_to_date.push(id);
      view.state = noteToldBase(layout, orchestratorId, id, baseTip);
      continue;
    }
    const notice: MoveNotice = { baseBranch: record.base_branch, from: known, to: baseTip, standing };
    let reason: string;
    try {
      const message = `Merge ${record.base_branch} into ${record.branch}`;
      const request = { tip: baseTip, method, mergesCleanly: standing.merges_cleanly, message };
      place.oweSync({ tip: baseTip, method, from: known });
      const attempt = await place.sync(repo, request);
      if (attempt.status === "synced") {
        await tellSynced(known, method);
        continue;
      }
      // The host answered: it did not sync it.
      place.settleSync();
      if (attempt.status === "stopped") {
        // A rebase can stop on a commit in the middle even when the end result would merge: news to a
        // worker told before that its branch merges cleanly, so it is told whatever it heard before.
        const gitSaid = attempt.conflict_paths.length ? "" : `: ${attempt.error}`;
        reason = `${method} stopped on conflicts and was undone${gitSaid}`;
        outcome.conflicted.push({ worker_id: id, conflict_paths: attempt.conflict_paths });
        claimTelling(layout, orchestratorId, id, baseTip);
        const standingNow = { merges_cleanly: false, conflict_paths: attempt.conflict_paths };
        const conflict = { ...notice, standing: standingNow, notSyncedBecause: reason };
        await tellWorker(layout, repo, record, conflict, ctx);
        outcome.told.push(id);
        view.state = noteToldBase(layout, orchestratorId, id, baseTip);
        continue;
      }
      if (attempt.status === "blocked") {
        reason = attempt.reason;
        outcome.skipped.push({ worker_id: id, reason });
      } else {
        reason = "it would conflict";
        outcome.conflicted.push({ worker_id: id, conflict_paths: standing.conflict_paths });
      }
      if (await tellOnce(layout, repo, record, { ...notice, notSyncedBecause: reason }, ctx)) outcome.told.push(id);
    } catch (error) {
      if (!onHost(record)) throw error;
      outcome.skipped.push({ worker_id: id, reason: (error as Error).message });
      continue;
    }
    view.state = noteToldBase(layout, orchestratorId, id, baseTip);
  }
  const signal = interruptSignal();
  if (signal) throw syncInterrupted(signal, outcome);
}

export function parseSyncMethod(flags: Flags): SyncMethod {
  if (booleanFlag(flags, "rebase") && booleanFlag(flags, "merge")) throw usage("choose one of --rebase, --merge");
  return booleanFlag(flags, "merge") ? "merge" : "rebase";
}

function render(outcome: SyncOutcome, c: Colors): string {
  const lines = [
    ...outcome.synced.map((id) => `${c.green("synced".padEnd(10))} ${c.bold(id)}`),
    ...outcome.conflicted.map((x) => {
      const paths = x.conflict_paths.join(", ") || "(see its message)";
      return `${c.red("conflict".padEnd(10))} ${c.bold(x.worker_id)}  left as it was; told: ${paths}`;
    }),
    ...outcome.up_to_date.map((id) => `${c.dim("current".padEnd(10))} ${id}`),
    ...outcome.skipped.map((x) => `${c.dim("skipped".padEnd(10))} ${x.worker_id}  ${x.reason}`),
  ];
  if (outcome.told.length) lines.push(c.dim(`told (base_moved): ${outcome.told.join(", ")}`));
  return lines.length ? `${lines.join("\n")}\n` : "no workers to sync\n";
}

export async function main(args: string[], flags: Flags, ctx: Context): Promise<CommandResult> {
  const method = parseSyncMethod(flags);
  if (args.length && booleanFlag(flags, "all")) throw usage("name workers or give --all, not both");
  const { layout, session } = await resolveSession(ctx, stringFlag(flags, "orch"));
  const id = session.orchestrator_id;
  const records = args.length ? args.map((name) => loadWorker(layout, id, name)) : listWorkers(layout, id);
  const repo = await requireRepo(ctx);
  const outcome = await syncWorkers(layout, repo, records, method, ctx);
  return {
    json: {
      success: true,
      orchestrator_id: session.orchestrator_id,
      method,
      ...outcome,
      told: [...new Set(outcome.told)],
    },
    human: (c) => render(outcome, c),
  };
}
