// Worker records: a worker's folder and its worker.json, made once, read, listed and found by id or
// branch. What a worker is doing comes from its event log (worker-status.ts), never from a rewritten record;
// the claims that keep two commands off one worker are in worker-claims.ts, its agent's life in watchdog.ts.

import fs from "node:fs";
import path from "node:path";
import { errnoCode, OrchError } from "../errors.ts";
import {
  branchNameProblem, digestWorkerIdForBranch, isWorkerFolderName, isWorkerId, workerIdForBranch, workerIdsForBranch,
} from "../ids.ts";
import {
  CorruptFileError, isRealDirectory, listDir, lstatOrUndefined, makeDirs, notAFolder, readJson, toJson,
  writeJsonAtomic, writeNewFile,
} from "./files.ts";
import { isAlive } from "../proc.ts";
import type { StoreLayout } from "./layout.ts";
import { createMailbox } from "./maildir.ts";
import type { Message } from "./messages.ts";
import { claimText, type ResumeClaimer } from "./worker-claims.ts";

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
  /** The pane of that window the agent runs in (absent in records of older versions: the window's active one). */
  tmux_pane?: string;
  /** The tmux server that made the window (pid.start_time; absent in records of older versions). */
  tmux_server?: string;
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
  /** The host the worker lives on (orch host add); absent for a worker here. */
  host?: string;
  /** Which host that name was when the worker was made there (hosts/store.ts hostIdOf); absent before. */
  host_id?: string;
  /**
   * The spawn that is opening the worker's window (until it has recorded which): one killed meanwhile
   * left a window no record names, or none; status finds which (adoptOpenedWindows).
   */
  opening_window?: { pid: number; start_time: string | null };
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

export type WorkerStatus = "pending" | "running" | "waiting" | "blocked" | "idle" | "done" | "failed" | "stopped";
export const FINISHED: readonly WorkerStatus[] = ["done", "failed", "stopped"];
/** The agent should still be there: if it is gone without a report, it died. */
export const ACTIVE: readonly WorkerStatus[] = ["running", "waiting", "blocked", "idle"];

export interface WorkerState {
  status: WorkerStatus;
  pr_url: string | null;
  /** The newest message the worker sent. */
  last_message: Message | null;
  /** The agent's turn ended and it sits at its prompt: a message must wake it (orch types a line). */
  at_prompt: boolean;
  /** When the event that put it at its prompt was written (ms since the epoch), while at_prompt. */
  at_prompt_since?: number;
  /** While blocked: what it waits for and the request approve/deny answer. */
  waiting_for: string | null;
  request_id: string | null;
  /** Failed because a model API error ended its turn (sendTurnFailed): its agent waits at its prompt. */
  turn_failed: boolean;
  /** Its last report, hook event or tool call (ISO time), or null before any. */
  last_activity_at: string | null;
}

/**
 * Creates the worker's folder, event log and inbox, then its record; false if the id is taken. With
 * `resumeClaimBy` it appears with its resume claim held by this process (see claimResume): no stop or rm
 * comes between its record and the window its spawn opens.
 */
export function createWorker(
  layout: StoreLayout, record: WorkerRecord, prompt: string, resumeClaimBy?: ResumeClaimer,
): boolean {
  const dir = layout.workerDir(record.orchestrator_id, record.worker_id);
  const staging = `${dir}.new-${process.pid}`;
  makeDirs(path.join(staging, "events"));
  createMailbox(path.join(staging, "inbox"));
  writeNewFile(path.join(staging, "prompt.txt"), prompt, true);
  if (resumeClaimBy) writeNewFile(path.join(staging, "resuming"), claimText(resumeClaimBy), false);
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
  removeAbandonedFolders(layout.workersDir(orchestratorId));
}

/**
 * A command killed between its rename and its removal of a worker's folder (an rm or clean given Ctrl-C or
 * kill -9 half-way) leaves `<id>.removed-<pid>-<time>`; one killed while it made the folder leaves
 * `<id>.new-<pid>`. Nothing lists them (isWorkerFolderName), so they stayed for ever: the next removal takes
 * them away once their process is gone. Only this pid namespace's: a sandbox's orch, whose pid names nobody
 * here, may still be writing its own, so a folder younger than a minute is left to it.
 */
function removeAbandonedFolders(workersDir: string): void {
  let names: string[];
  try {
    names = fs.readdirSync(workersDir);
  } catch {
    return;
  }
  for (const name of names) {
    const pid = Number(/\.(?:new|removed)-(\d+)(?:-\d+)?$/.exec(name)?.[1]);
    if (!(pid > 0) || isAlive(pid)) continue;
    const folder = path.join(workersDir, name);
    const stat = lstatOrUndefined(folder);
    if (!stat?.isDirectory() || Date.now() - stat.mtimeMs < ABANDONED_AFTER_MS) continue;
    fs.rmSync(folder, { recursive: true, force: true });
  }
}

