// A Maildir-style queue: deliver into tmp/, fsync, rename into new/; a reader claims by renaming into
// claims/<pid>.<nonce>/, hands the messages out, then commits with one rename of the claim folder.

import fs from "node:fs";
import path from "node:path";
import { errnoCode } from "../errors.ts";
import { isDigits, isMessageId } from "../ids.ts";
import { fsyncDir, listDir, makeDirs, writeNewFile } from "./files.ts";

const SUBDIRS = ["tmp", "new", "cur", "claims", "quarantine"] as const;
/** A claim this old is abandoned even if its pid is alive again (pid reuse, a stopped process). */
const CLAIM_STALE_MS = 60_000;
/** A tmp/ file this old belongs to a sender that died before its rename. */
const TMP_STALE_MS = 10 * 60_000;

export function createMailbox(dir: string): void {
  makeDirs(...SUBDIRS.map((sub) => path.join(dir, sub)));
}

export function isMessageFileName(name: string): boolean {
  return name.endsWith(".json") && isMessageId(name.slice(0, -5));
}

/** The pid in a claim folder's name (<pid>.<nonce>), if it is one. */
function claimPid(name: string): number | undefined {
  const dot = name.indexOf(".");
  return dot > 0 && isDigits(name.slice(0, dot)) ? Number(name.slice(0, dot)) : undefined;
}

/**
 * Delivers one message: visible in new/ whole or not at all. `link` is given the written file before
 * it becomes visible, to hard-link it elsewhere (an entry of a worker's event log).
 */
export function deliver(dir: string, name: string, data: string, link?: (file: string) => void): void {
  const tmp = path.join(dir, "tmp", name);
  writeNewFile(tmp, data, true);
  try {
    link?.(tmp);
    fs.renameSync(tmp, path.join(dir, "new", name));
  } catch (error) {
    fs.rmSync(tmp, { force: true });
    throw error;
  }
  fsyncDir(path.join(dir, "new"));
}

export interface ClaimedFile {
  name: string;
  text: string;
}

export interface Claim {
  files: ClaimedFile[];
  /** Moves a claimed file aside into quarantine/ (it is not a message) and drops it from the claim. */
  quarantine(name: string): string;
  /** Marks everything claimed as read. Call it after the messages were handed out. */
  commit(): void;
  /** Marks one claimed file read (a rename into cur/), for a reader that hands messages out one by one. */
  commitFile(name: string): void;
}

let claimCounter = 0;

/**
 * Takes every message in new/, oldest first. Each file is renamed into this process's claim folder,
 * so when several readers race, each message goes to exactly one of them. Returns null when there
 * is nothing new. Files that are not messages (by name) are quarantined through `onForeign`.
 */
export function claimNew(dir: string, onForeign: (from: string, to: string) => void): Claim | null {
  recoverAbandonedClaims(dir);
  const newDir = path.join(dir, "new");
  const names = listDir(newDir).sort();
  if (names.length === 0) return null;
  const claimName = `${process.pid}.${Date.now().toString(36)}${(++claimCounter).toString(36)}`;
  const claimDir = path.join(dir, "claims", claimName);
  fs.mkdirSync(claimDir, { mode: 0o700 });
  const files: ClaimedFile[] = [];
  for (const name of names) {
    try {
      fs.renameSync(path.join(newDir, name), path.join(claimDir, name));
    } catch (error) {
      if (errnoCode(error) === "ENOENT") continue; // another reader won this one
      throw error;
    }
    if (!isMessageFileName(name)) {
      onForeign(path.join(newDir, name), moveToQuarantine(dir, path.join(claimDir, name), name));
      continue;
    }
    files.push({ name, text: fs.readFileSync(path.join(claimDir, name), "utf8") });
  }
  if (files.length === 0) {
    fs.rmdirSync(claimDir);
    return null;
  }
  return {
    files,
    quarantine(name) {
      const index = files.findIndex((file) => file.name === name);
      if (index >= 0) files.splice(index, 1);
      return moveToQuarantine(dir, path.join(claimDir, name), name);
    },
    commit() {
      // One rename is the commit point; moving the files into cur/ afterwards is only tidying,
      // which recoverAbandonedClaims finishes if this process dies half-way.
      const doneDir = `${claimDir}.done`;
      fs.renameSync(claimDir, doneDir);
      moveAllInto(doneDir, path.join(dir, "cur"));
    },
    commitFile(name) {
      fs.renameSync(path.join(claimDir, name), path.join(dir, "cur", name));
    },
  };
}

function moveToQuarantine(dir: string, from: string, name: string): string {
  const safeName = name.replace(/[^A-Za-z0-9._-]/g, "_") || "unnamed";
  let target = path.join(dir, "quarantine", `${Date.now()}-${safeName}`);
  for (let n = 1; fs.existsSync(target); n++) target = path.join(dir, "quarantine", `${Date.now()}-${n}-${safeName}`);
  fs.renameSync(from, target);
  return target;
}

function moveAllInto(fromDir: string, toDir: string): void {
  for (const name of listDir(fromDir)) {
    try {
      fs.renameSync(path.join(fromDir, name), path.join(toDir, name));
    } catch (error) {
      if (errnoCode(error) !== "ENOENT") throw error;
    }
  }
  try {
    fs.rmdirSync(fromDir);
  } catch (error) {
    const code = errnoCode(error);
    if (code !== "ENOENT" && code !== "ENOTEMPTY") throw error;
  }
}

/** A claim whose reader died before committing goes back to new/; a committed one moves to cur/. */
function recoverAbandonedClaims(dir: string): void {
  const claimsDir = path.join(dir, "claims");
  for (const name of listDir(claimsDir)) {
    const claimDir = path.join(claimsDir, name);
    if (name.endsWith(".done")) {
      moveAllInto(claimDir, path.join(dir, "cur"));
      continue;
    }
    const pid = claimPid(name);
    if (pid === process.pid) continue;
    if (pid !== undefined && isAlive(pid) && !isOlderThan(claimDir, CLAIM_STALE_MS)) continue;
    moveAllInto(claimDir, path.join(dir, "new"));
  }
  removeStaleTmp(dir);
}

function removeStaleTmp(dir: string): void {
  const tmpDir = path.join(dir, "tmp");
  for (const name of listDir(tmpDir)) {
    const file = path.join(tmpDir, name);
    if (isOlderThan(file, TMP_STALE_MS)) fs.rmSync(file, { force: true });
  }
}

function isOlderThan(file: string, ms: number): boolean {
  try {
    return Date.now() - fs.statSync(file).mtimeMs > ms;
  } catch {
    return false;
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    return errnoCode(error) === "EPERM";
  }
  // A killed process that its parent has not reaped yet still answers kill(0): read its state.
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return true;
  }
}

export interface MailCounts {
  unread: number;
  total: number;
}

export function countMail(dir: string): MailCounts {
  let unread = listDir(path.join(dir, "new")).filter(isMessageFileName).length;
  let read = listDir(path.join(dir, "cur")).length;
  for (const name of listDir(path.join(dir, "claims"))) {
    const count = listDir(path.join(dir, "claims", name)).length;
    if (name.endsWith(".done")) read += count;
    else unread += count;
  }
  return { unread, total: unread + read };
}

