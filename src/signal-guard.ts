// Whether a command that undoes its steps on a signal (interrupt.ts) is running: other handlers leave it the signal.

let depth = 0;

/** A guarded command begins (nested ones share the guard); true for the outermost one. */
export function enterSignalGuard(): boolean {
  return depth++ === 0;
}

/** A guarded command ends; true when it was the outermost one. */
export function leaveSignalGuard(): boolean {
  return --depth === 0;
}

/** Set while orch mcp serves: the server ends the process on a signal, once its calls are answered. */
let served = false;

export function serveSignals(on: boolean): void {
  served = on;
}

/**
 * True while interrupt.ts (or orch mcp) decides how a signal ends the process. Counting the process's
 * listeners cannot tell this: a library's (signal-exit, loaded with proper-lockfile) holds back for any
 * other listener.
 */
export function signalsGuarded(): boolean {
  return depth > 0 || served;
}
