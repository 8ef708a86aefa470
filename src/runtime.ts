// How to start orch again (for the tmux window's agent runner and the agents' PATH), under the
// compiled binary, Node, Deno or Bun alike.

import { createHash } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { OrchError, errnoCode } from "./errors.ts";
import { nearestExisting } from "./sandbox.ts";

const RUNTIMES = new Set(["node", "nodejs", "bun", "deno"]);

/** The argv prefix that runs this same orch: [binary] when compiled, else [runtime, ...flags, main script]. */
export function selfCommand(): string[] {
  const exe = process.execPath;
  const name = path.basename(exe).replace(/\.exe$/, "");
  if (!RUNTIMES.has(name)) return [exe];
  const script = process.argv[1];
  if (!script) return [exe];
  if (name === "deno") return [exe, "run", "-A", "--quiet", script];
  if (name === "bun") return [exe, ...BUN_NO_PROJECT_FILES, script];
  return [exe, script];
}

/**
 * Bun, run on a script, loads the .env and bunfig.toml of the folder it runs in (a bunfig's `preload`
 * is code run inside orch). orch starts itself again in a worker's worktree (the agent runner, the
 * shim on the agent's PATH), where these are the project's files: without these flags the agent would
 * inherit the project's .env and orch would run its preloads. The compiled binary is built without
 * both (build.ts); Node and Deno load neither.
 */
const BUN_NO_PROJECT_FILES = ["--no-env-file", "--config=/dev/null"];

function shellQuote(word: string): string {
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/**
 * The temp folder (os.tmpdir(): $TMPDIR, else /tmp) with its links resolved; `why` says what orch puts there.
 * A $TMPDIR that does not exist is said in one line, not as lstat's ENOENT.
 */
export function tempFolder(why: string): string {
  const temp = os.tmpdir();
  try {
    return fs.realpathSync(temp);
  } catch (error) {
    const code = errnoCode(error);
    if (code !== "ENOENT" && code !== "ENOTDIR") throw error;
    const set = process.env.TMPDIR ? "TMPDIR " : "";
    const fix = process.env.TMPDIR ? "create it, or unset TMPDIR to use /tmp" : "create it";
    throw new OrchError("invalid", `the temp folder ${set}${temp} does not exist (${why}): ${fix}`);
  }
}

/**
 * Whether orch can keep its shims in `base`: its bin folder is there, or the nearest folder above it that is
 * there is a folder orch may write in (as mkdir -p would). A HOME that is missing or read-only (a service
 * account's /nonexistent) cannot hold it. Asked without making anything: spawn asks before it makes anything.
 */
function canHoldShims(base: string): boolean {
  const existing = nearestExisting(path.join(base, "bin"));
  try {
    if (existing === path.join(base, "bin")) return true; // whose it is, shimDir checks
    if (!fs.statSync(existing).isDirectory()) return false;
    fs.accessSync(existing, fs.constants.W_OK | fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The owner of `file` (not followed), or undefined when there is none. */
function ownerOf(file: string): number | undefined {
  try {
    return fs.lstatSync(file).uid;
  } catch {
    return undefined;
  }
}

/**
 * The folder under which orch keeps its shims: ~/.local/state/orch (or $XDG_STATE_HOME/orch); $TMPDIR/orch-<uid>
 * when that path holds a ":" (which splits PATH) or cannot be made (HOME missing or read-only). When neither can
 * be made and the second is another user's, refused in a line that names both and the way out.
 */
export function shimHome(env: NodeJS.ProcessEnv): string {
  const uid = typeof process.getuid === "function" ? process.getuid() : -1;
  const home = env.HOME || os.homedir();
  const xdgStateHome = env.XDG_STATE_HOME;
  const stateHome =
    xdgStateHome && path.isAbsolute(xdgStateHome) ? xdgStateHome : path.join(home, ".local", "state");
  const candidates = [path.join(stateHome, "orch"), path.join(os.tmpdir(), `orch-${uid}`)];
  const usable = candidates.filter((dir) => !dir.includes(path.delimiter));
  const holder = usable.find(canHoldShims);
  if (usable.length === 0) {
    const why = `no folder for orch's shim without "${path.delimiter}" in its path (tried ${candidates.join(", ")})`;
    throw new OrchError("failed", why);
  }
  const fallback = usable.at(-1)!;
  const fallbackOwner = holder || usable.length < 2 ? undefined : ownerOf(fallback);
  if (fallbackOwner !== undefined && fallbackOwner !== uid) {
    // The temp folder's one is another user's (made first in /tmp, which the user cannot remove): the error of
    // making the first, under a HOME that need not be writable, would blame the wrong folder.
    const why = `no folder for orch's shim: ${usable[0]} cannot be made (HOME missing or read-only) and ` +
      `${fallback} is another user's: set XDG_STATE_HOME to a folder of yours`;
    throw new OrchError("failed", why);
  }
  return holder ?? usable[0]!;
}

/**
 * The folder for orch's shim: private to this user and out of any repository's reach (a repository
 * could ship its own .orch/bin), one per orch program so that two orch builds never overwrite each
 * other's shim, and with no ":" in its path, which would split PATH. Refused unless it is a real
 * directory owned by this user that nobody else can write to.
 */
export function shimDir(env: NodeJS.ProcessEnv): string {
  const uid = typeof process.getuid === "function" ? process.getuid() : -1;
  const base = shimHome(env);
  const dir = shimFolderIn(base);
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  for (const folder of [base, path.join(base, "bin"), dir]) {
    const stat = fs.lstatSync(folder);
    const foreign = !stat.isDirectory() || (uid >= 0 && stat.uid !== uid) || (stat.mode & 0o022) !== 0;
    if (foreign) {
      const why =
        `${folder} is not a private folder of yours (a link, another owner, or writable by others): ` +
        "move it away so orch can put its shim there, or set XDG_STATE_HOME to a folder of yours";
      throw new OrchError("failed", why);
    }
  }
  return dir;
}

/** The shim's folder for this orch program under `base`. */
function shimFolderIn(base: string): string {
  const key = createHash("sha256").update(selfCommand().join("\0")).digest("hex").slice(0, 16);
  return path.join(base, "bin", key);
}

function shimBody(): string {
  return `#!/bin/sh\nexec ${selfCommand().map(shellQuote).join(" ")} "$@"\n`;
}

/** Whether ensureShim has to write (the shim is missing or runs another orch): spawn checks it can first. */
export function shimNeedsWriting(env: NodeJS.ProcessEnv): boolean {
  try {
    return fs.readFileSync(path.join(shimFolderIn(shimHome(env)), "orch"), "utf8") !== shimBody();
  } catch {
    return true;
  }
}

/**
 * Writes <shimDir>/orch, a two-line sh script that runs this orch, so agents find `orch` on their
 * PATH whatever runtime spawned them; returns its folder. Our own paths are quoted for sh; no user
 * input goes in.
 */
export function ensureShim(env: NodeJS.ProcessEnv): string {
  const binDir = shimDir(env);
  const shim = path.join(binDir, "orch");
  const body = shimBody();
  let current: string | undefined;
  try {
    current = fs.readFileSync(shim, "utf8");
  } catch {
    current = undefined;
  }
  if (current !== body) {
    const tmp = `${shim}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, body, { mode: 0o700 });
    fs.renameSync(tmp, shim);
  }
  return binDir;
}
