// What status knows of each worker without reading its files again: the record and what its event log
// says, kept with the stamps of the worker's folder and of its event log folder, and used only while
// both are unchanged (as git's index trusts a file whose stat data has not moved). The files stay the
// truth: every change to a worker replaces or adds an entry in one of those two folders.

import fs from "node:fs";
import { isWorkerFolderName } from "../ids.ts";
import { CorruptFileError, MAX_STORE_FILE_BYTES, listDir, readJson, writeFileAtomic } from "./files.ts";
import type { StoreLayout } from "./layout.ts";
import { isWaitingToStart, isWorkerRecord, readWorkerRecord, type WorkerRecord, type WorkerStatus } from "./workers.ts";
import { activityMtime, lastActivityAt, logState, workerState } from "./worker-status.ts";
import { lookAtRecordedAgent, recordedAgent, type AgentLook, type RecordedAgent } from "./watchdog.ts";

/** What status shows of a worker's state. */
export interface StatusState {
  status: WorkerStatus;
  pr_url: string | null;
  waiting_for: string | null;
  request_id: string | null;
  last_activity_at: string | null;
}

export interface StatusWorker {
  record: WorkerRecord;
  state: StatusState;
  agent: AgentLook;
}

/** The stat data that changes whenever an entry of the folder is added, removed or replaced. */
interface Stamp {
  ino: number;
  mtime: number;
  ctime: number;
  size: number;
  nlink: number;
}

/** The event log's part of the state (status, PR, request), with the time of its newest agent event. */
type LogPart = Omit<StatusState, "last_activity_at"> & { event_activity_ms: number };

interface Entry {
  /** The worker's folder: worker.json, agent.pid, activity and the ended marker are created or replaced there. */
  folder: Stamp;
  /** The event log folder: every message and lifecycle event is a new link there. */
  events: Stamp;
  record: WorkerRecord;
  /** Absent for a worker that waits to start: its state depends on other workers and is read each time. */
  log?: LogPart;
  /** The activity file exists (its time changes without its folder's: it is looked at each time). */
  activity: boolean;
  agent: RecordedAgent | null;
}

/**
 * The snapshot's version. What an entry holds was worked out by the orch that wrote it: a change to how a
 * worker's state is read from its files (logState, recordedAgent, isWaitingToStart) takes a new number, so
 * that an upgraded orch (or an older one run again) ignores entries the other worked out, instead of trusting
 * them until the worker's folder next changes. 2: logState reads turn_failed (a turn a model API error ended).
 * 3: recordedAgent reads the runner agent.pid names (an entry without it let status report an agent's end that
 * its living runner reports with the exit code and the window's last lines).
 */
const CACHE_VERSION = 3;

interface Snapshot {
  version: typeof CACHE_VERSION;
  workers: Record<string, Entry>;
}

/** The folder's stamp, and whether it is a real folder (lstat: a symbolic link is not). */
function stampOf(p: string): (Stamp & { folder: boolean }) | undefined {
  const stat = fs.lstatSync(p, { throwIfNoEntry: false });
  if (stat === undefined) return undefined;
  return {
    ino: Number(stat.ino),
    mtime: stat.mtimeMs,
    ctime: stat.ctimeMs,
    size: Number(stat.size),
    nlink: Number(stat.nlink),
    folder: stat.isDirectory(),
  };
}

function sameStamp(a: Stamp, b: Stamp): boolean {
  return a.ino === b.ino && a.mtime === b.mtime && a.ctime === b.ctime && a.size === b.size && a.nlink === b.nlink;
}

const onlyStamp = ({ ino, mtime, ctime, size, nlink }: Stamp): Stamp => ({ ino, mtime, ctime, size, nlink });

const STATUSES = new Set<WorkerStatus>([
  "pending", "running", "waiting", "blocked", "idle", "done", "failed", "stopped",
]);
const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);
const isStringOrNull = (value: unknown) => value === null || typeof value === "string";

/**
 * An entry as this module writes them, for the worker `name`: the snapshot is a file anyone with the
 * store can edit.
 */
function isEntry(value: unknown, name: string): value is Entry {
  if (!isObject(value) || !isObject(value.folder) || !isObject(value.events)) return false;
  if (typeof value.activity !== "boolean" || !isWorkerRecord(value.record)) return false;
  if (value.record.worker_id !== name) return false;
  const agent = value.agent;
  const startTimeOk = (a: Record<string, unknown>) => a.startTime === undefined || typeof a.startTime === "string";
  if (agent !== null && !(isObject(agent) && Number.isInteger(agent.pid) && startTimeOk(agent))) return false;
  const log = value.log;
  if (log === undefined) return true;
  return isObject(log) && STATUSES.has(log.status as WorkerStatus) && isStringOrNull(log.pr_url) &&
    isStringOrNull(log.waiting_for) && isStringOrNull(log.request_id) && typeof log.event_activity_ms === "number";
}

function readSnapshot(file: string): Record<string, Entry> {
  try {
    const value = readJson<Snapshot>(file);
    return value?.version === CACHE_VERSION && value.workers && typeof value.workers === "object" ? value.workers : {};
  } catch {
    return {}; // a damaged snapshot is built again
  }
}

/**
 * The file system's clock, read by writing a file: a folder stamped before this time cannot change
 * again without its stamp changing. An entry is kept only when both its stamps are older than the
 * time taken before they were read (git's "racily clean" rule); NaN where the store cannot be written.
 */
