// Worker records and worker state. A worker's status is derived from its event log (links to every
// message it sent or got, plus lifecycle events), so no record is ever rewritten by a message.

import fs from "node:fs";
import path from "node:path";
import { OrchError } from "../errors.ts";
import { branchNameProblem, isWorkerId, workerIdForBranch } from "../ids.ts";
import { listDir, makeDirs, readJson, toJson, writeJsonAtomic, writeNewFile } from "./files.ts";
import type { StoreLayout } from "./layout.ts";
import { createMailbox, isAlive } from "./maildir.ts";
import { eventFileName, newMessage, parseMessage, type LifecycleType, type Message } from "./messages.ts";

export interface WorkerRecord {
  worker_id: string;
  branch: string;
  orchestrator_id: string;
  worktree_path: string;
  /** The commit the worker started from: diff and apply take its commits since this one. */
  base_commit: string;
  /** The branch checked out in the main worktree at spawn, which merge and land update. */
  base_branch: string | null;
  backend: "git" | "gtr";
  agent: string;
  /** The agent's command without the prompt. */
  agent_argv: string[];
  /** Where the runner puts the prompt (absent in records of older versions: "last"). */
  agent_prompt_placement?: "last" | "after-dashdash";
  /** Environment the agent's profile adds. */
  agent_env?: Record<string, string>;
  /** The session id orch gave the agent (for agents that accept one), so resume can continue it. */
  agent_session_id?: string;
  window_id: string | null;
  tmux_session: string | null;
  created_at: string;
  /** The base branch's tip when the worker was created (or last synced): it knows the base up to here. */
  base_tip?: string;
  /** spawn --after: the workers this one waits for; and those of them already seen landed. */
  after?: string[];
  after_landed?: string[];
  /** Recorded by spawn --after and not started yet: no worktree, no window (worktree_path is ""). */
  pending?: boolean;
  /** How to start a pending worker once its prerequisites have landed. */
  pending_spawn?: PendingSpawn;
}

/** The spawn options a pending worker keeps until it starts (its prompt is in prompt.txt). */
export interface PendingSpawn {
  agent: string;
  agent_argv?: string[];
  plan: boolean;
  window: boolean;
  backend?: "git" | "gtr";
  /** Why the start failed, once it did: the worker is then failed and not started again. */
  start_error?: string;
}

export type WorkerStatus = "pending" | "blocked" | "running" | "waiting" | "idle" | "done" | "failed" | "stopped";
export const FINISHED: readonly WorkerStatus[] = ["done", "failed", "stopped"];

export interface WorkerState {
  status: WorkerStatus;
  pr_url: string | null;
  /** The newest message the worker sent. */
  last_message: Message | null;
  /** While blocked: what it waits for ("after": a prerequisite failed or was removed). */
  waiting_for?: string;
}

/** Creates the worker's folder, event log and inbox, then its record; false if the id is taken. */
export function createWorker(layout: StoreLayout, record: WorkerRecord, prompt: string): boolean {
  const dir = layout.workerDir(record.orchestrator_id, record.worker_id);
  const staging = `${dir}.new-${process.pid}`;
  makeDirs(path.join(staging, "events"));
  createMailbox(path.join(staging, "inbox"));
  writeNewFile(path.join(staging, "prompt.txt"), prompt, true);
  fs.writeFileSync(path.join(staging, "worker.json"), toJson(record), { mode: 0o600 });
  try {
    // rename() onto an existing non-empty folder fails: the record appears whole, once.
    fs.renameSync(staging, dir);
    return true;
  } catch {
    fs.rmSync(staging, { recursive: true, force: true });
    return false;
  }
}

export function saveWorker(layout: StoreLayout, record: WorkerRecord): void {
  writeJsonAtomic(layout.workerFile(record.orchestrator_id, record.worker_id), record);
}

export function forgetWorker(layout: StoreLayout, orchestratorId: string, workerId: string): void {
  const dir = layout.workerDir(orchestratorId, workerId);
  const trash = `${dir}.removed-${process.pid}-${Date.now()}`;
  fs.renameSync(dir, trash);
  fs.rmSync(trash, { recursive: true, force: true });
}

export function listWorkers(layout: StoreLayout, orchestratorId: string): WorkerRecord[] {
  const records: WorkerRecord[] = [];
  for (const name of listDir(layout.workersDir(orchestratorId)).sort()) {
    if (!isWorkerId(name) || name.includes(".new-") || name.includes(".removed-")) continue;
    const record = readJson<WorkerRecord>(layout.workerFile(orchestratorId, name));
    if (record) records.push(record);
  }
  return records.sort((a, b) => a.created_at.localeCompare(b.created_at));
}

/**
 * A worker by id or by branch. The id is a function of the branch and two branches with one id
 * cannot both exist, so both come down to reading one record.
 */
