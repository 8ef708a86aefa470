// orch await [WORKER…]: block until the workers have finished (or one asks a question) and print their
// final messages (mirrors mux's task_await).

import fs from "node:fs";
import path from "node:path";
import { resolveSession, type Context } from "../context.ts";
import { OrchError } from "../errors.ts";
import { booleanFlag, stringFlag, timeoutFlag, type Flags } from "../flags.ts";
import { onHost } from "../hosts/place.ts";
import type { Colors } from "../output.ts";
import type { StoreLayout } from "../store/layout.ts";
import { RESCAN_MS, monotonicMs, sameFolder, waitFor } from "../store/waker.ts";
import { isMessageId } from "../ids.ts";
import { guardListener } from "../listener.ts";
import { baseTipsMoved, readWorkerCoherence } from "../store/coherence.ts";
import { unreadFiles } from "../store/maildir.ts";
import { parseMessage, type Message } from "../store/messages.ts";
import { FINISHED, findWorker, listWorkers, loadWorker, type WorkerRecord } from "../store/workers.ts";
import { workerState } from "../store/worker-status.ts";
import { noticeMoves } from "./coherence.ts";
import { noticeEndedWorkers } from "./status.ts";
import { publicMessage } from "./poll.ts";
import type { CommandResult } from "./types.ts";

export interface AwaitedWorker {
  worker_id: string;
  branch: string;
  status: string;
  pr_url: string | null;
  final_message: Record<string, unknown> | null;
  waiting_for?: string;
  /** While blocked on a request: what approve/deny name, so the wait's answer is enough to answer it. */
  request_id?: string;
  after?: string[];
  /** Set when the wait ended on a pending worker that cannot start before its prerequisites land. */
  needs?: string;
}

/**
 * How the workers stand now. One removed meanwhile (orch rm, clean, which stop it first) counts as stopped: read
 * as they are, its gone events said running for good when the wait missed the stop. It counts so once it has been
 * gone for a re-scan's time (`removed`: when each was first found gone): rm -rf .orch takes a session's workers
 * before the session folder, whose going ends the wait with that error instead.
 */
function views(layout: StoreLayout, records: WorkerRecord[], removed: Map<string, number>): AwaitedWorker[] {
  return records.map((old) => {
    // Re-read: a pending worker may have been started meanwhile.
    const found = findWorker(layout, old.orchestrator_id, old.worker_id);
    if (found === undefined) {
      const since = removed.get(old.worker_id) ?? monotonicMs();
      removed.set(old.worker_id, since);
      if (monotonicMs() - since >= RESCAN_MS) return removedView(old);
    } else {
      removed.delete(old.worker_id); // spawned again under its id: gone only from the time it goes again
    }
    const record = found ?? old;
    const state = workerState(layout, record);
    const stuck = state.status === "pending" && pendingOnFinishedWork(layout, record);
    const unasked = state.status === "idle" && !wakeWaiting(layout, record);
    return {
      worker_id: record.worker_id,
      branch: record.branch,
      status: state.status,
      pr_url: state.pr_url,
      final_message: state.last_message && publicMessage(state.last_message),
      ...(state.waiting_for ? { waiting_for: state.waiting_for } : {}),
      ...(state.request_id ? { request_id: state.request_id } : {}),
      ...(record.after ? { after: record.after } : {}),
      ...(stuck ? { needs: "its prerequisites have finished: land them so it can start" } : {}),
      ...(unasked ? { needs: "its turn ended without a report: orch send it what to do next" } : {}),
    };
  });
}

/** A worker removed while awaited: stopped, with nothing of it left to show. */
function removedView(record: WorkerRecord): AwaitedWorker {
  return { worker_id: record.worker_id, branch: record.branch, status: "stopped", pr_url: null, final_message: null };
}

/**
 * An unread message that starts the idle worker's next turn: a send, a reply or a conflict handed back
 * (orch wakes it at its prompt for those). A base_moved alone leaves it idle, as does nothing at all.
 */
function wakeWaiting(layout: StoreLayout, record: WorkerRecord): boolean {
  return unreadFiles(layout.inboxDir(record.orchestrator_id, record.worker_id)).some((file) => {
    let message: Message | string;
    try {
      message = parseMessage(fs.readFileSync(file, "utf8"), path.basename(file));
    } catch {
      return false;
    }
    if (typeof message === "string") return false;
    return message.message_type !== "base_moved" || message.content.returned === true;
  });
}

