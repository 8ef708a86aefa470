// Names and ids: the one place that makes and checks them (orchestrator, worker, message ids, branches).

import { invalid } from "./errors.ts";
import { sha256Hex } from "./sha256.ts";

const ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789";

// The global Web Crypto, not node:crypto: importing that costs ~10 ms in a compiled binary.
function randomChars(count: number): string {
  let out = "";
  while (out.length < count) {
    for (const byte of crypto.getRandomValues(new Uint8Array(count * 2))) {
      // 252 = 7 * 36: dropping the bytes above it keeps every character equally likely.
      if (byte < 252 && out.length < count) out += ALPHABET[byte % 36];
    }
  }
  return out;
}

// Ids are checked with plain character tests, not regular expressions: the first regular expression
// a compiled binary runs costs ~1 ms and ~2 MB, and notify, poll and the hooks check ids on every call.
// One table lookup per character, no call per character: status checks every worker's id and every
// event name, and small functions called that often are what the engine then spends time compiling.
const DIGIT = 1;
const LOWER_ALNUM = 2;
const ID_CHAR = 4;
const CLASSES = new Uint8Array(128);
for (let c = 0; c < 128; c++) {
  const digit = c >= 48 && c <= 57;
  const lowerAlnum = digit || (c >= 97 && c <= 122);
  const idChar = lowerAlnum || (c >= 65 && c <= 90) || c === 46 || c === 95 || c === 45; // . _ -
  CLASSES[c] = (digit ? DIGIT : 0) | (lowerAlnum ? LOWER_ALNUM : 0) | (idChar ? ID_CHAR : 0);
}

/** Every character of `text` from `from` on is in the class `kind` (all of them ASCII). */
function allChars(text: string, from: number, kind: number): boolean {
  for (let i = from; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 128 || (CLASSES[c]! & kind) === 0) return false;
  }
  return true;
}

/** The same rules as regular expressions, for JSON Schemas (orch mcp); a test keeps both in step. */
export const ORCH_ID_PATTERN = "^orch_[a-z0-9]{8}$";
export const MESSAGE_ID_PATTERN = "^msg_[a-z0-9]{19}$";

/** orch_ followed by 8 of [a-z0-9]. */
export function isOrchestratorId(id: string): boolean {
  return id.length === 13 && id.startsWith("orch_") && allChars(id, 5, LOWER_ALNUM);
}

/** msg_ followed by 19 of [a-z0-9]. */
export function isMessageId(id: string): boolean {
  return id.length === 23 && id.startsWith("msg_") && allChars(id, 4, LOWER_ALNUM);
}

/** req_ followed by 8 of [a-z0-9]: a worker's pending request (a permission prompt, a plan). */
export function isRequestId(id: string): boolean {
  return id.length === 12 && id.startsWith("req_") && allChars(id, 4, LOWER_ALNUM);
}

export function newRequestId(): string {
  return `req_${randomChars(8)}`;
}

export function checkRequestId(id: string): string {
  if (!isRequestId(id)) throw invalid(`bad request id ${JSON.stringify(id)}: expected req_ followed by 8 of [a-z0-9]`);
  return id;
}

export function isDigits(text: string): boolean {
  return text.length > 0 && allChars(text, 0, DIGIT);
}

export function newOrchestratorId(): string {
  return `orch_${randomChars(8)}`;
}

let lastMicros = 0;

/** Microseconds since the epoch, never repeating within this process. */
function nowMicros(): number {
  let micros = Math.floor((performance.timeOrigin + performance.now()) * 1000);
  if (micros <= lastMicros) micros = lastMicros + 1;
  lastMicros = micros;
  return micros;
}

/** The creation time a message id carries (microseconds since the epoch, on its maker's clock). */
export function messageIdMicros(id: string): number {
  return parseInt(id.slice(4, 15), 36);
}

/**
 * A message id sorts by creation time: 11 base-36 digits of microseconds, then 8 random characters.
 * Mailbox files are named after it, so a directory listing sorted by name is oldest first.
 */
export function newMessageId(): string {
  return `msg_${nowMicros().toString(36).padStart(11, "0")}${randomChars(8)}`;
}

export function checkOrchestratorId(id: string, source = "orchestrator id"): string {
  if (!isOrchestratorId(id)) {
    throw invalid(`bad ${source} ${JSON.stringify(id)}: expected orch_ followed by 8 of [a-z0-9]`);
  }
  return id;
}

export function checkMessageId(id: string): string {
  if (!isMessageId(id)) throw invalid(`bad message id ${JSON.stringify(id)}: expected msg_ followed by 19 of [a-z0-9]`);
  return id;
}

export function isWorkerId(id: string): boolean {
  // ".." anywhere: no branch has it (git refuses it), so no worker id made from one does either.
  return id.length > 0 && allChars(id, 0, ID_CHAR) && id !== "." && !id.includes("..") && !id.startsWith("-");
}

/**
 * A worker's folder in a session's workers/: its id, not one being made (`<id>.new-<pid>`) or being removed
 * (`<id>.removed-<pid>-<time>`), the names store/workers.ts gives those while it renames them.
 */
export function isWorkerFolderName(name: string): boolean {
  return isWorkerId(name) && !name.includes(".new-") && !name.includes(".removed-");
}

export function checkWorkerId(id: string, source = "worker id"): string {
  if (!isWorkerId(id)) {
    throw invalid(`bad ${source} ${JSON.stringify(id)}: expected [A-Za-z0-9._-], not starting with -`);
  }
  return id;
}

/**
 * The contract's worker id: the branch with `/` and everything outside [A-Za-z0-9._-] as `-`
 * (`feat/login` → `feat-login`). An id never starts with `-` (it would read as a flag): the dashes a
 * leading replaced character leaves become `_` (`über/x` → `_ber-x`). A branch cannot start with `-`
 * itself, so only replaced characters are affected.
 */
