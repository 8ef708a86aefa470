// git through argument arrays: config, refs, worktrees, merges. The only module that runs git
// (besides repo.ts's fallback), always with LC_ALL=C so messages can be recognised.

import fs from "node:fs";
import path from "node:path";
import { OrchError } from "../errors.ts";
import { checkResult, run, runSync, type RunOptions, type RunResult } from "./exec.ts";
import { pullRequestRepository } from "./gh.ts";
import { brokenWorktreeLink, readRefFromFiles, type Repo } from "./repo.ts";

/**
 * GIT_OPTIONAL_LOCKS=0: orch's reading commands (git status in a worker's worktree, in the base's checkout)
 * never take index.lock to write back a refreshed index; with it, an agent's own `git add` or `git commit`
 * at that moment failed ("Unable to create '…/index.lock': File exists"). Writes take their locks as ever.
 */
function gitEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return { ...env, LC_ALL: "C", LANG: "C", GIT_TERMINAL_PROMPT: "0", GIT_OPTIONAL_LOCKS: "0" };
}

export interface GitOptions
  extends Pick<RunOptions, "readyLine" | "ownProcessGroup" | "finishOnInterrupt" | "onStart" | "keepStdoutBytes"> {
  allowFailure?: boolean;
  input?: string;
  env?: NodeJS.ProcessEnv;
}

/**
 * git dies with "failed to read .git/worktrees/X/commondir" when it lists the worktrees (worktree add,
 * list and remove, branch -D, checkout) while another process is making one: the folder is there before
 * the file. Parallel spawns meet it. It dies before it changes anything (but for worktree add -b, see
 * worktreeAdd), so the command is run again.
 */
const WORKTREE_BEING_MADE = /failed to read .*worktrees\/[^\n]*\/(commondir|gitdir)\b/;

const RACE_TRIES = 10;

function gitOnce(args: string[], cwd: string, options: GitOptions): Promise<RunResult> {
  return run(["git", ...args], { ...options, allowFailure: true, cwd, env: gitEnv(options.env) });
}

/** Runs `tryOnce` (attempt 0, 1, …) again while it died on a worktree being made, up to RACE_TRIES times. */
async function whileWorktreeMade(tryOnce: (attempt: number) => Promise<RunResult>): Promise<RunResult> {
  let result = await tryOnce(0);
  const diedOnWorktreeBeingMade = () => result.code !== 0 && WORKTREE_BEING_MADE.test(result.stderr);
  for (let attempt = 1; attempt <= RACE_TRIES && diedOnWorktreeBeingMade(); attempt++) {
    await new Promise((resolve) => setTimeout(resolve, attempt * (5 + Math.random() * 10)));
    result = await tryOnce(attempt);
  }
  return result;
}

export async function git(args: string[], cwd: string, options: GitOptions = {}): Promise<RunResult> {
  const result = await whileWorktreeMade(() => gitOnce(args, cwd, options));
  const broken = result.code !== 0 && !options.allowFailure ? brokenWorktreeLink(cwd, result.stderr) : undefined;
  if (broken) throw broken;
  return checkResult(["git", ...args], result, options);
}

/** Whether git tracks `file` (relative to `worktree`), asked synchronously (for an agent profile's start). */
export function tracksSync(worktree: string, file: string): boolean {
  const listed = runSync(["git", "ls-files", "-z", "--", file], { cwd: worktree, env: gitEnv() });
  return listed.code === 0 && listed.stdout !== "";
}

export async function gitOut(args: string[], cwd: string): Promise<string> {
  return (await git(args, cwd)).stdout.trim();
}

