// orch spawn: the command line, and where the worker is made: here (spawn-here.ts: a worktree in
// git-gtr's layout, the worker's marker and record, a tmux window running the agent; mirrors
// start_worktree_session), on a host (hosts/workers.ts), or later (--after: recorded pending).

import fs from "node:fs";
import * as gitAdapter from "../adapters/git.ts";
import { headBranchFromFiles, mainWorktreeOf, readRefFromFiles, type Repo } from "../adapters/repo.ts";
import { requireRepo, resolveSession, type Context } from "../context.ts";
import { guardInterrupts } from "../interrupt.ts";
import { asGiven, OrchError, usage } from "../errors.ts";
import { booleanFlag, stringFlag, type Flags } from "../flags.ts";
import { checkHostName } from "../hosts/destination.ts";
import {
  checkBranchName, digestWorkerIdForBranch, isFullCommitId, isWorkerIdOfBranch, workerIdForBranch,
} from "../ids.ts";
import { readTextBounded, stdinBytesFlag } from "../input.ts";
import type { StoreLayout } from "../store/layout.ts";
import { alreadyExists, findWorker, newWorkerId, type WorkerRecord } from "../store/workers.ts";
import { workerState } from "../store/worker-status.ts";
import type { CommandResult } from "./types.ts";

export interface SpawnOptions {
  orch: string | undefined;
  branch: string;
  from: string | undefined;
  plan: boolean;
  prompt: string;
  agent: string;
  /** An agent given as argv directly (the demo's scripted agent); overrides `agent`. */
  agentArgv?: string[];
  window: boolean;
  backend: "git" | "gtr" | undefined;
  /** --after: wait (pending, no worktree) until these workers have landed. */
  after: string[];
  /** The host to create it on (orch host add), else here. */
  host?: string;
  /**
   * Its id, when chosen already: by runSpawn (store/workers.ts newWorkerId), or, on a host, by the orch that
   * drives it (internal --worker-id: the branch's contract id or its digest id).
   */
  workerId?: string;
  /**
   * Internal --new-branch, from the orch that drives this host: the branch is not one of that repository's, so
   * one that exists in this clone is another's (a worker of another repository or session sharing it left it)
   * and is refused, not checked out as it is.
   */
  newBranch?: boolean;
}

/**
 * What the refusal of an existing branch under internal --new-branch says (the orch that asked for it reads it
 * so): it is not a branch of the repository the driving orch spawns from.
 */
export const BRANCH_NOT_NEW = "not one of the spawning repository's: nothing was made";

/** --after A (repeatable) or --after A,B: the names as given, each a worker id or a branch. */
export function afterFlag(flags: Flags): string[] {
  const raw = flags.after;
  if (raw === undefined) return [];
  const values = (Array.isArray(raw) ? raw : [raw]).map((v) => (typeof v === "boolean" ? "" : String(v)));
  const names = values.flatMap((v) => v.split(",")).map((n) => n.trim());
  if (names.some((n) => n === "")) {
    throw usage("--after needs a worker (--after A, --after A,B or --after A --after B)");
  }
  return [...new Set(names)];
}

function hostFlag(flags: Flags): string | undefined {
  const host = stringFlag(flags, "host");
  return host === undefined ? undefined : checkHostName(host);
}

/** Far beyond any real task; a bound so that `--prompt-file /dev/stdin < /dev/zero` ends. */
const MAX_PROMPT_BYTES = 16 * 1024 * 1024;

/**
 * The prompt from a regular file or from stdin, as text: refused (exit 2) when the file is anything
 * else (a device such as /dev/zero, a folder, a FIFO), larger than MAX_PROMPT_BYTES, or not UTF-8.
 */
function readPrompt(source: string, flags: Flags): string {
  const what = source === "stdin" ? "the prompt on stdin" : `--prompt-file ${asGiven(source)}`;
  if (source === "stdin") return readTextBounded(0, MAX_PROMPT_BYTES, what, stdinBytesFlag(flags));
  let stat: fs.Stats;
  try {
    stat = fs.statSync(source);
  } catch {
    throw new OrchError("invalid", `${what}: no such readable file`);
  }
  if (!stat.isFile()) throw new OrchError("invalid", `${what}: not a regular file (give a file, or - for stdin)`);
  let fd: number;
  try {
    fd = fs.openSync(source, "r");
  } catch {
    throw new OrchError("invalid", `${what}: no such readable file`);
  }
  try {
    return readTextBounded(fd, MAX_PROMPT_BYTES, what);
  } finally {
    fs.closeSync(fd);
  }
}

