// Finds the repository you stand in by reading git's own files (.git, gitdir:, commondir), so the hot
// path (notify, poll, hooks) starts no git process; unusual layouts fall back to `git rev-parse`.

import fs from "node:fs";
import path from "node:path";

export interface Repo {
  /** The top of the worktree you stand in. */
  root: string;
  /** That worktree's private git dir (where the worker marker lives). */
  gitDir: string;
  /** The git dir shared by all worktrees (`git rev-parse --git-common-dir`). */
  commonDir: string;
  /** The top of the main worktree: the store lives in its .orch/. */
  mainRoot: string;
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
    return { root: dir, gitDir: dotGit, commonDir: dotGit, mainRoot: dir };
  }
  const pointer = readTrimmed(dotGit);
  if (!pointer?.startsWith("gitdir: ")) return undefined;
  const gitDir = path.resolve(dir, pointer.slice("gitdir: ".length));
  const commonPointer = readTrimmed(path.join(gitDir, "commondir"));
  if (commonPointer === undefined) return "fallback"; // a submodule or --separate-git-dir repository
  const commonDir = path.resolve(gitDir, commonPointer);
  if (path.basename(commonDir) !== ".git") return "fallback";
  return { root: dir, gitDir, commonDir, mainRoot: path.dirname(commonDir) };
}

async function fromGit(cwd: string): Promise<Repo | undefined> {
  // Loaded here only: child_process costs a few milliseconds that the common layouts never pay.
  const { run } = await import("./exec.ts");
  const result = await run(["git", "rev-parse", "--show-toplevel", "--absolute-git-dir", "--git-common-dir"], { cwd, allowFailure: true });
  if (result.code !== 0) return undefined;
  const [root, gitDir, common] = result.stdout.split("\n");
  if (!root || !gitDir || !common) return undefined;
  const commonDir = path.resolve(root, common);
  let mainRoot = root;
  const list = await run(["git", "worktree", "list", "--porcelain"], { cwd, allowFailure: true });
  const first = /^worktree (.*)$/m.exec(list.stdout);
  if (first?.[1] && !/^bare$/m.test(list.stdout.split("\n\n")[0] ?? "")) mainRoot = first[1];
  return { root, gitDir, commonDir, mainRoot };
}

const cache = new Map<string, Repo | undefined>();

/** The repository `cwd` is in, or undefined outside any repository. */
export async function locateRepo(cwd: string): Promise<Repo | undefined> {
  const start = path.resolve(cwd);
  if (cache.has(start)) return cache.get(start);
  let found: Repo | undefined;
  if (process.env.GIT_DIR || process.env.GIT_WORK_TREE) {
    found = await fromGit(start);
  } else {
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
  }
  cache.set(start, found);
  return found;
}
