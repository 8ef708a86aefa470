// orch land: a merge queue. One worker at a time: merge it onto the current base in a throw-away
// worktree, run the test command there, and fast-forward the base to exactly what was tested; stop at
// the first conflict or red test and say which worker and why (or, with --on-conflict return, hand a
// conflict back to its worker and go on). Afterwards the workers whose base moved are told.

import fs from "node:fs";
import os from "node:os";
import * as gitAdapter from "../adapters/git.ts";
import { checkOutWhole, removeStaleScratchWorktrees, withScratchWorktree } from "../adapters/scratch-worktrees.ts";
import { copyIncludedFiles } from "../adapters/gtr.ts";
import { run } from "../adapters/exec.ts";
import type { Repo } from "../adapters/repo.ts";
import { requireRepo, resolveSession, type Context } from "../context.ts";
import { OrchError, usage } from "../errors.ts";
import { interruptSignal, throwIfInterrupted } from "../interrupt.ts";
import { booleanFlag, stringFlag, type Flags } from "../flags.ts";
import type { Colors } from "../output.ts";
import { branchesReadableHere, bringHome, collectFromHosts, placeOf } from "../hosts/place.ts";
import { withLock } from "../store/lock.ts";
import type { StoreLayout } from "../store/layout.ts";
import { messageIdMicros } from "../ids.ts";
import type { Message } from "../store/messages.ts";
import {
  claimHandBack, claimTelling, noteToldBase, readWorkerCoherence, releaseHandBack,
} from "../store/coherence.ts";
import { findWorker, listWorkers, loadWorker, type WorkerRecord } from "../store/workers.ts";
import { removalUnderWay } from "../store/worker-claims.ts";
import { recordWorkerEvent, workerState } from "../store/worker-status.ts";
import { reconcile, rememberLanded, tellWorker } from "./coherence.ts";
import {
  branchTipOrFail, checkBaseCheckout, checkoutLockTarget, fastForwardCheckout, finishKilledFastForward, forkPoint,
  mergeMessage, uncommittedList, uncommittedWarning,
} from "./integration.ts";
import { methodFromFlags } from "./merge.ts";
import { syncWorkers, type SyncOutcome } from "./sync.ts";
import type { CommandResult } from "./types.ts";

/**
 * `conflict`: the worker's changes do not merge onto the base (paths given); `failed`: git refused for
 * another reason (a hook, signing, a held lock, the base moved meanwhile), which the worker cannot fix by
 * rebasing, so it is never handed back.
 */
export type LandStatus = "landed" | "conflict" | "failed" | "returned" | "test_failed" | "skipped";
export type OnConflict = "stop" | "return";

export interface LandEntry {
  worker_id: string;
  branch: string;
  status: LandStatus;
  reason: string;
  commit?: string;
  conflict_paths?: string[];
  test_exit_code?: number;
  /** The base tip it did not merge onto (a conflict that can be handed back). */
  base_commit?: string;
  /** Handed back to a worker whose agent had ended: its agent was started again (as resume does). */
  restarted?: boolean;
}

const stopsTheQueue = (status: LandStatus) => status === "conflict" || status === "failed" || status === "test_failed";

/**
 * The finished workers in the order they finished: all `done` workers by their task_complete time (a message id
 * sorts by it), on this machine's clock (a host's whose clock is off has it as `created_here`).
 */
function queueOrder(layout: StoreLayout, orchestratorId: string, warn: (line: string) => void): WorkerRecord[] {
  const finished = (m: Message | null) =>
    (!m ? 0 : m.created_here ? Date.parse(m.created_here) * 1000 : messageIdMicros(m.id));
  const id = (m: Message | null) => m?.id ?? "";
  return listWorkers(layout, orchestratorId, warn)
    .map((record) => ({ record, state: workerState(layout, record) }))
    .filter(({ state }) => state.status === "done")
    .sort((a, b) => finished(a.state.last_message) - finished(b.state.last_message) ||
      id(a.state.last_message).localeCompare(id(b.state.last_message)))
    .map(({ record }) => record);
}