export function parseSpawn(args: string[], flags: Flags): SpawnOptions {
  const branch = checkBranchName(args[0] ?? "");
  const source = args[1];
  if (source !== undefined && source !== "-") {
    const where = "the prompt goes in --prompt, --prompt-file or - (stdin)";
    throw usage(`unexpected argument ${JSON.stringify(source)}: ${where}`);
  }
  const text = stringFlag(flags, "prompt");
  const file = stringFlag(flags, "promptFile");
  if ([text !== undefined, file !== undefined, source === "-"].filter(Boolean).length > 1) {
    throw usage("give the prompt once: --prompt, --prompt-file or - (stdin)");
  }
  let prompt = text ?? "";
  if (file !== undefined) prompt = readPrompt(file === "-" || file === "/dev/stdin" ? "stdin" : file, flags);
  if (source === "-") prompt = readPrompt("stdin", flags);
  if (prompt.includes("\0")) {
    throw new OrchError("invalid", "the prompt holds a NUL byte, which no program can receive as an argument");
  }
  const backend = stringFlag(flags, "backend");
  if (backend !== undefined && backend !== "git" && backend !== "gtr") {
    throw usage(`--backend must be git or gtr, not ${JSON.stringify(backend)}`);
  }
  const from = stringFlag(flags, "from");
  if (from !== undefined && (from === "" || from.startsWith("-"))) {
    throw new OrchError("invalid", `bad --from ${JSON.stringify(from)}`);
  }
  const after = afterFlag(flags);
  if (after.length && from !== undefined) {
    throw usage("--after starts the worker from the base as it is when its prerequisites have landed: " +
      "leave out --from");
  }
  return {
    orch: stringFlag(flags, "orch"),
    branch,
    from,
    plan: booleanFlag(flags, "plan"),
    prompt,
    agent: stringFlag(flags, "agent") ?? "claude",
    window: flags.window !== false,
    backend,
    after,
    host: hostFlag(flags),
    ...workerIdFlag(flags, branch),
    ...(booleanFlag(flags, "newBranch") ? { newBranch: true } : {}),
  };
}

/**
 * Internal --worker-id, from the orch that drives this host: the id it chose for the worker (its session's
 * workers decide whether the contract id is taken). Only the branch's contract id or its digest id.
 */
function workerIdFlag(flags: Flags, branch: string): { workerId?: string } {
  const workerId = stringFlag(flags, "workerId");
  if (workerId === undefined) return {};
  if (!isWorkerIdOfBranch(workerId, branch)) {
    const digest = digestWorkerIdForBranch(branch);
    const expected = `${workerIdForBranch(branch)}${digest === undefined ? "" : ` or ${digest}`}`;
    throw usage(`--worker-id ${JSON.stringify(workerId)} is not an id of branch ${branch} (${expected})`);
  }
  return { workerId };
}

export interface SpawnResult {
  record: WorkerRecord;
  tmuxSession: string | null;
  /**
   * A worker an interrupted spawn left on its host, recorded now: its status there (it may have finished); a
   * pending one's: pending, or blocked when a prerequisite has failed or was removed already.
   */
  status?: string;
}

/** The commit a worker starts from, and whether git has said it is one (see readBase). */
export interface SpawnBase {
  sha: string;
  checked: boolean;
}

/** --from that names no commit; without --from, a repository whose HEAD has none yet (no --from was typed). */
export function notACommit(from: string | undefined, main: Repo): OrchError {
  if (from === undefined) {
    const why = `${main.root} has no commit yet to start a worker from`;
    return new OrchError("not_found", `${why}: commit first, or give --from`);
  }
  return new OrchError("not_found", `--from ${asGiven(from)} is not a commit in ${main.root}`);
}

/**
 * --from as a commit: HEAD from git's files, any other name resolved by git. A full commit id is taken as
 * given, unchecked: git worktree add refuses an id that is not there, and spawn says why then (one git
 * process less on every spawn a driving orch makes on its host).
 */
