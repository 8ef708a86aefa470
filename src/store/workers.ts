// Worker records and worker state. A worker's status is derived from its event log (links to every
// message it sent or got, plus lifecycle events), so no record is ever rewritten by a message.

import fs from "node:fs";
import path from "node:path";
import { OrchError, errnoCode } from "../errors.ts";
import {
  branchNameProblem, digestWorkerIdForBranch, isWorkerId, windowKey, workerIdForBranch, workerIdsForBranch,
} from "../ids.ts";
import { isAlive, isSameProcess, ownPidNamespace, processStartTime } from "../proc.ts";
import {
  CorruptFileError, isRealDirectory, listDir, lstatOrUndefined, makeDirs, readJson, readRegularFile, toJson,
  notAFolder, writeFileAtomic, writeJsonAtomic, writeNewFile,
} from "./files.ts";
import type { StoreLayout } from "./layout.ts";
import { linkEvent, linkEventAt, nextEventSeq, readEventLog, type EventEntry } from "./events.ts";
import { createMailbox } from "./maildir.ts";
import {
  newMessage, parseMessage, sendMessage, sendTurnFailed, TURN_FAILED, type LifecycleType, type Message,
} from "./messages.ts";

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

/** Created exclusively by the orch command that starts a pending worker, and kept once it started or failed to. */
function startClaimFile(layout: StoreLayout, record: WorkerRecord): string {
  return path.join(layout.workerDir(record.orchestrator_id, record.worker_id), "starting");
}

/**
 * Claims a pending worker for one orch command: to start it, or to write what it learnt into its record.
 * False when another command holds it (it starts the worker, or has started it) or the worker is gone.
 */
export function claimStart(layout: StoreLayout, record: WorkerRecord): boolean {
  const claim = startClaimFile(layout, record);
  const mine = toJson({ pid: process.pid, start_time: processStartTime(process.pid) ?? null });
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeNewFile(claim, mine, false);
      return true;
    } catch (error) {
      if (errnoCode(error) !== "EEXIST") {
        if (errnoCode(error) === "ENOENT") return false;
        throw error;
      }
    }
    if (attempt > 0 || !takeAbandonedStart(claim)) return false;
  }
  return false;
}

/**
 * A command killed while it started a pending worker (its record still pending), or while it removed a
 * worker, leaves its claim: the worker would wait, or refuse rm, forever. A claim whose process is gone
 * is taken away (one rename, which one taker wins; a live claim renamed meanwhile is put back), so the
 * next command starts it (or reports why not), or finishes its removal.
 */
function takeAbandonedStart(claim: string): boolean {
  let text: string;
  try {
    text = fs.readFileSync(claim, "utf8");
  } catch {
    return false;
  }
  return claimHolderOf(text) === "gone" && takeAwayClaim(claim, text);
}

/**
 * Whether the process that wrote a claim file's `text` still runs: "live", "gone", or "unknown" when the
 * text names no process (such a claim is never taken away).
 */
function claimHolderOf(text: string): "live" | "gone" | "unknown" {
  let holder: { pid?: unknown; start_time?: unknown };
  try {
    holder = JSON.parse(text) as { pid?: unknown; start_time?: unknown };
  } catch {
    holder = { pid: Number(text.trim()) }; // an older orch wrote the pid alone
  }
  if (typeof holder.pid !== "number" || !Number.isInteger(holder.pid) || holder.pid <= 0) return "unknown";
  const startTime = typeof holder.start_time === "string" ? holder.start_time : undefined;
  return (startTime === undefined ? isAlive(holder.pid) : isSameProcess(holder.pid, startTime)) ? "live" : "gone";
}

/**
 * Takes away the claim file `claim`, read as `text`, whose holder is gone: by one rename, which only one
 * taker wins. A live claim that replaced it in between (another taker's) is put back. True when taken.
 */
function takeAwayClaim(claim: string, text: string): boolean {
  const taken = `${claim}.taken-${process.pid}`;
  try {
    fs.renameSync(claim, taken);
  } catch (failure) {
    if (errnoCode(failure) === "ENOENT") return false;
    throw failure;
  }
  const takenText = fs.readFileSync(taken, "utf8");
  if (takenText !== text) {
    try {
      fs.linkSync(taken, claim);
    } catch {
      // a third taker claimed it meanwhile: its claim stands
    }
  }
  fs.rmSync(taken, { force: true });
  return takenText === text;
}

