// The process that started orch, as it was when orch started: main.ts notes it first thing, so a listener
// whose parent was ended while orch was still loading (before its guard looked) knows it has none now.

import process from "node:process";

let startedBy: number | undefined;

/** Called by main.ts before anything else. */
export function noteParent(): void {
  startedBy ??= process.ppid;
}

/** The parent orch started under (the current one where main.ts did not run: commands called in-process). */
export function startingParent(): number {
  return startedBy ?? process.ppid;
}
