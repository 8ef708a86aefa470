// Worker records and worker state. A worker's status is derived from its event log (links to every
// message it sent or got, plus lifecycle events), so no record is ever rewritten by a message.

import fs from "node:fs";
import path from "node:path";
import { OrchError } from "../errors.ts";
import { branchNameProblem, isWorkerId, workerIdForBranch } from "../ids.ts";
import { isSameProcess, processStartTime } from "../proc.ts";
import { CorruptFileError, isRealDirectory, listDir, lstatOrUndefined, makeDirs, readJson, readRegularFile, toJson, writeFileAtomic, writeJsonAtomic, writeNewFile } from "./files.ts";
import type { StoreLayout } from "./layout.ts";
import { createMailbox } from "./maildir.ts";
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
}

export type WorkerStatus = "running" | "waiting" | "idle" | "done" | "failed" | "stopped";
export const FINISHED: readonly WorkerStatus[] = ["done", "failed", "stopped"];

export interface WorkerState {
  status: WorkerStatus;
  pr_url: string | null;
  /** The newest message the worker sent. */
  last_message: Message | null;
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

/** Whether a parsed worker.json has the fields orch relies on. */
function isWorkerRecord(value: unknown): value is WorkerRecord {
  if (!value || typeof value !== "object" || Array.isArray(value)) return false;
  const r = value as Record<string, unknown>;
  return typeof r.worker_id === "string" && typeof r.branch === "string" && typeof r.worktree_path === "string" &&
    typeof r.orchestrator_id === "string" && typeof r.created_at === "string" && Array.isArray(r.agent_argv);
}

/** A worker's record; CorruptFileError when worker.json is truncated, not JSON or lacks its fields. */
function readWorkerRecord(file: string): WorkerRecord | undefined {
  const value = readJson<unknown>(file);
  if (value === undefined) return undefined;
  if (!isWorkerRecord(value)) throw new CorruptFileError(file, "not a worker record");
  return value;
}

/**
 * Every worker of the session, oldest first. A record that cannot be read (truncated by a full disk,
 * edited by hand) is skipped with a warning, as the mailbox does with a corrupt message.
 */
export function listWorkers(layout: StoreLayout, orchestratorId: string, warn?: (line: string) => void): WorkerRecord[] {
  const records: WorkerRecord[] = [];
  for (const name of listDir(layout.workersDir(orchestratorId)).sort()) {
    if (!isWorkerId(name) || name.includes(".new-") || name.includes(".removed-")) continue;
    if (!isRealDirectory(layout.workerDir(orchestratorId, name))) {
      warn?.(`skipping worker ${name}: ${layout.workerDir(orchestratorId, name)} is not a folder (a symbolic link?)`);
      continue;
    }
    try {
      const record = readWorkerRecord(layout.workerFile(orchestratorId, name));
      if (record) records.push(record);
    } catch (error) {
      if (!(error instanceof CorruptFileError)) throw error;
      warn?.(`skipping worker ${name}: its record ${error.file} is ${error.why}`);
    }
  }
  return records.sort((a, b) => a.created_at.localeCompare(b.created_at));
}

/**
 * A worker by id or by branch. The id is a function of the branch and two branches with one id
 * cannot both exist, so both come down to reading one record.
 */
export function findWorker(layout: StoreLayout, orchestratorId: string, idOrBranch: string): WorkerRecord | undefined {
  const id = isWorkerId(idOrBranch) ? idOrBranch : workerIdForBranch(idOrBranch);
  const dir = lstatOrUndefined(layout.workerDir(orchestratorId, id));
  if (dir === undefined) return undefined;
  if (!dir.isDirectory()) throw new OrchError("store", `${layout.workerDir(orchestratorId, id)} is not a folder (a symbolic link?): orch does not follow it`);
  try {
    return readWorkerRecord(layout.workerFile(orchestratorId, id));
  } catch (error) {
    if (error instanceof CorruptFileError) throw new OrchError("store", `the record of worker ${id} (${error.file}) is ${error.why}: orch rm ${id} --force removes the worker`);
    throw error;
  }
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

/** Records the agent's pid with its start time, so a later process that gets the same pid is not taken for it. */
export function writeAgentPid(layout: StoreLayout, record: WorkerRecord, pid: number): void {
  const startTime = processStartTime(pid);
  writeFileAtomic(layout.agentPidFile(record.orchestrator_id, record.worker_id), `${pid}${startTime === undefined ? "" : ` ${startTime}`}\n`, false);
}

/**
 * The pid of the worker's agent while it runs (the runner keeps "<pid> <start time>" in agent.pid),
 * else undefined: also when that pid now belongs to another process, or the file has no start time
 * on a system that has them (orch cannot tell then, and never signals a process it cannot tell).
 */
export function runningAgentPid(layout: StoreLayout, record: WorkerRecord): number | undefined {
  let text: string;
  try {
    text = readRegularFile(layout.agentPidFile(record.orchestrator_id, record.worker_id), 1024).toString("utf8").trim();
  } catch {
    return undefined;
  }
  const [pidText = "", startTime] = text.split(/\s+/);
  const pid = Number(pidText);
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  return isSameProcess(pid, startTime) ? pid : undefined;
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
    const parsed = parseMessage(readRegularFile(path.join(eventsDir, name)).toString("utf8"), `${name.split(".")[0]}.json`);
    return typeof parsed === "string" ? null : parsed;
  } catch {
    return null;
  }
}

export function workerState(layout: StoreLayout, record: WorkerRecord): WorkerState {
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