/** How the main worktree left `base` at `head`, or null when it is still there. */
async function baseMovedAway(mainRoot: string, base: string, head: string): Promise<string | null> {
  // One git for both: the commit, then the branch checked out (HEAD when detached; the flag applies to what follows).
  const headAndBranch = await gitAdapter.gitOut(["rev-parse", "HEAD", "--symbolic-full-name", "HEAD"], mainRoot);
  const [now, name] = headAndBranch.split("\n");
  const current = name?.startsWith("refs/heads/") ? name.slice("refs/heads/".length) : null;
  if (current !== base) return `the main worktree switched from ${base} to ${current ?? "a detached HEAD"}`;
  return now === head ? null : `${base} moved from ${head.slice(0, 12)} to ${now?.slice(0, 12)}`;
}

/**
 * Lands the worker's branch as it was at `tip` onto `base` (checked out, checkBaseCheckout): a commit the
 * worker makes meanwhile (while the test runs) is not landed.
 */
async function landOne(
  layout: StoreLayout, record: WorkerRecord, landing: { base: string; tip: string }, mainRoot: string,
  method: gitAdapter.MergeMethod, testCommand: string | undefined, ctx: Context,
): Promise<LandEntry> {
  const entry = { worker_id: record.worker_id, branch: record.branch };
  const { base, tip } = landing;
  const fork = await forkPoint(mainRoot, record, tip);
  const head = await gitAdapter.gitOut(["rev-parse", "HEAD"], mainRoot);
  if (await gitAdapter.isMergedInto(mainRoot, tip, head)) {
    if (tip !== record.base_commit) return { ...entry, status: "skipped", reason: `already in ${base}` };
    // Never committed: an agent that reported done with its work left uncommitted is told so, not "already in".
    const dirty = await uncommittedList(record);
    const left = dirty ? `: its changes are uncommitted in its worktree (${dirty})` : "";
    return { ...entry, status: "skipped", reason: `no commits of its own${left}` };
  }
  const message = mergeMessage(layout, record, await gitAdapter.commitsBetween(mainRoot, fork, tip));
  const env = await gitAdapter.commitIdentity(mainRoot, ctx.env);
  // Merged and tested in a throw-away worktree; what it made is then fast-forwarded here, outside it, so that a
  // signal that comes once git has moved the base does not have land say that nothing landed.
  const made = await withScratchWorktree(mainRoot, head, async (dir): Promise<LandEntry | { tested: string }> => {
    const outcome = await gitAdapter.mergeInto(dir, tip, fork, method, message, env);
    if (!outcome.ok) {
      const paths = outcome.conflictPaths;
      if (paths.length === 0) {
        // git's "refusing to merge unrelated histories" does not say that a shallow clone is the cause.
        const unrelated = !(await gitAdapter.haveMergeBase(mainRoot, head, tip));
        const gitSays = unrelated
          ? `it shares no commit with ${base} here: ${await gitAdapter.noMergeBaseWhy(mainRoot)}`
          : gitAdapter.gitSaid(outcome.message);
        const reason = `could not be merged onto ${base} at ${head.slice(0, 12)}: ${gitSays}`;
        return { ...entry, status: "failed", reason };
      }
      const reason = `does not merge onto ${base} at ${head.slice(0, 12)}: conflicts in ${paths.join(", ")}`;
      return { ...entry, status: "conflict", reason, conflict_paths: paths, base_commit: head };
    }
    const tested = await gitAdapter.gitOut(["rev-parse", "HEAD"], dir);
    if (tested === head) return { ...entry, status: "skipped", reason: `already in ${base}` };
    if (testCommand) {
      await checkOutWhole(dir);
      await copyIncludedFiles(mainRoot, dir, await gitAdapter.readSettings(mainRoot), ctx.warn);
      ctx.warn(`land: testing ${record.worker_id} on ${base} with: ${testCommand}`);
      // The test command is the user's shell command line, so sh runs it, like git bisect run does; after
      // "--", as the command line even when it starts with - or + (sh would read it as its own options).
      const test = await run(["sh", "-c", "--", testCommand], {
        cwd: dir,
        env: { ...ctx.env, ORCH_LAND_WORKER: record.worker_id },
        allowFailure: true,
        outputToStderr: true,
        ownProcessGroup: true,
      });
      throwIfInterrupted();
      if (test.code !== 0) {
        const reason = `test command exited ${test.code}`;
        return { ...entry, status: "test_failed", reason, test_exit_code: test.code };
      }
    }
    const overlap = await gitAdapter.dirtyPathsTouched(mainRoot, mainRoot, head, tested);
    if (overlap.length) {
      const reason = `local changes in ${mainRoot} (uncommitted, untracked or ignored) touch ${overlap.join(", ")}`;
      return { ...entry, status: "conflict", reason, conflict_paths: overlap };
    }
    // What lands is exactly the commit that was tested, and nothing after an interrupt.
    throwIfInterrupted();
    // The user may have switched branches or moved the base while the test ran: a fast-forward then would
    // move another branch (and report it landed) or bring back commits the user dropped.
    const moved = await baseMovedAway(mainRoot, base, head);
    if (moved) return { ...entry, status: "failed", reason: `${moved} while it was tested: nothing landed` };
    return { tested };
  }, ctx.warn);
  if ("status" in made) return made;
  try {
    // git merge --ff-only checks the tested tree out before it moves the ref: one it could not move (a held
    // refs/heads/<base>.lock) leaves the worker's files staged in the user's checkout, and one that ran out of
    // disk half-way leaves some of them written (not staged): fastForwardCheckout backs out.
    await fastForwardCheckout(mainRoot, head, made.tested, (why) => `could not fast-forward ${base}: ${why}`);
  } catch (error) {
    if (!(error instanceof OrchError && error.kind === "failed")) throw error;
    return { ...entry, status: "failed", reason: error.message };
  }
  // As apply and merge say it: what the worker left uncommitted did not land with it.
  const dirty = await uncommittedWarning(record);
  if (dirty) ctx.warn(dirty);
  return { ...entry, status: "landed", reason: testCommand ? "merged, tests passed" : "merged", commit: made.tested };
}

