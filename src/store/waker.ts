// Waits for a change in some store folders: fs.watch wakes within milliseconds, a slow re-scan
// interval is the safety net for missed events (network file systems, overflowing inotify queues).

import fs from "node:fs";

export const RESCAN_MS = 1000;

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

  /** Resolves on the next change, after RESCAN_MS, or at `deadline` (ms since epoch), whichever is first. */
  async next(deadline: number | undefined): Promise<void> {
    if (this.pending) {
      this.pending = false;
      return;
    }
    const wait = Math.max(0, Math.min(RESCAN_MS, deadline === undefined ? RESCAN_MS : deadline - Date.now()));
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
 * Calls `attempt` until it returns a value, sleeping on the waker between tries. Returns undefined
 * when `timeoutMs` runs out first. The watch is set up before the first attempt, so nothing that
 * arrives in between is missed.
 */
export async function waitFor<T>(
  dirs: string[],
  timeoutMs: number | undefined,
  attempt: () => T | undefined | Promise<T | undefined>,
): Promise<T | undefined> {
  const waker = new Waker(dirs);
  const deadline = timeoutMs === undefined ? undefined : Date.now() + timeoutMs;
  try {
    for (;;) {
      const result = await attempt();
      if (result !== undefined) return result;
      if (deadline !== undefined && Date.now() >= deadline) return undefined;
      await waker.next(deadline);
    }
  } finally {
    waker.close();
  }
}
