// Small file primitives of the store: atomic JSON writes, exclusive creates, private directories.

import fs from "node:fs";
import path from "node:path";
import { OrchError, errnoCode } from "../errors.ts";

export const DIR_MODE = 0o700;
export const FILE_MODE = 0o600;

export function storeError(action: string, target: string, error: unknown): OrchError {
  const code = errnoCode(error);
  const why = code === "ENOTDIR" ? "a path component is not a directory"
    : code === "EACCES" || code === "EPERM" ? "permission denied"
    : code === "ENOSPC" ? "no space left on device"
    : code === "EROFS" ? "read-only file system"
    : error instanceof Error ? error.message : String(error);
  return new OrchError("store", `cannot ${action} ${target}: ${why}`);
}

export function makeDirs(...dirs: string[]): void {
  for (const dir of dirs) fs.mkdirSync(dir, { recursive: true, mode: DIR_MODE });
}

/** Writes the whole buffer, fsyncs it and closes; the file must not exist yet. */
export function writeNewFile(file: string, data: string, durable: boolean): void {
  const fd = fs.openSync(file, "wx", FILE_MODE);
  try {
    fs.writeFileSync(fd, data);
    if (durable) fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
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

export function readJson<T>(file: string): T | undefined {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (error) {
    if (errnoCode(error) === "ENOENT") return undefined;
    throw error;
  }
  return JSON.parse(text) as T;
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
