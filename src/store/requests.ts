// A worker's requests for a person (a permission prompt, a plan to approve), raised by its hook and
// answered by orch approve/deny. The answer file is created exclusively, so exactly one of the
// answer, the hook giving up, or the agent moving on decides each request.

import fs from "node:fs";
import path from "node:path";
import { OrchError, errnoCode } from "../errors.ts";
import { isRequestId, newRequestId } from "../ids.ts";
import { listDir, makeDirIn, readJson, toJson, writeNewFile } from "./files.ts";
import type { StoreLayout } from "./layout.ts";
import { isAlive, isSameProcess, processStartTime } from "../proc.ts";
import type { WorkerRecord } from "./workers.ts";

export interface PendingRequest {
  request_id: string;
  worker_id: string;
  /** The tool the agent wants to use (ExitPlanMode for a plan). */
  tool_name: string;
  waiting_for: string;
  /** The hook process that waits for the answer: a request whose hook is gone cannot be answered. */
  hook_pid: number;
  /**
   * The hook's start time, so that another process given its pid later (after a reboot) is not taken for it;
   * null without /proc, absent in requests of older versions.
   */
  hook_start_time?: string | null;
  created_at: string;
}

export type Decision = "allow" | "deny" | "expired" | "superseded";

export interface RequestAnswer {
  decision: Decision;
  /** allow: also allow this kind of call for the rest of the agent's session. */
  always?: boolean;
  /** deny: what the agent is told. */
  message?: string;
  answered_at: string;
}

function requestFile(layout: StoreLayout, record: WorkerRecord, id: string): string {
  return path.join(layout.requestsDir(record.orchestrator_id, record.worker_id), `${id}.json`);
}

export function answerFile(layout: StoreLayout, record: WorkerRecord, id: string): string {
  return path.join(layout.requestsDir(record.orchestrator_id, record.worker_id), `${id}.answer.json`);
}

export function openRequest(
  layout: StoreLayout,
  record: WorkerRecord,
  toolName: string,
  waitingFor: string,
): PendingRequest {
  if (!makeDirIn(layout.requestsDir(record.orchestrator_id, record.worker_id))) {
    throw new OrchError("not_found", `worker ${record.worker_id} was removed meanwhile: no request was raised`);
  }
  const request: PendingRequest = {
    request_id: newRequestId(),
    worker_id: record.worker_id,
    tool_name: toolName,
    waiting_for: waitingFor,
    hook_pid: process.pid,
    hook_start_time: processStartTime(process.pid) ?? null,
    created_at: new Date().toISOString(),
  };
  writeNewFile(requestFile(layout, record, request.request_id), toJson(request), true);
  return request;
}

/** Records the answer unless the request already has one; returns the answer that holds. */
export function answerRequest(
  layout: StoreLayout,
  record: WorkerRecord,
  id: string,
  answer: Omit<RequestAnswer, "answered_at">,
): { won: boolean; answer: RequestAnswer } {
  const full: RequestAnswer = { ...answer, answered_at: new Date().toISOString() };
  const target = answerFile(layout, record, id);
  // Written aside, then linked into place: link() fails on an existing name (one answer wins), and
  // a reader never sees the answer half written.
  const staging = `${target}.${process.pid}.tmp`;
  writeNewFile(staging, toJson(full), true);
  try {
    fs.linkSync(staging, target);
    return { won: true, answer: full };
  } catch (error) {
    if (errnoCode(error) !== "EEXIST") throw error;
    return { won: false, answer: readAnswer(layout, record, id) ?? full };
  } finally {
    fs.rmSync(staging, { force: true });
  }
}

export function readAnswer(layout: StoreLayout, record: WorkerRecord, id: string): RequestAnswer | undefined {
  try {
    return readJson<RequestAnswer>(answerFile(layout, record, id));
  } catch {
    return undefined;
  }
}

/** A request's file, or undefined when it is gone or unreadable (a damaged one answers nothing). */
function readRequest(file: string): PendingRequest | undefined {
  try {
    return readJson<PendingRequest>(file);
  } catch {
    return undefined;
  }
}

/** The request's hook still waits: its pid names the same process (by its start time, when one was recorded). */
function hookRuns(request: PendingRequest): boolean {
  const startTime = typeof request.hook_start_time === "string" ? request.hook_start_time : undefined;
  return startTime === undefined ? isAlive(request.hook_pid) : isSameProcess(request.hook_pid, startTime);
}

/** Requests still waiting for an answer (unanswered, their hook alive), oldest first. */
export function pendingRequests(layout: StoreLayout, record: WorkerRecord): PendingRequest[] {
  const dir = layout.requestsDir(record.orchestrator_id, record.worker_id);
  const names = listDir(dir);
  const pending: PendingRequest[] = [];
  for (const name of names) {
    const id = name.slice(0, -5);
    if (!name.endsWith(".json") || !isRequestId(id) || names.includes(`${id}.answer.json`)) continue;
    const request = readRequest(path.join(dir, name));
    if (request && hookRuns(request)) pending.push(request);
  }
  return pending.sort((a, b) => a.created_at.localeCompare(b.created_at));
}

/**
 * The answer `id` has, or, with no id, the newest request's answer: what tells an approve that lost a
 * race (or came late) that its request was answered already, and how.
 */
export function answeredRequest(
  layout: StoreLayout,
  record: WorkerRecord,
  id: string | undefined,
): { request_id: string; answer: RequestAnswer } | undefined {
  let requestId = id;
  if (requestId === undefined) {
    const dir = layout.requestsDir(record.orchestrator_id, record.worker_id);
    const newest = listDir(dir).filter((name) => name.endsWith(".json") && isRequestId(name.slice(0, -5)))
      .map((name) => readRequest(path.join(dir, name)))
      .filter((request) => request !== undefined)
      .sort((a, b) => a.created_at.localeCompare(b.created_at)).pop();
    requestId = newest?.request_id;
  }
  const answer = requestId === undefined ? undefined : readAnswer(layout, record, requestId);
  return requestId !== undefined && answer ? { request_id: requestId, answer } : undefined;
}

/** The agent went on (a person answered in its window, its turn ended): its open requests are moot. */
export function supersedeRequests(layout: StoreLayout, record: WorkerRecord): void {
  const dir = layout.requestsDir(record.orchestrator_id, record.worker_id);
  if (!fs.existsSync(dir)) return;
  for (const request of pendingRequests(layout, record)) {
    answerRequest(layout, record, request.request_id, { decision: "superseded" });
  }
}
