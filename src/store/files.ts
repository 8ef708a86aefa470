// Small file primitives of the store: atomic JSON writes, exclusive creates, private directories.

import fs from "node:fs";
import path from "node:path";
import { OrchError, errnoCode, errnoWords } from "../errors.ts";

export const DIR_MODE = 0o700;
export const FILE_MODE = 0o600;

export function storeError(action: string, target: string, error: unknown): OrchError {
  // Bad input (a message too large to store) is not a store failure: it keeps its code and exit 2.
  if (error instanceof OrchError && error.kind === "invalid") return error;
  const code = errnoCode(error);
  const why = code === "EEXIST" ? "it is in the way: a file, or a symbolic link to something missing, not a folder"
    : errnoWords(error) ?? (error instanceof Error ? error.message : String(error));
  return new OrchError("store", `cannot ${action} ${target}: ${why}`);
}

export function makeDirs(...dirs: string[]): void {
  for (const dir of dirs) fs.mkdirSync(dir, { recursive: true, mode: DIR_MODE });
}

/**
 * Makes `dir` (if it is not there) in its parent, never the parent: false when the parent is gone. A folder
 * of a worker's (told/, requests/, patches/) is made this way, so one an rm took meanwhile is not made again.
 */
export function makeDirIn(dir: string): boolean {
  try {
    fs.mkdirSync(dir, { mode: DIR_MODE });
  } catch (error) {
    if (errnoCode(error) === "ENOENT") return false;
    if (errnoCode(error) !== "EEXIST") throw error;
  }
  return true;
}

export interface FileOwner {
  uid: number;
  gid: number;
}

/**
 * Whom root should give what it makes in `dir` (a store folder owned by another user), so that its
 * owner's orch can still read it and move it; undefined when nothing needs changing.
 */
export function ownerToKeep(dir: fs.Stats): FileOwner | undefined {
  const uid = process.getuid?.();
  if (uid !== 0 || dir.uid === 0) return undefined;
  return { uid: dir.uid, gid: dir.gid };
}

/**
 * Writes the whole buffer, fsyncs it and closes; the file must not exist yet. A write that fails
 * (a full disk) removes the partial file again, so nothing half-written is left behind.
 */
export function writeNewFile(file: string, data: string, durable: boolean, owner?: FileOwner): void {
  const fd = fs.openSync(file, "wx", FILE_MODE);
  try {
    if (owner) fs.fchownSync(fd, owner.uid, owner.gid);
    fs.writeFileSync(fd, data);
    if (durable) fs.fsyncSync(fd);
  } catch (error) {
    fs.closeSync(fd);
    fs.rmSync(file, { force: true });
    // A failed write(2) names no file ("ENOSPC: no space left on device, write"): say which one.
    if (error instanceof Error && !("path" in error)) Object.assign(error, { path: file });
    throw error;
  }
  fs.closeSync(fd);
}

/** Where the platform has them: never follow a symbolic link at the last component, never block opening a FIFO. */
const SAFE_READ_FLAGS = fs.constants.O_RDONLY | (fs.constants.O_NOFOLLOW ?? 0) | (fs.constants.O_NONBLOCK ?? 0);

/** The most orch reads of one store file (a message, a record): more is not something orch wrote. */
export const MAX_STORE_FILE_BYTES = 4 * 1024 * 1024;

/** A path that is not a regular file of a sane size: a symbolic link, a FIFO, a folder, a device, or too big. */
export class NotRegularFileError extends Error {
  readonly code = "ENOTREGULAR";
  constructor(readonly file: string, readonly why: string) {
    super(`${file} is ${why}`);
  }
}

function kindOf(stat: fs.Stats): string {
  if (stat.isDirectory()) return "a folder";
  if (stat.isFIFO()) return "a FIFO";
  if (stat.isCharacterDevice() || stat.isBlockDevice()) return "a device";
  if (stat.isSocket()) return "a socket";
  return "not a regular file";
}

/**
 * Reads a regular file of at most `maxBytes`. Never follows a symbolic link at `file`, never blocks
 * on a FIFO or a device, never returns more than the cap: anything else is a NotRegularFileError.
 * A missing file is the usual ENOENT error.
 */