/** What one orch command at a time does to a worker, under a claim file of that name in its folder. */
type WorkerClaim = "removing" | "resuming" | "syncing";

function claimFileOf(layout: StoreLayout, record: WorkerRecord, claim: WorkerClaim): string {
  return path.join(layout.workerDir(record.orchestrator_id, record.worker_id), claim);
}

/**
 * Claims a worker for the one orch command that removes it (rm, clean, merge): two at once each removed
 * part of it and one then failed on what the other had removed (a raw ENOENT, a branch "not found").
 * "held" while another live command holds it (one killed is taken over: its removal is finished), "gone"
 * when the worker's record went meanwhile.
 */
export function claimRemoval(layout: StoreLayout, record: WorkerRecord): "claimed" | "held" | "gone" {
  return claimWorker(claimFileOf(layout, record, "removing"));
}

/**
 * Claims a worker for the one orch resume that starts its agent again: two at once each saw no agent
 * running and each started one, two agents in one worktree. Held until the agent runs (see resume).
 */
export function claimResume(
  layout: StoreLayout, record: WorkerRecord, by: ResumeClaimer = "resume",
): "claimed" | "held" | "gone" {
  return claimWorker(claimFileOf(layout, record, "resuming"), by);
}

/**
 * The commands that hold the resume claim: resume while it starts the agent, stop and rm while they end
 * it (a resume at the same time would start an agent in a worker being stopped or removed), and spawn from
 * the record it makes until it has recorded the window (a stop or rm in between read no window, ended
 * nothing, and the agent then ran in a worker said stopped, or in a removed worktree).
 */
export type ResumeClaimer = "resume" | "stop" | "rm" | "spawn";

/** What the holder of a worker's resume claim is doing to it, as "worker W is being … by another orch command". */
const CLAIM_VERB: Record<ResumeClaimer, string> = {
  resume: "resumed", stop: "stopped", rm: "removed", spawn: "spawned",
};

/** The refusal of a command that found the worker's resume claim held: which command holds it is said. */
export function resumeClaimHeld(layout: StoreLayout, record: WorkerRecord): OrchError {
  const doing = CLAIM_VERB[resumeClaimHolder(layout, record) ?? "resume"];
  return new OrchError("refused", `worker ${record.worker_id} is being ${doing} by another orch command`);
}

/** Which command holds the worker's resume claim (an older orch's claim says none: resume). */
export function resumeClaimHolder(layout: StoreLayout, record: WorkerRecord): ResumeClaimer | undefined {
  const by = claimHolderNow(claimFileOf(layout, record, "resuming"));
  if (by === undefined) return undefined;
  return by === "stop" || by === "rm" || by === "spawn" ? by : "resume";
}

/** The `by` of a claim file ("" when it names none), or undefined when it is not there. */
function claimHolder(claim: string): string | undefined {
  // A claim is its file made, then written: read in between, a stop's claim would pass for a resume's.
  for (let waited = 0; waited <= CLAIM_WRITE_WAIT_MS; waited += 2) {
    let text: string;
    try {
      text = fs.readFileSync(claim, "utf8");
    } catch {
      return undefined; // released meanwhile
    }
    try {
      const holder = JSON.parse(text) as { by?: unknown };
      return typeof holder.by === "string" ? holder.by : "";
    } catch {
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 2);
    }
  }
  return undefined; // its writer was killed between the two
}

/** How long a claim file may stand made but not yet written: its writer writes it at once, even under load. */
const CLAIM_WRITE_WAIT_MS = 1000;

export function releaseResume(layout: StoreLayout, record: WorkerRecord): void {
  fs.rmSync(claimFileOf(layout, record, "resuming"), { force: true });
}

/**
 * Claims a worker for the one orch command that syncs it (sync, land --sync): two at once each rebased the
 * same worktree and each told the worker, and what one recorded the other overwrote. Held from before its
 * standing is read until the worker is told; one killed is taken over by the next sync. apply holds it too
 * while it reads the worker's branch and applies it: a sync at the same time rebased the branch onto a base
 * that held part of the worker's own change (git am commits patch by patch), or failed on the index.lock of
 * apply's git status in the worktree, and apply warned of the rebase's half-written files as uncommitted.
 */