/**
 * land --on-conflict return: the worker gets its conflict (paths, the base to rebase onto, what to do,
 * how to report again) as base_moved, and is running again.
 */
async function handBack(
  layout: StoreLayout, repo: Repo, record: WorkerRecord, entry: LandEntry, ctx: Context,
): Promise<LandEntry> {
  const base = record.base_branch ?? (await gitAdapter.currentBranch(repo.mainRoot)) ?? "HEAD";
  const to = entry.base_commit ?? (await gitAdapter.gitOut(["rev-parse", "HEAD"], repo.mainRoot));
  const told = readWorkerCoherence(layout, record.orchestrator_id, record.worker_id).told_base;
  const from = told ?? record.base_tip ?? record.base_commit;
  const standing = { merges_cleanly: false, conflict_paths: entry.conflict_paths ?? [] };
  const notice = { baseBranch: base, from, to, standing, returned: true };
  const branchTip = await branchTipOrFail(repo.mainRoot, record);
  if (!claimHandBack(layout, record.orchestrator_id, record.worker_id, to, branchTip)) {
    return { ...entry, status: "returned", reason: `${entry.reason}; it was handed back to the worker already` };
  }
  // Here or in its inbox on its host; an agent idle at its prompt is woken (it reads nothing otherwise).
  let telling: { agent_ended?: boolean };
  try {
    telling = await tellWorker(layout, repo, record, notice, ctx);
  } catch (error) {
    releaseHandBack(layout, record.orchestrator_id, record.worker_id, to, branchTip);
    throw error;
  }
  claimTelling(layout, record.orchestrator_id, record.worker_id, to);
  noteToldBase(layout, record.orchestrator_id, record.worker_id, to);
  recordWorkerEvent(layout, record, "returned", `land handed its conflict back: ${entry.reason}`);
  // Running must be true: an agent that had ended (a command agent that ran and reported) is started again.
  const started = telling.agent_ended ? await startAgain(layout, record, ctx) : undefined;
  const how = started === true ? "; its agent had ended and was started again" : started ?? "";
  return { ...entry, status: "returned", reason: `${entry.reason}; handed back to the worker${how}`,
    ...(started === true ? { restarted: true } : {}) };
}

