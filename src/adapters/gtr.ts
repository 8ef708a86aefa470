// git-gtr compatibility: its worktree layout, its copy rules and hooks done natively, and its CLI
// (`git gtr new/rm --porcelain`) as a backend when it is installed and chosen.

import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { OrchError } from "../errors.ts";
import { gtrFolderName } from "../ids.ts";
import { run } from "./exec.ts";
import { allSettings, lastSetting, type GitSettings } from "./git.ts";

/** <gtr.worktrees.dir or <parent>/<repo>-worktrees>/<gtr.worktrees.prefix><sanitized branch>, as git-gtr computes it. */
export function worktreePathFor(mainRoot: string, branch: string, settings: GitSettings, env: NodeJS.ProcessEnv): string {
  let base = lastSetting(settings, "gtr.worktrees.dir") ?? env.GTR_WORKTREES_DIR ?? "";
  const home = env.HOME ?? os.homedir();
  if (base === "~") base = home;
  else if (base.startsWith("~/")) base = path.join(home, base.slice(2));
  if (base === "") base = path.join(path.dirname(mainRoot), `${path.basename(mainRoot)}-worktrees`);
  else if (!path.isAbsolute(base)) base = path.join(mainRoot, base);
  const prefix = lastSetting(settings, "gtr.worktrees.prefix") ?? env.GTR_WORKTREES_PREFIX ?? "";
  const folder = gtrFolderName(branch);
  if (folder === "" || folder === "." || folder === "..") throw new OrchError("invalid", `branch ${JSON.stringify(branch)} gives no usable folder name`);
  return path.join(base, `${prefix}${folder}`);
}

/** A shell `case` pattern (where * also matches /) as a regular expression, for gtr.copy.exclude. */
function casePattern(pattern: string): RegExp {
  let source = "";
  for (const char of pattern) {
    if (char === "*") source += ".*";
    else if (char === "?") source += ".";
    else source += char.replace(/[.+^${}()|[\]\\]/g, "\\$&");
  }
  return new RegExp(`^${source}$`);
}

function isUnsafePattern(pattern: string): boolean {
  return path.isAbsolute(pattern) || pattern === ".." || pattern.startsWith("../") || pattern.includes("/../") || pattern.endsWith("/..");
}

export function copyPatterns(mainRoot: string, settings: GitSettings): { include: string[]; exclude: string[] } {
  const include = allSettings(settings, "gtr.copy.include");
  const worktreeInclude = path.join(mainRoot, ".worktreeinclude");
  if (fs.existsSync(worktreeInclude)) {
    for (const line of fs.readFileSync(worktreeInclude, "utf8").split("\n")) {
      const pattern = line.trim();
      if (pattern && !pattern.startsWith("#")) include.push(pattern);
    }
  }
  return { include, exclude: allSettings(settings, "gtr.copy.exclude") };
}

/**
 * Copies the files matching gtr.copy.include (bash globs with ** and dotfiles, relative to the main
 * repository) into the new worktree, minus gtr.copy.exclude; existing files are overwritten, as gtr does.
 * Returns the copied paths. zx's glob is loaded only when there is something to copy.
 */
export async function copyIncludedFiles(mainRoot: string, worktree: string, settings: GitSettings, warn: (line: string) => void): Promise<string[]> {
  const { include, exclude } = copyPatterns(mainRoot, settings);
  if (include.length === 0) return [];
  const { glob } = await import("zx");
  const excludes = exclude.map(casePattern);
  const copied: string[] = [];
  for (const pattern of include) {
    if (isUnsafePattern(pattern)) {
      warn(`skipping unsafe copy pattern ${JSON.stringify(pattern)}`);
      continue;
    }
    const matches = await glob(pattern, { cwd: mainRoot, dot: true, onlyFiles: true, followSymbolicLinks: false, ignore: [".git/**"] });
    for (const file of matches.sort()) {
      if (excludes.some((re) => re.test(file))) continue;
      const target = path.join(worktree, file);
      fs.mkdirSync(path.dirname(target), { recursive: true });
      fs.copyFileSync(path.join(mainRoot, file), target);
      copied.push(file);
    }
  }
  return copied;
}

