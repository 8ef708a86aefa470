// Finds the repository you stand in by reading git's own files (.git, gitdir:, commondir), so the hot
// path (notify, poll, hooks) starts no git process; unusual layouts fall back to `git rev-parse`.

import fs from "node:fs";
import path from "node:path";
import { OrchError } from "../errors.ts";

export interface Repo {
  /** The top of the worktree you stand in. */
  root: string;
  /** That worktree's private git dir (where the worker marker lives). */
  gitDir: string;
  /** The git dir shared by all worktrees (`git rev-parse --git-common-dir`). */
  commonDir: string;
  /**
   * The top of the main worktree, where land and merge --local bring work home. A bare repository has none:
   * then it is the worktree you stand in.
   */
  mainRoot: string;
  /**
   * The folder the store (.orch/) and the workers' worktrees (<projectRoot>-worktrees/) belong to: the main
   * worktree, or in a bare repository the repository itself (bareProjectRoot), the same from every worktree.
   */
  projectRoot: string;
}

function readTrimmed(file: string): string | undefined {
  try {
    return fs.readFileSync(file, "utf8").trim();
  } catch {
    return undefined;
  }
}

function fromDotGit(dir: string): Repo | undefined | "fallback" {
  const dotGit = path.join(dir, ".git");
  let stat: fs.Stats;
  try {
    stat = fs.statSync(dotGit);
  } catch {
    return undefined;
  }
  if (stat.isDirectory()) {
    if (!fs.existsSync(path.join(dotGit, "HEAD"))) return undefined;
    return { root: dir, gitDir: dotGit, commonDir: dotGit, mainRoot: dir, projectRoot: dir };
  }
  const pointer = readTrimmed(dotGit);
  if (!pointer?.startsWith("gitdir: ")) return undefined;
  const gitDir = path.resolve(dir, pointer.slice("gitdir: ".length));
  const commonPointer = readTrimmed(path.join(gitDir, "commondir"));
  if (commonPointer === undefined) return "fallback"; // a submodule or --separate-git-dir repository
  const commonDir = path.resolve(gitDir, commonPointer);
  if (path.basename(commonDir) !== ".git") return "fallback";
  // A main worktree has its index in the common dir; a bare repository named .git (git clone --bare URL proj/.git)
  // has none, and git tells what it is.
  if (!fs.existsSync(path.join(commonDir, "index"))) return "fallback";
  const mainRoot = path.dirname(commonDir);
  return { root: dir, gitDir, commonDir, mainRoot, projectRoot: mainRoot };
}

async function fromGit(cwd: string): Promise<Repo | undefined> {
  // Loaded here only: child_process costs a few milliseconds that the common layouts never pay.
  const { run } = await import("./exec.ts");
  const asked = ["--path-format=absolute", "--show-toplevel", "--absolute-git-dir", "--git-common-dir"];
  const result = await run(["git", "rev-parse", ...asked], { cwd, allowFailure: true });
  if (result.code !== 0) {
    if (DUBIOUS.test(result.stderr)) throw dubiousOwnership(cwd, result.stderr);
    return undefined;
  }
  const [root, gitDir, common] = result.stdout.split("\n");
  if (!root || !gitDir || !common) return undefined;
  const commonDir = path.resolve(root, common);
  if (path.resolve(gitDir) === commonDir) return { root, gitDir, commonDir, mainRoot: root, projectRoot: root };
  // A linked worktree. In a submodule `git worktree list` names the git dir (.git/modules/<name>) as
  // the main worktree; its checkout is core.worktree, where git-gtr also puts the worktrees beside.
  const commonConfig = path.join(commonDir, "config");
  const configured = await run(["git", "config", "--file", commonConfig, "core.worktree"], { cwd, allowFailure: true });
  if (configured.code === 0 && configured.stdout.trim()) {
    const mainRoot = path.resolve(commonDir, configured.stdout.trim());
    return { root, gitDir, commonDir, mainRoot, projectRoot: mainRoot };
  }
  const list = await run(["git", "worktree", "list", "--porcelain"], { cwd, allowFailure: true });
  const first = /^worktree (.*)$/m.exec(list.stdout);
  if (/^bare$/m.test(list.stdout.split("\n\n")[0] ?? "")) {
    return { root, gitDir, commonDir, mainRoot: root, projectRoot: bareProjectRoot(commonDir) };
  }
  const mainRoot = first?.[1] ?? root;
  return { root, gitDir, commonDir, mainRoot, projectRoot: mainRoot };
}