/** What an agent started again by land --on-conflict return is told (the conflict waits in its inbox). */
const RETURNED_PROMPT = "Your branch no longer merges onto its base: orch inbox has the conflicting paths and " +
  "what to do. Resolve the conflict, run the tests, then report back with orch notify as your instructions say.";

/**
 * The worker's agent, which had ended, started again as resume starts it, with RETURNED_PROMPT: true, or
 * what to add to the entry's reason when it could not be (a resume at the same time started it first).
 */
async function startAgain(layout: StoreLayout, record: WorkerRecord, ctx: Context): Promise<true | string> {
  try {
    await (await placeOf(layout, record, ctx)).resume(RETURNED_PROMPT);
    return true;
  } catch (error) {
    const resume = `orch resume ${record.worker_id} if nothing runs`;
    return `; its agent, which had ended, could not be started again: ${(error as Error).message} (${resume})`;
  }
}

export interface LandOptions {
  names: string[];
  testCommand: string | undefined;
  method: gitAdapter.MergeMethod;
  onConflict: OnConflict;
  /** Sync the rest of the queue onto the new base after each landing. */
  sync: boolean;
  orch: string | undefined;
}

export async function runLand(options: LandOptions, ctx: Context) {
  const { layout, session } = await resolveSession(ctx, options.orch);
  const repo = await requireRepo(ctx);
  const { refuseReadOnlyFolders } = await import("../sandbox.ts");
  refuseReadOnlyFolders([
    { dir: repo.commonDir, why: "land moves the base branch there and records its throw-away worktree" },
    { dir: os.tmpdir(), why: "land merges and tests in a throw-away worktree there" },
  ], ctx.env);
  for (const line of await removeStaleScratchWorktrees(repo.mainRoot)) ctx.warn(line);
  const orchestratorId = session.orchestrator_id;
  // The check first: it may start workers whose prerequisites landed elsewhere, and tells of moves.
  await reconcile(layout, orchestratorId, repo, ctx);
  // Without names the queue is every done worker: a remote worker is done once its task_complete is
  // here, so the hosts are asked first (a poll may not have run since).
  if (options.names.length === 0) await collectFromHosts(layout, orchestratorId, ctx);
  let queue: WorkerRecord[];
  /** Finished workers of hosts that could not be reached now: not in this queue, the next land takes them. */
  let leftOut: LeftOut[] = [];
  if (options.names.length) {
    // Named: each must be fetched, or the land fails.
    queue = options.names.map((n) => loadWorker(layout, orchestratorId, n));
    await bringHome(layout, queue, repo.mainRoot, ctx);
  } else {
    // The whole queue: a worker whose host cannot be reached now is left out (with a warning), not the queue.
    const all = queueOrder(layout, orchestratorId, ctx.warn);
    const { readable, unfetched } = await branchesReadableHere(layout, all, repo.mainRoot, ctx);
    queue = readable;
    leftOut = unfetched.map((r) => ({ worker_id: r.worker_id, branch: r.branch, host: r.host }));
  }
  const results: LandEntry[] = [];
  const synced: SyncOutcome[] = [];
  /**
   * A signal that ends the queue at `index`, once workers before it landed: the error says which did (they are
   * in the base, whole), not that what was started was undone.
   */
  const interruptedAfter = (index: number, error?: OrchError): OrchError => {
    const landed = results.filter((r) => r.status === "landed").map((r) => r.worker_id);
    if (landed.length === 0 && error) return error;
    const signal = interruptSignal() ?? "SIGINT";
    const rest = queue.slice(index).map((r) => r.worker_id).join(", ");
    const said = landed.length ? `after landing ${landed.join(", ")}` : "before anything landed";
    return new OrchError("interrupted", `interrupted by ${signal} ${said}: ${rest} not landed`, { signal, results });
  };
  await withLock(checkoutLockTarget(layout), "land", async () => {
    for (const line of await finishKilledFastForward(repo.mainRoot)) ctx.warn(line);
    let stoppedAt: LandEntry | undefined;
    for (const [index, queued] of queue.entries()) {
      // A signal that came while a worker was landed (under its guard, interrupt.ts) ends the queue here.
      if (interruptSignal()) throw interruptedAfter(index);
      if (stoppedAt) {
        const reason = `the queue stopped at ${stoppedAt.worker_id} (${stoppedAt.status})`;
        results.push({ worker_id: queued.worker_id, branch: queued.branch, status: "skipped", reason });
        continue;
      }
      // A sync may have moved its base commit since the queue was read; an rm or clean may have removed it.
      const record = findWorker(layout, orchestratorId, queued.worker_id);
      const away = removedMeanwhile(layout, record);
      if (record === undefined || away !== undefined) {
        const reason = away ?? REMOVED;
        results.push({ worker_id: queued.worker_id, branch: queued.branch, status: "skipped", reason });
        continue;
      }
      // The queue was read before the lock: another land may have landed or handed it back since.
      const now = options.names.length ? "done" : workerState(layout, record).status;
      if (now !== "done") {
        const reason = `it is ${now} now`;
        results.push({ worker_id: record.worker_id, branch: record.branch, status: "skipped", reason });
        continue;
      }
      const base = await checkBaseCheckout(repo.mainRoot, record);
      let tip: string;
      try {
        tip = await branchTipOrFail(repo.mainRoot, record);
      } catch (error) {
        // Its branch deleted by an rm that removes it now: as removed, not a failure of the whole land.
        const gone = removedMeanwhile(layout, findWorker(layout, orchestratorId, record.worker_id) ?? record);
        if (gone === undefined) throw error;
        results.push({ worker_id: record.worker_id, branch: record.branch, status: "skipped", reason: gone });
        continue;
      }
      const landing = { base, tip };
      let result = await landOne(layout, record, landing, repo.mainRoot, options.method, options.testCommand, ctx)
        .catch((error: unknown) => {
          throw error instanceof OrchError && error.kind === "interrupted" ? interruptedAfter(index, error) : error;
        });
      // Removed by an rm or clean while it was merged or tested: its conflict or red test stops nothing, and
      // nothing is handed back to it (that would write into the store of a worker that is gone).
      const goneSince = result.status === "landed" ? undefined
        : removedMeanwhile(layout, findWorker(layout, orchestratorId, record.worker_id));
      if (goneSince !== undefined) {
        result = { worker_id: record.worker_id, branch: record.branch, status: "skipped", reason: goneSince };
      }
      if (result.status === "conflict" && result.base_commit && options.onConflict === "return") {
        const conflict = result;
        result = await handBack(layout, repo, record, conflict, ctx).catch((error: Error) => ({
          ...conflict,
          reason: `${conflict.reason}; it could not be handed back: ${error.message}`,
        }));
      }
      results.push(result);
      if (stopsTheQueue(result.status)) stoppedAt = result;
      if (result.status !== "landed" || !result.commit) continue;
      rememberLanded(layout, record, result.commit, tip);
      const rest = queue.slice(index + 1).flatMap((r) => findWorker(layout, orchestratorId, r.worker_id) ?? []);
      if (options.sync && rest.length) synced.push(await syncWorkers(layout, repo, rest, "rebase", ctx));
    }
  });
  // One notice per worker for the whole run, and pending workers whose prerequisites landed start now.
  const after = await reconcile(layout, orchestratorId, repo, ctx);
  return {
    orchestratorId,
    results,
    told: [...new Set([...synced.flatMap((s) => s.told), ...after.told])],
    started: after.started,
    synced: [...new Set(synced.flatMap((s) => s.synced))],
    leftOut,
  };
}

