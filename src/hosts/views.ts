// status, list and await over hosts: the local workers as they are here, each host's workers as its own
// orch reports them (one ssh call per host, all at once), and an unreachable host's workers marked
// `unreachable` with the ssh error instead of a wait.

import { mainWorktreeOf } from "../adapters/repo.ts";
import { checkSshSetup, HostUnreachable } from "../adapters/ssh.ts";
import { repoOf, type Context } from "../context.ts";
import { aboutHost } from "../errors.ts";
import { branchTipFromFiles, type Standing } from "../store/coherence.ts";
import type { StoreLayout } from "../store/layout.ts";
import { Waker, monotonicMs } from "../store/waker.ts";
import type { WorkerRecord } from "../store/workers.ts";
import type { WorkerView } from "../commands/status.ts";
import type { AwaitedWorker } from "../commands/await.ts";
import { runLifeline } from "./messages.ts";

export { requestsSent } from "../adapters/ssh-mux.ts";
import { pausedHost } from "./backoff.ts";
import { fetchBranchesWherePossible, onHost } from "./place.ts";
import { hostGone, hostOf, statusOnHosts, viewOf, type HostViews, type RemoteWorkerRecord } from "./workers.ts";
import { findHostSession } from "./store.ts";

/**
 * Starts asking each host of these workers for its status (one ssh call per host, all at once).
 * `cameBack`: a host that the coherence check leaves alone for a while after a failure (hosts/backoff.ts)
 * answered, so a move of the base can be brought to it now.
 */
export async function askHosts(
  layout: StoreLayout,
  records: WorkerRecord[],
  ctx: Context,
): Promise<HostViews & { cameBack: boolean }> {
  const remote = records.filter(onHost);
  const paused = [...new Set(remote.map((r) => r.host))].filter((host) => pausedHost(layout, host) !== undefined);
  const answers = await statusOnHosts(layout, remote, ctx);
  return { ...answers, cameBack: paused.some((host) => !answers.errors.has(host)) };
}

/**
 * Where remote workers stand against their base as it is here: from their branches as last fetched
 * here, fetched again only when the host reports a tip this repository does not have. Cached per
 * (base tip, branch tip) as for local workers (store/coherence.ts), so an unchanged worker costs no git.
 */
async function standingsHere(
  layout: StoreLayout,
  remote: RemoteWorkerRecord[],
  fromHosts: HostViews,
  ctx: Context,
): Promise<Map<string, Standing>> {
  const out = new Map<string, Standing>();
  const repo = await repoOf(ctx);
  if (!repo) return out;
  const main = mainWorktreeOf(repo);
  const reported = (r: RemoteWorkerRecord) => fromHosts.views.get(`${r.host}/${r.worker_id}`)?.branch_tip;
  const known = remote.filter((r) => typeof reported(r) === "string");
  const stale = known.filter((r) => branchTipFromFiles(main, r.branch) !== reported(r));
  const fetchedNow = await fetchBranchesWherePossible(layout, stale, repo.mainRoot, ctx);
  const fetched = new Set(fetchedNow.map((r) => r.worker_id));
  const ready = known.filter((r) => !stale.includes(r) || fetched.has(r.worker_id));
  if (ready.length === 0) return out;
  const { baseTipsOf, standingsOf } = await import("../commands/coherence.ts");
  for (const view of await standingsOf(layout, repo, ready, await baseTipsOf(repo, ready))) {
    if (view.standing) out.set(view.record.worker_id, view.standing);
  }
  return out;
}

/**
 * Replaces the views of remote workers (made from the local record) with what their hosts report, and
 * their standing (ahead, behind, merges_cleanly) with what it is against the base here.
 */
