// A worker's status, derived from its event log (links to every message it sent or got, plus lifecycle
// events), so no record is ever rewritten by a message; and the events orch itself records there.

import fs from "node:fs";
import path from "node:path";
import { errnoCode } from "../errors.ts";
import { shortened } from "../text.ts";
import { isRealDirectory, readRegularFile, toJson, writeNewFile } from "./files.ts";
import type { StoreLayout } from "./layout.ts";
import { linkEvent, linkEventAt, nextEventSeq, readEventLog, unnamedEvents, type EventEntry } from "./events.ts";
import {
  newMessage, parseMessage, sendMessage, sendTurnFailed, TURN_FAILED, type LifecycleType, type Message,
} from "./messages.ts";
import {
  ACTIVE, FINISHED, findWorker, isWaitingToStart, type WorkerRecord, type WorkerState, type WorkerStatus,
} from "./workers.ts";

/** Appends a lifecycle event (e.g. "stopped") to a worker's event log, after every event before it. */
export function recordWorkerEvent(
  layout: StoreLayout,
  record: WorkerRecord,
  type: LifecycleType,
  summary: string,
): void {
  const event = newMessage({
    orchestrator_id: record.orchestrator_id,
    worker_id: record.worker_id,
    message_type: type,
    content: { summary },
  });
  const eventsDir = layout.eventsDir(record.orchestrator_id, record.worker_id);
  // As linkEvent: a log that is gone (the worker is being removed) or not a real folder is not written through.
  if (!isRealDirectory(eventsDir)) return;
  const staging = path.join(eventsDir, `.${event.id}.tmp`);
  writeNewFile(staging, toJson(event), true);
  try {
    linkEvent(eventsDir, staging, type, event.id);
  } finally {
    fs.rmSync(staging, { force: true });
  }
}

/**
 * Records `woken` if the worker's agent is still at its prompt and nothing else was logged meanwhile:
 * true for the one caller that should type the wake-up line. Two sends that find the agent at its
 * prompt at once would otherwise both type it, into one input line.
 */
export function claimWakeUp(layout: StoreLayout, record: WorkerRecord): boolean {
  const eventsDir = layout.eventsDir(record.orchestrator_id, record.worker_id);
  if (!isRealDirectory(eventsDir)) return false;
  const summary = "orch typed its wake-up line into the agent's window";
  const event = newMessage({
    orchestrator_id: record.orchestrator_id, worker_id: record.worker_id, message_type: "woken", content: { summary },
  });
  const staging = path.join(eventsDir, `.${event.id}.tmp`);
  writeNewFile(staging, toJson(event), true);
  try {
    for (;;) {
      // The number first, then the state: an event that lands in between takes that number.
      const seq = nextEventSeq(eventsDir);
      if (!logState(layout, record).at_prompt || leavesPromptUnnamed(eventsDir)) return false;
      if (linkEventAt(eventsDir, staging, "woken", event.id, seq)) return true;
    }
  } finally {
    fs.rmSync(staging, { force: true });
  }
}

/**
 * Whether an event not yet named in the log (see unnamedEvents), numbered after the one that put the agent at its
 * prompt, takes it from there: a hook that records the turn it started, paused between its two links longer than
 * nextEventSeq waits (a stopped or starved process), is read from its content, so no wake-up line is typed into
 * that turn. Its turn is real whether or not its writer goes on; the Stop hook's idle after it is numbered after
 * it. A `woken` is left to nextEventSeq: one whose send was killed before it typed would hold every wake-up after.
 */
function leavesPromptUnnamed(eventsDir: string): boolean {
  // Almost always none: then the log is not read a second time (logState just read it).
  const unnamed = unnamedEvents(eventsDir);
  if (unnamed.length === 0) return false;
  let step: Step = { status: "running", atPrompt: false };
  let promptSeq = -1;
  for (const entry of readEventLog(eventsDir)) {
    const next = nextStep(step, entry.type);
    if (next.atPrompt && !step.atPrompt) promptSeq = entry.seq;
    step = next;
  }
  return unnamed.some(({ seq, messageType }) =>
    seq > promptSeq && messageType !== "woken" && !nextStep({ ...step, atPrompt: true }, messageType).atPrompt);
}

/**
 * An idle, waiting or blocked worker that takes up work is running again, as is one whose turn a model API
 * error ended (recorded once per turn).
 */
export function markTurnStarted(layout: StoreLayout, record: WorkerRecord): void {
  const state = workerState(layout, record);
  const waited = state.status === "idle" || state.status === "waiting" || state.status === "blocked";
  if (state.at_prompt || waited || state.turn_failed) {
    recordWorkerEvent(layout, record, "turn_started", "the agent is at work again");
  }
}