export function findWorker(layout: StoreLayout, orchestratorId: string, idOrBranch: string): WorkerRecord | undefined {
  const id = isWorkerId(idOrBranch) ? idOrBranch : workerIdForBranch(idOrBranch);
  return readJson<WorkerRecord>(layout.workerFile(orchestratorId, id));
}

export function loadWorker(layout: StoreLayout, orchestratorId: string, idOrBranch: string): WorkerRecord {
  if (!isWorkerId(idOrBranch) && branchNameProblem(idOrBranch) !== null) {
    throw new OrchError("invalid", `bad worker ${JSON.stringify(idOrBranch)}: neither a worker id nor a branch name`);
  }
  const record = findWorker(layout, orchestratorId, idOrBranch);
  if (!record) throw new OrchError("not_found", `no worker ${JSON.stringify(idOrBranch)} in session ${orchestratorId}`);
  return record;
}

/** Appends a lifecycle event (e.g. "stopped") to a worker's event log. */
export function recordWorkerEvent(layout: StoreLayout, record: WorkerRecord, type: LifecycleType, summary: string): void {
  const event = newMessage({ orchestrator_id: record.orchestrator_id, worker_id: record.worker_id, message_type: type, content: { summary } });
  writeNewFile(path.join(layout.eventsDir(record.orchestrator_id, record.worker_id), eventFileName(event)), toJson(event), true);
}

/** The pid of the worker's agent while it runs (the runner keeps it in agent.pid), else undefined. */
export function runningAgentPid(layout: StoreLayout, record: WorkerRecord): number | undefined {
  try {
    const pid = Number(fs.readFileSync(layout.agentPidFile(record.orchestrator_id, record.worker_id), "utf8"));
    return pid > 0 && isAlive(pid) ? pid : undefined;
  } catch {
    return undefined;
  }
}

const WORKER_SENT = new Set(["task_complete", "task_failed", "question", "progress", "idle"]);

function nextStatus(status: WorkerStatus, type: string): WorkerStatus {
  switch (type) {
    case "stopped":
      return "stopped";
    case "message":
    case "reply":
      return status === "stopped" ? status : "running";
    case "resumed":
      return status === "idle" ? "running" : status;
    case "returned":
      return status === "stopped" ? status : "running";
    case "task_complete":
      return "done";
    case "task_failed":
      return "failed";
    case "question":
      return "waiting";
    case "progress":
      return "running";
    case "idle":
      // The Stop hook reports idle after every turn: it does not undo done, failed or a pending question.
      return status === "running" ? "idle" : status;
    default:
      return status;
  }
}

function readEvent(eventsDir: string, name: string): Message | null {
  try {
    const parsed = parseMessage(fs.readFileSync(path.join(eventsDir, name), "utf8"), `${name.split(".")[0]}.json`);
    return typeof parsed === "string" ? null : parsed;
  } catch {
    return null;
  }
}

export function workerState(layout: StoreLayout, record: WorkerRecord): WorkerState {
  // Pending-ness comes from the record, not from events: the worker has not started yet.
  if (isWaitingToStart(record)) return pendingState(layout, record, new Set());
  const eventsDir = layout.eventsDir(record.orchestrator_id, record.worker_id);
  const names = listDir(eventsDir).filter((name) => name.endsWith(".json")).sort();
  let status: WorkerStatus = "running";
  for (const name of names) status = nextStatus(status, name.split(".")[1] ?? "");
  const sent = names.filter((name) => WORKER_SENT.has(name.split(".")[1] ?? "")).reverse();
  const last = sent[0] === undefined ? null : readEvent(eventsDir, sent[0]);
  let prUrl = last?.content.pr_url ?? null;
  for (const name of sent.slice(1, 20)) {
    if (prUrl) break;
    prUrl = readEvent(eventsDir, name)?.content.pr_url ?? null;
  }
  return { status, pr_url: prUrl, last_message: last };
}

/** Recorded with --after and not started yet (a failed start counts as started: its events say failed). */
export function isWaitingToStart(record: WorkerRecord): boolean {
  return record.pending === true && !record.pending_spawn?.start_error;
}

/**
 * pending while every prerequisite may still land; blocked (waiting_for "after") once one of them
 * failed, was removed, or is itself blocked: it cannot start without the orchestrator acting.
 */
function pendingState(layout: StoreLayout, record: WorkerRecord, seen: Set<string>): WorkerState {
  seen.add(record.worker_id);
  const landed = new Set(record.after_landed ?? []);
  for (const id of record.after ?? []) {
    if (landed.has(id)) continue;
    const prerequisite = findWorker(layout, record.orchestrator_id, id);
    const status = !prerequisite || seen.has(id) ? "failed"
      : isWaitingToStart(prerequisite) ? pendingState(layout, prerequisite, seen).status
      : workerState(layout, prerequisite).status;
    if (status === "failed" || status === "blocked") return { status: "blocked", pr_url: null, last_message: null, waiting_for: "after" };
  }
  return { status: "pending", pr_url: null, last_message: null };
}
