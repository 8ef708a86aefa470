// What apply, merge and land share: the worker's patch series, the merge commit message, and the
// checks on the checkout that receives the work.

import fs from "node:fs";
import path from "node:path";
import * as gitAdapter from "../adapters/git.ts";
import type { RunResult } from "../adapters/exec.ts";
import { mainWorktreeOf, type Repo } from "../adapters/repo.ts";
import { withScratchWorktree } from "../adapters/scratch-worktrees.ts";
import { MARKER_FILE } from "../context.ts";
import { uncommittedPaths, worktreeGone } from "../hosts/place.ts";
import { OrchError } from "../errors.ts";
import { gitWorksIn, isSameProcess, processStartTime } from "../proc.ts";
import { prUrlProblem } from "../store/messages.ts";
import { makeDirIn, storeError } from "../store/files.ts";
import type { StoreLayout } from "../store/layout.ts";
import type { WorkerRecord } from "../store/workers.ts";
import { workerState } from "../store/worker-status.ts";

export interface Series {
  file: string;
  tip: string;
  /** Where the series starts (see forkPoint). */
  fork: string;
  commits: gitAdapter.CommitInfo[];
  /** The branch has merge commits: the series is one commit of its whole change (see squashedSeries). */
  squashed?: true;
}

/** The tip of the worker's branch; one line when the branch was deleted (by hand, or another tool). */
export async function branchTipOrFail(repo: Repo | string, record: WorkerRecord): Promise<string> {
  const ref = `refs/heads/${record.branch}`;
  const tip = typeof repo === "string"
    ? await gitAdapter.resolveCommit(repo, ref)
    : await gitAdapter.refCommit(mainWorktreeOf(repo), ref);
  if (!tip) throw new OrchError("not_found", `branch ${record.branch} of worker ${record.worker_id} no longer exists`);
  return tip;
}

/**
 * Where the worker's own commits start: its recorded base, or the later commit of its base branch that the
 * worker rebased onto or merged by itself (sync records that; an agent's own `git rebase main` does not).
 * Counting from the recorded base then would take the base's own commits for the worker's.
 */
export async function forkPoint(mainRoot: string, record: WorkerRecord, tip: string): Promise<string> {
  const baseRef = record.base_branch ? `refs/heads/${record.base_branch}` : "HEAD";
  const found = await gitAdapter.git(["merge-base", baseRef, tip], mainRoot, { allowFailure: true });
  const fork = found.stdout.trim();
  // A tip inside the base (landed with a merge commit) keeps its recorded base: its change is still its own.
  if (found.code !== 0 || fork === record.base_commit || fork === tip) return record.base_commit;
  return (await gitAdapter.isAncestor(mainRoot, record.base_commit, fork)) ? fork : record.base_commit;
}

/**
 * A series is kept as git wrote it: a file that is not UTF-8 (Latin-1) is in it byte for byte, as git am must
 * get it (decoded as UTF-8, each such byte became U+FFFD in the file applied).
 */
const KEEP_BYTES = { keepStdoutBytes: true };

/** The worker's commits since its fork point as a `git format-patch --binary` series, kept in the store. */
export async function writeSeries(layout: StoreLayout, record: WorkerRecord, repo: Repo): Promise<Series> {
  refusePending(record);
  const mainRoot = repo.mainRoot;
  const tip = await branchTipOrFail(repo, record);
  const dir = layout.patchesDir(record.orchestrator_id, record.worker_id);
  const seriesFrom = async (fork: string) => {
    // .mboxrd: series kept by an orch before the format below (.mbox) may carry the user's settings; not reused.
    const file = path.join(dir, fork === record.base_commit ? `${tip}.mboxrd` : `${fork}..${tip}.mboxrd`);
    const range = `${fork}..${tip}`;
    const [commits, patch] = await Promise.all([
      gitAdapter.commitsBetween(mainRoot, fork, tip),
      fs.existsSync(file) ? undefined : gitAdapter.git([...gitAdapter.FORMAT_PATCH, range], mainRoot, KEEP_BYTES),
    ]);
    return { file, commits, patch };
  };
  // The usual series (from the recorded base) is asked for with the fork point, and asked again when they differ.
  const [fork, usual] = await Promise.all([forkPoint(mainRoot, record, tip), seriesFrom(record.base_commit)]);
  const { file, commits, patch } = fork === record.base_commit ? usual : await seriesFrom(fork);
  if (commits.length === 0) {
    const message = `worker ${record.worker_id} has no commits since its base ${fork.slice(0, 12)}: nothing to apply`;
    throw new OrchError("refused", message);
  }
  if (commits.some((commit) => commit.merge)) return squashedSeries(layout, record, mainRoot, { fork, tip, commits });
  if (patch) keepSeries(file, patch.stdoutBytes!, record);
  return { file, tip, fork, commits };
}