/**
 * gtr.* and orch.* settings: each key (lower-cased, as git reports it) with all its values, lowest
 * precedence first.
 */
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
  if (result.code !== 0 && result.code !== 1) {
    throw new OrchError("failed", `git config failed: ${result.stderr.trim()}`);
  }
  parseConfigZ(result.stdout, settings);
  const gtrconfig = path.join(mainRoot, ".gtrconfig");
  if (fs.existsSync(gtrconfig)) {
    const keys = "^(worktrees|copy|defaults)\\.";
    const file = await git(["config", "-z", "-f", gtrconfig, "--get-regexp", keys], mainRoot, { allowFailure: true });
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

/** The commit a ref names, from git's files when they can tell (no process), else from git. */
export async function refCommit(repo: Repo, ref: string): Promise<string | undefined> {
  const fromFiles = readRefFromFiles(repo, ref);
  if (fromFiles) return "sha" in fromFiles ? fromFiles.sha : undefined;
  return resolveCommit(repo.root, ref);
}

/** The commit `ref` names, or undefined. */
export async function resolveCommit(cwd: string, ref: string): Promise<string | undefined> {
  const args = ["rev-parse", "--verify", "--quiet", "--end-of-options", `${ref}^{commit}`];
  const result = await git(args, cwd, { allowFailure: true });
  return result.code === 0 ? result.stdout.trim() : undefined;
}

export async function branchExists(cwd: string, branch: string): Promise<boolean> {
  const result = await git(["show-ref", "--verify", "--quiet", `refs/heads/${branch}`], cwd, { allowFailure: true });
  return result.code === 0;
}

/** The worktree of this repository that has `branch` checked out, if any. */
export async function worktreeOfBranch(cwd: string, branch: string): Promise<string | undefined> {
  return (await worktreesOfBranch(cwd, branch))[0];
}

/** Every worktree of this repository that has `branch` checked out (git allows more than one when forced). */
export async function worktreesOfBranch(cwd: string, branch: string): Promise<string[]> {
  const list = await git(["worktree", "list", "--porcelain", "-z"], cwd, { allowFailure: true });
  return worktreesWithBranch(list.stdout, branch);
}

/**
 * The worktree that has `branch` checked out, if any, and whether the repository is bare (git lists it first
 * as "bare"): there land brings work into the worktree it runs in, elsewhere into the main worktree.
 */
export async function checkoutOfBranch(cwd: string, branch: string): Promise<{ at?: string; bare: boolean }> {
  const list = await git(["worktree", "list", "--porcelain", "-z"], cwd, { allowFailure: true });
  const bare = (list.stdout.split("\0\0")[0] ?? "").split("\0").includes("bare");
  return { at: worktreesWithBranch(list.stdout, branch)[0], bare };
}

/** The linked worktrees of this repository (the main worktree, listed first by git, left out). */
export async function linkedWorktrees(cwd: string): Promise<string[]> {
  const list = await git(["worktree", "list", "--porcelain", "-z"], cwd);
  return list.stdout.split("\0\0")
    .map((entry) => entry.split("\0").find((field) => field.startsWith("worktree "))?.slice("worktree ".length))
    .filter((dir): dir is string => dir !== undefined)
    .slice(1);
}

/** git deletes no branch checked out in a worktree: refused before anything else is removed (rm, clean). */
export function branchInUse(branch: string, where: string): OrchError {
  return new OrchError("refused", `branch ${branch} is checked out at ${where}, so it cannot be deleted: ` +
    "nothing was removed (switch that worktree to another branch first)");
}

/**
 * The worktrees in a `git worktree list --porcelain -z` listing (here or a host's) that have `branch` checked
 * out. NUL-separated, so a worktree path with a newline in it is read whole.
 */
export function worktreesWithBranch(porcelain: string, branch: string): string[] {
  return porcelain.split("\0\0")
    .map((entry) => entry.split("\0"))
    .filter((fields) => fields.includes(`branch refs/heads/${branch}`))
    .map((fields) => fields.find((field) => field.startsWith("worktree "))?.slice("worktree ".length))
    .filter((dir): dir is string => dir !== undefined);
}

/** The branch checked out in a worktree, or null when its HEAD is detached. */
export async function currentBranch(cwd: string): Promise<string | null> {
  const result = await git(["symbolic-ref", "--quiet", "--short", "HEAD"], cwd, { allowFailure: true });
  return result.code === 0 ? result.stdout.trim() : null;
}

/**
 * git worktree add of `branch` (made at `createFrom` when given). Returns what the post-checkout hook said
 * when git made the worktree whole and only that hook then failed, which is no failure (see
 * postCheckoutHookFailure).
 */
export async function worktreeAdd(
  mainRoot: string, worktreePath: string, branch: string, createFrom: string | undefined,
): Promise<string | undefined> {
  const plain = ["worktree", "add", "--quiet", worktreePath, branch];
  const withBranch = ["worktree", "add", "--quiet", "-b", branch, worktreePath, createFrom ?? ""];
  const result = await whileWorktreeMade(async (attempt) => {
    // With -b git makes the branch before it lists the worktrees: a try that died there left it, to check out now.
    const left = attempt > 0 && createFrom !== undefined &&
      (await resolveCommit(mainRoot, `refs/heads/${branch}`)) === (await resolveCommit(mainRoot, createFrom));
    return gitOnce(createFrom === undefined || left ? plain : withBranch, mainRoot, {});
  });
  if (result.code === 0) return undefined;
  const hookSaid = postCheckoutHookFailure(worktreePath, result.stderr);
  if (hookSaid === undefined) throw new OrchError("failed", worktreeAddFailure(result.stderr));
  return hookSaid;
}

/** What git printed, line by line, without blank lines and its hints. */
function gitLines(output: string): string[] {
  return output.trim().split("\n").filter((line) => line.trim() !== "" && !line.startsWith("hint:"));
}

/** git's last lines, joined: the one before git's generic last words often says what (see worktreeAddFailure). */
function lastLinesOf(stderr: string): string {
  return gitLines(stderr).slice(-3).join("; ");
}

/**
 * What the post-checkout hook said when a `git worktree add` failed only in it: git made the worktree whole,
 * then the hook's exit status became git's ("This hook cannot affect the outcome of git switch or git
 * checkout, other than that the hook's exit status becomes the exit status", githooks(5)). Undefined when
 * git itself failed.
 */
export function postCheckoutHookFailure(worktreePath: string, stderr: string): string | undefined {
  if (!fs.existsSync(path.join(worktreePath, ".git")) || /^(error|fatal): /m.test(stderr)) return undefined;
  return lastLinesOf(stderr) || "it said nothing";
}

/**
 * Why `git worktree add` failed, in one line. A checkout that ran a filter ends in git's generic "the
 * remote end hung up unexpectedly": the lines before it say what (git-lfs not found for filter.lfs.required).
 */
export function worktreeAddFailure(stderr: string): string {
  return `git worktree add failed: ${lastLinesOf(stderr) || "git said nothing"}`;
}

/**
 * The submodules checked out in the main worktree that `worktree` has not checked out (git worktree add
 * leaves them empty). Asks git only when the worktree has a .gitmodules.
 */
export async function submodulesNotCheckedOut(mainRoot: string, worktree: string): Promise<string[]> {
  if (!fs.existsSync(path.join(worktree, ".gitmodules"))) return [];
  const statusOf = async (cwd: string) => {
    const result = await git(["submodule", "status"], cwd, { allowFailure: true });
    // "-<sha> <path>" is a submodule not checked out; " ", "+" and "U" one that is.
    return result.stdout.split("\n").filter(Boolean).map((line) => ({ empty: line.startsWith("-"), at: line.slice(1) }))
      .map(({ empty, at }) => ({ empty, path: at.replace(/^[0-9a-f]+ /, "").replace(/ \([^)]*\)$/, "") }));
  };
  const inMain = new Set((await statusOf(mainRoot)).filter((s) => !s.empty).map((s) => s.path));
  return (await statusOf(worktree)).filter((s) => s.empty && inMain.has(s.path)).map((s) => s.path);
}

