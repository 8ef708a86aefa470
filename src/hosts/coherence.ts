// Keeping remote workers coherent: the new base tip goes to the host's clone (under orch's own ref, never
// the branch checked out there), and the host's orch (`orch __coherence`) puts the base_moved made here
// into the worker's inbox there, or rebases/merges the worker in its worktree there.

import type { Repo } from "../adapters/repo.ts";
import type { Context } from "../context.ts";
import { HostError } from "../errors.ts";
import type { StoreLayout } from "../store/layout.ts";
import { baseMovedMessage, type MoveNotice } from "../commands/coherence.ts";
import type { CoherenceRequest } from "../commands/host-coherence.ts";
import type { SyncAttempt, SyncRequest } from "../commands/sync.ts";
import { hostOf, remoteSessionOf, type RemoteWorkerRecord } from "./workers.ts";

/**
 * Where the host's clone keeps the tip of a base branch for the workers of one session there
 * (`git rebase orch/orch_k2j4h5g6/base/main`). Per session: two repositories (or two checkouts of one) whose
 * host clone is the same must not move each other's base under their workers.
 */
export function baseRefOnHost(remoteSession: string, baseBranch: string): string {
  return `refs/orch/${remoteSession}/base/${baseBranch}`;
}

/** (host, ref, tip) pushed by this process: one push per host for all of its workers. */
const pushed = new Map<string, Promise<void>>();

/** Pushes `tip` to the host's clone as orch's ref of the base branch (forced: a base can be rewound). */
export function pushBaseToHost(
  layout: StoreLayout,
  repo: Repo,
  record: RemoteWorkerRecord,
  tip: string,
  ctx: Context,
): Promise<void> {
  const ref = baseRefOnHost(remoteSessionOf(layout, record), record.base_branch ?? "HEAD");
  const key = `${record.host}\n${ref}\n${tip}`;
  let push = pushed.get(key);
  if (!push) {
    const host = hostOf(layout, record, ctx);
    const args = ["--quiet", "--force", host.gitUrl(), `${tip}:${ref}`];
    push = host.git("push", args, repo.mainRoot).then((pushed) => {
      if (pushed.code === 0) return;
      throw host.gitFailure(`push ${tip.slice(0, 12)} to`, pushed);
    });
    pushed.set(key, push);
    push.catch(() => pushed.delete(key));
  }
  return push;
}

async function askHost(layout: StoreLayout, record: RemoteWorkerRecord, request: CoherenceRequest, ctx: Context) {
  return hostOf(layout, record, ctx).orch(["__coherence", "-", "--orch", remoteSessionOf(layout, record)], {
    input: JSON.stringify(request),
  });
}

/** base_moved into a remote worker's inbox on its host; a hand-back also wakes it there. */
export async function tellOnHost(
  layout: StoreLayout,
  repo: Repo,
  record: RemoteWorkerRecord,
  notice: MoveNotice,
  ctx: Context,
): Promise<{ agent_ended?: boolean }> {
  await pushBaseToHost(layout, repo, record, notice.to, ctx);
  const onto = baseRefOnHost(remoteSessionOf(layout, record), notice.baseBranch).slice("refs/".length);
  const message = await baseMovedMessage(repo.mainRoot, record, { ...notice, rebaseOnto: onto });
  const request: CoherenceRequest = {
    op: "tell",
    worker_id: record.worker_id,
    content: message.content,
    returned: notice.returned === true,
  };
  const doc = await askHost(layout, record, request, ctx);
  return notice.returned ? { agent_ended: doc.agent_ended === true } : {};
}

/** What a host's sync came to, as its orch answered it: one of SyncAttempt's shapes, or a HostError. */
function attemptOf(value: unknown, host: string): SyncAttempt {
  const a = (value && typeof value === "object" ? value : {}) as Record<string, unknown>;
  const paths = a.conflict_paths;
  if (a.status === "synced" || a.status === "would_conflict") return { status: a.status };
  if (a.status === "blocked" && typeof a.reason === "string") return { status: "blocked", reason: a.reason };
  if (a.status === "stopped" && typeof a.error === "string" && Array.isArray(paths) &&
    paths.every((p) => typeof p === "string")) {
    return { status: "stopped", conflict_paths: paths as string[], error: a.error };
  }
  throw new HostError("failed", host, `on host ${host}: orch's sync there gave no answer orch can read`);
}

/** Rebases (or merges) a remote worker onto `tip` in its worktree on the host, under the rules of sync. */
export async function syncOnHost(
  layout: StoreLayout,
  repo: Repo,
  record: RemoteWorkerRecord,
  sync: SyncRequest,
  ctx: Context,
): Promise<SyncAttempt> {
  await pushBaseToHost(layout, repo, record, sync.tip, ctx);
  const doc = await askHost(layout, record, { op: "sync", worker_id: record.worker_id, sync }, ctx);
  const attempt = attemptOf(doc.attempt, record.host);
  // The host recorded its side; here the record counts from the new base as well.
  if (attempt.status === "synced") (await import("../commands/sync.ts")).recordNewBase(layout, record, sync.tip);
  return attempt;
}
