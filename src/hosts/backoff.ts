// Hosts that could not be reached when orch last tried to bring them a new base (fetch, push, tell), or
// that did not answer status or poll: remembered in the store with a growing pause, so an unreachable host
// costs at most one connection attempt per pause, whichever orch commands run meanwhile, instead of
// ssh's ConnectTimeout on each. status and poll keep trying a host that refuses at once (that costs
// nothing) and pass over one that let them wait (a "silent" host), until its pause runs out or a
// listener (poll --wait, watch) reaches it.

import fs from "node:fs";
import path from "node:path";
import { makeDirs, readJson, toJson, writeFileAtomic } from "../store/files.ts";
import type { StoreLayout } from "../store/layout.ts";
import { checkHostName } from "./destination.ts";

/** An attempt that failed after this long waited out a time limit: the host is silent, not refusing. */
const SILENT_AFTER_MS = 2000;

/** The first pause after a failure; it doubles with each failure after it, up to the longest. */
export const FIRST_PAUSE_MS = 10_000;
export const LONGEST_PAUSE_MS = 300_000;

export interface HostFailure {
  host: string;
  /** Failed attempts in a row. */
  failures: number;
  first_failed_at: string;
  last_failed_at: string;
  /** No new attempt before this time (ISO). */
  retry_after: string;
  error: string;
  /** The attempt waited SILENT_AFTER_MS or more before it failed (see silentHost). */
  silent?: boolean;
}

function failureFile(layout: StoreLayout, host: string): string {
  return path.join(layout.root, "hosts-unreachable", `${checkHostName(host)}.json`);
}

export function readHostFailure(layout: StoreLayout, host: string): HostFailure | undefined {
  try {
    return readJson<HostFailure>(failureFile(layout, host));
  } catch {
    return undefined; // a damaged record only costs one more attempt
  }
}

/**
 * The failure that still holds the host back (its pause has not run out), if any. A pause that ends further
 * ahead than the longest one was noted before the clock was set back, and holds nothing: the host is tried
 * again rather than passed over until the clock catches up.
 */
export function pausedHost(layout: StoreLayout, host: string, now = Date.now()): HostFailure | undefined {
  const failure = readHostFailure(layout, host);
  const left = failure ? Date.parse(failure.retry_after) - now : 0;
  return left > 0 && left <= LONGEST_PAUSE_MS ? failure : undefined;
}

/**
 * The failure of a host that let the last attempt wait (see SILENT_AFTER_MS) and whose pause has not run
 * out: status, list and poll do not wait for it again meanwhile.
 */
export function silentHost(layout: StoreLayout, host: string, now = Date.now()): HostFailure | undefined {
  const failure = pausedHost(layout, host, now);
  return failure?.silent === true ? failure : undefined;
}

/** "did not answer at T (ERROR)", for the line of a command that passes a silent host over. */
export function silentSince(failure: HostFailure): string {
  return `did not answer at ${failure.last_failed_at} (${failure.error})`;
}

/**
 * status's or poll's attempt at `host`, begun at `startedAt`, failed: remembered only when it let them wait
 * (a silent host is passed over for a while); a host that refused at once costs nothing to ask again.
 */
export function noteSilentFailure(layout: StoreLayout, host: string, error: string, startedAt: number): void {
  const now = Date.now();
  if (now - startedAt >= SILENT_AFTER_MS) noteHostFailure(layout, host, error, now, startedAt);
}

/** `startedAt`: when the failed attempt began, for whether it was silent. */
export function noteHostFailure(
  layout: StoreLayout,
  host: string,
  error: string,
  now = Date.now(),
  startedAt = now,
): HostFailure {
  const before = readHostFailure(layout, host);
  const failures = (before?.failures ?? 0) + 1;
  const pause = Math.min(FIRST_PAUSE_MS * 2 ** (failures - 1), LONGEST_PAUSE_MS);
  const at = new Date(now).toISOString();
  const failure: HostFailure = {
    host,
    failures,
    first_failed_at: before?.first_failed_at ?? at,
    last_failed_at: at,
    retry_after: new Date(now + pause).toISOString(),
    error,
    ...(now - startedAt >= SILENT_AFTER_MS ? { silent: true } : {}),
  };
  makeDirs(layout.root, path.dirname(failureFile(layout, host)));
  // Not fsynced: a record lost in a crash costs one more attempt.
  writeFileAtomic(failureFile(layout, host), toJson(failure), false);
  return failure;
}

/** The host answered: its next base move is brought to it at once. */
export function noteHostReached(layout: StoreLayout, host: string): void {
  const file = failureFile(layout, host);
  if (fs.existsSync(file)) fs.rmSync(file, { force: true });
}

/** "next try in 40 s" for a warning. */
export function nextTryText(failure: HostFailure, now = Date.now()): string {
  return `next try in ${Math.max(1, Math.ceil((Date.parse(failure.retry_after) - now) / 1000))} s`;
}