async function readBase(main: Repo, from: string | undefined): Promise<SpawnBase> {
  if (from === undefined || from === "HEAD") {
    const head = readRefFromFiles(main, "HEAD");
    if (head && "sha" in head) return { sha: head.sha, checked: true };
  }
  if (from !== undefined && isFullCommitId(from)) return { sha: from, checked: false };
  const sha = await gitAdapter.resolveCommit(main.root, from ?? "HEAD");
  if (!sha) throw notACommit(from, main);
  return { sha, checked: true };
}

/** What making a worker here reads from git before anything else: gtr's and orch's settings, and the base. */
export interface SpawnInputs {
  settings: Promise<gitAdapter.GitSettings>;
  base: Promise<SpawnBase>;
}

export function readSpawnInputs(repo: Repo, from: string | undefined): SpawnInputs {
  const main = mainWorktreeOf(repo);
  const inputs = { settings: gitAdapter.readSettings(main.root), base: readBase(main, from) };
  // Read ahead: a spawn refused before it gets to them reports its own error, not theirs.
  inputs.settings.catch(() => undefined);
  inputs.base.catch(() => undefined);
  return inputs;
}

/**
 * The base branch a new worker is told about (a pending worker's recorded one, else the main worktree's
 * branch) and its tip now, so that the next move of the base is told to it (coherence.ts).
 */
export async function startingBase(
  main: Repo,
  pending: WorkerRecord | undefined,
): Promise<{ baseBranch: string | null; baseTip: string | undefined }> {
  const baseBranch = pending
    ? pending.base_branch
    : headBranchFromFiles(main) ?? (await gitAdapter.currentBranch(main.root));
  const baseTip = baseBranch ? await gitAdapter.refCommit(main, `refs/heads/${baseBranch}`) : undefined;
  return { baseBranch, baseTip };
}

/**
 * The workers from `from` along their --after prerequisites to one that waits for `target` (whose record
 * may be gone: rm keeps the waits on it), or undefined when none does.
 */
function waitChain(
  layout: StoreLayout,
  orchestratorId: string,
  from: WorkerRecord,
  target: string,
): string[] | undefined {
  const seen = new Set<string>();
  const walk = (record: WorkerRecord): string[] | undefined => {
    if (seen.has(record.worker_id)) return undefined;
    seen.add(record.worker_id);
    if (!record.pending) return undefined;
    for (const id of record.after ?? []) {
      if (id === target) return [record.worker_id];
      const next = findWorker(layout, orchestratorId, id);
      const rest = next && walk(next);
      if (rest) return [record.worker_id, ...rest];
    }
    return undefined;
  };
  return walk(from);
}