/**
 * The agent will stop at questions as it starts, before its first turn, which orch leaves to a person (Claude Code's
 * about CLAUDE.md imports from outside the worktree, say): the worker is blocked on them from the start, the
 * orchestrator is told, and `warn` says each in one line. Its first turn (once someone answered in its window) makes
 * it running again.
 */
export function reportStartQuestions(
  layout: StoreLayout,
  record: WorkerRecord,
  agent: string,
  questions: { asks: string; advice: string }[],
  warn: (line: string) => void,
): void {
  for (const question of questions) {
    warn(`worker ${record.worker_id} will stop at ${agent}'s question ${JSON.stringify(question.asks)} as it starts, ` +
      `shown blocked until someone answers it in its window (orch does not): ${question.advice}`);
  }
  const asks = questions.map((q) => q.asks).join("; ");
  reportWaitingAtStart(layout, record, {
    summary: `${agent} asks ${asks} as it starts; answer it in the worker's window (orch does not answer it for you)`,
    waitingFor: asks,
    details: questions.map((q) => q.advice).join("\n"),
  });
}

/**
 * The worker waits for a person at a question of its agent's start (foreseen at spawn, or read off its screen by
 * the runner): a `blocked` message to the orchestrator, recorded in its event log, so it shows blocked.
 */
export function reportWaitingAtStart(
  layout: StoreLayout, record: WorkerRecord, question: { summary: string; waitingFor: string; details: string },
): void {
  const message = newMessage({
    orchestrator_id: record.orchestrator_id,
    worker_id: record.worker_id,
    message_type: "blocked",
    content: {
      summary: `waiting for a person: ${question.summary}`,
      waiting_for: question.waitingFor,
      details: question.details,
      branch: record.branch,
    },
  });
  const events = layout.eventsDir(record.orchestrator_id, record.worker_id);
  sendMessage(layout.mailDir(record.orchestrator_id), message, events);
}

/** The words of a model API error for a conversation past the model's window (Anthropic's, OpenAI's, the agents'). */
const CONTEXT_FULL = /prompt is too long|context[ _-]?(window|length)[ _-]?exceeded|out of room in the model's context/i;

/** A turn that a model API error ended, after the agent's own retries: its kind, and the text the agent showed. */
export interface FailedTurn {
  kind: string;
  text?: string;
  details?: string;
}

/**
 * The agent's turn ended on a model API error and it waits at its prompt: an active worker is failed and the
 * orchestrator told once, with the agent's error text (its next turn makes it running again). A worker that
 * had reported done keeps its report unless it took up work again since (a turn a send began); one that
 * reported failed keeps that. Either is still at its prompt, for a send to wake.
 */
export function reportTurnFailed(layout: StoreLayout, record: WorkerRecord, failed: FailedTurn): void {
  const status = workerState(layout, record).status;
  const active = (ACTIVE as readonly string[]).includes(status) || (status === "done" && turnSinceDone(layout, record));
  if (!active) {
    recordWorkerEvent(layout, record, "turn_ended", `the agent's turn ended on a model API error (${failed.kind})`);
    return;
  }
  const cut = (text: string) => shortened(text, 2000);
  // Past the model's context window (the agent's own compaction did not make room): a send starts a turn that
  // meets the same limit, so the way on is said too.
  const full = CONTEXT_FULL.test(`${failed.kind}\n${failed.text ?? ""}\n${failed.details ?? ""}`);
  const next = full
    ? `its conversation no longer fits the model's context window, so a turn orch send ${record.worker_id} ` +
      "starts is likely to fail the same way: have it compacted (/compact in its window) or cleared, or orch rm " +
      "it and spawn what is left of its task anew"
    : `orch send ${record.worker_id} starts its next turn`;
  const message = newMessage({
    orchestrator_id: record.orchestrator_id,
    worker_id: record.worker_id,
    message_type: "task_failed",
    content: {
      summary: `the model API failed (${failed.kind}): the agent's turn ended and it waits at its prompt; ${next}`,
      error: cut(failed.text || failed.kind),
      ...(failed.details ? { details: cut(failed.details) } : {}),
      branch: record.branch,
    },
  });
  const events = layout.eventsDir(record.orchestrator_id, record.worker_id);
  sendTurnFailed(layout.mailDir(record.orchestrator_id), message, events);
}

/**
 * Whether the worker took up work again after it reported done (orch send's wake-up line, or a person typing,
 * began a turn): a failure of that turn is told, or the orchestrator that sent it would wait for ever.
 */
function turnSinceDone(layout: StoreLayout, record: WorkerRecord): boolean {
  const log = readEventLog(layout.eventsDir(record.orchestrator_id, record.worker_id));
  let since = false;
  for (const entry of log) {
    if (entry.type === "task_complete") since = false;
    else if (entry.type === "turn_started") since = true;
  }
  return since;
}

