// What every command needs to know about where it runs: the store, the session, the worker marker.

import fs from "node:fs";
import path from "node:path";
import { locateRepo, type Repo } from "./adapters/repo.ts";
import { OrchError } from "./errors.ts";
import { checkOrchestratorId, checkWorkerId, isOrchestratorId } from "./ids.ts";
import { notAFolder, readJson, storeError } from "./store/files.ts";
import { checkStoreFormat } from "./store/format.ts";
import { StoreLayout } from "./store/layout.ts";
import {
  describeUse, inUse, loadSession, newestOf, pickableSessions, removedFromStore, sessionUse, type SessionRecord,
  type SessionUse,
} from "./store/sessions.ts";

export interface Context {
  cwd: string;
  env: NodeJS.ProcessEnv;
  /** A line for stderr (warnings, progress); never stdout. */
  warn: (line: string) => void;
  /** Aborted when orch mcp's client cancels the tool call: a wait (await) ends at its next look. */
  signal?: AbortSignal;
}

/** Written into a worker worktree's private git dir at spawn; read back by notify, inbox and the hooks. */
export interface WorkerMarker {
  orchestrator_id: string;
  worker_id: string;
  branch: string;
  base_commit: string;
  store: string;
}

export const MARKER_FILE = "orch-worker.json";

export function repoOf(ctx: Context): Promise<Repo | undefined> {
  return locateRepo(ctx.cwd);
}

export async function requireRepo(ctx: Context): Promise<Repo> {
  const repo = await repoOf(ctx);
  if (!repo) throw new OrchError("not_found", `not inside a git repository: ${ctx.cwd}`);
  return repo;
}

/** $ORCH_HOME, else .orch/ in the main worktree of the repository, else the nearest .orch/ above. */
export async function storeRootFor(ctx: Context, dir = ctx.cwd): Promise<string | undefined> {
  if (ctx.env.ORCH_HOME) return path.resolve(ctx.cwd, ctx.env.ORCH_HOME);
  const repo = await locateRepo(dir);
  if (repo) return path.join(repo.projectRoot, ".orch");
  for (let d = path.resolve(dir); ; d = path.dirname(d)) {
    try {
      if (fs.statSync(path.join(d, ".orch")).isDirectory()) return path.join(d, ".orch");
    } catch {
      // keep looking upwards
    }
    if (path.dirname(d) === d) return undefined;
  }
}

/** The folder in a repository's git dir that lists the sessions orch created in its store. */
export const SESSION_REGISTRY = "orch-sessions";

/**
 * The store for `dir` (StoreLayout), or undefined when there is none to find. The store of a repository
 * must be a real folder: a symbolic link at .orch (which a repository can commit) is refused, never followed.
 * A store of a newer format than this orch reads is refused before anything in it is read or written.
 */
export async function storeLayoutFor(ctx: Context, dir = ctx.cwd): Promise<StoreLayout | undefined> {
  const layout = await findStoreLayout(ctx, dir);
  if (layout) checkStoreFormat(layout.root);
  return layout;
}

async function findStoreLayout(ctx: Context, dir: string): Promise<StoreLayout | undefined> {
  if (ctx.env.ORCH_HOME) return new StoreLayout(path.resolve(ctx.cwd, ctx.env.ORCH_HOME));
  const repo = await locateRepo(dir);
  if (!repo) {
    const root = await storeRootFor(ctx, dir);
    return root === undefined ? undefined : new StoreLayout(root);
  }
  const root = path.join(repo.projectRoot, ".orch");
  let stat: fs.Stats | undefined;
  try {
    stat = fs.lstatSync(root);
  } catch {
    stat = undefined;
  }
  if (stat !== undefined && !stat.isDirectory()) {
    const what = notAFolder(stat);
    const why = `${root} is ${what}: orch never uses it as its store (remove it, then orch init; or set ORCH_HOME)`;
    throw new OrchError("store", why);
  }
  return new StoreLayout(root, path.join(repo.commonDir, SESSION_REGISTRY));
}

export async function storeLayout(ctx: Context): Promise<StoreLayout> {
  const layout = await storeLayoutFor(ctx);
  if (!layout) {
    const why = "no orch store here: run orch inside your git repository (after orch init), or set ORCH_HOME";
    throw new OrchError("not_found", why);
  }
  return layout;
}

