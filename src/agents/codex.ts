// Codex as a worker: the per-invocation settings that let it work unattended in its default
// workspace-write sandbox (trust, writable roots for the store and git, PATH), its own app server,
// and the session id it records for `codex resume`.

import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { AgentProfile, LaunchSpec, SessionLookup } from "./profile.ts";

/** A TOML basic string: JSON's escapes (\", \\, \n, \uXXXX) are all valid TOML. */
function tomlString(text: string): string {
  return JSON.stringify(text);
}

/** The worktree's private git dir (`.git/worktrees/<id>` of the repository), from its `.git` file. */
function worktreeGitDir(worktree: string): string | undefined {
  try {
    const pointer = fs.readFileSync(path.join(worktree, ".git"), "utf8").trim();
    return pointer.startsWith("gitdir: ") ? path.resolve(worktree, pointer.slice("gitdir: ".length)) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * What a worker writes outside its worktree: the store (notify, inbox) and the parts of the
 * repository's git dir that `git commit` in a linked worktree changes. Codex mounts a worktree's git
 * dir read-only; the hooks, config and info of the common dir stay read-only, so nothing written
 * there can run outside the sandbox later.
 */
export function codexWritableDirs(spec: LaunchSpec): string[] {
  const common = path.resolve(spec.worktreePath, spec.commonGitDir);
  const wanted = [spec.storeRoot, path.join(common, "objects"), path.join(common, "refs"), path.join(common, "logs")];
  const own = worktreeGitDir(spec.worktreePath);
  if (own) wanted.push(own);
  return wanted.filter((dir) => fs.existsSync(dir));
}

/** The arguments before the prompt; nothing of them is written to Codex's config. */
export function codexArguments(spec: LaunchSpec): string[] {
  const trusted = [...new Set([spec.mainRoot, spec.worktreePath])].map((dir) => `${tomlString(dir)}={trust_level="trusted"}`);
  return [
    "codex",
    // Its own app server: the shared one would run this worker's commands with the environment of
    // whichever codex started it, and keep the turn going after orch stop ends this process.
    "--no-daemon",
    "-c",
    `projects={${trusted.join(",")}}`,
    // Login shells source /etc/profile, which resets PATH and loses orch's bin directory.
    "-c",
    "allow_login_shell=false",
    ...codexWritableDirs(spec).flatMap((dir) => ["--add-dir", dir]),
  ];
}

/** The rollout files Codex wrote on or after `day` (sessions/YYYY/MM/DD/rollout-*.jsonl). */
function rolloutFiles(sessionsDir: string, since: Date): string[] {
  const files: string[] = [];
  for (const day of [since, new Date()]) {
    const two = (n: number) => String(n).padStart(2, "0");
    const dir = path.join(sessionsDir, String(day.getFullYear()), two(day.getMonth() + 1), two(day.getDate()));
    try {
      for (const name of fs.readdirSync(dir)) {
        if (name.startsWith("rollout-") && name.endsWith(".jsonl")) files.push(path.join(dir, name));
      }
    } catch {
      // no sessions that day
    }
  }
  return [...new Set(files)];
}

/** The id of the Codex session started in `worktreePath` at or after `startedAtMs`, once its rollout exists. */
export function findCodexSession(lookup: SessionLookup): string | undefined {
  const home = lookup.env.CODEX_HOME || path.join(lookup.env.HOME || os.homedir(), ".codex");
  for (const file of rolloutFiles(path.join(home, "sessions"), new Date(lookup.startedAtMs))) {
    try {
      if (fs.statSync(file).mtimeMs < lookup.startedAtMs - 1000) continue;
      const fd = fs.openSync(file, "r");
      const head = Buffer.alloc(64 * 1024);
      const length = fs.readSync(fd, head, 0, head.length, 0);
      fs.closeSync(fd);
      // The first line (session_meta) carries the base instructions too: read its head only.
      const text = head.subarray(0, length).toString("utf8");
      const id = /"type":"session_meta","payload":\{[^\n]*?"id":"([0-9a-f-]{36})"/.exec(text)?.[1];
      if (id && text.split("\n", 1)[0]!.includes(`"cwd":${JSON.stringify(lookup.worktreePath)}`)) return id;
    } catch {
      // being written, or not a rollout we can read: look at the next
    }
  }
  return undefined;
}

export const codexProfile: AgentProfile = {
  name: "codex",
  start(spec) {
    if (spec.plan) spec.warn("--plan only changes how claude starts; ignored for --agent codex");
    return { argv: codexArguments(spec), promptPlacement: "after-dashdash", env: {} };
  },
  prepare: async () => [],
  findSessionId: findCodexSession,
};