export function workerIdForBranch(branch: string): string {
  // Per code point ("u"): a character outside the BMP (an emoji) is one character, so one "-", not two.
  return withoutLeadingDashes(branch.replace(/[^A-Za-z0-9._-]/gu, "-"));
}

/**
 * The id a worker of a branch with a character outside ASCII gets when its contract id is taken by a worker
 * of another branch (`feat/é` has `feat--`, so `feat/è` gets `feat---mmyj8wzk`): the contract id, `-` and 8 of
 * [a-z0-9] from the SHA-256 of the whole branch. Undefined for an all-ASCII branch: two of those that share an
 * id (`feat/a`, `feat-a`) cannot both be workers of one session.
 */
export function digestWorkerIdForBranch(branch: string): string | undefined {
  return isAscii(branch) ? undefined : `${workerIdForBranch(branch)}-${branchDigest(branch)}`;
}

/**
 * The ids a worker of `branch` may be recorded under, in the order they are looked at: the contract id,
 * the digest id (outside ASCII), and the id earlier builds gave a branch with a character outside the BMP
 * (one `-` per UTF-16 unit: `feat/😀x` → `feat---x`). Other branches' workers may have any of them: the
 * record found under one is this branch's only when the branch it names is this one.
 */
export function workerIdsForBranch(branch: string): string[] {
  const ids = [workerIdForBranch(branch)];
  const digest = digestWorkerIdForBranch(branch);
  if (digest !== undefined) ids.push(digest);
  const perUnit = withoutLeadingDashes(branch.replace(/[^A-Za-z0-9._-]/g, "-"));
  if (perUnit !== ids[0]) ids.push(perUnit);
  return ids;
}

/** `id` is one a worker of `branch` may be given: its contract id, or its digest id. */
export function isWorkerIdOfBranch(id: string, branch: string): boolean {
  return id === workerIdForBranch(branch) || id === digestWorkerIdForBranch(branch);
}

function isAscii(text: string): boolean {
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) >= 128) return false;
  return true;
}

/**
 * 8 of [a-z0-9] from the SHA-256 of the branch's UTF-8 bytes (its first 48 bits, modulo 36^8: 41 bits).
 * The same in every runtime and on every host.
 */
function branchDigest(branch: string): string {
  const first48Bits = Number.parseInt(sha256Hex(branch).slice(0, 12), 16);
  return (first48Bits % 36 ** 8).toString(36).padStart(8, "0");
}

/** A worker id never starts with "-" (it would read as a flag): its leading dashes become "_". */
function withoutLeadingDashes(id: string): string {
  let dashes = 0;
  while (id.charCodeAt(dashes) === 45) dashes++;
  return dashes === 0 ? id : "_".repeat(dashes) + id.slice(dashes);
}

/**
 * The longest branch orch takes, in UTF-8 bytes. Its worker id and folder names are made from the whole
 * branch and get suffixes (`.new-<pid>`, `.removed-<pid>-<time>`, git's `.lock`), and file names end at
 * 255 bytes on Linux and macOS. A worker id is at most 208 characters: a branch with a character outside
 * ASCII has at most 199 code points, and its digest id 9 characters more.
 */
export const MAX_BRANCH_BYTES = 200;

/** git-gtr's folder name for a branch (lib/core.sh sanitize_branch_name), so `git gtr go` finds ours. */
export function gtrFolderName(branch: string): string {
  return branch.replace(/[/\\ :*?"<>|#]/g, "-").replace(/^-+/, "").replace(/-+$/, "");
}

/**
 * Why `git check-ref-format --branch NAME` would reject NAME, or null when it accepts it; also
 * rejects a leading `-`. The rules are git's (refs.c check_refname_format); a test holds this
 * function to git's own answers, so spawn needs no git process to validate.
 */
export function branchNameProblem(name: string): string | null {
  if (name === "") return "is empty";
  const bytes = Buffer.byteLength(name, "utf8");
  if (bytes > MAX_BRANCH_BYTES) {
    return `is ${bytes} bytes long: too long for orch's file names (at most ${MAX_BRANCH_BYTES})`;
  }
  if (name.startsWith("-")) return "starts with -";
  if (name === "HEAD") return "is HEAD";
  if (name === "@") return "is @";
  if (name.includes("@{")) return "contains @{";
  if (name.includes("..")) return "contains ..";
  if (/[\x00-\x20\x7f~^:?*[\\]/.test(name)) return "contains a space, a control character or one of ~ ^ : ? * [ \\";
  if (name.startsWith("/") || name.endsWith("/")) return "starts or ends with /";
  if (name.includes("//")) return "contains //";
  if (name.endsWith(".")) return "ends with .";
  for (const part of name.split("/")) {
    if (part.startsWith(".")) return "has a component starting with .";
    if (part.endsWith(".lock")) return "has a component ending with .lock";
  }
  return null;
}

export function checkBranchName(name: string): string {
  const problem = branchNameProblem(name);
  if (problem) throw invalid(`bad branch name ${JSON.stringify(name)}: ${problem}`);
  return name;
}

/**
 * How a tmux window is known across servers: its id and the server that made it (pid and start time),
 * since a server started after the last one died hands the same ids out again. Records of older
 * versions have no server: the bare id, as before.
 */
export function windowKey(windowId: string, server?: string | null): string {
  return server ? `${server}/${windowId}` : windowId;
}

/** A full commit id (SHA-1 or SHA-256), as git prints them: never an option or a name git would resolve. */
export function isFullCommitId(text: string): boolean {
  return /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/.test(text);
}