export async function overlayHostViews(
  layout: StoreLayout,
  records: WorkerRecord[],
  views: WorkerView[],
  counts: { unread: number; total: number },
  fromHosts: HostViews,
  ctx: Context,
): Promise<void> {
  const remote = records.filter(onHost);
  counts.unread += fromHosts.unread;
  counts.total += fromHosts.total;
  const standings = await standingsHere(layout, remote, fromHosts, ctx);
  for (const record of remote) {
    const index = views.findIndex((v) => v.worker_id === record.worker_id);
    if (index < 0) continue;
    const error = fromHosts.workerErrors.get(record.worker_id) ?? fromHosts.errors.get(record.host);
    const there = fromHosts.views.get(`${record.host}/${record.worker_id}`);
    if (error !== undefined) {
      const unknownState = { alive: false, window_alive: false, agent_alive: false };
      views[index] = { ...views[index]!, host: record.host, status: "unreachable", ...unknownState, error };
    } else if (there) {
      const { branch_tip: branchTip, ...view } = there;
      const standing = standings.get(record.worker_id);
      // An older orch on the host sends no tip: its own standing (against its copy of the base) stays.
      const here = branchTip === undefined ? {} : standingFields(standing);
      views[index] = { ...views[index]!, ...view, ...here, host: record.host } as WorkerView;
    } else {
      const unknownThere = `the host's orch no longer knows worker ${record.worker_id}`;
      views[index] = { ...views[index]!, host: record.host, error: unknownThere };
    }
  }
}

function standingFields(standing: Standing | undefined): Partial<WorkerView> {
  return {
    ahead: standing?.ahead ?? null,
    behind: standing?.behind ?? null,
    merges_cleanly: standing?.merges_cleanly ?? null,
    ...(standing && !standing.merges_cleanly ? { conflict_paths: standing.conflict_paths } : {}),
    ...(standing?.landed ? { landed: true } : {}),
  };
}

/** What await reports of a remote worker: the host's own answer, with the host (and why it is unreachable). */
type HostAwaited = AwaitedWorker & { host: string; error?: string };

/** A remote worker before its host has answered. */
function notYet(record: RemoteWorkerRecord): HostAwaited {
  return {
    worker_id: record.worker_id,
    branch: record.branch,
    status: "running",
    pr_url: null,
    final_message: null,
    host: record.host,
  };
}

export interface AwaitParts {
  localViews: (records: WorkerRecord[]) => AwaitedWorker[];
  settled: (workers: AwaitedWorker[], any: boolean) => boolean;
  localDirs: string[];
  /** Whether to give up this wait for a new one (a pending worker has started on its host). */
  restart?: () => boolean;
  /** When the whole wait ends (monotonicMs), if it began before this one; else now + timeoutMs. */
  deadline?: number;
  /** Runs before every look (the watchdog of the workers here, a base that moved). */
  beforeLook?: () => Promise<void>;
}

/**
 * await over hosts: one connection per host holds the host's own `orch await` for its workers (on a
 * lifeline, so it ends when we do), while the local workers are watched here. A host that cannot be
 * reached marks its workers unreachable and stops counting, and is tried again every few seconds.
 * Undefined when `parts.restart` said so (the caller waits again, with the workers as they are now).
 */
