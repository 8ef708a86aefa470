// What an agent's sandbox (Codex's workspace-write, when Codex is the orchestrator) keeps orch from doing:
// checked before a command changes anything, and said in one line with the setting that allows it.

import fs from "node:fs";
import path from "node:path";
import { errnoCode, OrchError } from "./errors.ts";

/** Codex names its session in the environment of every command it runs (checked with 0.169). */
export function insideCodex(env: NodeJS.ProcessEnv): boolean {
  return Boolean(env.CODEX_THREAD_ID || env.CODEX_SESSION_ID);
}

/** The folder itself, or the nearest one above it that exists (the one a mkdir -p would write into). */
export function nearestExisting(dir: string): string {
  let at = path.resolve(dir);
  while (!fs.existsSync(at) && path.dirname(at) !== at) at = path.dirname(at);
  return at;
}

export interface NeededFolder {
  dir: string;
  /** What orch writes there, for the message: "git worktree add writes the new worktree there". */
  why: string;
}

/**
 * Inside Codex, refuses (exit 1, nothing changed) when one of the folders orch is about to write is on a
 * read-only file system here, as Codex's sandbox mounts every folder but the workspace (and /tmp) and the
 * workspace's .git. Elsewhere (a read-only mount), and for other failures (permissions), the command
 * goes on and says what failed itself.
 */
export function refuseReadOnlyFolders(needed: NeededFolder[], env: NodeJS.ProcessEnv): void {
  if (!insideCodex(env)) return;
  for (const { dir, why } of needed) {
    const existing = nearestExisting(dir);
    try {
      fs.accessSync(existing, fs.constants.W_OK);
      continue;
    } catch (error) {
      if (errnoCode(error) !== "EROFS") continue;
    }
    const missing = existing !== path.resolve(dir);
    const fix = `${missing ? `mkdir -p ${dir} outside Codex, then ` : ""}start codex with --add-dir ${dir} (or ` +
      "add it to sandbox_workspace_write.writable_roots in ~/.codex/config.toml), or -s danger-full-access";
    throw new OrchError("failed", `${dir} is read-only here (${why}): ${fix}; nothing was changed`);
  }
}

/**
 * Inside Codex, refuses when tmux cannot connect to its server's socket because this process may not (its
 * sandbox filters socket connections unless commands have network access), rather than because no server
 * runs. Elsewhere nothing is asked: tmux's own error says it.
 */
export async function refuseBlockedTmux(env: NodeJS.ProcessEnv): Promise<void> {
  if (!insideCodex(env)) return;
  const tmux = await import("./adapters/tmux.ts");
  let stderr: string;
  try {
    stderr = (await tmux.askServer(env)).stderr;
  } catch {
    return; // no tmux: the command says so itself
  }
  const blocked = tmux.socketRefused(stderr);
  if (!blocked) return;
  const fix = "Codex's sandbox blocks it unless commands have network access: start codex with " +
    "-c sandbox_workspace_write.network_access=true (or set it in ~/.codex/config.toml), or -s danger-full-access";
  throw new OrchError("failed", `tmux cannot connect to its server at ${blocked.socket} (${blocked.reason}): ${fix}; ` +
    "nothing was changed");
}