/** Said by apply of a worker that an rm or clean removed while it ran. */
export function removedMeanwhile(record: WorkerRecord): OrchError {
  const message = `worker ${record.worker_id} was removed meanwhile (orch rm or clean): nothing was applied`;
  return new OrchError("not_found", message);
}

/** Writes a series into the store whole (a reader never sees half of it), private to the user. */
function keepSeries(file: string, series: Buffer, record: WorkerRecord): void {
  const tmp = `${file}.${process.pid}.tmp`;
  let made: boolean;
  try {
    made = makeDirIn(path.dirname(file));
  } catch (error) {
    throw storeError("write the patch series", file, error);
  }
  if (!made) throw removedMeanwhile(record);
  try {
    fs.writeFileSync(tmp, series, { mode: 0o600 });
    fs.renameSync(tmp, file);
  } catch (error) {
    // A full disk: no half series left in the store, and the line names the file (write(2) names none).
    fs.rmSync(tmp, { force: true });
    throw storeError("write the patch series", file, error);
  }
}

/**
 * A branch with merge commits as one patch: its whole change from the fork point to its tip, by the tip's
 * author. format-patch leaves merge commits out, so a conflict the worker resolved in a merge came back as a
 * conflict, and whatever else a merge commit changed was lost without a word.
 */
async function squashedSeries(
  layout: StoreLayout, record: WorkerRecord, mainRoot: string, { fork, tip, commits }: Omit<Series, "file">,
): Promise<Series> {
  const message = mergeMessage(layout, record, commits);
  const [author, identity] = await Promise.all([
    gitAdapter.git(["log", "-1", "--format=%an%x00%ae%x00%aD", tip], mainRoot),
    gitAdapter.commitIdentity(mainRoot, process.env),
  ]);
  const [name = "", email = "", date = ""] = author.stdout.trim().split("\0");
  const env = { ...identity, GIT_AUTHOR_NAME: name, GIT_AUTHOR_EMAIL: email, GIT_AUTHOR_DATE: date };
  // --no-gpg-sign: this commit only carries the patch; git am makes the commit that stays.
  const args = ["commit-tree", "--no-gpg-sign", "-p", fork, "-F", "-", `${tip}^{tree}`];
  const squash = (await gitAdapter.git(args, mainRoot, { input: message, env })).stdout.trim();
  const patch = await gitAdapter.git([...gitAdapter.FORMAT_PATCH, `${fork}..${squash}`], mainRoot, KEEP_BYTES);
  const patchesDir = layout.patchesDir(record.orchestrator_id, record.worker_id);
  const file = path.join(patchesDir, `${fork}..${tip}.squashed.mboxrd`);
  keepSeries(file, patch.stdoutBytes!, record);
  return { file, tip, fork, commits: [{ sha: squash, subject: message.split("\n")[0]! }], squashed: true };
}

/** Uncommitted changes in the worker's worktree: they are not part of what gets applied or merged. */
export async function uncommittedWarning(record: WorkerRecord): Promise<string | null> {
  const listed = await uncommittedList(record);
  return listed && `worker ${record.worker_id} has uncommitted changes that are not included: ${listed}`;
}