const REMOVED = "it was removed meanwhile (orch rm or clean)";

/**
 * Why a queued worker is not landed because an rm or clean removes it (or has removed it: `record`
 * undefined), or undefined when none does. Nothing of it is landed or written again.
 */
function removedMeanwhile(layout: StoreLayout, record: WorkerRecord | undefined): string | undefined {
  if (record === undefined || !fs.existsSync(layout.workerFile(record.orchestrator_id, record.worker_id))) {
    return REMOVED;
  }
  const removal = removalUnderWay(layout, record);
  if (removal === "removing") return "another orch command (rm or clean) is removing it";
  if (removal === "interrupted") return `an orch rm or clean of it was killed half-way: orch rm ${record.worker_id}`;
  return undefined;
}

interface LeftOut {
  worker_id: string;
  branch: string;
  host: string;
}

function render(results: LandEntry[], leftOut: LeftOut[], c: Colors): string {
  const away = leftOut.map((w) => `${c.dim("left out".padEnd(11))} ${c.bold(w.worker_id)}  its host ${w.host} ` +
    "could not be reached; the next land takes it");
  if (results.length === 0) {
    const none = leftOut.length ? "nothing to land here now" : "nothing to land: no finished workers";
    return [none, ...away].join("\n") + "\n";
  }
  const paint: Record<LandStatus, (s: string) => string> = {
    landed: c.green, conflict: c.red, failed: c.red, returned: c.yellow, test_failed: c.red, skipped: c.dim,
  };
  const line = (r: LandEntry) => {
    const commit = r.commit ? c.dim(` ${r.commit.slice(0, 12)}`) : "";
    return `${paint[r.status](r.status.padEnd(11))} ${c.bold(r.worker_id)}  ${r.reason}${commit}`;
  };
  return [...results.map(line), ...away].join("\n") + "\n";
}

