// Where a worker lives — here, or on a host over ssh — asked in one place: the commands call these,
// and only a worker with a host loads the ssh side (status, poll and the hooks stay light).

import fs from "node:fs";
import path from "node:path";
import type { Repo } from "../adapters/repo.ts";
import type { Context } from "../context.ts";
import type { StoreLayout } from "../store/layout.ts";
import type { Message } from "../store/messages.ts";
import type { RequestAnswer } from "../store/requests.ts";
import type { WorkerRecord } from "../store/workers.ts";
import type { MoveNotice } from "../commands/coherence.ts";
import type { RemoveOptions, RemoveOutcome, StopOutcome } from "../commands/lifecycle.ts";
import type { SyncAttempt, SyncRequest } from "../commands/sync.ts";
import type { SyncOwed } from "../store/coherence.ts";
import type { RemoteWorkerRecord } from "./workers.ts";

/**
 * The worker lives on a host now. A pending one (spawn --after --host) has nothing there yet: it is
 * handled here as a local pending worker is, until it starts on its host.
 */
export function onHost(record: WorkerRecord): record is RemoteWorkerRecord {
  return typeof record.host === "string" && record.pending !== true;
}

/**
 * The operations on one started worker whose doing differs with where it lives. Here the store and the
 * adapters do them; on a host, its orch does them there (`orch … --json` over ssh, hosts/workers.ts) and
 * this store records what it answered. The commands ask placeOf and call the same method either way.
 */
export interface WorkerPlace {
  /** Ends the agent and what it started, and closes its window; the worktree and branch stay. */
  stop(): Promise<StopOutcome>;
  /** Removes the worktree (and the branch when asked), then forgets the worker here. */
  remove(options: RemoveOptions, mainRoot: string): Promise<RemoveOutcome>;
  /** approve / deny: the worker's pending request (the oldest when none is named), as the command's JSON. */
  answer(
    requestId: string | undefined, decision: Omit<RequestAnswer, "answered_at">,
  ): Promise<Record<string, unknown>>;
  /** Starts the agent again in its worktree (its own resume when it has one), as the command's JSON. */
  resume(prompt: string | undefined): Promise<Record<string, unknown>>;
  /**
   * Puts a message in the worker's inbox and wakes its agent when it sits idle. `once`: an id delivered
   * already is not delivered again (the host keeps its own record of ids).
   */
  deliver(message: Message, once: boolean): Promise<{ sent: Message; woken: boolean }>;
  /** A base_moved in its inbox (on a host, with the new tip pushed there first, so it can rebase onto it). */
  /** Tells the worker of a move; with `returned`, also whether its agent had ended before it was told. */
  tell(repo: Repo, notice: MoveNotice): Promise<{ agent_ended?: boolean }>;
  /** Rebases or merges the worker's branch onto a commit of this repository, in its worktree. */
  sync(repo: Repo, request: SyncRequest): Promise<SyncAttempt>;
  /** A sync asked of its place that the worker has not been told of yet: see SyncOwed. */
  syncOwed(): SyncOwed | undefined;
  /** Remembers such a sync until settleSync: the answer can be lost on the way back, or orch killed. */
  oweSync(owed: SyncOwed): void;
  settleSync(): void;
}

/**
 * A sync asked of a worker's place that the worker has not been told of yet: the answer may have been lost
 * (the connection to its host broke after the host's orch had started it, or this orch was killed after
 * git rebased it), or it was synced and the base_moved that says so did not get there. Kept until the
 * worker is told, so that a sync run again that finds the branch on that base already tells it and counts
 * it from there, instead of taking it as current: the agent would never hear that its branch was rewritten
 * under it, and this record would keep the old base.
 */
export type { SyncOwed } from "../store/coherence.ts";

/** Where this started worker lives: only a worker with a host loads the ssh side. */
export async function placeOf(layout: StoreLayout, record: WorkerRecord, ctx: Context): Promise<WorkerPlace> {
  if (onHost(record)) return (await import("./workers.ts")).hostPlace(layout, record, ctx);
  return (await import("../commands/place-here.ts")).herePlace(layout, record, ctx);
}