export async function readWorkerMarker(ctx: Context): Promise<WorkerMarker | undefined> {
  const repo = await repoOf(ctx);
  if (!repo || repo.gitDir === repo.commonDir) return undefined;
  try {
    return readJson<WorkerMarker>(path.join(repo.gitDir, MARKER_FILE));
  } catch {
    return undefined;
  }
}

export interface SessionRef {
  layout: StoreLayout;
  session: SessionRecord;
  marker: WorkerMarker | undefined;
}

/** --orch ID, else $ORCH_ID, else the worker marker, else the newest session in the store. */
export async function resolveSession(
  ctx: Context,
  orchFlag: string | undefined,
  knownMarker?: WorkerMarker,
): Promise<SessionRef> {
  let id: string | undefined;
  const envId = ctx.env.ORCH_ID;
  if (orchFlag !== undefined) id = checkOrchestratorId(orchFlag, "--orch id");
  else if (envId !== undefined && envId !== "") id = checkOrchestratorId(envId, "$ORCH_ID");
  const marker = knownMarker ?? (await readWorkerMarker(ctx));
  if (id === undefined && marker) {
    id = checkOrchestratorId(marker.orchestrator_id, "orchestrator id in the worker marker");
  }
  const layout = await storeLayout(ctx);
  if (id === undefined) {
    let unreadable = 0;
    try {
      const sessions = pickableSessions(layout, (line) => {
        unreadable++;
        ctx.warn(line);
      });
      id = newestOf(sessions)?.orchestrator_id;
      if (id !== undefined && sessions.length > 1) warnSharedStore(layout, sessions, id, ctx);
    } catch (error) {
      throw storeError("read the store at", layout.root, error);
    }
    if (!id && unreadable) {
      // Said above, each with its fix; "run orch init first" alone would hide them behind a new session.
      const which = unreadable === 1 ? "the one above cannot be read" : `the ${unreadable} above cannot be read`;
      throw new OrchError("not_found", `no usable orchestrator session in ${layout.root}: ${which} ` +
        "(fix or remove it, or run orch init for a new one)");
    }
    if (!id) {
      const removed = removedFromStore(layout);
      throw new OrchError("not_found", `no orchestrator session in ${layout.root}${removed || ": run orch init first"}`);
    }
  }
  return { layout, session: loadSession(layout, id), marker };
}

/**
 * Says, in one line on stderr, that the newest session is taken while another one in the store is in use
 * (sessionUse): two orchestrators at one repository (two Claude Code sessions, each with its orch init), one of
 * whose commands came without --orch (an agent's shell forgets ORCH_ID between calls). The newest may be the
 * other's: its poll would take the other's messages, handed out once, or its clean and land act on the other's
 * workers. The contract's rule stands (the newest is taken); the line names the sessions and --orch. One session
 * in use, or none, says nothing.
 */
function warnSharedStore(layout: StoreLayout, sessions: SessionRecord[], newestId: string, ctx: Context): void {
  let uses: SessionUse[];
  try {
    uses = sessions.map((record) => sessionUse(layout, record));
  } catch {
    return; // a folder that cannot be read loses only this line; the command reads what it needs itself
  }
  if (!uses.some((use) => use.orchestrator_id !== newestId && inUse(use))) return;
  const named = uses.filter((use) => use.orchestrator_id === newestId || inUse(use))
    .sort((a, b) => (a.created_at < b.created_at ? -1 : a.created_at > b.created_at ? 1 : 0));
  const list = named.map((use) => {
    const newest = use.orchestrator_id === newestId ? "the newest; " : "";
    return `${use.orchestrator_id} (${newest}${describeUse(use)})`;
  });
  ctx.warn(`more than one orchestrator session in ${layout.root} is in use: ${list.join(", ")}; taking the ` +
    `newest, ${newestId}: if yours is another, name it with --orch ID (or $ORCH_ID)`);
}

/**
 * The worker this process speaks for: the worktree's marker, else $ORCH_WORKER. A $ORCH_WORKER that
 * names another worker is ignored with a warning: an environment can be inherited from elsewhere
 * (a shared agent server, a shell started in another worktree), the marker cannot.
 */
export function currentWorkerId(ctx: Context, marker: WorkerMarker | undefined): string | undefined {
  const fromEnv = ctx.env.ORCH_WORKER || undefined;
  if (!marker) return fromEnv === undefined ? undefined : checkWorkerId(fromEnv, "$ORCH_WORKER");
  if (fromEnv !== undefined && fromEnv !== marker.worker_id) {
    const id = marker.worker_id;
    ctx.warn(`$ORCH_WORKER is ${fromEnv} but this worktree belongs to worker ${id}: speaking as ${id}`);
  }
  return marker.worker_id;
}