export function onConflictFlag(flags: Flags): OnConflict {
  const value = stringFlag(flags, "onConflict") ?? "stop";
  if (value !== "stop" && value !== "return") {
    throw usage(`--on-conflict must be stop or return, not ${JSON.stringify(value)}`);
  }
  return value;
}

/** --test's command line; an empty one (an unset "$TEST_CMD") is refused, not taken as "land untested". */
function testCommandFlag(flags: Flags): string | undefined {
  const command = stringFlag(flags, "test");
  if (command !== undefined && command.trim() === "") {
    throw usage("--test is empty: give the command that must pass (or leave --test out to land untested)");
  }
  return command;
}

export async function main(args: string[], flags: Flags, ctx: Context): Promise<CommandResult> {
  const method = methodFromFlags(flags);
  const options: LandOptions = {
    names: args,
    testCommand: testCommandFlag(flags),
    method,
    onConflict: onConflictFlag(flags),
    sync: booleanFlag(flags, "sync"),
    orch: stringFlag(flags, "orch"),
  };
  const { orchestratorId, results, told, started, synced, leftOut } = await runLand(options, ctx);
  const failed = results.find((r) => stopsTheQueue(r.status));
  const json = {
    orchestrator_id: orchestratorId,
    method,
    on_conflict: options.onConflict,
    landed: results.filter((r) => r.status === "landed").length,
    results,
    returned: results.filter((r) => r.status === "returned").map((r) => r.worker_id),
    synced,
    told,
    started,
    left_out: leftOut,
  };
  if (failed) {
    const message = `the queue stopped at ${failed.worker_id}: ${failed.reason}`;
    ctx.warn(message);
    return {
      json: { success: false, error: { code: failed.status, message }, ...json },
      human: (c) => render(results, leftOut, c),
      exitCode: 1,
    };
  }
  return { json: { success: true, ...json }, human: (c) => render(results, leftOut, c) };
}
