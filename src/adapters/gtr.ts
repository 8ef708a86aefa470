// git-gtr compatibility: its worktree layout, its copy rules and hooks done natively, and its CLI
// (`git gtr new/rm --porcelain`) as a backend when it is installed and chosen.

import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { OrchError } from "../errors.ts";
import { gtrFolderName } from "../ids.ts";
import { run } from "./exec.ts";
import { allSettings, lastSetting, type GitSettings } from "./git.ts";

/**
 * <gtr.worktrees.dir or <parent>/<repo>-worktrees>/<gtr.worktrees.prefix><sanitized branch>, as git-gtr
 * computes it.
 */
export function worktreePathFor(
  mainRoot: string, branch: string, settings: GitSettings, env: NodeJS.ProcessEnv,
): string {
  let base = lastSetting(settings, "gtr.worktrees.dir") ?? env.GTR_WORKTREES_DIR ?? "";
  const home = env.HOME ?? os.homedir();
  if (base === "~") base = home;
  else if (base.startsWith("~/")) base = path.join(home, base.slice(2));
  if (base === "") base = path.join(path.dirname(mainRoot), `${path.basename(mainRoot)}-worktrees`);
  else if (!path.isAbsolute(base)) base = path.join(mainRoot, base);
  const prefix = lastSetting(settings, "gtr.worktrees.prefix") ?? env.GTR_WORKTREES_PREFIX ?? "";
  const folder = gtrFolderName(branch);
  if (folder === "" || folder === "." || folder === "..") {
    throw new OrchError("invalid", `branch ${JSON.stringify(branch)} gives no usable folder name`);
  }
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
  return path.isAbsolute(pattern) || pattern === ".." || pattern.startsWith("../") || pattern.includes("/../") ||
    pattern.endsWith("/..");
}

