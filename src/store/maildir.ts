// A Maildir-style queue: deliver into tmp/, fsync, rename into new/; a reader claims by renaming into
// claims/<pid>.<start time>.<pid namespace>.<nonce>/, hands the messages out, then commits with one rename
// of the claim folder.

import fs from "node:fs";
import path from "node:path";
import { OrchError, errnoCode } from "../errors.ts";
import { isDigits, isMessageId } from "../ids.ts";
import { NamespaceView, isSameProcess, namespaceInode, ownPidNamespace, processStartTime } from "../proc.ts";
import {
  MAX_STORE_FILE_BYTES, fsyncDir, isRealDirectory, listDir, lstatOrUndefined, makeDirs, ownerToKeep, readRegularFile,
  notAFolder, writeNewFile, type FileOwner,
} from "./files.ts";

const SUBDIRS = ["tmp", "new", "cur", "claims", "quarantine"] as const;
type Subdir = (typeof SUBDIRS)[number];
/** A tmp/ file this old belongs to a sender that died before its rename. */
const TMP_STALE_MS = 10 * 60_000;
/** The largest message a reader takes; anything bigger is quarantined unread. */
export const MAX_MESSAGE_BYTES = MAX_STORE_FILE_BYTES;

/** Says that something found in the mailbox was moved aside into its quarantine/, and why. */
export type QuarantineReport = (from: string, to: string, why: string) => void;

export function createMailbox(dir: string): void {
  makeDirs(...SUBDIRS.map((sub) => path.join(dir, sub)));
}

export function isMessageFileName(name: string): boolean {
  return name.endsWith(".json") && isMessageId(name.slice(0, -5));
}

/** The mailbox folder itself must be a folder, not a symbolic link to one somewhere else. */
function checkMailboxRoot(dir: string): fs.Stats {
  const stat = lstatOrUndefined(dir);
  if (stat === undefined) {
    throw new OrchError("not_found", `the mailbox ${dir} does not exist (was the session removed?)`);
  }
  if (!stat.isDirectory()) {
    const what = notAFolder(stat);
    throw new OrchError("store", `the mailbox ${dir} is ${what}: orch does not follow it`);
  }
  return stat;
}

/**
 * Who must own what this process puts into the mailbox: its owner reads messages (mode 0600) and
 * recovers claims left by a killed reader, so root gives them to it; any other user whose mailbox
 * this is not is refused, since a message of its own would be unreadable there (moved aside, lost to
 * its reader) while notify said it was sent.
 */
function mailboxOwner(dir: string, stat: fs.Stats): FileOwner | undefined {
  const uid = process.getuid?.();
  if (uid === undefined || uid === stat.uid) return undefined;
  const owner = ownerToKeep(stat);
  if (owner) return owner;
  const why = `belongs to uid ${stat.uid}, not to you (uid ${uid}): what you put there its owner could not read`;
  throw new OrchError("store", `the mailbox ${dir} ${why}`);
}

function uniqueName(dir: string, name: string): string {
  const safeName = name.replace(/[^A-Za-z0-9._-]/g, "_") || "unnamed";
  let target = path.join(dir, `${Date.now()}-${safeName}`);
  for (let n = 1; lstatOrUndefined(target); n++) target = path.join(dir, `${Date.now()}-${n}-${safeName}`);
  return target;
}

/**
 * Makes sure `<mailbox>/<sub>` is a real folder. A symbolic link, file or FIFO in its place is renamed
 * (never followed) into quarantine/ — quarantine/ itself beside it — and a fresh folder made. A missing
 * one is an error (not_found), never recreated: the mailbox is being removed, and a reader that made
 * folders again would keep `rm -rf` of the session from finishing.
 */
function ensureSubdir(dir: string, sub: Subdir, report: QuarantineReport | undefined): void {
  const place = path.join(dir, sub);
  const stat = lstatOrUndefined(place);
  if (stat?.isDirectory()) return;
  // A missing folder is not made again: the mailbox is being removed (rm -rf racing a reader), not replaced.
  // Or the store came back without its empty folders (git stash --all, then pop): the user makes them.
  if (stat === undefined) {
    const missing = SUBDIRS.filter((name) => lstatOrUndefined(path.join(dir, name)) === undefined);
    const back = `in that folder, mkdir ${missing.join(" ")} puts them back`;
    throw new OrchError("not_found", `the mailbox ${dir} has no ${missing.map((name) => `${name}/`).join(", ")}: ` +
      `was the session removed, or the store put back without its empty folders (git stash pop keeps none)? ${back}`);
  }
  const aside = sub === "quarantine"
    ? uniqueName(dir, "quarantine.replaced")
    : uniqueName(path.join(dir, "quarantine"), `${sub}.replaced`);
  if (sub !== "quarantine") ensureSubdir(dir, "quarantine", report);
  fs.renameSync(place, aside);
  const what = notAFolder(stat);
  report?.(place, aside, `${what} in place of the mailbox's ${sub}/`);
  try {
    fs.mkdirSync(place, { mode: 0o700 });
  } catch (error) {
    if (errnoCode(error) !== "EEXIST") throw error;
  }
}