export function claimSync(
  layout: StoreLayout, record: WorkerRecord, by: SyncClaimer = "sync",
): "claimed" | "held" | "gone" {
  return claimWorker(claimFileOf(layout, record, "syncing"), by === "sync" ? undefined : by);
}

/** The commands that hold the sync claim: sync (and land --sync) while it syncs, apply while it applies. */
export type SyncClaimer = "sync" | "apply";

/** What the holder of a worker's sync claim is doing to it, as "worker W is being … by another orch command". */
export function syncClaimVerb(layout: StoreLayout, record: WorkerRecord): string {
  return claimHolderNow(claimFileOf(layout, record, "syncing")) === "apply" ? "applied" : "synced";
}

export function releaseSync(layout: StoreLayout, record: WorkerRecord): void {
  fs.rmSync(claimFileOf(layout, record, "syncing"), { force: true });
}

/** A claim file's text: this process (pid and start time) and, for the resume claim, which command holds it. */
function claimText(by?: string): string {
  return toJson({ pid: process.pid, start_time: processStartTime(process.pid) ?? null, ...(by ? { by } : {}) });
}

/**
 * Who held each claim file when claimWorker last found it held. Its holder may release it before the refusal
 * names it: read then, a stop's released claim was named as a resume's ("is being resumed").
 */
const holderSeen = new Map<string, string>();

/** The `by` of a claim file now, or else of the holder claimWorker last found there. */
function claimHolderNow(claim: string): string | undefined {
  return claimHolder(claim) ?? holderSeen.get(claim);
}

/** How many times claimWorker tries: one claim taken away from a killed holder, or released as it was read. */
const CLAIM_TRIES = 3;

function claimWorker(claim: string, by?: string): "claimed" | "held" | "gone" {
  const mine = claimText(by);
  let abandonedTaken = false;
  for (let attempt = 0; attempt < CLAIM_TRIES; attempt++) {
    try {
      writeNewFile(claim, mine, false);
      return "claimed";
    } catch (error) {
      if (errnoCode(error) === "ENOENT") return "gone";
      if (errnoCode(error) !== "EEXIST") throw error;
    }
    if (!abandonedTaken && takeAbandonedStart(claim)) {
      abandonedTaken = true;
      continue;
    }
    // Held only while a holder is there to name: one that released it meanwhile has finished, so it is tried again.
    const holder = claimHolder(claim);
    if (holder !== undefined) {
      holderSeen.set(claim, holder);
      return "held";
    }
    if (fs.existsSync(claim)) return "held"; // made and never written: its writer was killed between the two
  }
  return "held";
}

/**
 * Whether an orch command removes the worker: "removing" while the one that claimed it runs, "interrupted"
 * when it was killed half-way (the next rm or clean finishes the removal), undefined when none claimed it.
 */
export function removalUnderWay(layout: StoreLayout, record: WorkerRecord): "removing" | "interrupted" | undefined {
  let text: string;
  try {
    text = fs.readFileSync(claimFileOf(layout, record, "removing"), "utf8");
  } catch (error) {
    if (errnoCode(error) === "ENOENT" || errnoCode(error) === "ENOTDIR") return undefined;
    throw error;
  }
  return claimHolderOf(text) === "gone" ? "interrupted" : "removing";
}

/** Gives the removal claim back when the worker was not removed (a refusal, a failure). */
export function releaseRemoval(layout: StoreLayout, record: WorkerRecord): void {
  fs.rmSync(claimFileOf(layout, record, "removing"), { force: true });
}

/** Gives a claim back when the worker was not started under it. */
export function releaseStart(layout: StoreLayout, record: WorkerRecord): void {
  fs.rmSync(startClaimFile(layout, record), { force: true });
}

export function forgetWorker(layout: StoreLayout, orchestratorId: string, workerId: string): void {
  const dir = layout.workerDir(orchestratorId, workerId);
  const trash = `${dir}.removed-${process.pid}-${Date.now()}`;
  fs.renameSync(dir, trash);
  fs.rmSync(trash, { recursive: true, force: true });
}

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
  const value = readJson<unknown>(file);
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
      warn?.(`skipping worker ${name}: ${error.file} is ${error.why}`);
    }
  }
  return records.sort((a, b) => byText(a.created_at, b.created_at));
}

