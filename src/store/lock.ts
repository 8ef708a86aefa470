// Locks on the store (proper-lockfile, loaded only by the commands that lock): one apply, merge or land
// at a time changes the orchestrator's checkout. The lock folder holds its holder's pid and start time: a
// holder killed with -9 leaves a lock the next command takes over at once, and a live holder's lock is never
// broken, however long it goes without running (stopped with Ctrl-Z, a machine asleep or overloaded).

import fs from "node:fs";
import path from "node:path";
import { OrchError, errnoCode, systemReason } from "../errors.ts";
import { warn } from "../output.ts";
import { isSameProcess, ownPidNamespace, processStartTime } from "../proc.ts";
import { notAFolder, readRegularFile, toJson } from "./files.ts";

/**
 * A lock with no holder named in it (an older orch's, or one whose holder was killed before it named itself)
 * is stale once its time is older than this: a live holder's proper-lockfile touches it every STALE_MS / 4.
 */
const STALE_MS = 10_000;
/**
 * How long this waiter itself watches a lock naming no holder go untouched before it takes it over, on the
 * monotonic clock (which stands still while the machine sleeps): after a sleep its time is old for the live
 * holder too, whose next touch (every STALE_MS / 4) comes only seconds after the machine wakes.
 */
const UNNAMED_WATCH_MS = STALE_MS / 2;
/** How often, and how many times, a held lock is tried again: a minute in all. */
const RETRY_MS = 100;
const RETRIES = 600;
/** The holder's file in the lock folder: {pid, start_time, pid_namespace, what}. */
const HOLDER_FILE = "holder.json";

let loading: Promise<typeof import("proper-lockfile")> | undefined;

/** Starts loading proper-lockfile (~15 ms in a compiled binary) so it overlaps the caller's other work. */
export function prepareLock(): void {
  loading ??= import("proper-lockfile");
}

/**
 * proper-lockfile's lock is a folder it makes with mkdir: anything else at its place (a symbolic link, a
 * file, a FIFO) is no one's lock, yet would have every command wait out all its retries and then fail on
 * it (its stale check follows a link; its removal is rmdir). It is unlinked, never followed, with a warning.
 */
function removeForeignLock(lockPath: string): void {
  let stat: fs.Stats;
  try {
    stat = fs.lstatSync(lockPath);
  } catch {
    return;
  }
  if (stat.isDirectory()) return;
  try {
    fs.unlinkSync(lockPath);
  } catch (error) {
    if (errnoCode(error) === "ENOENT") return;
    throw new OrchError("store", `cannot remove ${lockPath}, which is no lock: ${(error as Error).message}`);
  }
  warn(`removed ${lockPath}: ${notAFolder(stat)} in place of a lock`);
}

interface LockHolder {
  pid: number;
  startTime: string | undefined;
  what: string;
}

/** What a held lock says of itself: its holder's file (empty when none) and the folder's time. */
interface HeldLock {
  text: string;
  mtimeMs: number;
}

function readHeldLock(lockPath: string): HeldLock | undefined {
  try {
    const mtimeMs = fs.lstatSync(lockPath).mtimeMs;
    let text = "";
    try {
      text = readRegularFile(path.join(lockPath, HOLDER_FILE)).toString("utf8");
    } catch {
      // no holder named yet, an older orch's lock, or not a file orch wrote (a symbolic link is not followed)
    }
    return { text, mtimeMs };
  } catch {
    return undefined;
  }
}

/**
 * The holder a lock's file names, when this process can tell whether it runs: not when the file is missing or
 * half-written, nor when the holder ran in another pid namespace (a sandbox's), where its pid names nobody here.
 */
function holderOf(text: string): LockHolder | undefined {
  let holder: { pid?: unknown; start_time?: unknown; pid_namespace?: unknown; what?: unknown };
  try {
    holder = JSON.parse(text) as typeof holder;
  } catch {
    return undefined;
  }
  if (typeof holder.pid !== "number" || !Number.isInteger(holder.pid) || holder.pid <= 0) return undefined;
  const namespace = typeof holder.pid_namespace === "string" ? holder.pid_namespace : undefined;
  if (namespace !== ownPidNamespace()) return undefined;
  const startTime = typeof holder.start_time === "string" ? holder.start_time : undefined;
  return { pid: holder.pid, startTime, what: typeof holder.what === "string" ? holder.what : "another orch command" };
}

/**
 * Takes away the lock folder read as `seen`, whose holder is gone: by one rename, which only one taker wins. A
 * lock that replaced it in between (a new holder's, with another file or time) is put back. True when taken.
 */
function takeAwayLock(lockPath: string, seen: HeldLock): boolean {
  const taken = `${lockPath}.taken-${process.pid}`;
  try {
    fs.renameSync(lockPath, taken);
  } catch (error) {
    if (errnoCode(error) === "ENOENT") return false;
    throw error;
  }
  const now = readHeldLock(taken);
  const same = now !== undefined && now.text === seen.text && now.mtimeMs === seen.mtimeMs;
  if (!same) {
    try {
      fs.renameSync(taken, lockPath);
      return false;
    } catch {
      // a third taker locked it meanwhile: its lock stands
    }
  }
  fs.rmSync(taken, { recursive: true, force: true });
  return same;
}