/** Hooks touch this file on every call: the worker's last sign of life besides its reports. */
export function touchActivity(layout: StoreLayout, record: WorkerRecord): void {
  const file = activityFile(layout, record);
  const now = new Date();
  try {
    fs.utimesSync(file, now, now);
  } catch {
    fs.writeFileSync(file, "", { mode: 0o600 });
  }
}

/** The worker's messages, by their type in its event log (a task_failed of sendTurnFailed is a turn_failed there). */
const WORKER_SENT = new Set(["task_complete", "task_failed", TURN_FAILED, "question", "progress", "idle", "blocked"]);
/** Events that show the agent itself doing something: last_activity_at comes from the newest of them. */
const AGENT_ACTIVITY = new Set([...WORKER_SENT, "turn_started", "turn_ended", "resumed"]);

interface Step {
  status: WorkerStatus;
  atPrompt: boolean;
  /** Failed by a turn that a model API error ended: the agent's next turn makes it running again. */
  turnFailed?: boolean;
}

/**
 * One event applied to the status. Terminal reports stay until orch resume restarts the agent, except a
 * failure that was the model API's, not the agent's: its next turn (woken by orch send) undoes it.
 */
function nextStep(step: Step, type: string): Step {
  const next = statusStep(step, type);
  // Failed still, it waits at its prompt with its failed turn: a wake-up line typed, a message for the agent, the
  // end of that turn heard again (a second StopFailure, a Stop: turn_ended). Only the agent's own task_failed is
  // a failure its next turn does not undo.
  const keeps = type !== "task_failed";
  return step.turnFailed && keeps && next.status === "failed" ? { ...next, turnFailed: true } : next;
}

function statusStep({ status, atPrompt, turnFailed }: Step, type: string): Step {
  const waitingForPerson = status === "idle" || status === "waiting" || status === "blocked";
  switch (type) {
    case "stopped":
      return { status: "stopped", atPrompt: false };
    case "restarted":
      return { status: "running", atPrompt: false };
    case "turn_started":
    case "resumed":
      return { status: waitingForPerson || turnFailed ? "running" : status, atPrompt: false };
    case "turn_ended":
      return { status, atPrompt: true };
    case "woken":
      // The line is typed; the status changes when the turn it starts is seen.
      return { status, atPrompt: false };
    case "answered":
      return { status: status === "blocked" ? "running" : status, atPrompt: false };
    case "returned":
      return { status: status === "stopped" ? status : "running", atPrompt: false };
    case "task_complete":
      return { status: "done", atPrompt };
    case "task_failed":
      return { status: "failed", atPrompt };
    case TURN_FAILED:
      // The turn is over (Claude Code's StopFailure comes instead of Stop): the agent waits at its prompt.
      return { status: "failed", atPrompt: true, turnFailed: true };
    case "question":
      return { status: status === "stopped" ? status : "waiting", atPrompt };
    case "progress":
      return { status: status === "stopped" ? status : "running", atPrompt };
    case "blocked":
      return { status: (FINISHED as readonly string[]).includes(status) ? status : "blocked", atPrompt: false };
    case "idle":
      // The Stop hook reports idle after every turn: it does not undo done, failed or a pending question.
      return { status: status === "running" || status === "blocked" ? "idle" : status, atPrompt: true };
    default:
      // Messages from the orchestrator change nothing: a worker is running once it takes up the work.
      return { status, atPrompt };
  }
}

function readEvent(eventsDir: string, entry: EventEntry): Message | null {
  try {
    const parsed = parseMessage(readRegularFile(path.join(eventsDir, entry.name)).toString("utf8"), `${entry.id}.json`);
    return typeof parsed === "string" ? null : parsed;
  } catch {
    return null;
  }
}

function mtimeOf(file: string): number {
  try {
    // A missing file is the common case (no activity yet): answered without building an error.
    return fs.statSync(file, { throwIfNoEntry: false })?.mtimeMs ?? 0;
  } catch {
    return 0;
  }
}

/** What a started worker's event log alone says; the activity file's time is added by workerState. */
export type LogState = Omit<WorkerState, "last_activity_at"> & {
  /** When its newest event of the agent's own was written (ms since the epoch), 0 before any. */
  event_activity_ms: number;
};