/** The paths with uncommitted changes in the worker's worktree (the first eight), or null when there are none. */
export async function uncommittedList(record: WorkerRecord): Promise<string | null> {
  if (worktreeGone(record)) return null;
  const dirty = await uncommittedPaths(record);
  if (dirty.length === 0) return null;
  return `${dirty.slice(0, 8).join(", ")}${dirty.length > 8 ? ", …" : ""}`;
}

/**
 * The commit message for a worker's change: its final summary, then details and `commits` (its own, from its
 * fork point: the callers have them).
 */
export function mergeMessage(layout: StoreLayout, record: WorkerRecord, commits: gitAdapter.CommitInfo[]): string {
  const last = workerState(layout, record).last_message;
  const subject = last?.message_type === "task_complete" && last.content.summary
    ? last.content.summary
    : `Merge ${record.branch}`;
  const prLine = last?.content.pr_url ? `\nPR: ${last.content.pr_url}` : "";
  const body = [
    last?.content.details ?? "",
    commits.length ? commits.map((c) => `* ${c.subject}`).join("\n") : "",
    `Worker: ${record.worker_id} (branch ${record.branch})${prLine}`,
  ].filter(Boolean);
  return `${subject.split("\n")[0]}\n\n${body.join("\n\n")}\n`;
}

/**
 * The PR URL the worker reported, or null. One that is no http(s) URL (not from orch notify: an older orch
 * on a host, a hand-made message) is refused here: it goes to gh as an argument, where "--admin" is a flag.
 */
export function reportedPrUrl(layout: StoreLayout, record: WorkerRecord): string | null {
  const reported = workerState(layout, record).pr_url;
  const problem = reported === null ? undefined : prUrlProblem(reported);
  if (problem !== undefined) throw new OrchError("refused", `${record.worker_id}: its ${problem}`);
  return reported;
}

/** A worker recorded with --after that has not started has no branch or commits to look at yet. */
export function refusePending(record: WorkerRecord): void {
  if (record.pending) {
    const waitsFor = (record.after ?? []).join(", ");
    throw new OrchError("refused", `worker ${record.worker_id} has not started yet: it waits for ${waitsFor} to land`);
  }
}

/** A checkout that receives work must not be a worker's own worktree. */
export function refuseWorkerCheckout(repo: Repo, record: WorkerRecord): void {
  const inItsWorktree = path.resolve(repo.root) === path.resolve(record.worktree_path);
  const inAWorkersWorktree = repo.gitDir !== repo.commonDir && fs.existsSync(path.join(repo.gitDir, MARKER_FILE));
  if (inItsWorktree || inAWorkersWorktree) {
    const message = `run this from the orchestrator's checkout, not from worker ${record.worker_id}'s worktree`;
    throw new OrchError("refused", message);
  }
}

/**
 * The main worktree (in a bare repository, the worktree you stand in) must have the worker's base branch checked out,
 * with nothing staged and no operation under way. Refusals name it by its path: it is not always the main one.
 */
export async function checkBaseCheckout(mainRoot: string, record: WorkerRecord): Promise<string> {
  refusePending(record);
  const current = await gitAdapter.currentBranch(mainRoot);
  const base = record.base_branch ?? current;
  if (!base) {
    const message = `${mainRoot} has a detached HEAD: check out the branch to merge into`;
    throw new OrchError("refused", message);
  }
  if (current !== base && !(await gitAdapter.branchExists(mainRoot, base))) {
    const bringBack = `git branch -m ${current ?? "NEW"} ${base}, or git branch ${base} REV`;
    throw new OrchError("refused", `${record.worker_id} started from ${base}, which does not exist here ` +
      `(renamed or deleted?): bring it back (${bringBack}) first`);
  }
  if (current !== base) {
    // git refuses to check out a branch that another worktree has checked out: "check out main here" cannot be
    // done then. In a bare repository that worktree is where to run it; else it must let go of the branch.
    const checkout = await gitAdapter.checkoutOfBranch(mainRoot, base);
    let fix = `check out ${base} there first`;
    if (checkout.at && checkout.bare) fix = `${base} is checked out at ${checkout.at}: run it there`;
    else if (checkout.at) {
      fix = `${base} is checked out at ${checkout.at}: switch that worktree to another branch, then check out ` +
        `${base} in ${mainRoot}`;
    }
    throw new OrchError("refused", `${mainRoot} has ${current ?? "a detached HEAD"} checked out, ` +
      `but ${record.worker_id} started from ${base}: ${fix}`);
  }
  // Merging now would end the user's operation (merge --abort, reset --merge) or mix into it.
  const operation = await gitAdapter.operationInProgress(mainRoot);
  if (operation) {
    throw new OrchError("refused", `${mainRoot} is in the middle of ${operation}: finish or abort it first`);
  }
  const staged = await gitAdapter.stagedPaths(mainRoot);
  if (staged.length) {
    const paths = staged.slice(0, 5).join(", ");
    const squashMessage = await gitAdapter.gitOut(["rev-parse", "--git-path", "SQUASH_MSG"], mainRoot);
    // A merge --local killed between git merge --squash and its commit leaves just this.
    const fix = fs.existsSync(path.resolve(mainRoot, squashMessage))
      ? "they are what a git merge --squash left (SQUASH_MSG is there; an orch merge killed before its commit?): " +
        "git commit finishes that merge, git reset --merge drops it"
      : "commit or unstage them first";
    throw new OrchError("refused", `the index of ${mainRoot} has staged changes (${paths}): ${fix}`);
  }
  return base;
}