/** Code-unit order: the order of ISO times and ids, without the locale collation localeCompare pays for. */
function byText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** A worker whose record cannot be read: `orch rm ID --force` forgets it (see rm.ts). */
export class CorruptWorkerRecord extends OrchError {
  constructor(readonly workerId: string, error: CorruptFileError) {
    const fix = `orch rm ${workerId} --force removes the worker`;
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
      if (!logState(layout, record).at_prompt) return false;
      if (linkEventAt(eventsDir, staging, "woken", event.id, seq)) return true;
    }
  } finally {
    fs.rmSync(staging, { force: true });
  }
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
  const cut = (text: string) => (text.length > 2000 ? `${text.slice(0, 2000)}…` : text);
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

/**
 * Records the agent's pid with its start time, so a later process that gets the same pid is not taken for
 * it, and the pid namespace it is a pid in, so a command run in another one (a sandbox) does not judge it.
 */
export function writeAgentPid(layout: StoreLayout, record: WorkerRecord, pid: number): void {
  const startTime = processStartTime(pid);
  const namespace = ownPidNamespace();
  const tail = startTime === undefined ? "" : ` ${startTime}${namespace === undefined ? "" : ` ${namespace}`}`;
  const pidLine = `${pid}${tail}\n`;
  writeFileAtomic(layout.agentPidFile(record.orchestrator_id, record.worker_id), pidLine, false);
}

export interface RecordedAgent {
  pid: number;
  startTime: string | undefined;
  /** The pid namespace the pid is in (`pid:[…]`); files of older runners have none. */
  pidNamespace?: string;
}

/** What agent.pid says: "<pid> <start time>" (older runners wrote the pid alone). */
export function recordedAgent(layout: StoreLayout, record: WorkerRecord): RecordedAgent | undefined {
  return agentInFile(layout.agentPidFile(record.orchestrator_id, record.worker_id));
}

function agentInFile(file: string): RecordedAgent | undefined {
  let text: string;
  try {
    // Most workers have no agent running here: a look without an error object is cheaper than a failed open.
    if (fs.lstatSync(file, { throwIfNoEntry: false }) === undefined) return undefined;
    text = readRegularFile(file, 1024).toString("utf8").trim();
  } catch {
    return undefined;
  }
  const [pidText = "", startTime, pidNamespace] = text.split(/\s+/);
  const pid = Number(pidText);
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  return pidNamespace === undefined ? { pid, startTime } : { pid, startTime, pidNamespace };
}

/**
 * The pid of the worker's agent while it runs, else undefined: also when that pid now belongs to
 * another process, or the file has no start time on a system that has them (orch cannot tell then,
 * and never signals a process it cannot tell).
 */
export function runningAgentPid(layout: StoreLayout, record: WorkerRecord): number | undefined {
  return lookAtAgent(layout, record).running;
}

/** The agent orch started in the worker's window has ended (a --no-window worker has none orch runs). */
export function agentHasEnded(layout: StoreLayout, record: WorkerRecord): boolean {
  return record.window_id !== null && runningAgentPid(layout, record) === undefined;
}

/**
 * The agent.pid of a worker that is no longer active (done, failed, stopped) and whose agent has ended
 * without its runner removing the file (the runner was killed, the machine restarted): removed, so that
 * nothing takes it for an agent to watch again (a host's empty poll would start orch each time for it).
 * Moved aside first and removed only while it is the one that was read: one that a new life (resume)
 * wrote meanwhile is put back.
 */
export function forgetEndedAgent(layout: StoreLayout, record: WorkerRecord, ended: RecordedAgent): void {
  const file = layout.agentPidFile(record.orchestrator_id, record.worker_id);
  const aside = `${file}.ended-${process.pid}`;
  try {
    fs.renameSync(file, aside);
  } catch {
    return; // gone already
  }
  const taken = agentInFile(aside);
  if (taken?.pid !== ended.pid || taken.startTime !== ended.startTime) {
    try {
      fs.linkSync(aside, file);
    } catch {
      // A newer one is there already.
    }
  }
  fs.rmSync(aside, { force: true });
}