/** How old a dead process's half-made or half-removed worker folder is before it counts as abandoned. */
const ABANDONED_AFTER_MS = 60_000;

/** Whether a parsed worker.json has the fields orch relies on. */
export function isWorkerRecord(value: unknown): value is WorkerRecord {
  if (!value || typeof value !== "object" || Array.isArray(value)) return false;
  const r = value as Record<string, unknown>;
  return typeof r.worker_id === "string" && typeof r.branch === "string" && typeof r.worktree_path === "string" &&
    typeof r.orchestrator_id === "string" && typeof r.created_at === "string" && Array.isArray(r.agent_argv);
}

/**
 * A worker's record; CorruptFileError when worker.json is truncated, not JSON or lacks its fields, when
 * its ids are not those of the folders it sits in (every path of a worker is made from them: a
 * worker_id of "../../x" would put its event log outside the store), or when its event log is not a
 * real folder (a symbolic link would have orch read and write wherever it points).
 */
export function readWorkerRecord(file: string): WorkerRecord | undefined {
  let value: unknown;
  try {
    value = readJson<unknown>(file);
  } catch (error) {
    const code = errnoCode(error);
    if (code === "EACCES" || code === "EPERM") throw new UnreadableRecordError(file);
    throw error;
  }
  if (value === undefined) return undefined;
  if (!isWorkerRecord(value)) throw new CorruptFileError(file, "not a worker record");
  const workerDir = path.dirname(file);
  const sessionId = path.basename(path.dirname(path.dirname(workerDir)));
  if (value.worker_id !== path.basename(workerDir) || value.orchestrator_id !== sessionId) {
    const says = `${JSON.stringify(value.orchestrator_id)}/${JSON.stringify(value.worker_id)}`;
    throw new CorruptFileError(file, `not the record of the worker whose folder it is in (it names ${says})`);
  }
  if (!isRecordablePath(value.worktree_path, value.pending === true)) {
    const says = JSON.stringify(value.worktree_path);
    const why = `naming a worktree_path orch never records (${says}: not an absolute, normal path)`;
    throw new CorruptFileError(file, why);
  }
  const events = lstatOrUndefined(path.join(workerDir, "events"));
  if (events !== undefined && !events.isDirectory()) {
    const what = notAFolder(events);
    throw new CorruptFileError(path.join(workerDir, "events"), `${what}, not the worker's event log folder`);
  }
  return value;
}

/**
 * Whether `worktreePath` is one orch could have recorded: an absolute path without `.`, `..`, doubled or
 * trailing slashes, and not `/` (here or on a host, both POSIX); a pending worker has none yet (""). rm
 * and clean act on it, so a relative or roundabout path edited in would point them somewhere else.
 */
function isRecordablePath(worktreePath: string, pending: boolean): boolean {
  if (worktreePath === "") return pending;
  return path.posix.isAbsolute(worktreePath) && path.posix.normalize(worktreePath) === worktreePath &&
    worktreePath !== "/" && !worktreePath.endsWith("/");
}

/**
 * Every worker of the session, oldest first. A record that cannot be read (truncated by a full disk,
 * edited by hand) is skipped with a warning, as the mailbox does with a corrupt message.
 */
export function listWorkers(
  layout: StoreLayout,
  orchestratorId: string,
  warn?: (line: string) => void,
): WorkerRecord[] {
  const records: WorkerRecord[] = [];
  for (const name of listDir(layout.workersDir(orchestratorId)).sort()) {
    if (!isWorkerFolderName(name)) continue;
    if (!isRealDirectory(layout.workerDir(orchestratorId, name))) {
      warn?.(`skipping worker ${name}: ${layout.workerDir(orchestratorId, name)} is not a folder (a symbolic link?)`);
      continue;
    }
    try {
      const record = readWorkerRecord(layout.workerFile(orchestratorId, name));
      if (record) records.push(record);
    } catch (error) {
      if (!(error instanceof CorruptFileError)) throw error;
      warn?.(`skipping worker ${name}: ${error.file} is ${error.why}`);
    }
  }
  return records.sort((a, b) => byText(a.created_at, b.created_at));
}