/**
 * A pending worker whose unlanded prerequisites have all finished: only landing them lets it start. One
 * that orch has landed counts as landed before the pending worker's record says so: the land that landed
 * it starts the worker next (until then a wait here must not end on it).
 */
function pendingOnFinishedWork(layout: StoreLayout, record: WorkerRecord): boolean {
  const recorded = new Set(record.after_landed ?? []);
  const landedByOrch = (id: string) => readWorkerCoherence(layout, record.orchestrator_id, id).landed !== undefined;
  const unlanded = (record.after ?? []).filter((id) => !recorded.has(id) && !landedByOrch(id));
  return unlanded.length > 0 && unlanded.every((id) => {
    const prerequisite = findWorker(layout, record.orchestrator_id, id);
    if (prerequisite === undefined) return false;
    return (FINISHED as readonly string[]).includes(workerState(layout, prerequisite).status);
  });
}

/**
 * Done when every awaited worker has finished (done, failed, stopped), or any one with --any. A worker
 * that asks a question or is blocked ends the wait too: it cannot finish before someone acts; so do one
 * idle at its prompt with nothing sent to it that would start its next turn (it ended a turn without
 * reporting), and a pending worker whose prerequisites finished without landing. Pending workers are
 * otherwise waited for.
 */
export function settled(current: AwaitedWorker[], any: boolean): boolean {
  if (current.some((w) => w.status === "waiting" || w.status === "blocked" || w.needs !== undefined)) return true;
  const finished = current.filter((w) => (FINISHED as readonly string[]).includes(w.status));
  return any ? finished.length > 0 : finished.length === current.length;
}

/** A pending worker of these has been started on its host meanwhile (spawn --after --host). */
function startedOnHost(layout: StoreLayout, records: WorkerRecord[]): boolean {
  return records.some((r) => {
    if (!r.pending || r.host === undefined) return false;
    const now = findWorker(layout, r.orchestrator_id, r.worker_id);
    return now !== undefined && now.pending !== true;
  });
}

export async function runAwait(
  names: string[],
  any: boolean,
  timeoutMs: number | undefined,
  orch: string | undefined,
  ctx: Context,
) {
  const { layout, session } = await resolveSession(ctx, orch);
  // Each worker once, however often it is named (by id and by branch, or twice).
  const named = names.map((name) => loadWorker(layout, session.orchestrator_id, name));
  let records = names.length
    ? [...new Map(named.map((r) => [r.worker_id, r])).values()]
    : listWorkers(layout, session.orchestrator_id, ctx.warn).filter((r) => workerState(layout, r).status !== "stopped");
  const deadline = timeoutMs === undefined ? undefined : monotonicMs() + timeoutMs;
  for (;;) {
    const workers = await awaitOnce(layout, session.orchestrator_id, records, any, timeoutMs, deadline, ctx);
    if (workers) {
      await finalMessagesDelivered(layout, session.orchestrator_id, workers);
      return { orchestratorId: session.orchestrator_id, workers };
    }
    // A pending worker now lives on its host: the wait goes on with its host followed as well.
    records = records.map((r) => findWorker(layout, r.orchestrator_id, r.worker_id) ?? r);
  }
}

/** How long await waits for a notify it saw in an event log to finish delivering that message. */
const DELIVERY_WAIT_MS = 2000;

/**
 * Waits until the final messages the wait reports are in the mailbox, so that a poll right after it hands them
 * out. notify links a message into the worker's event log just before it moves it from the mailbox's tmp/ into
 * new/; under load a poll between the two missed the question the await had just reported. Bounded: a notify
 * killed between the two leaves its file in tmp/ for good.
 */
async function finalMessagesDelivered(layout: StoreLayout, orchestratorId: string, workers: AwaitedWorker[]) {
  const tmp = path.join(layout.mailDir(orchestratorId), "tmp");
  const until = monotonicMs() + DELIVERY_WAIT_MS;
  for (const { final_message: message } of workers) {
    const id = message?.id;
    if (typeof id !== "string" || !isMessageId(id)) continue;
    const file = path.join(tmp, `${id}.json`);
    while (fs.existsSync(file) && monotonicMs() < until) await new Promise((r) => setTimeout(r, 5));
  }
}

