// Locks on the store (proper-lockfile, loaded only by the commands that lock): one apply, merge or land
// at a time changes the orchestrator's checkout. A holder killed with -9 leaves a lock that goes
// stale after STALE_MS, so the next command waits seconds, not forever.

import { OrchError } from "../errors.ts";

const STALE_MS = 10_000;

let loading: Promise<typeof import("proper-lockfile")> | undefined;

/** Starts loading proper-lockfile (~15 ms in a compiled binary) so it overlaps the caller's other work. */
export function prepareLock(): void {
  loading ??= import("proper-lockfile");
}

export async function withLock<T>(target: string, what: string, fn: () => Promise<T>): Promise<T> {
  prepareLock();
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