/** One reading of a worker's agent.pid, shared by the watchdog and the view of one command. */
export interface AgentLook {
  recorded: RecordedAgent | undefined;
  /** The recorded agent still runs: the same process when a start time was recorded, else any live pid. */
  runs: boolean;
  /** What runningAgentPid returns. */
  running: number | undefined;
}

export function lookAtAgent(layout: StoreLayout, record: WorkerRecord): AgentLook {
  return lookAtRecordedAgent(recordedAgent(layout, record));
}

/** Whether the process agent.pid names still runs (asked of the system every time). */
export function lookAtRecordedAgent(recorded: RecordedAgent | undefined): AgentLook {
  if (recorded === undefined) return { recorded, runs: false, running: undefined };
  // Seen from another pid namespace (a command in Codex's sandbox) its pid names nobody here: orch cannot
  // tell whether it ended, so it is taken to run, and never signalled from here.
  const here = ownPidNamespace();
  if (recorded.pidNamespace !== undefined && here !== undefined && recorded.pidNamespace !== here) {
    return { recorded, runs: true, running: undefined };
  }
  const same = isSameProcess(recorded.pid, recorded.startTime);
  const runs = recorded.startTime === undefined ? isAlive(recorded.pid) : same;
  return { recorded, runs, running: same ? recorded.pid : undefined };
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

/** Created (exclusively) by whoever reports the agent's end first: a dead agent is reported once. */
function endedMarker(layout: StoreLayout, record: WorkerRecord): string {
  return path.join(layout.workerDir(record.orchestrator_id, record.worker_id), "ended");
}

/** The agent of the worker's current life runs, or has already ended (its runner reported it). */
export function agentStartedOrEnded(layout: StoreLayout, record: WorkerRecord): boolean {
  return runningAgentPid(layout, record) !== undefined || fs.existsSync(endedMarker(layout, record));
}

/** orch resume starts a new life: its end will be reported again. */
export function clearEndedMarker(layout: StoreLayout, record: WorkerRecord): void {
  fs.rmSync(endedMarker(layout, record), { force: true });
}

/** What the ended marker says: the report's message and the process that sends it. */
interface EndedClaim {
  error: string;
  message_id: string;
  reporter_pid: number;
  reporter_start_time: string | null;
}

/** Creates the ended marker whole (written aside, then linked: exclusive); false when it exists. */
function claimEndedMarker(marker: string, claim: EndedClaim): boolean {
  const aside = `${marker}.${process.pid}.tmp`;
  try {
    writeFileAtomic(aside, toJson(claim), true);
    fs.linkSync(aside, marker);
    return true;
  } catch (failure) {
    if (errnoCode(failure) === "EEXIST" || errnoCode(failure) === "ENOENT") return false;
    throw failure;
  } finally {
    fs.rmSync(aside, { force: true });
  }
}

/**
 * A reporter killed between its marker and its message (the runner of a window whose tmux server was
 * killed first, a reboot) would leave the worker active, its failure told to nobody: when the marker's
 * reporter is gone and its message never reached the worker's log, the marker is taken away (by one
 * rename, which only one taker wins) so the caller can report in its place. True when it was taken.
 */
function takeAbandonedMarker(layout: StoreLayout, record: WorkerRecord, marker: string): boolean {
  let text: string;
  try {
    text = fs.readFileSync(marker, "utf8");
  } catch (failure) {
    if (errnoCode(failure) === "ENOENT") return true;
    throw failure;
  }
  let claim: Partial<EndedClaim>;
  try {
    claim = JSON.parse(text) as Partial<EndedClaim>;
  } catch {
    return false; // a marker of an older version, written after its message was sent
  }
  if (typeof claim.reporter_pid !== "number" || typeof claim.message_id !== "string") return false;
  if (isSameProcess(claim.reporter_pid, claim.reporter_start_time ?? undefined)) return false;
  const events = readEventLog(layout.eventsDir(record.orchestrator_id, record.worker_id));
  if (events.some((event) => event.id === claim.message_id)) return false;
  return takeAwayClaim(marker, text);
}

/**
 * Tells the orchestrator that the worker's agent ended without reporting (task_failed with the
 * reason), unless the worker has reported, was stopped, or someone has reported its end already.
 * Returns whether this call sent it.
 */
export function reportAgentEnded(layout: StoreLayout, record: WorkerRecord, summary: string, error: string): boolean {
  const report = claimAgentEnd(layout, record, summary, error);
  report?.send();
  return report !== undefined;
}

/**
 * reportAgentEnded in two steps: the claim to be the one that tells (undefined when the worker has reported,
 * was stopped, or someone else tells), then the message, with `details` the claimer gathered meanwhile. Every
 * other reporter (the watchdog of a status or poll) holds back while the claimer runs.
 */
export function claimAgentEnd(
  layout: StoreLayout,
  record: WorkerRecord,
  summary: string,
  error: string,
): { send: (details?: string) => void } | undefined {
  if (!(ACTIVE as readonly string[]).includes(workerState(layout, record).status)) return undefined;
  const message = newMessage({
    orchestrator_id: record.orchestrator_id,
    worker_id: record.worker_id,
    message_type: "task_failed",
    content: { summary, error, branch: record.branch },
  });
  const marker = endedMarker(layout, record);
  const claim: EndedClaim = {
    error,
    message_id: message.id,
    reporter_pid: process.pid,
    reporter_start_time: processStartTime(process.pid) ?? null,
  };
  if (!claimEndedMarker(marker, claim)) {
    if (!takeAbandonedMarker(layout, record, marker) || !claimEndedMarker(marker, claim)) return undefined;
  }
  const eventsDir = layout.eventsDir(record.orchestrator_id, record.worker_id);
  return {
    send: (details) => {
      const content = details ? { summary, error, details, branch: record.branch } : message.content;
      sendMessage(layout.mailDir(record.orchestrator_id), { ...message, content }, eventsDir);
    },
  };
}

/**
 * Why the agent of an active worker is gone, or undefined while it may still be there: its recorded
 * pid has died (the runner removes the file on a normal exit), or — when `windows` (the tmux server's
 * windows, by windowKey) is given — its window was closed and no agent of it runs.
 */
export function agentGoneReason(
  layout: StoreLayout,
  record: WorkerRecord,
  windows?: Set<string>,
  look: AgentLook = lookAtAgent(layout, record),
): string | undefined {
  const { recorded: agent, runs } = look;
  if (agent !== undefined && !runs) return `the agent (pid ${agent.pid}) ended without reporting`;
  if (windows && record.window_id && !windows.has(windowKey(record.window_id, record.tmux_server)) && !runs) {
    return `its tmux window ${record.window_id} was closed`;
  }
  return undefined;
}

/** What a command has already read about a worker: its status and its agent.pid. */
export interface WorkerLook {
  status: WorkerStatus;
  agent: AgentLook;
}

/**
 * The no-daemon watchdog that status, await and poll run: every active worker whose agent is gone
 * without reporting is reported failed, once. Returns the ids reported now. With `seen` (what the
 * caller read this command), a worker known not to be active is passed over without reading anything.
 */
export function noticeEndedAgents(
  layout: StoreLayout,
  records: WorkerRecord[],
  windows?: Set<string>,
  seen?: Map<string, WorkerLook>,
): string[] {
  const reported: string[] = [];
  for (const record of records) {
    // A remote worker's agent and window are on its host, which watches them: nothing here can tell.
    if (record.host !== undefined) continue;
    const look = seen?.get(record.worker_id);
    if (look && !(ACTIVE as readonly string[]).includes(look.status)) {
      if (look.agent.recorded && !look.agent.runs) forgetEndedAgent(layout, record, look.agent.recorded);
      continue;
    }
    const agent = look?.agent ?? lookAtAgent(layout, record);
    // reportAgentEnded reads the status again before it reports: a report that came meanwhile wins.
    const reason = agentGoneReason(layout, record, windows, agent);
    if (!reason) continue;
    if (reportAgentEnded(layout, record, "agent ended without reporting", reason)) {
      reported.push(record.worker_id);
      // Told now: its pid file has nothing more to say (see agent-run.ts, which keeps it until then).
      if (agent.recorded && !agent.runs) forgetEndedAgent(layout, record, agent.recorded);
    } else if (agent.recorded && !agent.runs) {
      // Not reported because the worker had finished (or it was reported already): its pid file goes.
      const active = (ACTIVE as readonly string[]).includes(workerState(layout, record).status);
      if (!active) forgetEndedAgent(layout, record, agent.recorded);
    }
  }
  return reported;
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