export async function awaitAcrossHosts(
  layout: StoreLayout,
  records: WorkerRecord[],
  any: boolean,
  timeoutMs: number | undefined,
  ctx: Context,
  parts: AwaitParts,
): Promise<AwaitedWorker[] | undefined> {
  const local = records.filter((r) => !onHost(r));
  const remote = records.filter(onHost);
  const answers = new Map<string, HostAwaited>();
  /** Workers whose host answered with an error of its own: not asked again. */
  const givenUp = new Set<string>();
  const hosts = [...new Set(remote.map((r) => r.host))];
  if (hosts.length) checkSshSetup(ctx.env);
  const waker = new Waker(parts.localDirs);
  let poke: (() => void) | undefined;
  const changed = () => poke?.();
  let finished = false;
  const cancels = new Set<() => void>();
  const running = new Set<Promise<unknown>>();

  for (const name of hosts) {
    const named = remote.filter((r) => r.host === name);
    // Forgotten here (host rm --force), or its name another host's now: nothing reaches those workers, so they
    // count as settled, as those of a host that answers with an error of its own do.
    const gone = named.map((r) => [r, hostGone(layout, r)] as const).filter(([, error]) => error !== undefined);
    for (const why of new Set(gone.map(([, error]) => error!.message))) ctx.warn(why);
    for (const [r, error] of gone) {
      answers.set(r.worker_id, { ...notYet(r), status: "unreachable", error: error!.message });
      givenUp.add(r.worker_id);
    }
    const mine = named.filter((r) => !gone.some(([g]) => g === r));
    if (mine.length === 0) continue;
    const host = hostOf(layout, mine[0]!, ctx);
    const link = findHostSession(layout, mine[0]!.orchestrator_id, name);
    void (async () => {
      let warned = false;
      while (!finished) {
        const flags: Record<string, string | boolean> = { orch: link?.remote_orchestrator_id ?? "" };
        if (any) flags.any = true;
        const request = { command: "await" as const, args: mine.map((r) => r.worker_id), flags };
        const lifeline = runLifeline(host, request, async (doc) => {
          // Only its own workers: an answer for a worker here or on another host is not this host's to give.
          for (const w of Array.isArray(doc.workers) ? (doc.workers as unknown[]) : []) {
            const view = viewOf(w);
            const r = mine.find((m) => m.worker_id === view?.worker_id);
            if (r) answers.set(r.worker_id, { ...notYet(r), ...view, host: name });
          }
        });
        cancels.add(lifeline.cancel);
        running.add(lifeline.done);
        try {
          await lifeline.done;
          changed();
          return;
        } catch (error) {
          if (finished) return;
          const why = error instanceof HostUnreachable ? error.sshError : (error as Error).message;
          const again = " (its workers count as unreachable; trying again)";
          const said = error instanceof HostUnreachable ? `host ${name}: ${why}${again}` : aboutHost(name, error);
          if (!warned) ctx.warn(said);
          warned = true;
          for (const r of mine) answers.set(r.worker_id, { ...notYet(r), status: "unreachable", error: why });
          if (!(error instanceof HostUnreachable)) for (const r of mine) givenUp.add(r.worker_id);
          changed();
          if (!(error instanceof HostUnreachable)) return;
          await new Promise((r) => setTimeout(r, 2000));
        } finally {
          cancels.delete(lifeline.cancel);
          running.delete(lifeline.done);
        }
      }
    })();
  }

  const current = (): AwaitedWorker[] => {
    const localNow = parts.localViews(local);
    return records.map((r) => (onHost(r)
      ? answers.get(r.worker_id) ?? notYet(r)
      : localNow.find((w) => w.worker_id === r.worker_id)!));
  };
  // An unreachable host's workers stop counting while others can settle the wait. With none left to count,
  // the wait goes on while their hosts are tried again (until one answers or the time is up); only a host
  // that answered with an error of its own (not tried again) ends it.
  const isSettled = (workers: AwaitedWorker[]): boolean => {
    const reachable = workers.filter((w) => w.status !== "unreachable");
    if (reachable.length === 0) return workers.every((w) => givenUp.has(w.worker_id));
    return parts.settled(reachable, any);
  };

  const deadline = parts.deadline ?? (timeoutMs === undefined ? undefined : monotonicMs() + timeoutMs);
  try {
    for (;;) {
      await parts.beforeLook?.();
      if (parts.restart?.()) return undefined;
      const now = current();
      if (isSettled(now)) return now;
      if (deadline !== undefined && monotonicMs() >= deadline) {
        throw (await import("../commands/await.ts")).stillRunning(records[0]?.orchestrator_id, now, timeoutMs);
      }
      await Promise.race([waker.next(deadline), new Promise<void>((resolve) => (poke = resolve))]);
    }
  } finally {
    finished = true;
    waker.close();
    for (const cancel of cancels) cancel();
    // Their connections close both ways before the process may end (see MuxSession.close).
    await Promise.allSettled([...running]);
  }
}