/**
 * A bare repository with linked worktrees has no main worktree, so the repository stands in for it: the store
 * and the worktrees' folder must not depend on which worktree orch is run in. That is the folder that holds the
 * bare repository when its .git names it (`proj/.bare` with `gitdir: ./.bare` in `proj/.git`, or `proj/.git`
 * itself, as the fast path reads it), else the bare repository's own folder (`proj.git`): never a folder that
 * merely holds it, such as ~/code, which other repositories share.
 */
function bareProjectRoot(commonDir: string): string {
  const parent = path.dirname(commonDir);
  const dotGit = path.join(parent, ".git");
  const pointer = readTrimmed(dotGit); // undefined for a folder, as for a bare repository named .git
  const named = pointer?.startsWith("gitdir: ") ? path.resolve(parent, pointer.slice("gitdir: ".length)) : dotGit;
  const real = (dir: string) => {
    try {
      return fs.realpathSync(dir);
    } catch {
      return undefined;
    }
  };
  return real(named) !== undefined && real(named) === real(commonDir) ? parent : commonDir;
}

const cache = new Map<string, Repo | undefined>();

const DUBIOUS = /detected dubious ownership/;

function dubiousOwnership(where: string, gitSaid: string): OrchError {
  const fix = /git config --global --add safe\.directory .*/.exec(gitSaid)?.[0];
  const trust = fix ? `; if you trust it: ${fix.trim()}` : "";
  return new OrchError("refused", `git refuses ${where}: it is owned by another user (dubious ownership)${trust}`);
}

/**
 * git refuses a repository that another user owns unless safe.directory allows it, and so does orch, before
 * it writes anything there. Only when an owner differs is git asked (it knows safe.directory and sudo's
 * SUDO_UID): the common layouts still start no git process.
 */
async function refuseDubiousOwnership(repo: Repo): Promise<void> {
  const uid = process.geteuid?.();
  if (uid === undefined) return;
  const ownerOf = (dir: string) => {
    try {
      return fs.statSync(dir).uid;
    } catch {
      return uid;
    }
  };
  if (ownerOf(repo.root) === uid && ownerOf(repo.commonDir) === uid) return;
  const { run } = await import("./exec.ts");
  const result = await run(["git", "rev-parse", "--git-dir"], { cwd: repo.root, allowFailure: true });
  if (result.code !== 0 && DUBIOUS.test(result.stderr)) throw dubiousOwnership(repo.root, result.stderr);
}

/** The repository `cwd` is in, or undefined outside any repository. */
export async function locateRepo(cwd: string): Promise<Repo | undefined> {
  const start = path.resolve(cwd);
  if (cache.has(start)) return cache.get(start);
  let found: Repo | undefined;
  // The folder decides, never $GIT_DIR or $GIT_WORK_TREE: inside a git hook they name the caller's
  // repository, and exec.ts keeps them from every program orch starts (README, "Reliability").
  for (let dir = start; ; dir = path.dirname(dir)) {
    const here = fromDotGit(dir);
    if (here === "fallback") {
      found = await fromGit(start);
      break;
    }
    if (here) {
      found = here;
      break;
    }
    if (path.dirname(dir) === dir) break;
  }
  if (found) await refuseDubiousOwnership(found);
  cache.set(start, found);
  return found;
}

/** The main worktree of a repository, as a Repo of its own. */
export function mainWorktreeOf(repo: Repo): Repo {
  // In a bare repository the worktree you stand in stands in for the main one: its HEAD is in its own git dir.
  const gitDir = repo.mainRoot === repo.root ? repo.gitDir : repo.commonDir;
  return { ...repo, root: repo.mainRoot, gitDir };
}