export function copyPatterns(mainRoot: string, settings: GitSettings): { include: string[]; exclude: string[] } {
  const include = allSettings(settings, "gtr.copy.include");
  const worktreeInclude = path.join(mainRoot, ".worktreeinclude");
  if (lstatOrUndefined(worktreeInclude)?.isFile()) {
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
export async function copyIncludedFiles(
  mainRoot: string, worktree: string, settings: GitSettings, warn: (line: string) => void,
): Promise<string[]> {
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
    const options = { cwd: mainRoot, dot: true, onlyFiles: true, followSymbolicLinks: false, ignore: [".git/**"] };
    const matches = await glob(pattern, options);
    for (const file of matches.sort()) {
      if (excludes.some((re) => re.test(file))) continue;
      const skipped = copyWithoutLinks(mainRoot, file, worktree);
      if (skipped) warn(`not copying ${file} into ${worktree}: ${skipped}`);
      else copied.push(file);
    }
  }
  return copied;
}

const { O_RDONLY, O_WRONLY, O_CREAT, O_TRUNC } = fs.constants;
const O_NOFOLLOW = fs.constants.O_NOFOLLOW ?? 0;
const O_NONBLOCK = fs.constants.O_NONBLOCK ?? 0;

function lstatOrUndefined(p: string): fs.Stats | undefined {
  try {
    return fs.lstatSync(p);
  } catch {
    return undefined;
  }
}

/**
 * Copies `relative` from `fromRoot` to the same place under `toRoot` without ever following a symbolic
 * link: not at the source or its folders (a committed link to ~/.ssh), not at the destination or any
 * folder above it (a branch that commits `config -> /elsewhere` must not get the main checkout's
 * secrets written there). Folders are created one by one, each checked; the file is opened with
 * O_NOFOLLOW. Returns why it was not copied, or undefined when it was.
 */
export function copyWithoutLinks(fromRoot: string, relative: string, toRoot: string): string | undefined {
  const parts = relative.split("/");
  if (parts.some((part) => part === "" || part === "." || part === "..")) return "not a plain relative path";
  let source = fromRoot;
  for (const part of parts.slice(0, -1)) {
    source = path.join(source, part);
    if (!lstatOrUndefined(source)?.isDirectory()) {
      return `${path.relative(fromRoot, source)} in the main checkout is not a folder (a symbolic link?)`;
    }
  }
  let target = fs.realpathSync(toRoot);
  for (const part of parts.slice(0, -1)) {
    target = path.join(target, part);
    const stat = lstatOrUndefined(target);
    if (stat === undefined) fs.mkdirSync(target);
    else if (stat.isSymbolicLink()) return `${path.relative(toRoot, target)} in the worktree is a symbolic link`;
    else if (!stat.isDirectory()) return `${path.relative(toRoot, target)} in the worktree is not a folder`;
  }
  target = path.join(target, parts[parts.length - 1]!);
  const existing = lstatOrUndefined(target);
  if (existing?.isSymbolicLink()) return `${relative} in the worktree is a symbolic link`;
  if (existing && !existing.isFile()) return `${relative} in the worktree is not a regular file`;
  let from: number;
  try {
    from = fs.openSync(path.join(fromRoot, relative), O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
  } catch (error) {
    return `cannot open it in the main checkout (${(error as NodeJS.ErrnoException).code ?? String(error)})`;
  }
  try {
    const stat = fs.fstatSync(from);
    if (!stat.isFile()) return "not a regular file in the main checkout";
    const to = fs.openSync(target, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW, stat.mode & 0o777);
    try {
      const buffer = Buffer.alloc(64 * 1024);
      for (let count = fs.readSync(from, buffer); count > 0; count = fs.readSync(from, buffer)) {
        fs.writeSync(to, buffer, 0, count);
      }
      fs.fchmodSync(to, stat.mode & 0o777);
    } finally {
      fs.closeSync(to);
    }
  } finally {
    fs.closeSync(from);
  }
  return undefined;
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
export async function runHooks(
  phase: HookPhase,
  settings: GitSettings,
  where: { cwd: string; repoRoot: string; worktreePath: string; branch: string },
  env: NodeJS.ProcessEnv,
): Promise<HookFailure[]> {
  const failures: HookFailure[] = [];
  for (const command of allSettings(settings, `gtr.hook.${phase}`)) {
    const result = await run(["bash", "-c", command], {
      cwd: where.cwd,
      env: { ...env, REPO_ROOT: where.repoRoot, WORKTREE_PATH: where.worktreePath, BRANCH: where.branch },
      allowFailure: true,
      ownProcessGroup: true,
    });
    const output = `${result.stdout}${result.stderr}`;
    if (output) process.stderr.write(output.endsWith("\n") ? output : `${output}\n`);
    if (result.code !== 0) failures.push({ command, code: result.code, output: output.trim() });
  }
  return failures;
}

export function describeHookFailures(phase: HookPhase, failures: HookFailure[]): string {
  return failures.map((f) => {
    const output = f.output ? `: ${f.output.split("\n").pop()}` : "";
    return `${phase} hook ${JSON.stringify(f.command)} exited ${f.code}${output}`;
  }).join("; ");
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
  const argv = ["git", "gtr", "new", branch, "--from", from, "--no-fetch", "--porcelain"];
  const result = await run(argv, { cwd: mainRoot, env: gtrEnv(env), allowFailure: true });
  if (result.stderr.trim()) process.stderr.write(result.stderr.endsWith("\n") ? result.stderr : `${result.stderr}\n`);
  const fields = new Map(result.stdout.split("\n").filter(Boolean).map((line) => {
    const tab = line.indexOf("\t");
    return [line.slice(0, tab), line.slice(tab + 1)] as const;
  }));
  const worktree = fields.get("path")?.replace(/\\t/g, "\t").replace(/\\n/g, "\n").replace(/\\\\/g, "\\");
  if (result.code !== 0 || !worktree) {
    const marked = result.stderr.split("\n").filter((l) => l.includes("[x]")).pop();
    const why = marked ?? result.stderr.trim().split("\n").pop() ?? "";
    throw new OrchError("failed", `git gtr new failed (exit ${result.code})${why ? `: ${why.trim()}` : ""}`);
  }
  return path.resolve(worktree);
}

/** `git gtr rm BRANCH --yes [--force] [--delete-branch]`: gtr runs its own hooks. */
export async function gtrRemove(
  mainRoot: string, branch: string, options: { force: boolean; deleteBranch: boolean }, env: NodeJS.ProcessEnv,
): Promise<void> {
  const args = [
    "git", "gtr", "rm", branch, "--yes",
    ...(options.force ? ["--force"] : []),
    ...(options.deleteBranch ? ["--delete-branch"] : []),
  ];
  const result = await run(args, { cwd: mainRoot, env: gtrEnv(env), allowFailure: true });
  if (result.stderr.trim()) process.stderr.write(result.stderr.endsWith("\n") ? result.stderr : `${result.stderr}\n`);
  if (result.code !== 0) {
    const why = result.stderr.trim().split("\n").pop() ?? "";
    throw new OrchError("failed", `git gtr rm failed (exit ${result.code}): ${why}`);
  }
}