/** Refuses a bad ssh setup of orch's (see checkSshSetup) when any of these workers is on a host. */
export async function checkSshSetupFor(records: WorkerRecord[], ctx: Context): Promise<void> {
  if (records.some(onHost)) (await import("../adapters/ssh.ts")).checkSshSetup(ctx.env);
}

/**
 * Brings remote workers' branches into this repository (refs/heads/B, fetched over ssh), so diff,
 * apply, merge, land and clean read them as they read a local worker's branch. One fetch per worker.
 */
export async function fetchWorkerBranches(
  layout: StoreLayout, records: WorkerRecord[], mainRoot: string, ctx: Context,
): Promise<void> {
  const remote = records.filter(onHost);
  if (remote.length === 0) return;
  const { fetchBranchFromHost } = await import("./workers.ts");
  await allEnded(remote.map((record) => fetchBranchFromHost(layout, record, mainRoot, ctx)));
  // They answered: a pause of theirs after a failure (hosts/backoff.ts) is over.
  const { noteHostReached } = await import("./backoff.ts");
  for (const host of new Set(remote.map((r) => r.host))) noteHostReached(layout, host);
}

/**
 * Their values once every one has ended, else the first failure, thrown only then: a fetch still running
 * would outlive orch (its git fetch left to itself, writing the branch here after the command said it failed).
 */
async function allEnded<T>(fetches: Promise<T>[]): Promise<T[]> {
  const ended = await Promise.allSettled(fetches);
  const failed = ended.find((fetch): fetch is PromiseRejectedResult => fetch.status === "rejected");
  if (failed) throw failed.reason;
  return ended.map((fetch) => (fetch as PromiseFulfilledResult<T>).value);
}

/**
 * As fetchWorkerBranches, for the coherence check, status, sync and land's queue: a host that cannot be
 * reached is a warning, not a failure, and is remembered (hosts/backoff.ts) as one that answered is
 * forgotten. A host in its pause after failing lately is not tried, and one whose first fetch could not
 * connect is not tried again for its other workers: one connection attempt and one line per host.
 * Returns the workers whose branches were fetched.
 */
export async function fetchBranchesWherePossible(
  layout: StoreLayout,
  records: WorkerRecord[],
  mainRoot: string,
  ctx: Context,
): Promise<WorkerRecord[]> {
  const remote = records.filter(onHost);
  if (remote.length === 0) return [];
  const { fetchBranchFromHost } = await import("./workers.ts");
  const { checkSshSetup, HostUnreachable } = await import("../adapters/ssh.ts");
  checkSshSetup(ctx.env);
  const { nextTryText, noteHostFailure, noteHostReached, pausedHost } = await import("./backoff.ts");
  const hosts = [...new Set(remote.map((r) => r.host))];
  const fetched = await Promise.all(hosts.map(async (host): Promise<RemoteWorkerRecord[]> => {
    const mine = remote.filter((r) => r.host === host);
    const leftOut = `${mine.length === 1 ? `${mine[0]!.worker_id}'s branch is` : "its workers' branches are"} left out`;
    const paused = pausedHost(layout, host);
    if (paused) {
      const when = `was unreachable at ${paused.last_failed_at} (${paused.error})`;
      ctx.warn(`host ${host} ${when}: ${leftOut} (${nextTryText(paused)})`);
      return [];
    }
    const fetchOne = async (record: RemoteWorkerRecord) => {
      try {
        await fetchBranchFromHost(layout, record, mainRoot, ctx);
        return record;
      } catch (error) {
        if (error instanceof HostUnreachable) throw error;
        ctx.warn(`${record.worker_id}: ${(error as Error).message}`);
        return undefined;
      }
    };
    const startedAt = Date.now();
    try {
      // The first alone: a host that cannot be reached costs one attempt, not one per worker.
      const first = await fetchOne(mine[0]!);
      const rest = await allEnded(mine.slice(1).map(fetchOne));
      noteHostReached(layout, host);
      return [first, ...rest].filter((r): r is RemoteWorkerRecord => r !== undefined);
    } catch (error) {
      const failure = error as InstanceType<typeof HostUnreachable>;
      ctx.warn(`host ${host} is unreachable: ${failure.sshError}: ${leftOut}`);
      // One that let it wait (a time limit) is passed over by status and poll too for a while.
      noteHostFailure(layout, host, failure.sshError, Date.now(), startedAt);
      return [];
    }
  }));
  return fetched.flat();
}