export type RefFromFiles = { sha: string } | { missing: true } | undefined;

/**
 * Reads a ref from git's files (loose ref, then packed-refs), following symbolic refs. Returns
 * undefined when it cannot tell for sure (reftable storage, odd layouts): ask git then.
 */
export function readRefFromFiles(repo: Repo, name: string): RefFromFiles {
  return refReader(repo)(name);
}

/**
 * readRefFromFiles for many refs of one repository (status reads one per worker): whether the
 * repository uses reftable is asked once, and packed-refs is read once, when a loose ref is missing.
 * Meant for one command's look at the refs, not to be kept: the files are not watched.
 */
export function refReader(repo: Repo): (name: string) => RefFromFiles {
  const reftable = fs.existsSync(path.join(repo.commonDir, "reftable"));
  let packed: string | null | undefined;
  const packedRefs = () => {
    if (packed === undefined) packed = readTrimmed(path.join(repo.commonDir, "packed-refs")) ?? null;
    return packed;
  };
  return (name) => (reftable ? undefined : readRefWith(repo, name, packedRefs));
}

function readRefWith(repo: Repo, name: string, packedRefs: () => string | null): RefFromFiles {
  let ref = name;
  for (let depth = 0; depth < 5; depth++) {
    // HEAD and other per-worktree refs live in the worktree's own git dir.
    const dir = ref === "HEAD" ? repo.gitDir : repo.commonDir;
    const loose = readTrimmed(path.join(dir, ref));
    if (loose !== undefined) {
      if (loose.startsWith("ref: ")) {
        ref = loose.slice(5).trim();
        continue;
      }
      return /^[0-9a-f]{40,64}$/.test(loose) ? { sha: loose } : undefined;
    }
    const packed = packedRefs();
    if (packed !== null) {
      for (const line of packed.split("\n")) {
        const namesRef = line.endsWith(` ${ref}`) && /^[0-9a-f]{40,64} /.test(line);
        if (namesRef) return { sha: line.slice(0, line.indexOf(" ")) };
      }
    }
    return { missing: true };
  }
  return undefined;
}

/** The branch HEAD points at in this worktree, or null when detached (from git's files). */
export function headBranchFromFiles(repo: Repo): string | null | undefined {
  const head = readTrimmed(path.join(repo.gitDir, "HEAD"));
  if (head === undefined) return undefined;
  if (!head.startsWith("ref: ")) return null;
  const ref = head.slice(5).trim();
  return ref.startsWith("refs/heads/") ? ref.slice("refs/heads/".length) : null;
}

/**
 * A linked worktree whose link to its repository is broken, as git states it ("not a git repository: <git dir>"
 * for the gitdir: line of its .git file): the git dir it names is gone, most often because the repository was
 * moved or renamed. One line naming git's own mend, or undefined when that is not what git said.
 */
export function brokenWorktreeLink(worktree: string, gitSaid: string): OrchError | undefined {
  const named = /not a git repository: (\S*\/worktrees\/[^\s/]+)\s*$/m.exec(gitSaid)?.[1];
  if (named === undefined || fs.existsSync(named)) return undefined;
  return new OrchError("not_found", `the worktree ${worktree} names its repository's git dir ${named}, which is ` +
    `gone: was the repository moved? Run git worktree repair ${worktree} in the repository where it is now`);
}

/** brokenWorktreeLink for `dir` itself, read from the .git file of the worktree it is in (no git started). */
export function brokenWorktreeLinkAt(dir: string): OrchError | undefined {
  for (let d = path.resolve(dir); ; d = path.dirname(d)) {
    const dotGit = path.join(d, ".git");
    if (fs.existsSync(dotGit)) {
      const pointer = readTrimmed(dotGit); // undefined for a folder: a repository of its own
      if (!pointer?.startsWith("gitdir: ")) return undefined;
      return brokenWorktreeLink(d, `not a git repository: ${path.resolve(d, pointer.slice("gitdir: ".length))}`);
    }
    if (path.dirname(d) === d) return undefined;
  }
}
