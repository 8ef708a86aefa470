// The arguments as the user typed them: which ones the runtime could not decode as UTF-8 (Linux only).

import fs from "node:fs";

const REPLACEMENT = "\uFFFD";

/**
 * The position (0 = the first argument after `orch`) of the first argument that is not valid UTF-8, or
 * undefined. Node, Bun and Deno decode argv with U+FFFD for each bad byte, so `--prompt $'caf\xe9'` would
 * reach the store as "caf�" without a word; the bytes the kernel was given are in /proc/self/cmdline. Only
 * an argument holding U+FFFD can be such a one, so the file is read only then: never on the hot path.
 */
export function undecodableArgument(args: string[]): number | undefined {
  if (!args.some((arg) => arg.includes(REPLACEMENT))) return undefined;
  let cmdline: Buffer;
  try {
    cmdline = fs.readFileSync("/proc/self/cmdline");
  } catch {
    return undefined; // not Linux: what the runtime decoded is all there is
  }
  const raw = splitOnNul(cmdline);
  // The runtime's own words (node and its script, bun's /$bunfs path) come first; the user's are the last ones.
  const user = raw.slice(raw.length - args.length);
  if (user.length !== args.length) return undefined;
  const strict = new TextDecoder("utf-8", { fatal: true });
  for (let i = 0; i < user.length; i++) {
    if (!args[i]!.includes(REPLACEMENT)) continue;
    try {
      strict.decode(user[i]);
    } catch {
      return i;
    }
  }
  return undefined;
}

function splitOnNul(bytes: Buffer): Buffer[] {
  const words: Buffer[] = [];
  for (let start = 0; start < bytes.length;) {
    const end = bytes.indexOf(0, start);
    words.push(bytes.subarray(start, end < 0 ? bytes.length : end));
    if (end < 0) break;
    start = end + 1;
  }
  return words;
}