export async function worktreeRemove(
  mainRoot: string, worktreePath: string, force: boolean, workerId?: string,
): Promise<void> {
  const args = ["worktree", "remove", ...(force ? ["--force", "--force"] : []), worktreePath];
  const result = await git(args, mainRoot, { allowFailure: true });
  if (result.code !== 0) {
    // Gone, or half-removed by a git killed while it deleted the worktree's files (its .git among them): git
    // knows it no more as a worktree, and the caller has checked that the folder is the worker's.
    const halfRemoved = fs.existsSync(worktreePath) && !fs.existsSync(path.join(worktreePath, ".git"));
    if (halfRemoved && force) fs.rmSync(worktreePath, { recursive: true, force: true });
    if (!fs.existsSync(worktreePath)) {
      await git(["worktree", "prune"], mainRoot, { allowFailure: true });
      return;
    }
    const forced = workerId ? `orch rm ${workerId} --force` : "--force";
    if (/working trees containing submodules/.test(result.stderr)) {
      // git's own refusal names no way out: --force is it, and what it throws away is the user's to weigh.
      throw new OrchError("failed", `git worktree remove refuses ${worktreePath}: it has submodules checked ` +
        `out (${forced} removes it, with any commit or change made only in those submodules)`);
    }
    const locked = /cannot remove a locked working tree(?:, lock reason: (.*))?/.exec(result.stderr);
    if (locked) {
      // git's way out ("remove -f -f") is git's flag, not orch's.
      const why = locked[1] ? ` (${locked[1].trim()})` : "";
      throw new OrchError("failed", `git worktree remove refuses ${worktreePath}: it is locked${why}; ` +
        `git worktree unlock ${worktreePath} first, or ${forced} removes it anyway`);
    }
    throw new OrchError("failed", `git worktree remove failed: ${gitSaid(result.stderr)}`);
  }
}

/**
 * What git names when a file of a ref update is already there: packed-refs.lock, packed-refs.new or a
 * refs/….lock. A git killed in its ref update leaves them (kill -9, and SIGTERM or SIGHUP now and then too: a
 * Ctrl-C of a terminal reaches the git that orch runs), and every later ref update refuses on them.
 */
const LEFT_BY_A_REF_UPDATE = /(?:Unable to create '([^']+)': File exists|unable to create file (\S+): File exists)/;

/** The file of a ref update that git's `stderr` says is already there (see LEFT_BY_A_REF_UPDATE), if it says so. */
function refUpdateFile(stderr: string): string | undefined {
  const found = LEFT_BY_A_REF_UPDATE.exec(stderr);
  return found?.[1] ?? found?.[2];
}

/** The git dir shared by all worktrees of the repository at `cwd` (git rev-parse --git-common-dir), absolute. */
export async function commonGitDir(cwd: string): Promise<string> {
  return path.resolve(cwd, await gitOut(["rev-parse", "--git-common-dir"], cwd));
}
/** A live git holds those files for milliseconds: one older than this, with no git at work, is a killed git's. */
const REF_LOCK_STALE_MS = 2000;

/**
 * Removes the file a killed git left in a ref update that `stderr` names, when it is one (see
 * LEFT_BY_A_REF_UPDATE), older than REF_LOCK_STALE_MS (waited for), and no git works in this repository's
 * worktrees. Its path when removed.
 */
async function removeLeftRefLock(cwd: string, stderr: string): Promise<string | undefined> {
  const file = refUpdateFile(stderr);
  if (file === undefined) return undefined;
  const common = await commonGitDir(cwd);
  const inCommon = path.relative(common, file);
  const refFile = inCommon === "packed-refs.lock" || inCommon === "packed-refs.new" ||
    (inCommon.startsWith(`refs${path.sep}`) && inCommon.endsWith(".lock"));
  if (!refFile) return undefined;
  for (;;) {
    const stat = fs.statSync(file, { throwIfNoEntry: false });
    if (stat === undefined) return file; // its git has ended meanwhile: tried again, it goes through
    const age = Date.now() - stat.mtimeMs;
    if (age >= REF_LOCK_STALE_MS) break;
    await new Promise((resolve) => setTimeout(resolve, REF_LOCK_STALE_MS - age));
  }
  const { gitWorksIn } = await import("../proc.ts");
  if (gitWorksIn([path.dirname(common), ...(await linkedWorktrees(cwd))])) return undefined;
  fs.rmSync(file, { force: true });
  return file;
}