/** Code-unit order: the order of ISO times and ids, without the locale collation localeCompare pays for. */
function byText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * A worker.json this user may not read (another user's, or a mode taken away by hand): skipped by listings
 * as a damaged one is, but what mends it is its owner or mode, not removing the worker.
 */
export class UnreadableRecordError extends CorruptFileError {
  constructor(file: string) {
    super(file, "not readable by you (permission denied)");
  }
}

/** A worker whose record cannot be read: `orch rm ID --force` forgets it (see rm.ts). */
export class CorruptWorkerRecord extends OrchError {
  constructor(readonly workerId: string, error: CorruptFileError) {
    const fix = error instanceof UnreadableRecordError
      ? `give it back to your user (chown, chmod u+rw), or orch rm ${workerId} --force forgets the worker`
      : `orch rm ${workerId} --force removes the worker`;
    super("store", `the record of worker ${workerId} (${error.file}) is ${error.why}: ${fix}`);
  }
}

/**
 * A worker by id or by branch. A name that is a worker id is read as one. A branch's worker is under its
 * contract id, its digest id, or the id an earlier build gave it (ids.ts workerIdsForBranch), and other
 * branches' workers may be under any of those: a record found there is this branch's only when it names it.
 */
export function findWorker(layout: StoreLayout, orchestratorId: string, idOrBranch: string): WorkerRecord | undefined {
  if (isWorkerId(idOrBranch)) return readWorkerAt(layout, orchestratorId, idOrBranch);
  for (const id of workerIdsForBranch(idOrBranch)) {
    const found = readWorkerAt(layout, orchestratorId, id);
    if (found?.branch === idOrBranch) return found;
  }
  return undefined;
}

/**
 * The id a new worker of `branch` gets in the session: its contract id, or its digest id when a worker of
 * another branch has the contract id and the branch has a character outside ASCII (ids.ts); `given` (the id
 * the orch that drives this host chose) instead of both. `existing`: a worker of this branch (under any id
 * it may have), or the one that has that id: the spawn is refused (alreadyExists).
 */
export function newWorkerId(
  layout: StoreLayout,
  orchestratorId: string,
  branch: string,
  given?: string,
): { workerId: string; existing?: WorkerRecord } {
  const digest = digestWorkerIdForBranch(branch);
  const ids = given !== undefined ? [given] : [workerIdForBranch(branch), ...(digest ? [digest] : [])];
  const ofBranch = findWorker(layout, orchestratorId, branch);
  let taken: WorkerRecord | undefined;
  for (const workerId of ids) {
    taken = readWorkerAt(layout, orchestratorId, workerId);
    if (taken === undefined || taken.branch === branch) return { workerId, existing: ofBranch ?? taken };
  }
  return { workerId: ids[ids.length - 1]!, existing: ofBranch ?? taken };
}

/** A spawn of a worker the session has already (newWorkerId's `existing`). */
export function alreadyExists(record: WorkerRecord): OrchError {
  const id = record.worker_id;
  const where = `in session ${record.orchestrator_id}`;
  return new OrchError("exists", `worker ${id} already exists ${where} (orch rm ${id} first)`);
}

/** The longest file name Linux and macOS take, in bytes: no worker folder has a longer one. */
const NAME_MAX = 255;

function readWorkerAt(layout: StoreLayout, orchestratorId: string, id: string): WorkerRecord | undefined {
  // Looked up, such a name fails with ENAMETOOLONG: it names no worker ("no worker …"), as any other would.
  if (Buffer.byteLength(id, "utf8") > NAME_MAX) return undefined;
  const dir = lstatOrUndefined(layout.workerDir(orchestratorId, id));
  if (dir === undefined) return undefined;
  if (!dir.isDirectory()) {
    const why = `${layout.workerDir(orchestratorId, id)} is not a folder (a symbolic link?): orch does not follow it`;
    throw new OrchError("store", why);
  }
  try {
    return readWorkerRecord(layout.workerFile(orchestratorId, id));
  } catch (error) {
    if (error instanceof CorruptFileError) throw new CorruptWorkerRecord(id, error);
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

/**
 * The agent works in another conversation than the recorded one (Claude Code's /clear starts a new session): it is
 * recorded, so resume continues the conversation the worker was in, not the one it left. A worker removed
 * meanwhile stays removed.
 */
export function recordAgentSession(layout: StoreLayout, record: WorkerRecord, sessionId: string): void {
  const current = findWorker(layout, record.orchestrator_id, record.worker_id);
  if (!current || current.agent_session_id === sessionId) return;
  saveWorker(layout, { ...current, agent_session_id: sessionId });
}

/** Recorded with --after and not started yet (a failed start counts as started: its events say failed). */
export function isWaitingToStart(record: WorkerRecord): boolean {
  return record.pending === true && !record.pending_spawn?.start_error;
}