export function checkoutLockTarget(layout: StoreLayout): string {
  return path.join(layout.root, "checkout");
}

/**
 * `work` (git merge, git am) run in a throw-away worktree at `head`, with the commit it left there (`head` when it
 * failed): merge --local and apply make their commit aside, so that fastForwardCheckout is the one step that
 * touches the user's checkout.
 */
export async function committedAside<T extends { ok: boolean }>(
  root: string, head: string, work: (dir: string) => Promise<T>, warn: (line: string) => void,
): Promise<{ outcome: T; made: string }> {
  return withScratchWorktree(root, head, async (dir) => {
    const outcome = await work(dir);
    return { outcome, made: outcome.ok ? await gitAdapter.gitOut(["rev-parse", "HEAD"], dir) : head };
  }, warn);
}

/**
 * The checkout at `cwd`, at `head`, fast-forwarded to `commit`, which a throw-away worktree made whole: the one
 * step of merge --local and apply that touches the user's checkout, so a Ctrl-C, closed terminal or kill -9
 * before it leaves the base as it was, never a part of the change (a squash staged, half a patch series
 * committed). A signal during it reaches git too (the terminal's whole group gets it): what git wrote of the
 * commit is put back and the command says it was interrupted; once git has moved the branch, the change is here
 * and the command goes on. Throws when git cannot fast-forward, with the line `says` makes of git's reason.
 */
export async function fastForwardCheckout(
  cwd: string, head: string, commit: string, says: (why: string) => string,
): Promise<void> {
  const { guardInterrupts, throwIfInterrupted } = await import("../interrupt.ts");
  await guardInterrupts(async () => {
    // A Ctrl-C while the throw-away worktree made the commit: nothing of it comes here.
    throwIfInterrupted();
    const ff = await fastForwardRecorded(cwd, head, commit);
    if (ff.code === 0) return;
    // git merge --ff-only checks the tree out before it moves the ref: stopped before, its files go back;
    // stopped after (a signal passed on to it), the change is here.
    // Let finish under a signal (passed on to the programs running when it comes): a signal that came as git
    // ended must not kill this look and have the command say it undid a landing that is here.
    const now = (await gitAdapter.git(["rev-parse", "HEAD"], cwd, { finishOnInterrupt: true })).stdout.trim();
    if (now === commit) return;
    let left = "";
    if (now === head) {
      left = gitAdapter.notPutBack(await gitAdapter.putBackPaths(cwd, head, commit, ff.stderr));
    }
    const why = ff.stderr.trim().split("\n")[0] ?? "";
    throw new OrchError("failed", `${says(why)}${left}`);
  });
}

/** The record of a fast-forward under way, in the checkout's git folder (beside the index.lock git takes). */
const FAST_FORWARD_FILE = "orch-fast-forward.json";

