// Ctrl-C (SIGINT), SIGTERM and SIGHUP during a command that builds something in steps (spawn, land, a
// dry run in a throw-away worktree, the demos): the signal is noted and passed on to the programs orch
// runs, waits give up, the command undoes its steps, and exits 128 + the signal's number (130 for Ctrl-C,
// 143 for SIGTERM, as a shell reports it) instead of dying half-way and leaving debris.

import { OrchError } from "./errors.ts";
import { signalActiveChildren } from "./adapters/exec.ts";
import { enterSignalGuard, leaveSignalGuard } from "./signal-guard.ts";

const SIGNALS = ["SIGINT", "SIGTERM", "SIGHUP"] as const;
let interruptedBy: NodeJS.Signals | undefined;
/** How long a program orch runs gets to end after the signal is passed on, before SIGKILL. */
const KILL_AFTER_MS = 5000;

/** The waits that give up when a signal arrives (untilInterrupted). */
const abandonWaits = new Set<() => void>();

function onSignal(signal: NodeJS.Signals): void {
  // A second Ctrl-C while the undo runs is ignored: stopping the undo half-way is what leaves debris.
  if (interruptedBy !== undefined) return;
  interruptedBy = signal;
  signalActiveChildren(signal);
  for (const abandon of abandonWaits) abandon();
  // A program that ignores the signal (a test runner trapping SIGINT) is ended for good after a grace period.
  setTimeout(() => signalActiveChildren("SIGKILL"), KILL_AFTER_MS).unref();
}

export function interruptedError(): OrchError {
  const message = `interrupted by ${interruptedBy ?? "a signal"}: what was started was undone`;
  return new OrchError("interrupted", message, { signal: interruptedBy ?? "SIGINT" });
}

/**
 * `wait` (one that starts no program and changes nothing, such as an await), given up with the interrupted
 * error as soon as a signal arrives during guardInterrupts, so that the caller's undo runs at once.
 */
export function untilInterrupted<T>(wait: Promise<T>): Promise<T> {
  if (interruptedBy !== undefined) return Promise.reject(interruptedError());
  return new Promise<T>((resolve, reject) => {
    const abandon = () => reject(interruptedError());
    abandonWaits.add(abandon);
    wait.then(resolve, reject).finally(() => abandonWaits.delete(abandon));
  });
}

/** The signal that arrived during guardInterrupts, if one did: a command that ends after its current step asks. */
export function interruptSignal(): NodeJS.Signals | undefined {
  return interruptedBy;
}

/** Throws the interrupted error once a signal arrived: call it between the steps of a guarded command. */
export function throwIfInterrupted(): void {
  if (interruptedBy !== undefined) throw interruptedError();
}

/**
 * Runs `fn` with SIGINT, SIGTERM and SIGHUP caught: they end the programs orch runs and make
 * throwIfInterrupted throw, so `fn`'s own catch and finally blocks undo what it did. Nested calls share
 * the handlers. Whatever `fn` then fails with, the command reports the interruption (exit 130).
 */
export async function guardInterrupts<T>(fn: () => Promise<T>): Promise<T> {
  if (enterSignalGuard()) for (const signal of SIGNALS) process.on(signal, onSignal);
  try {
    return await fn();
  } catch (error) {
    // An interrupted error of the command's own (saying what it did before it stopped) is kept.
    if (interruptedBy !== undefined && !(error instanceof OrchError && error.kind === "interrupted")) {
      throw interruptedError();
    }
    throw error;
  } finally {
    if (leaveSignalGuard()) for (const signal of SIGNALS) process.off(signal, onSignal);
  }
}