export type HookPhase = "postCreate" | "preRemove" | "postRemove";

export interface HookFailure {
  command: string;
  code: number;
  output: string;
}

/**
 * Runs the gtr.hook.<phase> commands from git config. A hook is a shell command the user configured,
 * so it runs through bash -c as git-gtr's eval does; the branch and paths reach it only through the
 * REPO_ROOT, WORKTREE_PATH and BRANCH variables, never inside the command text. Hook output goes to stderr.
 */
export async function runHooks(phase: HookPhase, settings: GitSettings, where: { cwd: string; repoRoot: string; worktreePath: string; branch: string }, env: NodeJS.ProcessEnv): Promise<HookFailure[]> {
  const failures: HookFailure[] = [];
  for (const command of allSettings(settings, `gtr.hook.${phase}`)) {
    const result = await run(["bash", "-c", command], {
      cwd: where.cwd,
      env: { ...env, REPO_ROOT: where.repoRoot, WORKTREE_PATH: where.worktreePath, BRANCH: where.branch },
      allowFailure: true,
    });
    const output = `${result.stdout}${result.stderr}`;
    if (output) process.stderr.write(output.endsWith("\n") ? output : `${output}\n`);
    if (result.code !== 0) failures.push({ command, code: result.code, output: output.trim() });
  }
  return failures;
}

export function describeHookFailures(phase: HookPhase, failures: HookFailure[]): string {
  return failures.map((f) => `${phase} hook ${JSON.stringify(f.command)} exited ${f.code}${f.output ? `: ${f.output.split("\n").pop()}` : ""}`).join("; ");
}

/** Whether `git gtr` is installed. */
export async function gtrAvailable(env: NodeJS.ProcessEnv): Promise<boolean> {
  try {
    const result = await run(["git", "gtr", "version"], { env, allowFailure: true });
    return result.code === 0;
  } catch {
    return false;
  }
}

function gtrEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return { ...env, NO_COLOR: "1", LC_ALL: "C" };
}

/** `git gtr new BRANCH --from REF --no-fetch --porcelain`: returns the worktree path gtr made. */
export async function gtrNew(mainRoot: string, branch: string, from: string, env: NodeJS.ProcessEnv): Promise<string> {
  const result = await run(["git", "gtr", "new", branch, "--from", from, "--no-fetch", "--porcelain"], { cwd: mainRoot, env: gtrEnv(env), allowFailure: true });
  if (result.stderr.trim()) process.stderr.write(result.stderr.endsWith("\n") ? result.stderr : `${result.stderr}\n`);
  const fields = new Map(result.stdout.split("\n").filter(Boolean).map((line) => {
    const tab = line.indexOf("\t");
    return [line.slice(0, tab), line.slice(tab + 1)] as const;
  }));
  const worktree = fields.get("path")?.replace(/\\t/g, "\t").replace(/\\n/g, "\n").replace(/\\\\/g, "\\");
  if (result.code !== 0 || !worktree) {
    const why = result.stderr.split("\n").filter((l) => l.includes("[x]")).pop() ?? result.stderr.trim().split("\n").pop() ?? "";
    throw new OrchError("failed", `git gtr new failed (exit ${result.code})${why ? `: ${why.trim()}` : ""}`);
  }
  return path.resolve(worktree);
}

/** `git gtr rm BRANCH --yes [--force] [--delete-branch]`: gtr runs its own hooks. */
export async function gtrRemove(mainRoot: string, branch: string, options: { force: boolean; deleteBranch: boolean }, env: NodeJS.ProcessEnv): Promise<void> {
  const args = ["git", "gtr", "rm", branch, "--yes", ...(options.force ? ["--force"] : []), ...(options.deleteBranch ? ["--delete-branch"] : [])];
  const result = await run(args, { cwd: mainRoot, env: gtrEnv(env), allowFailure: true });
  if (result.stderr.trim()) process.stderr.write(result.stderr.endsWith("\n") ? result.stderr : `${result.stderr}\n`);
  if (result.code !== 0) throw new OrchError("failed", `git gtr rm failed (exit ${result.code}): ${result.stderr.trim().split("\n").pop() ?? ""}`);
}