function ensureMailbox(
  dir: string,
  subs: readonly Subdir[],
  report: QuarantineReport | undefined,
): FileOwner | undefined {
  const owner = mailboxOwner(dir, checkMailboxRoot(dir));
  for (const sub of subs) {
    // The common case costs one lstat per folder.
    if (!isRealDirectory(path.join(dir, sub))) ensureSubdir(dir, sub, report);
  }
  return owner;
}

interface ClaimOwner {
  pid: number;
  startTime: string | undefined;
  /** The pid namespace the pid is in (`pid:[…]`); names made by older versions have none. */
  namespace: string | undefined;
}

/**
 * A claim folder's owner: <pid>.<start time>.<pid namespace's inode>.<nonce> (older versions:
 * <pid>.<start time>.<nonce>, <pid>.<nonce>). The start time tells the reader that made it from a later
 * process that got the same pid; the namespace, whether the pid means anything to the reader that looks.
 */
function claimOwner(name: string): ClaimOwner | undefined {
  const parts = name.split(".");
  if (!isDigits(parts[0] ?? "")) return undefined;
  const startTime = parts.length >= 3 && isDigits(parts[1]!) ? parts[1] : undefined;
  const hasNamespace = startTime !== undefined && parts.length >= 4 && isDigits(parts[2]!);
  return { pid: Number(parts[0]), startTime, namespace: hasNamespace ? `pid:[${parts[2]}]` : undefined };
}

/**
 * Delivers one message: visible in new/ whole or not at all. `link` is given the written file before
 * it becomes visible, to hard-link it elsewhere (an entry of a worker's event log); the link it returns
 * is removed again when the message cannot be delivered.
 */
export function deliver(
  dir: string,
  name: string,
  data: string,
  link?: (file: string) => string | undefined,
  report?: QuarantineReport,
): void {
  const owner = ensureMailbox(dir, ["tmp", "new"], report);
  const tmp = path.join(dir, "tmp", name);
  writeNewFile(tmp, data, true, owner);
  let linked: string | undefined;
  try {
    linked = link?.(tmp);
    fs.renameSync(tmp, path.join(dir, "new", name));
  } catch (error) {
    fs.rmSync(tmp, { force: true });
    // The rename into new/ can fail where the link did not (a full disk that new/ needs a block of): a report
    // left in the event log would make status say done for a message no poll ever hands out.
    if (linked !== undefined) fs.rmSync(linked, { force: true });
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
  /** Puts everything still claimed back into new/, unread: the reader could not hand it out. */
  release(): void;
}

let claimCounter = 0;
let ownStartTime: string | undefined | null = null;

function claimFolderName(): string {
  if (ownStartTime === null) ownStartTime = processStartTime(process.pid);
  const nonce = `${Date.now().toString(36)}${(++claimCounter).toString(36)}`;
  if (ownStartTime === undefined) return `${process.pid}.${nonce}`;
  const namespace = ownPidNamespace();
  const inode = namespace === undefined ? undefined : namespaceInode(namespace);
  return `${process.pid}.${ownStartTime}.${inode === undefined ? "" : `${inode}.`}${nonce}`;
}

/** Why a claimed file cannot be handed out, or its text. */
function readClaimed(file: string): { text: string } | { why: string } {
  try {
    return { text: readRegularFile(file, MAX_MESSAGE_BYTES).toString("utf8") };
  } catch (error) {
    if (error instanceof Error && "why" in error) return { why: String(error.why) };
    return { why: `unreadable (${errnoCode(error) ?? String(error)})` };
  }
}

/**
 * Takes every message in new/, oldest first. Each file is renamed into this process's claim folder,
 * so when several readers race, each message goes to exactly one of them. Returns null when there
 * is nothing new. Anything that is not a message file — by name, or a symbolic link, FIFO, folder,
 * device or an oversized file under a message's name — is quarantined (renamed, never opened through
 * a link or read past the cap) and reported through `report`.
 */
export function claimNew(dir: string, report: QuarantineReport): Claim | null {
  const owner = ensureMailbox(dir, SUBDIRS, report);
  recoverAbandonedClaims(dir, report);
  const newDir = path.join(dir, "new");
  const names = listDir(newDir).sort();
  if (names.length === 0) return null;
  const claimDir = path.join(dir, "claims", claimFolderName());
  fs.mkdirSync(claimDir, { mode: 0o700 });
  if (owner) fs.chownSync(claimDir, owner.uid, owner.gid);
  const files: ClaimedFile[] = [];
  for (const name of names) {
    try {
      fs.renameSync(path.join(newDir, name), path.join(claimDir, name));
    } catch (error) {
      if (errnoCode(error) === "ENOENT") continue; // another reader won this one
      throw error;
    }
    if (!isMessageFileName(name)) {
      report(path.join(newDir, name), moveToQuarantine(dir, path.join(claimDir, name), name), "not a message file");
      continue;
    }
    const read = readClaimed(path.join(claimDir, name));
    if ("why" in read) {
      report(path.join(newDir, name), moveToQuarantine(dir, path.join(claimDir, name), name), read.why);
      continue;
    }
    files.push({ name, text: read.text });
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
      // which recoverAbandonedClaims finishes if this process dies half-way or cannot do it now.
      const doneDir = `${claimDir}.done`;
      fs.renameSync(claimDir, doneDir);
      tidyCommitted(dir, doneDir);
    },
    commitFile(name) {
      fs.renameSync(path.join(claimDir, name), path.join(dir, "cur", name));
    },
    release() {
      moveAllInto(claimDir, newDir);
    },
  };
}

