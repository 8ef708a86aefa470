// The one error type of orch: its kind decides the exit code and the JSON error code, in one place.

import { textStart } from "./text.ts";

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
  const cut = (_: string, inside: string) => `"${textStart(inside, 100)}…" (${inside.length} characters)`;
  return message
    .replace(longQuoted, cut)
    .replace(longWord, (word) => `${textStart(word, 100)}… (${word.length} characters)`);
}

// The words orch's messages use for the errno codes a user's machine causes; others keep the system's own.
const ERRNO_WORDS: Record<string, string> = {
  ENOTDIR: "a path component is not a directory",
  EACCES: "permission denied",
  EPERM: "permission denied",
  ENOSPC: "no space left on device",
  EDQUOT: "disk quota exceeded",
  EROFS: "read-only file system",
};

/** orch's words for the errno code of `error`, if it has some ("read-only file system" for EROFS). */
export function errnoWords(error: unknown): string | undefined {
  const code = errnoCode(error);
  return code === undefined ? undefined : ERRNO_WORDS[code];
}

/**
 * Why a system call failed, in the words of orch's messages: "read-only file system", not
 * "EROFS: read-only file system, open '/x'". A code without words of its own keeps the system's description.
 */
export function systemReason(error: unknown): string {
  const code = errnoCode(error);
  const words = errnoWords(error);
  if (words !== undefined) return words;
  const message = error instanceof Error ? error.message.split("\n")[0]! : String(error);
  const described = code === undefined ? undefined : new RegExp(`^${code}: (.*?), [a-z_]+ '`).exec(message);
  return described ? described[1]! : message;
}

// What each file-system call a store or checkout write makes was doing, for "cannot <doing> <path>".
const SYSCALL_DOING: Record<string, string> = {
  open: "open", read: "read", write: "write", close: "write", fsync: "write", ftruncate: "write",
  mkdir: "make the folder", rmdir: "remove the folder", scandir: "read the folder", opendir: "read the folder",
  unlink: "remove", rename: "move", link: "link", symlink: "make the link", copyfile: "copy",
  chmod: "change the mode of", chown: "change the owner of", utime: "touch", futime: "touch",
  stat: "read", lstat: "read", fstat: "read", readlink: "read the link", realpath: "resolve",
};

/**
 * A file-system error as one line, "cannot open /x/y: read-only file system"; undefined for an error that is
 * not one (a program that would not start keeps its own words).
 */
export function fileErrorLine(error: unknown): string | undefined {
  if (!(error instanceof Error) || errnoCode(error) === undefined) return undefined;
  const { syscall, path } = error as { syscall?: unknown; path?: unknown };
  // An open that fails for a read-only or full disk was one for writing.
  const writing = syscall === "open" && ["EROFS", "ENOSPC", "EDQUOT"].includes(errnoCode(error)!);
  const doing = writing ? "write" : typeof syscall === "string" ? SYSCALL_DOING[syscall] : undefined;
  if (doing === undefined || typeof path !== "string") return undefined;
  return `cannot ${doing} ${path}: ${systemReason(error)}`;
}

/** The errno code of a Node file-system error, if it is one. */
export function errnoCode(error: unknown): string | undefined {
  if (error && typeof error === "object" && "code" in error) {
    const code = (error as { code: unknown }).code;
    return typeof code === "string" ? code : undefined;
  }
  return undefined;
}