function fileSystemNow(probe: string): number {
  let fd: number | undefined;
  try {
    // Never through a symbolic link; a write stamps the file whatever it held.
    const { O_WRONLY, O_CREAT, O_TRUNC, O_NOFOLLOW } = fs.constants;
    fd = fs.openSync(probe, O_WRONLY | O_CREAT | O_TRUNC | (O_NOFOLLOW ?? 0), 0o600);
    fs.writeSync(fd, "1");
    return fs.fstatSync(fd).mtimeMs;
  } catch {
    return Number.NaN;
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

function stateOf(log: LogPart, activityMs: number): StatusState {
  const { event_activity_ms: eventActivityMs, ...state } = log;
  return { ...state, last_activity_at: lastActivityAt(eventActivityMs, activityMs) };
}

function logPartOf(layout: StoreLayout, record: WorkerRecord): LogPart {
  const log = logState(layout, record);
  return {
    status: log.status,
    pr_url: log.pr_url,
    waiting_for: log.waiting_for,
    request_id: log.request_id,
    event_activity_ms: log.event_activity_ms,
  };
}

/** A worker's state read from its files (a worker waiting to start, or one the watchdog has just reported). */
export function statusStateOf(layout: StoreLayout, record: WorkerRecord): StatusState {
  const { status, pr_url, waiting_for, request_id, last_activity_at } = workerState(layout, record);
  return { status, pr_url, waiting_for, request_id, last_activity_at };
}

/**
 * Every worker of the session, oldest first, with its state and its agent, as listWorkers and
 * workerState would give them, reading a worker's files only when its folders changed. A record that
 * cannot be read is skipped with a warning, as listWorkers does.
 */
export function workersForStatus(
  layout: StoreLayout,
  orchestratorId: string,
  warn?: (line: string) => void,
): StatusWorker[] {
  const read = readWorkersForStatus(layout, orchestratorId, warn);
  read.keep();
  return read.workers;
}

/** What workersForStatus read, and the cache it would write: kept only once the command is not refused. */
export interface StatusRead {
  workers: StatusWorker[];
  /** Writes the cache of what was read when it changed. */
  keep(): void;
}

/** workersForStatus without writing its cache yet: a command that can still refuse keeps it afterwards. */
export function readWorkersForStatus(
  layout: StoreLayout,
  orchestratorId: string,
  warn?: (line: string) => void,
): StatusRead {
  const file = layout.statusCacheFile(orchestratorId);
  const known = readSnapshot(file);
  const kept: Record<string, Entry> = {};
  let changed = false;
  let now: number | undefined;
  const workers: StatusWorker[] = [];
  for (const name of listDir(layout.workersDir(orchestratorId)).sort()) {
    if (!isWorkerFolderName(name)) continue;
    const folderPath = layout.workerDir(orchestratorId, name);
    const eventsPath = layout.eventsDir(orchestratorId, name);
    let folder = stampOf(folderPath);
    if (folder === undefined) continue; // removed meanwhile
    if (!folder.folder) {
      warn?.(`skipping worker ${name}: ${folderPath} is not a folder (a symbolic link?)`);
      continue;
    }
    let events = stampOf(eventsPath);
    let entry = Object.hasOwn(known, name) && isEntry(known[name], name) ? known[name] : undefined;
    const unchanged = entry !== undefined && events !== undefined &&
      sameStamp(entry.folder, folder) && sameStamp(entry.events, events);
    if (!unchanged || entry === undefined) {
      // Read again: the clock first, then the stamps, then the files, so that a change made while
      // they are read leaves stamps other than the ones kept with what was read.
      now ??= fileSystemNow(statusCacheProbe(layout, orchestratorId));
      folder = stampOf(folderPath);
      events = stampOf(eventsPath);
      if (folder === undefined || !folder.folder) continue;
      let record: WorkerRecord | undefined;
      try {
        record = readWorkerRecord(layout.workerFile(orchestratorId, name));
      } catch (error) {
        if (!(error instanceof CorruptFileError)) throw error;
        warn?.(`skipping worker ${name}: ${error.file} is ${error.why}`);
        continue;
      }
      if (record === undefined) continue;
      entry = {
        folder: onlyStamp(folder),
        events: onlyStamp(events ?? folder),
        record,
        ...(isWaitingToStart(record) ? {} : { log: logPartOf(layout, record) }),
        activity: activityMtime(layout, record) > 0,
        agent: recordedAgent(layout, record) ?? null,
      };
      // Kept only when both folders are real folders last changed before the clock was read.
      if (events?.folder && Math.max(folder.mtime, folder.ctime, events.mtime, events.ctime) < now) {
        kept[name] = entry;
        changed = true;
      }
    } else {
      kept[name] = entry;
    }
    const { record, log, activity, agent } = entry;
    const state = log ? stateOf(log, activity ? activityMtime(layout, record) : 0) : statusStateOf(layout, record);
    workers.push({ record, state, agent: lookAtRecordedAgent(agent ?? undefined) });
  }
  const created = (w: StatusWorker) => w.record.created_at;
  workers.sort((a, b) => (created(a) < created(b) ? -1 : created(a) > created(b) ? 1 : 0));
  const keep = () => {
    if (changed || Object.keys(kept).length !== Object.keys(known).length) saveSnapshot(file, kept);
  };
  return { workers, keep };
}

function saveSnapshot(file: string, workers: Record<string, Entry>): void {
  try {
    const text = `${JSON.stringify({ version: CACHE_VERSION, workers } satisfies Snapshot)}\n`;
    // One that could not be read back (over the store's size cap) is not kept at all.
    if (Buffer.byteLength(text) > MAX_STORE_FILE_BYTES) fs.rmSync(file, { force: true });
    else writeFileAtomic(file, text, false);
  } catch {
    // Only a cache: the next status reads the files again.
  }
}

/** The probe file next to the snapshot, written to read the store's own clock. */
export function statusCacheProbe(layout: StoreLayout, orchestratorId: string): string {
  return `${layout.statusCacheFile(orchestratorId)}.probe`;
}