interface FastForwardRecord {
  pid: number;
  start_time: string | null;
  head: string;
  commit: string;
}

async function fastForwardFile(cwd: string): Promise<string> {
  return path.join(await gitAdapter.gitOut(["rev-parse", "--absolute-git-dir"], cwd), FAST_FORWARD_FILE);
}

/**
 * git merge --ff-only of the checkout at `cwd` from `head` to `commit`, recorded while it runs: a kill -9 of the
 * command (and so of its git) leaves the record to finishKilledFastForward.
 */
export async function fastForwardRecorded(cwd: string, head: string, commit: string): Promise<RunResult> {
  const file = await fastForwardFile(cwd);
  const startTime = processStartTime(process.pid) ?? null;
  const record: FastForwardRecord = { pid: process.pid, start_time: startTime, head, commit };
  fs.writeFileSync(file, JSON.stringify(record));
  try {
    return await gitAdapter.git(["merge", "--ff-only", "--quiet", commit], cwd, { allowFailure: true });
  } finally {
    fs.rmSync(file, { force: true });
  }
}

/**
 * What a land, merge --local or apply killed -9 while its git fast-forwarded the checkout at `cwd` left: git's
 * index.lock (every later git command there refuses: "Another git process seems to be running") and, HEAD not
 * moved yet, some of the commit's files written. Once that orch is gone and no git works there, the lock is
 * removed and each file that is still as the commit has it is put back as HEAD has it: one the user changed
 * since is theirs and stays. Lines saying what was done.
 */
export async function finishKilledFastForward(cwd: string): Promise<string[]> {
  const file = await fastForwardFile(cwd);
  let record: FastForwardRecord;
  try {
    record = JSON.parse(fs.readFileSync(file, "utf8")) as FastForwardRecord;
  } catch {
    return [];
  }
  if (isSameProcess(record.pid, record.start_time ?? undefined) || gitWorksIn([cwd])) return [];
  const killed = `an orch (pid ${record.pid}) killed while git fast-forwarded ${cwd} to ${record.commit.slice(0, 12)}`;
  const lines: string[] = [];
  const lock = path.join(path.dirname(file), "index.lock");
  if (fs.existsSync(lock)) {
    fs.rmSync(lock, { force: true });
    lines.push(`removed ${lock}, left by ${killed}`);
  }
  if ((await gitAdapter.gitOut(["rev-parse", "HEAD"], cwd)) === record.head) {
    const written = await writtenOf(cwd, record.head, record.commit);
    if (written.length) {
      const left = gitAdapter.notPutBack(await gitAdapter.putBackPaths(cwd, record.head, record.commit, "", written));
      lines.push(`put back ${written.join(", ")} as HEAD has them: ${killed} had written them${left}`);
    }
  }
  fs.rmSync(file, { force: true });
  return lines;
}

/** The paths `head` and `commit` differ in whose file at `cwd` is as `commit` has it: what git wrote of it. */
async function writtenOf(cwd: string, head: string, commit: string): Promise<string[]> {
  const changed = await gitAdapter.git(["diff", "--name-only", "-z", "--no-renames", head, commit], cwd);
  // hash-object reads one path a line: a name with a newline in it is left as it is.
  const paths = changed.stdout.split("\0").filter(Boolean)
    .filter((file) => !file.includes("\n") && fs.existsSync(path.join(cwd, file)));
  if (paths.length === 0) return [];
  const input = paths.join("\n") + "\n";
  const [hashed, listed] = await Promise.all([
    gitAdapter.git(["hash-object", "--no-filters", "--stdin-paths"], cwd, { input }),
    gitAdapter.git(["--literal-pathspecs", "ls-tree", "-r", "-z", "--full-tree", commit, "--", ...paths], cwd),
  ]);
  const inCommit = new Map(listed.stdout.split("\0").filter(Boolean).map((line) => {
    const tab = line.indexOf("\t");
    return [line.slice(tab + 1), line.slice(0, tab).split(" ")[2]!] as const;
  }));
  const hashes = hashed.stdout.trim().split("\n");
  return paths.filter((file, i) => inCommit.get(file) === hashes[i]);
}
