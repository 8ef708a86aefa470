// How to start orch again (for the tmux window's agent runner and the agents' PATH), under the
// compiled binary, Node, Deno or Bun alike.

import fs from "node:fs";
import path from "node:path";

const RUNTIMES = new Set(["node", "nodejs", "bun", "deno"]);

/** The argv prefix that runs this same orch: [binary] when compiled, else [runtime, ...flags, main script]. */
export function selfCommand(): string[] {
  const exe = process.execPath;
  const name = path.basename(exe).replace(/\.exe$/, "");
  if (!RUNTIMES.has(name)) return [exe];
  const script = process.argv[1];
  if (!script) return [exe];
  if (name === "deno") return [exe, "run", "-A", "--quiet", script];
  return [exe, script];
}

function shellQuote(word: string): string {
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/**
 * Writes <store>/bin/orch, a two-line sh script that runs this orch, so agents find `orch` on their
 * PATH whatever runtime spawned them. Our own paths are quoted for sh; no user input goes in.
 */
export function ensureShim(binDir: string): string {
  const shim = path.join(binDir, "orch");
  const body = `#!/bin/sh\nexec ${selfCommand().map(shellQuote).join(" ")} "$@"\n`;
  let current: string | undefined;
  try {
    current = fs.readFileSync(shim, "utf8");
  } catch {
    current = undefined;
  }
  if (current !== body) {
    fs.mkdirSync(binDir, { recursive: true, mode: 0o700 });
    const tmp = `${shim}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, body, { mode: 0o700 });
    fs.renameSync(tmp, shim);
  }
  return shim;
}