function moveToQuarantine(dir: string, from: string, name: string): string {
  const target = uniqueName(path.join(dir, "quarantine"), name);
  fs.renameSync(from, target);
  return target;
}

/** moveToQuarantine, or undefined when `from` is gone already (another reader got there first). */
function quarantineIfThere(dir: string, from: string, name: string): string | undefined {
  try {
    return moveToQuarantine(dir, from, name);
  } catch (error) {
    if (errnoCode(error) === "ENOENT" && lstatOrUndefined(from) === undefined) return undefined;
    throw error;
  }
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

/**
 * Moves the messages of a committed claim into cur/. They are read already, whether or not they get there:
 * a failure (a full disk where cur/ needs a block more, too many open files) leaves them for a later reader,
 * and neither fails the reader that handed them out (it would exit 1 after its output, with --json a second
 * document) nor keeps the next ones from taking new messages.
 */
function tidyCommitted(dir: string, doneDir: string): void {
  try {
    moveAllInto(doneDir, path.join(dir, "cur"));
  } catch {
    // Left for the next reader's recoverAbandonedClaims.
  }
}

/**
 * A claim whose reader died before committing goes back to new/; a committed one moves to cur/. A
 * reader is alive as long as its pid runs with the start time in the claim's name, however slow it
 * is: no age limit, so a live reader's claim is never taken over (README, "The mailbox").
 */
function recoverAbandonedClaims(dir: string, report: QuarantineReport): void {
  const claimsDir = path.join(dir, "claims");
  let namespaces: NamespaceView | undefined;
  for (const name of listDir(claimsDir)) {
    const claimDir = path.join(claimsDir, name);
    if (!isRealDirectory(claimDir)) {
      // Gone since the listing (its reader finished with it, or another reader recovered it): nothing to do.
      const moved = quarantineIfThere(dir, claimDir, `claims-${name}`);
      if (moved !== undefined) report(claimDir, moved, "not a claim folder (a symbolic link or a file)");
      continue;
    }
    if (name.endsWith(".done")) {
      tidyCommitted(dir, claimDir);
      continue;
    }
    const owner = claimOwner(name);
    if (owner !== undefined && readerMayRun(owner, () => (namespaces ??= new NamespaceView()))) continue;
    moveAllInto(claimDir, path.join(dir, "new"));
  }
  removeStaleTmp(dir);
}

/**
 * Whether the reader that made a claim may still run. A reader in another pid namespace (a command in an
 * agent's sandbox, with a /proc of its own) is not judged by its pid, which names someone else here: it is
 * looked for from the namespace that sees it, and its claim is left alone where it cannot be seen.
 */
function readerMayRun(owner: ClaimOwner, namespaces: () => NamespaceView): boolean {
  const here = owner.namespace === undefined ? undefined : ownPidNamespace();
  if (owner.namespace !== undefined && owner.namespace !== here) {
    return here === undefined || (namespaces().runs(owner.pid, owner.startTime!, owner.namespace) ?? true);
  }
  return owner.pid === process.pid || isSameProcess(owner.pid, owner.startTime);
}

function removeStaleTmp(dir: string): void {
  const tmpDir = path.join(dir, "tmp");
  for (const name of listDir(tmpDir)) {
    const file = path.join(tmpDir, name);
    const stat = lstatOrUndefined(file);
    if (stat && Date.now() - stat.mtimeMs > TMP_STALE_MS) {
      fs.rmSync(file, { force: true, recursive: stat.isDirectory() });
    }
  }
}


export interface MailCounts {
  unread: number;
  total: number;
}

/** The files of the messages not read yet: in new/, and in the claims/ of a reader that has not finished. */
export function unreadFiles(dir: string): string[] {
  const files = realList(dir, "new").filter(isMessageFileName).map((name) => path.join(dir, "new", name));
  for (const name of realList(dir, "claims")) {
    if (name.endsWith(".done")) continue;
    files.push(...realList(dir, path.join("claims", name)).map((file) => path.join(dir, "claims", name, file)));
  }
  return files;
}

export function countMail(dir: string): MailCounts {
  const unread = unreadFiles(dir).length;
  let read = realList(dir, "cur").length;
  for (const name of realList(dir, "claims")) {
    if (name.endsWith(".done")) read += realList(dir, path.join("claims", name)).length;
  }
  return { unread, total: unread + read };
}

function realList(dir: string, sub: string): string[] {
  return isRealDirectory(path.join(dir, sub)) ? listDir(path.join(dir, sub)) : [];
}