/**
 * These workers split by whether their branches can be read in this repository now: those here, and those
 * on hosts whose branches fetchBranchesWherePossible brought (`readable`, in the given order); the others
 * are on hosts that could not be reached (`unfetched`, each said once on stderr).
 */
export async function branchesReadableHere(
  layout: StoreLayout, records: WorkerRecord[], mainRoot: string, ctx: Context,
): Promise<{ readable: WorkerRecord[]; unfetched: RemoteWorkerRecord[] }> {
  const fetched = new Set((await fetchBranchesWherePossible(layout, records, mainRoot, ctx)).map((r) => r.worker_id));
  const unfetched = records.filter((r): r is RemoteWorkerRecord => onHost(r) && !fetched.has(r.worker_id));
  return { readable: records.filter((r) => !unfetched.includes(r as RemoteWorkerRecord)), unfetched };
}

/** The worker's folder is gone (a remote one is the host's to judge, when it is removed). */
export function worktreeGone(record: WorkerRecord): boolean {
  return !onHost(record) && !fs.existsSync(record.worktree_path);
}

/**
 * Why a worker whose folder is gone is not to be forgotten, else undefined: its agent still runs, so the
 * folder was moved or renamed (a folder removed under a process is not its working folder any more), and
 * forgetting it would end that agent and leave its work in a folder git no longer knows. The message says
 * where the agent works now (from /proc; unknown without it) and what puts things right.
 */
export async function movedWorktree(layout: StoreLayout, record: WorkerRecord): Promise<string | undefined> {
  if (!worktreeGone(record)) return undefined;
  const { runningAgentPid } = await import("../store/watchdog.ts");
  const pid = runningAgentPid(layout, record);
  if (pid === undefined) return undefined;
  const { processCwd } = await import("../proc.ts");
  const cwd = processCwd(pid);
  const where = cwd === undefined ? "elsewhere" : `in ${cwd}`;
  return `its worktree ${record.worktree_path} is gone but its agent (pid ${pid}) still runs ${where}: ` +
    `was the folder moved? Move it back to ${record.worktree_path}, or orch rm ${record.worker_id} --force ` +
    "ends the agent and forgets the worker, leaving the folder";
}

/** notTheWorkersWorktree (commands/lifecycle.ts) of a worker here; a remote one's folder is the host's to judge. */
export async function notItsWorktree(record: WorkerRecord, mainRoot: string): Promise<string | undefined> {
  if (onHost(record)) return undefined;
  return (await import("../commands/lifecycle.ts")).notTheWorkersWorktree(mainRoot, record);
}

/** Uncommitted files in the worker's worktree; a host's orch refuses to remove a dirty one itself. */
export async function uncommittedPaths(record: WorkerRecord): Promise<string[]> {
  if (onHost(record)) return [];
  return (await import("../adapters/git.ts")).dirtyPaths(record.worktree_path);
}

/**
 * What land, merge and apply write into the base, here: each remote worker's branch (fetched) and its
 * messages (collected), whose task_complete gives the commit its summary and a merge its PR.
 */
export async function bringHome(
  layout: StoreLayout, records: WorkerRecord[], mainRoot: string, ctx: Context,
): Promise<void> {
  const remote = records.filter(onHost);
  if (remote.length === 0) return;
  await fetchWorkerBranches(layout, remote, mainRoot, ctx);
  await collectFromHosts(layout, remote[0]!.orchestrator_id, ctx);
}

/**
 * Brings home the messages remote workers have left on their hosts (one claim per host), so that what
 * this store knows of them (done, failed) is current; they stay unread here for the next poll.
 */
export async function collectFromHosts(layout: StoreLayout, orchestratorId: string, ctx: Context): Promise<void> {
  if (!fs.existsSync(path.join(layout.sessionDir(orchestratorId), "hosts"))) return;
  await (await import("./messages.ts")).collectHostMessages(layout, orchestratorId, ctx).done;
}
