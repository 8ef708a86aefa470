// git through argument arrays: config, refs, worktrees, merges. The only module that runs git
// (besides repo.ts's fallback), always with LC_ALL=C so messages can be recognised.

import fs from "node:fs";
import path from "node:path";
import { OrchError } from "../errors.ts";
import { run, type RunResult } from "./exec.ts";

function gitEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return { ...env, LC_ALL: "C", LANG: "C", GIT_TERMINAL_PROMPT: "0" };
}

export function git(args: string[], cwd: string, options: { allowFailure?: boolean; input?: string; env?: NodeJS.ProcessEnv } = {}): Promise<RunResult> {
  return run(["git", ...args], { cwd, env: gitEnv(options.env), allowFailure: options.allowFailure, input: options.input });
}

export async function gitOut(args: string[], cwd: string): Promise<string> {
  return (await git(args, cwd)).stdout.trim();
}

/** gtr.* and orch.* settings: each key (lower-cased, as git reports it) with all its values, lowest precedence first. */
export type GitSettings = Map<string, string[]>;

function parseConfigZ(stdout: string, into: GitSettings): void {
  for (const entry of stdout.split("\0")) {
    if (!entry) continue;
    const newline = entry.indexOf("\n");
    const key = newline < 0 ? entry : entry.slice(0, newline);
    const value = newline < 0 ? "true" : entry.slice(newline + 1);
    into.set(key, [...(into.get(key) ?? []), value]);
  }
}

/**
 * Reads git-gtr's and orch's settings from git config (system, global, local) and from a .gtrconfig
 * at the repository root, which git-gtr ranks between global and local (its keys lack the gtr. prefix).
 */
export async function readSettings(mainRoot: string): Promise<GitSettings> {
  const settings: GitSettings = new Map();
  const result = await git(["config", "-z", "--get-regexp", "^(gtr|orch)\\."], mainRoot, { allowFailure: true });
  if (result.code !== 0 && result.code !== 1) throw new OrchError("failed", `git config failed: ${result.stderr.trim()}`);
  parseConfigZ(result.stdout, settings);
  const gtrconfig = path.join(mainRoot, ".gtrconfig");
  if (fs.existsSync(gtrconfig)) {
    const file = await git(["config", "-z", "-f", gtrconfig, "--get-regexp", "^(worktrees|copy|defaults)\\."], mainRoot, { allowFailure: true });
    const fromFile: GitSettings = new Map();
    parseConfigZ(file.stdout, fromFile);
    const local = await git(["config", "-z", "--local", "--get-regexp", "^gtr\\."], mainRoot, { allowFailure: true });
    const localSettings: GitSettings = new Map();
    parseConfigZ(local.stdout, localSettings);
    for (const [key, values] of fromFile) {
      const gtrKey = `gtr.${key}`;
      if (!localSettings.has(gtrKey)) settings.set(gtrKey, [...(settings.get(gtrKey) ?? []), ...values]);
    }
  }
  return settings;
}

export function lastSetting(settings: GitSettings, key: string): string | undefined {
  const values = settings.get(key.toLowerCase());
  return values?.[values.length - 1];
}

export function allSettings(settings: GitSettings, key: string): string[] {
  return [...new Set(settings.get(key.toLowerCase()) ?? [])];
}

/** The commit `ref` names, or undefined. */
export async function resolveCommit(cwd: string, ref: string): Promise<string | undefined> {
  const result = await git(["rev-parse", "--verify", "--quiet", "--end-of-options", `${ref}^{commit}`], cwd, { allowFailure: true });
  return result.code === 0 ? result.stdout.trim() : undefined;
}

export async function branchExists(cwd: string, branch: string): Promise<boolean> {
  const result = await git(["show-ref", "--verify", "--quiet", `refs/heads/${branch}`], cwd, { allowFailure: true });
  return result.code === 0;
}

/** The branch checked out in a worktree, or null when its HEAD is detached. */
export async function currentBranch(cwd: string): Promise<string | null> {
  const result = await git(["symbolic-ref", "--quiet", "--short", "HEAD"], cwd, { allowFailure: true });
  return result.code === 0 ? result.stdout.trim() : null;
}

export async function worktreeAdd(mainRoot: string, worktreePath: string, branch: string, createFrom: string | undefined): Promise<void> {
  const args = createFrom === undefined
    ? ["worktree", "add", "--quiet", worktreePath, branch]
    : ["worktree", "add", "--quiet", "-b", branch, worktreePath, createFrom];
  const result = await git(args, mainRoot, { allowFailure: true });
  if (result.code !== 0) {
    throw new OrchError("failed", `git worktree add failed: ${result.stderr.trim().split("\n").pop()}`);
  }
}

export async function worktreeRemove(mainRoot: string, worktreePath: string, force: boolean): Promise<void> {
  const result = await git(["worktree", "remove", ...(force ? ["--force", "--force"] : []), worktreePath], mainRoot, { allowFailure: true });
  if (result.code !== 0) {
    if (!fs.existsSync(worktreePath)) {
      await git(["worktree", "prune"], mainRoot, { allowFailure: true });
      return;
    }
    throw new OrchError("failed", `git worktree remove failed: ${result.stderr.trim().split("\n").pop()}`);
  }
}

export async function deleteBranch(cwd: string, branch: string, force: boolean): Promise<void> {
  const result = await git(["branch", force ? "-D" : "-d", "--", branch], cwd, { allowFailure: true });
  if (result.code !== 0) throw new OrchError("refused", `git branch -d ${branch} refused: ${result.stderr.trim().split("\n").pop()} (use --force to delete it anyway)`);
}

/** Paths with uncommitted changes (staged, unstaged or untracked) in a worktree. */
export async function dirtyPaths(worktree: string): Promise<string[]> {
  const result = await git(["status", "--porcelain=v1", "-z", "--untracked-files=all"], worktree);
  const paths: string[] = [];
  const entries = result.stdout.split("\0");
  for (let i = 0; i < entries.length; i++) {
    const entry = entries[i]!;
    if (!entry) continue;
    paths.push(entry.slice(3));
    if (entry[0] === "R" || entry[0] === "C") i++; // the rename's source path follows
  }
  return paths;
}

/** The private git dir of a linked worktree, read from its .git file. */
export function worktreeGitDir(worktree: string): string {
  const pointer = fs.readFileSync(path.join(worktree, ".git"), "utf8").trim();
  if (!pointer.startsWith("gitdir: ")) throw new OrchError("failed", `${worktree}/.git is not a worktree link`);
  return path.resolve(worktree, pointer.slice("gitdir: ".length));
}

/**
 * Whether merging `branch` into `base` would change nothing: true for fast-forwarded, merged,
 * rebased and squash-merged branches alike (git merge-tree --write-tree, git ≥ 2.38).
 */
export async function isMergedInto(cwd: string, branch: string, base: string): Promise<boolean> {
  const ancestor = await git(["merge-base", "--is-ancestor", branch, base], cwd, { allowFailure: true });
  if (ancestor.code === 0) return true;
  const merged = await git(["merge-tree", "--write-tree", base, branch], cwd, { allowFailure: true });
  if (merged.code !== 0) return false;
  const baseTree = await gitOut(["rev-parse", `${base}^{tree}`], cwd);
  return merged.stdout.split("\n")[0]?.trim() === baseTree;
}