export async function deleteBranch(
  cwd: string, branch: string, force: boolean, warn?: (line: string) => void,
): Promise<void> {
  const args = ["branch", force ? "-D" : "-d", "--", branch];
  let result = await git(args, cwd, { allowFailure: true });
  const left = result.code === 0 ? undefined : await removeLeftRefLock(cwd, result.stderr);
  if (left !== undefined) {
    warn?.(`removed ${left}, left by a git that was killed in a ref update (no git works in this repository now)`);
    result = await git(args, cwd, { allowFailure: true });
  }
  if (result.code !== 0) {
    const why = result.stderr.trim().split("\n").pop();
    // Only -d refuses a branch that --force would delete; -D failed for another reason: a ref lock that a git at
    // work holds (git's last line, "remove the file manually", names no file and is wrong while that git runs).
    const heldFile = refUpdateFile(result.stderr);
    if (force && heldFile !== undefined) {
      throw new OrchError("failed", `git branch -D ${branch} failed: ${heldFile} is held by a git at work in this ` +
        "repository; run this again once it has ended");
    }
    if (force) throw new OrchError("failed", `git branch -D ${branch} failed: ${why}`);
    throw new OrchError("refused", `git branch -d ${branch} refused: ${why} (use --force to delete it anyway)`);
  }
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

/**
 * The private git dir of a linked worktree whose .git file is gone (a `git worktree remove` killed half-way
 * deletes it among the worktree's files): the one under `commonDir`/worktrees whose gitdir file names it.
 */
export function orphanedWorktreeGitDir(commonDir: string, worktree: string): string | undefined {
  const admin = path.join(commonDir, "worktrees");
  const wanted = path.join(worktree, ".git");
  let names: string[];
  try {
    names = fs.readdirSync(admin);
  } catch {
    return undefined;
  }
  return names.map((name) => path.join(admin, name)).find((dir) => {
    try {
      return path.resolve(dir, fs.readFileSync(path.join(dir, "gitdir"), "utf8").trim()) === wanted;
    } catch {
      return false;
    }
  });
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

/** Whether two commits share any history here (git merge-base finds one). */
export async function haveMergeBase(cwd: string, one: string, other: string): Promise<boolean> {
  return (await git(["merge-base", one, other], cwd, { allowFailure: true })).code === 0;
}

/**
 * Why two commits that git merge-base finds nothing for share no history: in a shallow clone its history
 * is cut off before their merge base (what a deeper fetch mends); else they are unrelated histories.
 */
export async function noMergeBaseWhy(cwd: string): Promise<string> {
  const shallow = (await gitOut(["rev-parse", "--is-shallow-repository"], cwd)) === "true";
  return shallow
    ? "this shallow clone's history stops before their merge base (git fetch --deepen=N or --unshallow mends that)"
    : "their histories are unrelated";
}

/** Whether `commit` is in the history of `ref`. */
export async function isAncestor(cwd: string, commit: string, ref: string): Promise<boolean> {
  return (await git(["merge-base", "--is-ancestor", commit, ref], cwd, { allowFailure: true })).code === 0;
}

/** The git operations a checkout can be in the middle of, by the file git keeps for each in its git dir. */
const OPERATION_FILES: [string, string][] = [
  ["MERGE_HEAD", "a merge"], ["CHERRY_PICK_HEAD", "a cherry-pick"], ["REVERT_HEAD", "a revert"],
  ["rebase-merge", "a rebase"], ["rebase-apply", "a rebase or git am"], ["BISECT_LOG", "a bisect"],
];

/**
 * The git operation the checkout whose top is `checkout` is in the middle of ("a merge", …), or null. Its own
 * git dir is read without a git process (apply and land ask on every run); git is asked where it is odd.
 */
export async function operationInProgress(checkout: string): Promise<string | null> {
  const dotGit = path.join(checkout, ".git");
  const stat = fs.statSync(dotGit, { throwIfNoEntry: false });
  let paths: string[];
  if (stat?.isDirectory()) {
    paths = OPERATION_FILES.map(([file]) => path.join(dotGit, file));
  } else if (stat?.isFile() && fs.readFileSync(dotGit, "utf8").startsWith("gitdir: ")) {
    paths = OPERATION_FILES.map(([file]) => path.join(worktreeGitDir(checkout), file));
  } else {
    const args = ["rev-parse", ...OPERATION_FILES.flatMap(([file]) => ["--git-path", file])];
    paths = (await gitOut(args, checkout)).split("\n").map((file) => path.resolve(checkout, file));
  }
  const index = paths.findIndex((file) => fs.existsSync(file));
  return index < 0 ? null : OPERATION_FILES[index]![1];
}

/** Paths in the index that differ from HEAD (staged changes). */
export async function stagedPaths(cwd: string): Promise<string[]> {
  const result = await git(["diff", "--cached", "--name-only", "-z"], cwd);
  return result.stdout.split("\0").filter(Boolean);
}

/** Paths changed between two commits, both sides of renames included. */
export async function changedPaths(cwd: string, from: string, to: string): Promise<string[]> {
  const result = await git(["diff", "--name-status", "-z", "-M", from, to], cwd);
  const fields = result.stdout.split("\0").filter(Boolean);
  const paths: string[] = [];
  for (let i = 0; i < fields.length; i++) {
    const status = fields[i]!;
    const count = status.startsWith("R") || status.startsWith("C") ? 2 : 1;
    for (let k = 0; k < count; k++) paths.push(fields[++i]!);
  }
  return [...new Set(paths)];
}

/**
 * Uncommitted changes in `checkout` (untracked and ignored files included) to files that change between
 * `from` and `to`: a merge there would meet them.
 */
export async function dirtyPathsTouched(
  checkout: string, repoRoot: string, from: string, to: string,
): Promise<string[]> {
  const [touched, dirty, tracked] = await Promise.all([
    changedPaths(repoRoot, from, to), dirtyPaths(checkout), git(["ls-files", "-z"], checkout),
  ]);
  const set = new Set(touched);
  const found = dirty.filter((p) => set.has(p));
  // An ignored file is in no git status, and a merge or fast-forward that brings a tracked file to its
  // path overwrites it without a word (a user's .env, say): it counts as a local change in the way.
  const trackedSet = new Set(tracked.stdout.split("\0"));
  const listed = new Set(found);
  for (const p of touched) {
    const inTheWay = untrackedInTheWay(checkout, p, trackedSet);
    if (inTheWay === undefined || listed.has(inTheWay)) continue;
    listed.add(inTheWay);
    found.push(inTheWay);
  }
  return found;
}

/**
 * The untracked (or ignored) file a tracked file arriving at `file` would overwrite: the file itself, a
 * folder there holding such files, or a file or symlink where one of its parent folders must go.
 */
function untrackedInTheWay(checkout: string, file: string, tracked: Set<string>): string | undefined {
  const parts = file.split("/");
  for (let depth = 1; depth <= parts.length; depth++) {
    const sub = parts.slice(0, depth).join("/");
    if (tracked.has(sub)) return undefined;
    const stat = fs.lstatSync(path.join(checkout, sub), { throwIfNoEntry: false });
    if (!stat) return undefined;
    if (!stat.isDirectory()) return sub;
    if (depth === parts.length) return holdsUntracked(checkout, sub, tracked) ? sub : undefined;
  }
  return undefined;
}

/** Whether the folder `dir` (a tracked folder a merge replaces by a file, say) holds any file git does not track. */
function holdsUntracked(checkout: string, dir: string, tracked: Set<string>): boolean {
  return fs.readdirSync(path.join(checkout, dir), { withFileTypes: true }).some((entry) => {
    const inside = `${dir}/${entry.name}`;
    return entry.isDirectory() ? holdsUntracked(checkout, inside, tracked) : !tracked.has(inside);
  });
}

export interface CommitInfo {
  sha: string;
  subject: string;
  /** Set on a merge commit only. */
  merge?: true;
}

export async function commitsBetween(cwd: string, from: string, to: string): Promise<CommitInfo[]> {
  const result = await git(["log", "--reverse", "--format=%H%x00%P%x00%s", `${from}..${to}`], cwd);
  return result.stdout.split("\n").filter(Boolean).map((line) => {
    const [sha = "", parents = "", subject = ""] = line.split("\0");
    return parents.includes(" ") ? { sha, subject, merge: true } : { sha, subject };
  });
}

/**
 * The paths that conflict, as the user knows them. In a file/directory (or file/symlink) conflict git moves a
 * file aside to `path~<side>`, a side named by what the merge was given (HEAD, a commit id, a cherry-pick's
 * `<id> (<subject>)`): a name in neither branch, which another merge of the same branches names otherwise;
 * `path` is what conflicts. A path in either of `commits` (the merge's sides) is the user's own, even when
 * named `x~HEAD`; git is asked only when a path holds a "~".
 */
export async function conflictingPaths(cwd: string, paths: string[], commits: string[]): Promise<string[]> {
  const unique = [...new Set(paths)];
  const prefixesOf = (entry: string) => [...entry.matchAll(/~/g)].map((m) => entry.slice(0, m.index)).filter(Boolean);
  const tilded = unique.filter((entry) => prefixesOf(entry).length > 0);
  if (tilded.length === 0) return unique;
  const asked = [...new Set([...tilded, ...tilded.flatMap(prefixesOf)])];
  const listed = await Promise.all([...new Set(commits)].map((commit) => git(
    ["--literal-pathspecs", "ls-tree", "-r", "-z", "--full-tree", "--name-only", commit, "--", ...asked], cwd,
    { allowFailure: true })));
  const names = listed.flatMap((result) => (result.code === 0 ? result.stdout.split("\0").filter(Boolean) : []));
  const inSides = (entry: string) => names.some((name) => name === entry || name.startsWith(`${entry}/`));
  const named = (entry: string) => {
    if (!tilded.includes(entry) || inSides(entry)) return entry;
    return prefixesOf(entry).reverse().find(inSides) ?? entry;
  };
  return [...new Set(unique.map(named))];
}

/**
 * Paths left with conflicts (unmerged entries) in a checkout, named as conflictingPaths says: `commits` are the
 * merge's sides (by default HEAD and what a merge, cherry-pick or rebase under way is picking).
 */
export async function unmergedPaths(
  cwd: string, commits = ["HEAD", "MERGE_HEAD", "CHERRY_PICK_HEAD", "REBASE_HEAD"],
): Promise<string[]> {
  const result = await git(["diff", "--name-only", "--diff-filter=U", "-z"], cwd, { allowFailure: true });
  return conflictingPaths(cwd, result.stdout.split("\0").filter(Boolean), commits);
}

/**
 * The environment for the commits orch makes (land's merge, sync's rebase, a dry run's git am): the user's own
 * identity wherever git finds one (GIT_* variables, user.*, author.*, committer.*), as a git commit of theirs
 * would have; orch's only where git would refuse to commit for want of one. Before, orch's replaced the
 * user's configured one in every commit land put on the base.
 */
export async function commitIdentity(cwd: string, env: NodeJS.ProcessEnv): Promise<NodeJS.ProcessEnv> {
  const known = (variable: string) =>
    git(["var", variable], cwd, { env, allowFailure: true }).then((result) => result.code === 0);
  const [author, committer] = await Promise.all([known("GIT_AUTHOR_IDENT"), known("GIT_COMMITTER_IDENT")]);
  const identity: NodeJS.ProcessEnv = { ...env };
  if (!author) {
    identity.GIT_AUTHOR_NAME = env.GIT_AUTHOR_NAME ?? "orch";
    identity.GIT_AUTHOR_EMAIL = env.GIT_AUTHOR_EMAIL ?? "orch@localhost";
  }
  if (!committer) {
    identity.GIT_COMMITTER_NAME = env.GIT_COMMITTER_NAME ?? "orch";
    identity.GIT_COMMITTER_EMAIL = env.GIT_COMMITTER_EMAIL ?? "orch@localhost";
  }
  return identity;
}

export interface AmOutcome {
  ok: boolean;
  /**
   * Failed because a patch did not apply. False when git am stopped for another reason: a refusing
   * applypatch-msg or pre-applypatch hook, a commit it could not write (commit.gpgsign without a key).
   */
  conflict: boolean;
  conflictPaths: string[];
  failedCommit: string | null;
  message: string;
}

/** The subject of the patch `git am` stopped at. */
async function currentPatchSubject(cwd: string): Promise<string | null> {
  const raw = await git(["am", "--show-current-patch=raw"], cwd, { allowFailure: true });
  const subject = /^Subject: (?:\[PATCH[^\]]*\] )?(.*(?:\n[ \t].*)*)/m.exec(raw.stdout);
  return subject ? subject[1]!.replace(/\n[ \t]+/g, " ").trim() : null;
}

/**
 * A path as git writes it in a patch's header lines: in double quotes with C escapes (octal bytes for
 * non-ASCII under the default core.quotePath) when it has such characters, else as it is.
 */
export function unquoteGitPath(written: string): string {
  if (!written.startsWith('"') || !written.endsWith('"') || written.length < 2) return written;
  const escapes: Record<string, number> = { a: 7, b: 8, t: 9, n: 10, v: 11, f: 12, r: 13, '"': 34, "\\": 92 };
  const bytes: number[] = [];
  const inner = written.slice(1, -1);
  for (let i = 0; i < inner.length; i++) {
    const char = inner[i]!;
    if (char !== "\\") {
      bytes.push(...Buffer.from(char, "utf8"));
      continue;
    }
    const next = inner[i + 1] ?? "";
    const octal = /^[0-3][0-7]{2}/.exec(inner.slice(i + 1, i + 4));
    if (octal) {
      bytes.push(parseInt(octal[0], 8));
      i += 3;
    } else {
      bytes.push(escapes[next] ?? next.charCodeAt(0));
      i += 1;
    }
  }
  return Buffer.from(bytes).toString("utf8");
}

/**
 * Paths the stopped patch touches (when a non-3-way apply fails there are no unmerged entries). git apply
 * --numstat -z names each file of the patch once, unquoted (a non-ASCII name is quoted in the patch, and a
 * pattern on its "diff --git" line missed it: a conflict with no paths); a rename's source is added.
 */
async function currentPatchPaths(cwd: string): Promise<string[]> {
  const diff = await git(["am", "--show-current-patch=diff"], cwd, { allowFailure: true });
  const listed = await git(["apply", "--numstat", "-z"], cwd, { input: diff.stdout, allowFailure: true });
  const paths = new Set<string>();
  for (const match of diff.stdout.matchAll(/^(?:rename|copy) from (.+)$/gm)) paths.add(unquoteGitPath(match[1]!));
  for (const entry of listed.stdout.split("\0")) {
    const name = entry.split("\t").slice(2).join("\t");
    if (name) paths.add(name);
  }
  return [...paths];
}

/**
 * `git format-patch` of a worker's series to be read back by applyMailbox, the same whatever the user's
 * settings: diff.noprefix (no a/ b/: am strips the first folder), diff.context=0 (am cannot place the
 * hunks), format.coverLetter (a patch of its own, with no change), format.useAutoBase (fails without an
 * upstream). mboxrd quotes a "From " line in a message, which would otherwise start a new mail there; -k keeps
 * a subject's own "[WIP]" or "Re:"; --always keeps empty commits.
 */
export const FORMAT_PATCH = [
  "format-patch", "--stdout", "--binary", "--no-signature", "--pretty=mboxrd", "-k", "--always", "--no-cover-letter",
  "--no-base", "--unified=3", "--src-prefix=a/", "--dst-prefix=b/", "--no-color", "--no-ext-diff", "--no-textconv",
];

/**
 * `git am [--3way]` of a FORMAT_PATCH series; on failure reports the conflicting paths and the failed commit's
 * subject. Whatever the user's settings: the bytes as committed (apply.whitespace=fix would strip trailing
 * blanks, =error refuse them), the whole message (mailinfo.scissors would cut it at a "-- >8 --" line), and
 * --no-3way meaning no 3-way (am.threeWay).
 */
export async function applyMailbox(
  cwd: string, mbox: string, threeWay: boolean, env?: NodeJS.ProcessEnv,
): Promise<AmOutcome> {
  const args = [
    "am", "--keep-cr", "--patch-format=mboxrd", "-k", "--no-scissors", "--whitespace=nowarn", "--empty=keep",
    threeWay ? "--3way" : "--no-3way", mbox,
  ];
  const result = await git(args, cwd, { allowFailure: true, env });
  if (result.code === 0) return { ok: true, conflict: false, conflictPaths: [], failedCommit: null, message: "" };
  const [unmerged, failedCommit] = await Promise.all([unmergedPaths(cwd), currentPatchSubject(cwd)]);
  const message = (result.stderr || result.stdout).trim();
  // git am says this (on stdout, whatever --quiet) only when a patch does not apply; a hook says nothing of it.
  const conflict = unmerged.length > 0 || /^Patch failed at /m.test(result.stdout);
  if (!conflict) return { ok: false, conflict, conflictPaths: [], failedCommit, message };
  const conflictPaths = unmerged.length ? unmerged : await currentPatchPaths(cwd);
  return { ok: false, conflict, conflictPaths, failedCommit, message };
}

/**
 * Ends a git am session; undefined once none is left (or there was none: an am that could not start),
 * else what git said (a full disk can keep it from ending its own session).
 */
export async function abortAm(cwd: string): Promise<string | undefined> {
  const aborted = await git(["am", "--abort"], cwd, { allowFailure: true });
  if (aborted.code === 0 || (await operationInProgress(cwd)) === null) return undefined;
  return gitSaid(aborted.stderr) || `git am --abort exited ${aborted.code}`;
}

/**
 * What git says when it refuses to check out over changes it did not make (C locale): it has written
 * nothing then, and those changes are someone's work, made after the caller looked (an agent at work in
 * its worktree, the user saving a file).
 */
const REFUSED_OVER_LOCAL_CHANGES = new RegExp([
  "would be (overwritten|removed) by", "would lose untracked files", "not uptodate", "You have unstaged changes",
  "Your index contains uncommitted changes",
].join("|"));

/**
 * Puts the paths that differ between `from` and `to` back as HEAD has them, in the index and the checkout
 * at `cwd`: what a checkout that failed part-way (a full disk) wrote of them. Paths HEAD lacks are removed,
 * those first (room for the rest). Only for paths no local change touched: callers check that before, and
 * when git's `output` says a change made since stopped it, nothing is put back (git wrote nothing).
 * Returns the paths it could not put back (all of them when git could not say which), else none.
 */
export async function putBackPaths(
  cwd: string, from: string, to: string, output: string, only?: readonly string[],
): Promise<string[]> {
  if (REFUSED_OVER_LOCAL_CHANGES.test(output)) return [];
  const changed = only
    ? { code: 0, stdout: only.join("\0") }
    : await git(["diff", "--name-only", "-z", "--no-renames", from, to], cwd, { allowFailure: true });
  const listed = await git(["ls-tree", "-r", "-z", "--name-only", "--full-tree", "HEAD"], cwd, { allowFailure: true });
  const paths = changed.stdout.split("\0").filter(Boolean);
  if (changed.code !== 0 || listed.code !== 0) return paths.length ? paths : ["(the paths could not be listed)"];
  const inHead = new Set(listed.stdout.split("\0"));
  const absent = paths.filter((file) => !inHead.has(file));
  const present = paths.filter((file) => inHead.has(file));
  for (const file of absent) fs.rmSync(path.join(cwd, file), { force: true });
  const literal = ["--literal-pathspecs"];
  const fromStdin = ["--pathspec-from-file=-", "--pathspec-file-nul"];
  const unstaged = absent.length === 0 || (await git(
    [...literal, "rm", "--cached", "--quiet", "--ignore-unmatch", ...fromStdin], cwd,
    { input: absent.join("\0"), allowFailure: true })).code === 0;
  const restored = present.length === 0 || (await git(
    [...literal, "checkout", "HEAD", ...fromStdin], cwd, { input: present.join("\0"), allowFailure: true })).code === 0;
  return [...(unstaged ? [] : absent), ...(restored ? [] : present)];
}

/** The paths `putBackPaths` could not put back, said for the end of a failure's line ("" when none). */
export function notPutBack(paths: string[]): string {
  if (paths.length === 0) return "";
  const named = paths.length > 5 ? `${paths.slice(0, 5).join(", ")} and ${paths.length - 5} more` : paths.join(", ");
  return `; orch could not put back what it wrote of ${named} (git checkout HEAD -- each that HEAD has, rm the others)`;
}

export type MergeMethod = "squash" | "rebase" | "merge";

export interface MergeOutcome {
  ok: boolean;
  conflictPaths: string[];
  message: string;
}

/**
 * Merges `branch` into the branch checked out at `cwd`: squash (one commit with `message`), merge
 * (a merge commit) or rebase (the branch's commits since `base` replayed on top, as GitHub's
 * rebase-merge does; the branch itself is untouched). A conflict, or a commit git refuses (a hook), is
 * undone before returning.
 */
export async function mergeInto(
  cwd: string, tip: string, base: string, method: MergeMethod, message: string, env?: NodeJS.ProcessEnv,
): Promise<MergeOutcome> {
  // The commit the caller read and described, not the branch: a commit made since is not merged unsaid.
  if (method === "rebase") {
    // Along the first parents, a merge commit of the branch is replayed as one commit of all it changed (-m 1);
    // before, cherry-pick refused it and land called that a conflict.
    const range = ["-m", "1", "--first-parent", `${base}..${tip}`];
    const args = ["cherry-pick", "--allow-empty", "--keep-redundant-commits", ...range];
    const picked = await git(args, cwd, { allowFailure: true, env });
    if (picked.code === 0) return { ok: true, conflictPaths: [], message: "" };
    const conflictPaths = await unmergedPaths(cwd, ["HEAD", "CHERRY_PICK_HEAD", tip]);
    await git(["cherry-pick", "--abort"], cwd, { allowFailure: true });
    return { ok: false, conflictPaths, message: picked.stderr.trim() };
  }
  // --ff: a user's merge.ff=only would refuse every squash of a diverged branch ("Not possible to fast-forward").
  const squashArgs = ["merge", "--squash", "--ff", tip];
  const mergeCommitArgs = ["merge", "--no-ff", "--no-edit", "-m", message, tip];
  const args = method === "squash" ? squashArgs : mergeCommitArgs;
  const merged = await git(args, cwd, { allowFailure: true, env });
  if (merged.code !== 0) {
    const conflictPaths = await unmergedPaths(cwd, ["HEAD", tip]);
    // --merge resets what the merge touched and keeps unrelated local changes.
    await git(method === "squash" ? ["reset", "--merge"] : ["merge", "--abort"], cwd, { allowFailure: true });
    return { ok: false, conflictPaths, message: (merged.stdout + merged.stderr).trim() };
  }
  if (method === "squash") {
    const staged = await git(["diff", "--cached", "--quiet"], cwd, { allowFailure: true });
    if (staged.code === 0) {
      return { ok: true, conflictPaths: [], message: "nothing to merge: the changes are already in" };
    }
    const committed = await git(["commit", "--quiet", "-m", message], cwd, { allowFailure: true, env });
    if (committed.code !== 0) {
      await git(["reset", "--merge"], cwd, { allowFailure: true });
      // A refusing pre-commit or commit-msg hook (or signing without a key) stops this worker like a
      // conflict does, as a refusing pre-merge-commit hook stops --merge: land then reports the workers
      // that landed before it, and can hand it back.
      const why = gitSaid(`${committed.stdout}\n${committed.stderr}`);
      return { ok: false, conflictPaths: [], message: `git commit of the squash merge failed: ${why}` };
    }
  }
  return { ok: true, conflictPaths: [], message: "" };
}

/**
 * What git said, in one line: its first `error:` or `fatal:` line, which names the cause ("gpg failed to
 * sign the data" comes before "failed to write commit object"), else its last line (a refusing hook's own
 * words). Hints are left out, and so is the line git merge ends with after a refusing pre-merge-commit or
 * commit-msg hook, which names no cause and whose advice (git commit) no longer applies once orch has undone it.
 */
export function gitSaid(output: string): string {
  const lines = gitLines(output).filter((line) => !line.startsWith("Not committing merge; use 'git commit'"));
  return lines.find((line) => /^(error|fatal): /.test(line)) ?? lines.pop() ?? "";
}

/**
 * The hosts gh may serve here: github.com, gh's own GH_HOST (a GitHub Enterprise server), and the hosts of the
 * pull requests the workers reported (a PR at https://github.acme.com/… is on that server).
 */
export function gitHubHosts(env: NodeJS.ProcessEnv, prUrls: readonly (string | null | undefined)[] = []): string[] {
  const hosts = new Set(["github.com"]);
  if (env.GH_HOST) hosts.add(env.GH_HOST.toLowerCase());
  for (const url of prUrls) {
    // Only a pull request's URL, as gh reads one (/OWNER/REPO/pull/N): a GitLab merge request names no GitHub.
    const pr = url ? pullRequestRepository(url) : undefined;
    if (pr) hosts.add(pr.host);
  }
  return [...hosts];
}

/**
 * The host of a remote's URL as configured: https://host/…, ssh://git@host:22/…, or scp-like git@host:org/repo;
 * undefined for a path (a local or file:// remote).
 */
export function remoteUrlHost(url: string): string | undefined {
  if (/^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(url)) {
    try {
      return new URL(url).hostname.toLowerCase() || undefined;
    } catch {
      return undefined;
    }
  }
  // scp-like: no slash before the first colon (git's own rule, connect.c parse_connect_url).
  const colon = url.indexOf(":");
  if (colon <= 0 || url.slice(0, colon).includes("/")) return undefined;
  const host = url.slice(url.lastIndexOf("@", colon) + 1, colon).replace(/^\[(.*)\]$/, "$1");
  return host.toLowerCase() || undefined;
}

/**
 * The repository a remote's URL names on its host: its path without slashes around it or .git, lowercased
 * (`acme/shop` for git@github.com:acme/shop.git); undefined for a path (a local or file:// remote).
 */
export function remoteUrlRepository(url: string): string | undefined {
  if (remoteUrlHost(url) === undefined) return undefined;
  const hasScheme = /^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(url);
  const repositoryPath = hasScheme ? new URL(url).pathname : url.slice(url.indexOf(":") + 1);
  return repositoryPath.replace(/^\/+|\/+$/g, "").replace(/\.git$/i, "").toLowerCase() || undefined;
}

/** Each remote's name and URL (as configured, before insteadOf), in git config's order. */
async function remoteUrls(cwd: string): Promise<{ name: string; url: string }[]> {
  const result = await git(["config", "--get-regexp", "^remote\\..*\\.url$"], cwd, { allowFailure: true });
  return result.stdout.split("\n").flatMap((line) => {
    const match = /^remote\.(.+)\.url (.*)$/.exec(line);
    return match ? [{ name: match[1]!, url: match[2]! }] : [];
  });
}

/**
 * The remote whose URL is `repository` (OWNER/REPO) on `host`, as gh finds a pull request's base remote
 * (FindByRepo: case does not count), or null.
 */
export async function remoteOfRepository(cwd: string, host: string, repository: string): Promise<string | null> {
  const found = (await remoteUrls(cwd)).find(({ url }) =>
    remoteUrlHost(url) === host.toLowerCase() && remoteUrlRepository(url) === repository.toLowerCase());
  return found?.name ?? null;
}

/** The first remote whose URL is on one of `hosts` (gitHubHosts), or null. */
export async function githubRemote(cwd: string, hosts: readonly string[] = ["github.com"]): Promise<string | null> {
  const found = (await remoteUrls(cwd)).find(({ url }) => {
    const host = remoteUrlHost(url);
    return host !== undefined && hosts.includes(host);
  });
  return found?.name ?? null;
}

/** Commits only in `base` (behind) and only in `branch` (ahead): git rev-list --left-right --count. */
export async function aheadBehind(
  cwd: string, base: string, branch: string,
): Promise<{ ahead: number; behind: number }> {
  const out = await gitOut(["rev-list", "--left-right", "--count", `${base}...${branch}`], cwd);
  const [behind = "0", ahead = "0"] = out.split(/\s+/);
  return { ahead: Number(ahead), behind: Number(behind) };
}

export interface TreeMerge {
  clean: boolean;
  tree: string;
  conflictPaths: string[];
}

/**
 * Merges each pair [base, branch] in memory with one `git merge-tree --stdin` (no checkout, no index,
 * no ref touched): whether it merges cleanly, the tree it would make, the conflicting paths. null for a
 * pair that shares no commit here (git refuses to merge unrelated histories; in a shallow clone, their
 * merge base lies beyond its history), which fails the whole --stdin run: then each pair is merged alone.
 */
export async function mergeTrees(cwd: string, pairs: [string, string][]): Promise<(TreeMerge | null)[]> {
  if (pairs.length === 0) return [];
  const input = pairs.map(([base, branch]) => `${base} ${branch}\n`).join("");
  const args = ["merge-tree", "--stdin", "--name-only", "--no-messages"];
  const result = await git(args, cwd, { input, allowFailure: true });
  if (result.code !== 0) return Promise.all(pairs.map(([base, branch]) => mergeTree(cwd, base, branch)));
  const fields = result.stdout.split("\0");
  const merges: TreeMerge[] = [];
  let i = 0;
  // Per pair: status ("1" clean, "0" conflicts), tree, conflicted paths…, "" (see git merge-tree, --stdin).
  while (merges.length < pairs.length && i < fields.length) {
    const status = fields[i++];
    const tree = fields[i++] ?? "";
    const paths: string[] = [];
    while (i < fields.length && fields[i] !== "") paths.push(fields[i++]!);
    i++;
    const conflictPaths = await conflictingPaths(cwd, paths, pairs[merges.length]!);
    merges.push({ clean: status === "1", tree, conflictPaths });
  }
  if (merges.length !== pairs.length) {
    throw new OrchError("failed", `git merge-tree --stdin answered ${merges.length} of ${pairs.length} merges`);
  }
  return merges;
}

/** One merge of `git merge-tree --write-tree` (for a git whose merge-tree has no --stdin yet). */
async function mergeTree(cwd: string, base: string, branch: string): Promise<TreeMerge | null> {
  const args = ["merge-tree", "--write-tree", "-z", "--name-only", "--no-messages", base, branch];
  const result = await git(args, cwd, { allowFailure: true });
  if (result.code !== 0 && result.code !== 1) {
    if (!(await haveMergeBase(cwd, base, branch))) return null;
    throw new OrchError("failed", `git merge-tree failed: ${result.stderr.trim()}`);
  }
  const [tree = "", ...paths] = result.stdout.split("\0").filter(Boolean);
  return { clean: result.code === 0, tree, conflictPaths: await conflictingPaths(cwd, paths, [base, branch]) };
}

/** The tree of each commit, in one git call. */
export async function treesOf(cwd: string, commits: string[]): Promise<string[]> {
  if (commits.length === 0) return [];
  return (await gitOut(["rev-parse", ...commits.map((c) => `${c}^{tree}`)], cwd)).split("\n");
}