/**
 * The store a worker marker names, or where it went: the marker names the store by the path it had at spawn, so
 * once the repository was moved (and `git worktree repair` mended the worktree's link) that path is gone while
 * the repository's own store, found through git, holds the marker's session.
 */
async function markedStore(ctx: Context, marker: WorkerMarker): Promise<string | undefined> {
  if (!marker.store || fs.existsSync(marker.store) || !isOrchestratorId(marker.orchestrator_id)) return marker.store;
  const repo = await repoOf(ctx);
  if (!repo) return marker.store;
  const moved = path.join(repo.projectRoot, ".orch");
  if (moved === marker.store) return marker.store;
  const session = new StoreLayout(moved).sessionDir(marker.orchestrator_id);
  return fs.existsSync(session) ? moved : marker.store;
}

/**
 * removedFromStore for a worker's session in its repository's store, or "": what to say when that store, or the
 * session in it, is not there (looked at only once the session was not found, so a worker's notify pays nothing
 * for it).
 */
async function removedFromRepositoryStore(ctx: Context, store: string, orchestratorId: string): Promise<string> {
  const layout = new StoreLayout(store);
  if (fs.existsSync(layout.sessionDir(orchestratorId)) || !isOrchestratorId(orchestratorId)) return "";
  const repo = await repoOf(ctx);
  if (!repo || path.join(repo.projectRoot, ".orch") !== store) return "";
  const registered = new StoreLayout(store, path.join(repo.commonDir, SESSION_REGISTRY));
  return removedFromStore(registered, fs.existsSync(store) ? orchestratorId : undefined);
}

/**
 * The session and worker of a worker-side command (notify, inbox, the hooks). Inside a worker's
 * worktree the marker decides the orchestrator and the store too; $ORCH_ID and $ORCH_HOME that
 * disagree with it are ignored with a warning (--orch still wins). Elsewhere: as resolveSession.
 */
export async function resolveWorkerSession(
  ctx: Context,
  orchFlag: string | undefined,
): Promise<SessionRef & { workerId: string | undefined }> {
  const marker = await readWorkerMarker(ctx);
  if (!marker) {
    let ref: SessionRef;
    try {
      ref = await resolveSession(ctx, orchFlag);
    } catch (error) {
      // No store through the environment either: a worktree cut off from its repository says how to mend that.
      const { brokenWorktreeLinkAt } = await import("./adapters/repo.ts");
      throw brokenWorktreeLinkAt(ctx.cwd) ?? error;
    }
    return { ...ref, workerId: currentWorkerId(ctx, undefined) };
  }
  const env = { ...ctx.env };
  if (env.ORCH_ID && env.ORCH_ID !== marker.orchestrator_id) {
    const id = marker.orchestrator_id;
    ctx.warn(`$ORCH_ID is ${env.ORCH_ID} but this worktree's worker reports to ${id}: using ${id}`);
  }
  delete env.ORCH_ID;
  const store = await markedStore(ctx, marker);
  // The agent's $ORCH_HOME is the marker's store, named where the repository was when the worker started.
  const given = env.ORCH_HOME ? path.resolve(ctx.cwd, env.ORCH_HOME) : undefined;
  if (given !== undefined && store && given !== store && given !== marker.store) {
    ctx.warn(`$ORCH_HOME is ${env.ORCH_HOME} but this worktree's store is ${store}: using ${store}`);
  }
  if (store) env.ORCH_HOME = store;
  try {
    const ref = await resolveSession({ ...ctx, env }, orchFlag, marker);
    return { ...ref, workerId: currentWorkerId(ctx, marker) };
  } catch (error) {
    // The store, or the session in it, was removed (git clean -x), maybe made anew by orch init since: said so.
    const missing = error instanceof OrchError && error.details.session_missing === true && orchFlag === undefined;
    const removed = missing && store ? await removedFromRepositoryStore(ctx, store, marker.orchestrator_id) : "";
    if (!removed) throw error;
    const what = fs.existsSync(store!) ? (error as OrchError).message : `no orch store at ${store}`;
    throw new OrchError("not_found", `${what}${removed}`, { session_missing: true });
  }
}