/** A lock as this waiter first saw it, and when (performance.now()): how long it has watched it unchanged. */
interface Watched {
  held: HeldLock;
  since: number;
}

/**
 * Whether a held lock is abandoned: its holder named and gone, or, named by nobody this process can tell about,
 * untouched for STALE_MS and seen so by this waiter for UNNAMED_WATCH_MS. A named holder that runs holds it
 * however old its time; `stalled` says when that holder has not touched it for STALE_MS (it is stopped, or
 * starved of the processor).
 */
function lockStanding(held: HeldLock, watched: Watched): { abandoned: boolean; stalled?: LockHolder } {
  const old = Date.now() - held.mtimeMs > STALE_MS;
  const holder = holderOf(held.text);
  if (holder === undefined) return { abandoned: old && performance.now() - watched.since >= UNNAMED_WATCH_MS };
  if (!isSameProcess(holder.pid, holder.startTime)) return { abandoned: true };
  return { abandoned: false, stalled: old ? holder : undefined };
}

/** A lock this process holds: proper-lockfile's release, and the holder's file this process wrote into it. */
interface TakenLock {
  release: () => Promise<void>;
  holderText: string;
}

async function takeLock(target: string, what: string): Promise<TakenLock> {
  const lockfile = await loading!;
  const lockPath = `${target}.lock`;
  let toldStalled = false;
  let watched: Watched | undefined;
  for (let attempt = 0; ; attempt++) {
    try {
      const release = await lockfile.lock(target, {
        realpath: false,
        // Never stale to proper-lockfile itself: lockStanding decides, by the holder first.
        stale: Number.MAX_SAFE_INTEGER,
        update: STALE_MS / 4,
        retries: 0,
        onCompromised: () => undefined,
      });
      const holder = { pid: process.pid, start_time: processStartTime(process.pid) ?? null };
      const holderText = toJson({ ...holder, pid_namespace: ownPidNamespace(), what });
      try {
        // The file's creation moves the folder's time, which proper-lockfile takes for another process's hand
        // (compromised): it would touch the lock no more, and after STALE_MS a live holder's lock would look
        // stopped to this orch's waiters and stale to an older orch's. The time it set is put back.
        const { atime, mtime } = fs.statSync(lockPath);
        fs.writeFileSync(path.join(lockPath, HOLDER_FILE), holderText);
        fs.utimesSync(lockPath, atime, mtime);
      } catch (failure) {
        await release().catch(() => undefined);
        throw new OrchError("store", `cannot name this process in ${lockPath}: ${(failure as Error).message}`);
      }
      return { release, holderText };
    } catch (error) {
      if (errnoCode(error) !== "ELOCKED" || attempt >= RETRIES) {
        const why = errnoCode(error) === undefined ? (error as Error).message : systemReason(error);
        throw new OrchError("failed", `could not take the lock for ${what} (${lockPath}): ${why}`);
      }
    }
    const held = readHeldLock(lockPath);
    if (held === undefined) continue; // released meanwhile
    if (watched === undefined || watched.held.text !== held.text || watched.held.mtimeMs !== held.mtimeMs) {
      watched = { held, since: performance.now() };
    }
    const { abandoned, stalled } = lockStanding(held, watched);
    if (abandoned && takeAwayLock(lockPath, held)) continue;
    if (stalled && !toldStalled) {
      toldStalled = true;
      warn(`waiting for pid ${stalled.pid} (${stalled.what}), which holds ${lockPath} but has not run for ` +
        `${Math.round((Date.now() - held.mtimeMs) / 1000)} s: it is stopped (Ctrl-Z?) or the machine is overloaded`);
    }
    await new Promise((resolve) => setTimeout(resolve, RETRY_MS));
  }
}

export async function withLock<T>(target: string, what: string, fn: () => Promise<T>): Promise<T> {
  prepareLock();
  const lockPath = `${target}.lock`;
  removeForeignLock(lockPath);
  const { release, holderText } = await takeLock(target, what);
  try {
    return await fn();
  } finally {
    await releaseLock(lockPath, release, holderText);
  }
}

/**
 * The holder's file first (proper-lockfile removes its folder with rmdir), and only while it is this process's.
 * proper-lockfile lets go of a lock whose time another process changed (it calls it compromised) without removing
 * it: still named by this process, that folder is this process's to remove.
 */
async function releaseLock(lockPath: string, release: () => Promise<void>, holderText: string): Promise<void> {
  // Taken away (no longer this process's), its file replaced, or the folder gone: not this process's to remove.
  if (readHeldLock(lockPath)?.text !== holderText) return;
  fs.rmSync(path.join(lockPath, HOLDER_FILE), { force: true });
  await release().catch(() => fs.rmSync(lockPath, { recursive: true, force: true }));
}
