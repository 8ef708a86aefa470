// Waits for a change in some store folders: fs.watch wakes within milliseconds, a slow re-scan
// interval is the safety net for missed events (network file systems, overflowing inotify queues).

import fs from "node:fs";
import { OrchError } from "../errors.ts";
import { runningLong } from "../jit.ts";

export const RESCAN_MS = 1000;

/**
 * Milliseconds on a clock that only goes forward (CLOCK_MONOTONIC): what a wait's --timeout is measured
 * on, so a wall clock set back an hour (by hand, NTP, a VM restored) does not make a 60 s wait last an
 * hour and one set forward does not end it at once. Only differences between two readings mean anything.
 */
export function monotonicMs(): number {
  return performance.now();
}

export class Waker {
  private readonly watchers: fs.FSWatcher[] = [];
  private wake: (() => void) | undefined;
  private pending = false;

  constructor(dirs: string[]) {
    for (const dir of dirs) {
      try {
        const watcher = fs.watch(dir, { persistent: true }, () => this.signal());
        watcher.on("error", () => undefined);
        this.watchers.push(watcher);
      } catch {
        // No watch on this folder: the re-scan interval still finds its changes.
      }
    }
  }

  private signal(): void {
    this.pending = true;
    this.wake?.();
  }

  /** Resolves on the next change, after RESCAN_MS, or at `deadline` (monotonicMs), whichever is first. */
  async next(deadline: number | undefined): Promise<void> {
    if (this.pending) {
      this.pending = false;
      return;
    }
    const wait = Math.max(0, Math.min(RESCAN_MS, deadline === undefined ? RESCAN_MS : deadline - monotonicMs()));
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, wait);
      this.wake = done;
      function done() {
        clearTimeout(timer);
        resolve();
      }
    });
    this.wake = undefined;
    this.pending = false;
  }

  close(): void {
    for (const watcher of this.watchers) watcher.close();
  }
}

/**
 * A check that `dir` is still the folder it is now: undefined while it is, else why not (removed, or
 * replaced by another folder or a link under the same name, which a watch on the old one never sees).
 */
export function sameFolder(dir: string, what: string): () => string | undefined {
  const identity = (): string | undefined => {
    try {
      const stat = fs.lstatSync(dir);
      return stat.isDirectory() ? `${stat.dev}:${stat.ino}` : undefined;
    } catch {
      return undefined;
    }
  };
  const first = identity();
  return () => {
    const now = identity();
    if (now === first && now !== undefined) return undefined;
    return now === undefined ? `${what} ${dir} was removed while waiting` : `${what} ${dir} was replaced while waiting`;
  };
}

/**
 * Calls `attempt` until it returns a value, sleeping on the waker between tries. Returns undefined
 * when `timeoutMs` runs out first. The watch is set up before the first attempt, so nothing that
 * arrives in between is missed. `gone` is asked before every attempt: when what is waited on no longer
 * exists it says why, and the wait ends with that error instead of lasting forever.
 */
export async function waitFor<T>(
  dirs: string[],
  timeoutMs: number | undefined,
  attempt: () => T | undefined | Promise<T | undefined>,
  gone?: () => string | undefined,
): Promise<T | undefined> {
  const waker = new Waker(dirs);
  const deadline = timeoutMs === undefined ? undefined : monotonicMs() + timeoutMs;
  try {
    for (;;) {
      const why = gone?.();
      if (why !== undefined) throw new OrchError("not_found", why);
      const result = await attempt();
      if (result !== undefined) return result;
      if (deadline !== undefined && monotonicMs() >= deadline) return undefined;
      runningLong();
      await waker.next(deadline);
    }
  } finally {
    waker.close();
  }
}
