// Locks on the store (proper-lockfile, loaded only by the commands that lock): one apply, merge or land
// at a time changes the orchestrator's checkout. A holder killed with -9 leaves a lock that goes
// stale after STALE_MS, so the next command waits seconds, not forever.

import fs from "node:fs";
import { OrchError, errnoCode } from "../errors.ts";
import { warn } from "../output.ts";
import { notAFolder } from "./files.ts";

const STALE_MS = 10_000;

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

export async function withLock<T>(target: string, what: string, fn: () => Promise<T>): Promise<T> {
  prepareLock();
  removeForeignLock(`${target}.lock`);
  const lockfile = await loading!;
  let release: () => Promise<void>;
  try {
    release = await lockfile.lock(target, {
      realpath: false,
      stale: STALE_MS,
      update: STALE_MS / 4,
      retries: { retries: 600, factor: 1, minTimeout: 100, maxTimeout: 100 },
      onCompromised: () => undefined,
    });
  } catch (error) {
    throw new OrchError("failed", `could not take the lock for ${what} (${target}.lock): ${(error as Error).message}`);
  }
  try {
    return await fn();
  } finally {
    await release().catch(() => undefined);
  }
}
