// orch's throw-away worktrees (land's merge and test, apply --dry-run): made under the temp folder beside
// an owner file naming the orch process that made them, and removed again by it; what a process killed
// with -9 left is removed by the next land, merge, apply or clean, once its owner is known to be gone.

import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { isSameProcess, processStartTime } from "../proc.ts";
import { tempFolder } from "../runtime.ts";
import { OrchError, systemReason } from "../errors.ts";
import { commonGitDir, git, postCheckoutHookFailure, worktreeAddFailure, worktreeGitDir } from "./git.ts";

/** The temp folder of each throw-away worktree is named this plus mkdtemp's six characters. */
const FOLDER_PREFIX = "orch-scratch-";
/** The worktree itself, inside that folder. */
const WORKTREE_NAME = "wt";
/** Beside it: who made it (written before the worktree is added, so every one of them has it). */
const OWNER_FILE = "owner.json";

interface ScratchOwner {
  pid: number;
  /** With the pid, names one process for the life of the machine (see proc.ts); absent without /proc. */
  start_time?: string;
  /** The repository's common git dir: a scan of the temp folder only touches this repository's. */
  repository: string;
}

/** The repository's common git dir as a real path: what an owner file names, compared as is. */
async function repositoryOf(repoRoot: string): Promise<string> {
  return fs.realpathSync(await commonGitDir(repoRoot));
}

function readOwner(folder: string): ScratchOwner | undefined {
  try {
    const owner = JSON.parse(fs.readFileSync(path.join(folder, OWNER_FILE), "utf8")) as Partial<ScratchOwner>;
    if (typeof owner.pid !== "number" || typeof owner.repository !== "string") return undefined;
    return { pid: owner.pid, start_time: owner.start_time, repository: owner.repository };
  } catch {
    return undefined;
  }
}

function isScratchFolder(folder: string): boolean {
  return /^orch-scratch-[A-Za-z0-9]{6}$/.test(path.basename(folder));
}

/** The temp folders of throw-away worktrees this repository has registered or the temp folder holds. */
async function scratchFolders(repoRoot: string): Promise<string[]> {
  const folders = new Set<string>();
  const listed = await git(["worktree", "list", "--porcelain", "-z"], repoRoot, { allowFailure: true });
  for (const field of listed.stdout.split("\0")) {
    if (!field.startsWith("worktree ")) continue;
    const worktree = field.slice("worktree ".length);
    if (path.basename(worktree) === WORKTREE_NAME && isScratchFolder(path.dirname(worktree))) {
      folders.add(path.dirname(worktree));
    }
  }
  let temp = "";
  let names: string[] = [];
  try {
    temp = fs.realpathSync(os.tmpdir());
    names = fs.readdirSync(temp);
  } catch {
    // A missing or unreadable temp folder holds nothing of ours that could be found.
  }
  for (const name of names) if (name.startsWith(FOLDER_PREFIX)) folders.add(path.join(temp, name));
  return [...folders].filter(isScratchFolder);
}

/**
 * Removes the throw-away worktrees of this repository whose orch process is gone (killed before it could
 * remove them): only folders named as orch names them with an owner file for this repository, never one
 * whose process still runs. Returns what it removed, each as a line to tell the user.
 */
export async function removeStaleScratchWorktrees(repoRoot: string): Promise<string[]> {
  const repository = await repositoryOf(repoRoot);
  const removed: string[] = [];
  for (const folder of await scratchFolders(repoRoot)) {
    const owner = readOwner(folder);
    if (!owner || owner.repository !== repository || isSameProcess(owner.pid, owner.start_time)) continue;
    const worktree = path.join(folder, WORKTREE_NAME);
    await git(["worktree", "remove", "--force", "--force", worktree], repoRoot, { allowFailure: true });
    try {
      fs.rmSync(folder, { recursive: true, force: true });
    } catch {
      continue;
    }
    removed.push(`removed the throw-away worktree ${worktree} left by an orch (pid ${owner.pid}) that was killed`);
  }
  if (removed.length) await git(["worktree", "prune"], repoRoot, { allowFailure: true });
  return removed;
}

/** Why orch could not make its folder or owner file in the temp folder (full, read-only), in one line with the fix. */
function tempFolderFailure(temp: string, error: unknown): OrchError {
  const why = systemReason(error);
  const set = process.env.TMPDIR ? "TMPDIR " : "";
  return new OrchError("failed", `cannot make a throw-away worktree in the temp folder ${set}${temp}: ${why} ` +
    "(make room there, or set TMPDIR to another folder)");
}

/**
 * A throw-away detached worktree at `ref`, always removed again, whatever `fn` does — also on Ctrl-C or
 * SIGTERM, which end the programs `fn` runs and then the command (interrupt.ts).
 */
export async function withScratchWorktree<T>(
  repoRoot: string, ref: string, fn: (dir: string) => Promise<T>, warn: (line: string) => void,
): Promise<T> {
  const { guardInterrupts, throwIfInterrupted } = await import("../interrupt.ts");
  const repository = await repositoryOf(repoRoot);
  return guardInterrupts(async () => {
    const temp = tempFolder("orch makes its throw-away worktrees there");
    let parent: string;
    try {
      parent = fs.mkdtempSync(path.join(temp, FOLDER_PREFIX));
    } catch (error) {
      throw tempFolderFailure(temp, error);
    }
    const dir = path.join(parent, WORKTREE_NAME);
    try {
      const owner: ScratchOwner = { pid: process.pid, start_time: processStartTime(process.pid), repository };
      try {
        fs.writeFileSync(path.join(parent, OWNER_FILE), `${JSON.stringify(owner)}\n`);
      } catch (error) {
        // A failed write(2) names no file ("ENOSPC: no space left on device, write").
        throw tempFolderFailure(temp, error);
      }
      const added = await git(["worktree", "add", "--quiet", "--detach", dir, ref], repoRoot, { allowFailure: true });
      if (added.code !== 0) {
        const hookSaid = postCheckoutHookFailure(dir, added.stderr);
        if (hookSaid === undefined) throw new OrchError("failed", worktreeAddFailure(added.stderr));
        warn(`your post-checkout hook failed in the throw-away worktree (git's checkout is whole): ${hookSaid}`);
      }
      throwIfInterrupted();
      const result = await fn(dir);
      throwIfInterrupted();
      return result;
    } finally {
      await git(["worktree", "remove", "--force", "--force", dir], repoRoot, { allowFailure: true });
      fs.rmSync(parent, { recursive: true, force: true });
      await git(["worktree", "prune"], repoRoot, { allowFailure: true });
    }
  });
}

/**
 * Every file of the throw-away worktree's commit on disk, before land's test runs there. git worktree add
 * gives a new worktree the sparse-checkout patterns of the checkout it runs in, so in a sparse checkout the
 * test ran without the files outside them, the worker's changes there included, and said they passed. Only
 * the throw-away worktree's own copy of the patterns is changed (`/*`, every file): not the user's.
 */
export async function checkOutWhole(dir: string): Promise<void> {
  const patterns = path.join(worktreeGitDir(dir), "info", "sparse-checkout");
  if (!fs.existsSync(patterns)) return;
  fs.writeFileSync(patterns, "/*\n");
  await git(["sparse-checkout", "reapply"], dir);
}