export async function runSpawn(options: SpawnOptions, ctx: Context): Promise<SpawnResult> {
  if (options.host !== undefined && options.after.length === 0) {
    const { spawnOnHost } = await import("../hosts/workers.ts");
    return spawnOnHost({ ...options, host: options.host }, ctx);
  }
  const { layout, session } = await resolveSession(ctx, options.orch);
  const orchestratorId = session.orchestrator_id;
  // The id it gets; one taken (by a worker of this branch or of another) refuses the spawn below.
  const { workerId, existing } = newWorkerId(layout, orchestratorId, options.branch, options.workerId);
  // Every --after worker must exist before anything is looked at or made (bad input: exit 2).
  const named = options.after.map((name) => {
    const found = findWorker(layout, orchestratorId, name);
    if (!found) {
      const why = `no worker ${JSON.stringify(name)} in session ${orchestratorId}; nothing was created`;
      throw new OrchError("invalid", `--after ${asGiven(name)}: ${why}`);
    }
    if (found.worker_id === workerId && found.branch === options.branch) {
      throw new OrchError("invalid", `--after ${name}: a worker cannot wait for itself`);
    }
    // Only a worker removed and spawned again under its id can close a cycle: the others waiting for it still do.
    const chain = waitChain(layout, orchestratorId, found, workerId);
    if (chain) {
      const circle = [workerId, ...chain, workerId].join(" → ");
      const why = `${found.worker_id} waits for ${workerId} already (${circle}), so neither would ever start`;
      throw new OrchError("invalid", `--after ${name}: ${why}; nothing was created`);
    }
    return found.worker_id;
  });
  // Each once, however it was named (by id and by branch): it is waited for and listed once.
  const prerequisites = [...new Set(named)];
  // An unknown host is bad input (exit 2) before anything is recorded. Its agent is the host's to
  // resolve (a name or a command there), so no profile is looked up here.
  if (options.host !== undefined) (await import("../hosts/store.ts")).loadHost(layout, options.host);
  const repo = await requireRepo(ctx);
  // A worker made here now: git reads what it needs while the code that makes it loads.
  const makesNow = options.host === undefined && prerequisites.length === 0;
  const inputs = makesNow ? readSpawnInputs(repo, options.from) : undefined;
  const here = await import("./spawn-here.ts");
  const profile = options.host === undefined ? await here.profileOf(options) : undefined;
  // What a spawn of this worker killed with -9 left (worktree, branch) goes first, so it can be made again.
  const repaired = profile ? await here.repairSpawnsOf(layout, orchestratorId, options.branch, repo.mainRoot) : [];
  for (const line of repaired) ctx.warn(line);
  if (existing) throw alreadyExists(existing);
  const chosen = { ...options, workerId };
  const { baseTipsMoved } = await import("../store/coherence.ts");
  if (prerequisites.length || baseTipsMoved(layout, orchestratorId)) {
    const coherence = await import("./coherence.ts");
    await coherence.reconcile(layout, orchestratorId, repo, ctx);
    const landed = await coherence.landedAmong(layout, orchestratorId, repo, prerequisites);
    if (!prerequisites.every((id) => landed.has(id))) {
      const record = await here.recordPending(layout, orchestratorId, repo, chosen, profile, prerequisites);
      // Blocked from the start when a prerequisite has failed already (or is itself blocked), as status says.
      return { record, tmuxSession: null, status: workerState(layout, record).status };
    }
  }
  if (!profile) {
    // Its prerequisites have all landed already: it starts on its host now, as spawn --host does.
    const { spawnOnHost } = await import("../hosts/workers.ts");
    return spawnOnHost({ ...chosen, host: options.host!, after: [] }, ctx);
  }
  const start = { inputs: inputs ?? readSpawnInputs(repo, options.from) };
  return guardInterrupts(() => here.createAndStart(layout, orchestratorId, repo, chosen, profile, ctx, start));
}

export async function main(args: string[], flags: Flags, ctx: Context): Promise<CommandResult> {
  const { record, tmuxSession, status } = await runSpawn(parseSpawn(args, flags), ctx);
  if (record.pending) {
    const after = (record.after ?? []).join(", ");
    const blocked = status === "blocked";
    return {
      json: {
        success: true, worker_id: record.worker_id, branch: record.branch, worktree_path: null, window_id: null,
        orchestrator_id: record.orchestrator_id, agent: record.agent, base_commit: null, tmux_session: null,
        status: blocked ? "blocked" : "pending", ...(blocked ? { waiting_for: "after" } : {}), after: record.after,
        base_branch: record.base_branch, host: record.host ?? null,
      },
      human: (c) => {
        const have = (record.after ?? []).length > 1 ? "have" : "has";
        const where = record.host ? ` on host ${record.host}` : "";
        if (blocked) {
          const why = `cannot start: of ${after}, one failed, was removed or is blocked (resume it, or rm this one)`;
          return `${c.yellow("blocked")} ${c.bold(record.worker_id)} (${record.branch}): ${why}\n`;
        }
        const when = `starts${where} from ${record.base_branch} when ${after} ${have} landed`;
        return `${c.cyan("pending")} ${c.bold(record.worker_id)} (${record.branch}): ${when}\n`;
      },
    };
  }
  return {
    json: {
      success: true,
      worker_id: record.worker_id,
      branch: record.branch,
      worktree_path: record.worktree_path,
      window_id: record.window_id,
      orchestrator_id: record.orchestrator_id,
      agent: record.agent,
      base_commit: record.base_commit,
      tmux_session: tmuxSession,
      host: record.host ?? null,
      status: status ?? "running",
    },
    human: (c) => {
      const where = `${record.host ? `${record.host}:` : ""}${record.worktree_path}`;
      const window = record.window_id
        ? `  window ${record.window_id} in tmux session ${tmuxSession}, agent: ${record.agent}\n`
        : "  no window (--no-window)\n";
      return `${c.green("spawned")} ${c.bold(record.worker_id)} (${record.branch}) in ${where}\n${window}`;
    },
  };
}