export function readRegularFile(file: string, maxBytes = MAX_STORE_FILE_BYTES): Buffer {
  let fd: number;
  try {
    fd = fs.openSync(file, SAFE_READ_FLAGS);
  } catch (error) {
    const code = errnoCode(error);
    if (code === "ELOOP" || code === "EMLINK") throw new NotRegularFileError(file, "a symbolic link");
    throw error;
  }
  try {
    const stat = fs.fstatSync(fd);
    if (!stat.isFile()) throw new NotRegularFileError(file, kindOf(stat));
    if (stat.size > maxBytes) throw new NotRegularFileError(file, `larger than ${maxBytes} bytes`);
    // One call into the runtime for the whole content: status reads a few files per worker, and a
    // read loop with its 64 KiB buffer cost twice as much. The file was within the cap when measured;
    // one that grew past it since is refused all the same.
    const content = fs.readFileSync(fd);
    if (content.length > maxBytes) throw new NotRegularFileError(file, `larger than ${maxBytes} bytes`);
    return content;
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Reads `fd` to its end, refusing (NotRegularFileError) once it holds more than `maxBytes`. A
 * non-blocking pipe with nothing in it yet is waited for, until `deadline` (epoch ms) if one is given.
 */
export function readUpTo(fd: number, maxBytes: number, what: string, deadline = Infinity): Buffer {
  const chunks: Buffer[] = [];
  let total = 0;
  const buffer = Buffer.alloc(64 * 1024);
  for (;;) {
    let count: number;
    try {
      count = fs.readSync(fd, buffer, 0, buffer.length, null);
    } catch (error) {
      const code = errnoCode(error);
      if (code === "EOF" || (code === "EAGAIN" && Date.now() >= deadline)) break;
      if (code !== "EAGAIN") throw error;
      // A non-blocking pipe with nothing in it yet: wait a little, as a blocking read would.
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5);
      continue;
    }
    if (count === 0) break;
    total += count;
    if (total > maxBytes) throw new NotRegularFileError(what, `larger than ${maxBytes} bytes`);
    chunks.push(Buffer.from(buffer.subarray(0, count)));
  }
  return Buffer.concat(chunks);
}

export function fsyncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = fs.openSync(dir, "r");
    fs.fsyncSync(fd);
  } catch {
    // Some file systems cannot fsync a directory; the rename is still atomic there.
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

let tmpCounter = 0;

/** Replaces `file` with `data` atomically: a reader sees the old or the new content, never a mix. */
export function writeFileAtomic(file: string, data: string, durable = true): void {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${++tmpCounter}.tmp`);
  try {
    writeNewFile(tmp, data, durable);
    fs.renameSync(tmp, file);
  } catch (error) {
    fs.rmSync(tmp, { force: true });
    throw error;
  }
  if (durable) fsyncDir(path.dirname(file));
}

export function toJson(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}

export function writeJsonAtomic(file: string, value: unknown): void {
  writeFileAtomic(file, toJson(value));
}

/** A store file that exists but cannot be used: not valid JSON, not a regular file, too large. */
export class CorruptFileError extends Error {
  readonly code = "ECORRUPT";
  constructor(readonly file: string, readonly why: string) {
    super(`${file}: ${why}`);
  }
}

/** A JSON file of the store, or undefined when it does not exist; CorruptFileError when it is not usable. */
export function readJson<T>(file: string): T | undefined {
  let text: string;
  try {
    text = readRegularFile(file).toString("utf8");
  } catch (error) {
    if (errnoCode(error) === "ENOENT") return undefined;
    if (error instanceof NotRegularFileError) throw new CorruptFileError(file, error.why);
    throw error;
  }
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new CorruptFileError(file, text.trim() === "" ? "empty" : "not valid JSON (truncated?)");
  }
}

/** What stands where a folder should, for the one-line errors and warnings that say so. */
export function notAFolder(stat: fs.Stats): string {
  return stat.isSymbolicLink() ? "a symbolic link" : "not a folder";
}

/** lstat, or undefined when nothing is there. */
export function lstatOrUndefined(p: string): fs.Stats | undefined {
  try {
    return fs.lstatSync(p);
  } catch (error) {
    if (errnoCode(error) === "ENOENT" || errnoCode(error) === "ENOTDIR") return undefined;
    throw error;
  }
}

/** Whether `p` is a folder itself, not a symbolic link to one. */
export function isRealDirectory(p: string): boolean {
  try {
    return fs.lstatSync(p).isDirectory();
  } catch {
    return false;
  }
}

export function listDir(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch (error) {
    const code = errnoCode(error);
    if (code === "ENOENT") return [];
    throw error;
  }
}

export function isDirectory(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
}