export function logState(layout: StoreLayout, record: WorkerRecord): LogState {
  const eventsDir = layout.eventsDir(record.orchestrator_id, record.worker_id);
  const log = readEventLog(eventsDir);
  let step: Step = { status: "running", atPrompt: false };
  let promptEntry: EventEntry | undefined;
  for (const entry of log) {
    const next = nextStep(step, entry.type);
    if (next.atPrompt && !step.atPrompt) promptEntry = entry;
    step = next;
  }
  const sent = log.filter((entry) => WORKER_SENT.has(entry.type)).reverse();
  const last = sent[0] === undefined ? null : readEvent(eventsDir, sent[0]);
  let prUrl = last?.content.pr_url ?? null;
  for (const entry of sent.slice(1, 20)) {
    if (prUrl) break;
    prUrl = readEvent(eventsDir, entry)?.content.pr_url ?? null;
  }
  const blockedBy = step.status === "blocked" && last?.message_type === "blocked" ? last.content : undefined;
  const lastActive = [...log].reverse().find((entry) => AGENT_ACTIVITY.has(entry.type));
  return {
    status: step.status,
    pr_url: prUrl,
    last_message: last,
    at_prompt: step.atPrompt,
    ...(step.atPrompt && promptEntry ? { at_prompt_since: mtimeOf(path.join(eventsDir, promptEntry.name)) } : {}),
    waiting_for: blockedBy?.waiting_for ?? null,
    request_id: blockedBy?.request_id ?? null,
    turn_failed: step.turnFailed === true,
    event_activity_ms: lastActive ? mtimeOf(path.join(eventsDir, lastActive.name)) : 0,
  };
}

/** Hooks touch it on every call: the worker's last sign of life besides its events. */
export function activityFile(layout: StoreLayout, record: WorkerRecord): string {
  return path.join(layout.workerDir(record.orchestrator_id, record.worker_id), "activity");
}

/** last_activity_at: the newer of the newest agent event and the activity file (0: none yet). */
export function lastActivityAt(eventActivityMs: number, activityFileMs: number): string | null {
  const ms = Math.max(eventActivityMs, activityFileMs);
  return ms > 0 ? new Date(ms).toISOString() : null;
}

export function activityMtime(layout: StoreLayout, record: WorkerRecord): number {
  return mtimeOf(activityFile(layout, record));
}

export function workerState(layout: StoreLayout, record: WorkerRecord): WorkerState {
  // Pending-ness comes from the record, not from events: the worker has not started yet.
  if (isWaitingToStart(record)) return pendingState(layout, record, new Set());
  const { event_activity_ms: eventActivityMs, ...state } = logState(layout, record);
  return { ...state, last_activity_at: lastActivityAt(eventActivityMs, activityMtime(layout, record)) };
}

/**
 * Tells the orchestrator, once, of each pending worker (spawn --after) that can no longer start by itself: a
 * worker it waits for failed, was removed or is blocked. A `blocked` message with waiting_for "after", as its
 * status says, so that a listener (poll --wait, watch) hears it; told again if it is unblocked (that worker
 * resumed) and blocked anew. Not in the worker's event log, which holds what it did once it started.
 */
export function noticeBlockedPending(layout: StoreLayout, records: WorkerRecord[]): string[] {
  const told: string[] = [];
  for (const record of records) {
    if (!isWaitingToStart(record)) continue;
    const marker = path.join(layout.workerDir(record.orchestrator_id, record.worker_id), "blocked-told");
    if (workerState(layout, record).status !== "blocked") {
      fs.rmSync(marker, { force: true });
      continue;
    }
    try {
      writeNewFile(marker, `${new Date().toISOString()}\n`, false);
    } catch (error) {
      if (errnoCode(error) === "EEXIST" || errnoCode(error) === "ENOENT") continue; // told, or removed meanwhile
      throw error;
    }
    const after = (record.after ?? []).join(", ");
    sendMessage(layout.mailDir(record.orchestrator_id), newMessage({
      orchestrator_id: record.orchestrator_id,
      worker_id: record.worker_id,
      message_type: "blocked",
      content: {
        summary: `cannot start: of ${after}, which it waits for, one failed, was removed or is blocked ` +
          `(resume that one, or orch rm ${record.worker_id})`,
        waiting_for: "after",
        branch: record.branch,
      },
    }));
    told.push(record.worker_id);
  }
  return told;
}

/**
 * pending while every prerequisite may still land; blocked (waiting_for "after") once one of them
 * failed, was removed, or is itself blocked: it cannot start without the orchestrator acting.
 */
function pendingState(layout: StoreLayout, record: WorkerRecord, seen: Set<string>): WorkerState {
  seen.add(record.worker_id);
  const notStarted = {
    pr_url: null, last_message: null, at_prompt: false, waiting_for: null, request_id: null, last_activity_at: null,
    turn_failed: false,
  };
  const landed = new Set(record.after_landed ?? []);
  for (const id of record.after ?? []) {
    if (landed.has(id)) continue;
    const prerequisite = findWorker(layout, record.orchestrator_id, id);
    const status = !prerequisite || seen.has(id) ? "failed"
      : isWaitingToStart(prerequisite) ? pendingState(layout, prerequisite, seen).status
      : workerState(layout, prerequisite).status;
    if (status === "failed" || status === "blocked") return { ...notStarted, status: "blocked", waiting_for: "after" };
  }
  return { ...notStarted, status: "pending" };
}
