// The one error type of orch: its kind decides the exit code and the JSON error code, in one place.

export type ErrorKind =
  | "usage" // bad flags, unknown command, bad value: exit 2
  | "invalid" // invalid input such as a bad branch name or id: exit 2
  | "not_found" // no such session, worker, message or repository
  | "exists" // the thing to create is already there
  | "refused" // a safety check said no (dirty worktree, staged index, moved HEAD)
  | "conflict" // a merge or patch did not apply
  | "failed" // a program orch ran failed
  | "store" // the store could not be read or written
  | "timeout" // a --timeout ran out with nothing to report: exit 124
  | "interrupted"; // Ctrl-C, SIGTERM or SIGHUP: what the command started was undone; exit 128 + the signal's number

export class OrchError extends Error {
  constructor(
    readonly kind: ErrorKind,
    message: string,
    /** Extra fields for the JSON error document (e.g. conflict_paths). */
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

/** An error on a host, or on the way to it, whose message names the host already. */
export class HostError extends OrchError {
  constructor(kind: ErrorKind, readonly host: string, message: string, details: Record<string, unknown> = {}) {
    super(kind, message, details);
  }
}

/** A warning's line about host `name`: `host NAME: …`, without naming the host twice when the error does. */
export function aboutHost(name: string, error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return error instanceof HostError && error.host === name ? message : `host ${name}: ${message}`;
}

/** The numbers of the signals that interrupt a command (the same on every Unix orch runs on). */
const INTERRUPTING_SIGNALS: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGTERM: 15 };

/** The exit code of an error; an interrupted command exits as a shell reports a program the signal ended. */
export function exitCodeFor(kind: ErrorKind, signal?: unknown): number {
  if (kind === "usage" || kind === "invalid") return 2;
  if (kind === "timeout") return 124;
  if (kind === "interrupted") return 128 + (INTERRUPTING_SIGNALS[String(signal)] ?? 2);
  return 1;
}

export function usage(message: string): OrchError {
  return new OrchError("usage", message);
}

export function invalid(message: string): OrchError {
  return new OrchError("invalid", message);
}

/**
 * A value the user gave, as a message names it: as typed when it is plain text on one line, else quoted as
 * JSON, so that a newline in it cannot cut the message short nor a control character reach the terminal.
 */
export function asGiven(value: string): string {
  return value !== "" && !/[\u0000-\u001f\u007f-\u009f"]/.test(value) ? value : JSON.stringify(value);
}

/** A value longer than this, quoted or not (a path), in an error's message is cut to its start and its length. */
const QUOTED_MAX = 1000;

/**
 * The message with each long value (an argument echoed back) cut: `"xxx…" (200000 characters)`, or
 * `xxx… (200000 characters)` for one it names without quotes (`--project-dir DIR does not exist`). A 100 KB
 * prompt given to the wrong flag comes back as its start and its length, not as 100 KB on one line.
 * The expressions are made here, on a failure only: errors.ts loads with every command.
 */
export function shortenQuoted(message: string): string {
  if (message.length <= QUOTED_MAX) return message;
  const longQuoted = new RegExp(String.raw`"((?:[^"\\]|\\.){${QUOTED_MAX + 1},})"`, "g");
  const longWord = new RegExp(String.raw`[^\s"]{${QUOTED_MAX + 1},}`, "g");
  const cut = (_: string, inside: string) => `"${inside.slice(0, 100)}…" (${inside.length} characters)`;
  return message
    .replace(longQuoted, cut)
    .replace(longWord, (word) => `${word.slice(0, 100)}… (${word.length} characters)`);
}

/** The errno code of a Node file-system error, if it is one. */
export function errnoCode(error: unknown): string | undefined {
  if (error && typeof error === "object" && "code" in error) {
    const code = (error as { code: unknown }).code;
    return typeof code === "string" ? code : undefined;
  }
  return undefined;
}