/** The wait, until it is settled (the workers' views) or a pending worker started on its host (undefined). */
async function awaitOnce(
  layout: StoreLayout,
  orchestratorId: string,
  records: WorkerRecord[],
  any: boolean,
  timeoutMs: number | undefined,
  deadline: number | undefined,
  ctx: Context,
): Promise<AwaitedWorker[] | undefined> {
  const dirs = records.map((r) => layout.eventsDir(r.orchestrator_id, r.worker_id));
  const restart = () => startedOnHost(layout, records);
  const guard = guardListener(layout.root);
  const removed = new Map<string, number>();
  // Before every look, with hosts or without: the watchdog of the workers here (a remote worker's is its
  // host's), and a prerequisite merged elsewhere, which starts its pending workers.
  const beforeLook = async () => {
    guard.check("await");
    // orch mcp's client cancelled the call (or gave up on it): nobody reads what the wait would find.
    if (ctx.signal?.aborted) throw new OrchError("interrupted", "await: cancelled by the client; nothing was taken");
    await noticeEndedWorkers(layout, records, ctx.env);
    if (baseTipsMoved(layout, orchestratorId)) await noticeMoves(layout, orchestratorId, ctx);
  };
  if (records.some(onHost)) {
    const { awaitAcrossHosts } = await import("../hosts/views.ts");
    const localViews = (local: WorkerRecord[]) => views(layout, local, removed);
    const parts = { localViews, settled, localDirs: dirs, restart, deadline, beforeLook };
    return awaitAcrossHosts(layout, records, any, timeoutMs, ctx, parts);
  }
  const sessionGone = sameFolder(layout.sessionDir(orchestratorId), "the session");
  const remaining = deadline === undefined ? undefined : Math.max(0, deadline - monotonicMs());
  const result = records.length === 0 ? [] : await waitFor(dirs, remaining, async () => {
    await beforeLook();
    if (restart()) return "restart" as const;
    const current = views(layout, records, removed);
    return settled(current, any) ? current : undefined;
  }, sessionGone);
  if (result === "restart") return undefined;
  if (!result) throw stillRunning(orchestratorId, views(layout, records, removed), timeoutMs);
  return result;
}

/** await's --timeout ran out: the line names the workers not finished and how they stand. */
export function stillRunning(
  orchestratorId: string | undefined,
  workers: AwaitedWorker[],
  timeoutMs: number | undefined,
): OrchError {
  const open = workers.filter((w) => !(FINISHED as readonly string[]).includes(w.status));
  const which = open.map((w) => `${w.worker_id} ${w.status}`).join(", ");
  const message = `workers still running after ${(timeoutMs ?? 0) / 1000}s${which ? `: ${which}` : ""}`;
  return new OrchError("timeout", message, { orchestrator_id: orchestratorId, workers });
}

interface FinalMessageParts {
  message_type?: string;
  content?: { summary?: string; question?: string; error?: string };
}

function render(workers: AwaitedWorker[], c: Colors): string {
  if (workers.length === 0) return "no active workers to wait for\n";
  return workers.map((w) => {
    const message = w.final_message as FinalMessageParts | null;
    const summary = message?.content?.summary ?? "";
    const extra = message?.content?.question ?? message?.content?.error ?? "";
    const said = summary ? `: ${summary}` : "";
    const asked = extra ? ` (${extra})` : "";
    const pr = w.pr_url ? ` ${w.pr_url}` : "";
    const after = w.status === "pending" && w.after ? ` (after ${w.after.join(", ")})` : "";
    return `${c.bold(w.worker_id)} ${w.status}${after}${said}${asked}${pr}${whatItNeeds(w)}`;
  }).join("\n") + "\n";
}

/**
 * Why the wait ended on this worker and what answers it, as the JSON says it (needs, waiting_for,
 * request_id): the human form is what a model reads after orch await, and without it "pending" or
 * "idle" gave no reason and no next step.
 */
function whatItNeeds(w: AwaitedWorker): string {
  if (w.needs) return ` - needs: ${w.needs}`;
  if (w.status !== "blocked" || !w.waiting_for) return "";
  if (w.waiting_for === "after") {
    return " - waiting for after: a worker it waits for failed or was removed: " +
      "fix or replace that one, or orch rm this";
  }
  const request = w.request_id ? ` ${w.request_id}` : "";
  const answer = w.request_id
    ? `: orch approve ${w.worker_id}${request}, or orch deny ${w.worker_id}${request} --message "<why>"`
    : "";
  return ` - waiting for ${w.waiting_for}${answer}`;
}

export async function main(args: string[], flags: Flags, ctx: Context): Promise<CommandResult> {
  const timeoutMs = timeoutFlag(flags);
  const any = booleanFlag(flags, "any");
  const { orchestratorId, workers } = await runAwait(args, any, timeoutMs, stringFlag(flags, "orch"), ctx);
  return { json: { success: true, orchestrator_id: orchestratorId, workers }, human: (c) => render(workers, c) };
}
