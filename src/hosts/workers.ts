// Workers on hosts: what spawn, stop, rm, send/reply, status, await and the code-taking commands do
// when the worker lives on another host. Each is the host's own orch (`orch … --json` in its clone)
// or git over the same ssh; the local store keeps a record with `host` set.

import fs from "node:fs";
import path from "node:path";
import * as gitAdapter from "../adapters/git.ts";
import type { NotEnded } from "../adapters/processes.ts";
import { mainWorktreeOf, readRefFromFiles } from "../adapters/repo.ts";
import { answerTimeoutMs, checkSshSetup, HostUnreachable } from "../adapters/ssh.ts";
import { requireRepo, resolveSession, type Context } from "../context.ts";
import { aboutHost, asGiven, HostError, OrchError } from "../errors.ts";
import { isFullCommitId, isWorkerIdOfBranch } from "../ids.ts";
import {
  readSyncOwed, rememberBaseTipIfNew, removeSyncOwed, SYNC_OWED_ON_HOST, writeSyncOwed,
} from "../store/coherence.ts";
import { readJson, writeJsonAtomic } from "../store/files.ts";
import { withLock } from "../store/lock.ts";
import type { StoreLayout } from "../store/layout.ts";
import type { RequestAnswer } from "../store/requests.ts";
import type { Message } from "../store/messages.ts";
import {
  alreadyExists, createWorker, findWorker, forgetWorker, newWorkerId, saveWorker, type WorkerRecord,
} from "../store/workers.ts";
import { recordWorkerEvent } from "../store/worker-status.ts";
import type { RemoveOptions, RemoveOutcome, StopOutcome } from "../commands/lifecycle.ts";
import {
  BRANCH_NOT_NEW, notACommit, startingBase, type SpawnOptions, type SpawnResult,
} from "../commands/spawn.ts";
import { nextTryText, noteHostReached, noteSilentFailure, silentHost, silentSince } from "./backoff.ts";
import type { WorkerPlace } from "./place.ts";
import { hostLacksFlag, RemoteHost } from "./remote.ts";
import { findHost, findHostSession, hostIdOf, isHostOf, loadHost, saveHostSession } from "./store.ts";

export type RemoteWorkerRecord = WorkerRecord & { host: string };

export function hostOf(layout: StoreLayout, record: RemoteWorkerRecord, ctx: Context): RemoteHost {
  const gone = hostGone(layout, record);
  if (gone) throw gone;
  return new RemoteHost(findHost(layout, record.host)!, ctx.env);
}

/**
 * Why nothing reaches the host a worker was made on, or undefined while its record here is that host's: it
 * was forgotten (host rm --force), or its name now names another host (added again with another DEST or
 * --path), whose clone must never be taken for the worker's.
 */
export function hostGone(layout: StoreLayout, record: RemoteWorkerRecord): HostError | undefined {
  const host = findHost(layout, record.host);
  if (!host) return forgottenHost(record.host);
  return isHostOf(host, record.host_id) ? undefined : replacedHost(record.host);
}

/** Does the worker's host name name another host now than the one it was made on (see hostGone)? */
export function hostReplaced(layout: StoreLayout, record: RemoteWorkerRecord): boolean {
  const host = findHost(layout, record.host);
  return host !== undefined && !isHostOf(host, record.host_id);
}

/** Why a worker's host is gone when its name names another host now (see hostGone). */
function replacedWhy(name: string): string {
  return `host ${name} is another host now (removed and added again with another DEST or --path since the ` +
    "worker was made there)";
}

/** A worker's host name was removed (host rm --force) and added again as another host: see hostGone. */
export function replacedHost(name: string): HostError {
  const fix = "orch rm forgets its workers here (their worktrees stay on the host they were made on, reached " +
    "again only once this name is added back as it was)";
  return new HostError("not_found", name, `${replacedWhy(name)}: ${fix}`);
}

/**
 * A worker's host was forgotten here (host rm --force) while the worker stayed recorded: nothing reaches it.
 * Not bad input (the worker was named rightly), so not_found, with what to do.
 */
export function forgottenHost(name: string): HostError {
  const fix = `orch rm forgets its workers here (orch host add ${name} again, as it was, then orch rm, removes ` +
    "them there too)";
  return new HostError("not_found", name, `host ${name} is no longer known (orch host rm --force?): ${fix}`);
}

/**
 * The session on the host that belongs to this local session: made with `orch init` there, once, under a
 * lock, so that spawns to a host at once share it (each making its own, all but one would be lost: their
 * workers' reports unread for ever). `lost`: the id the host no longer has, replaced unless another spawn
 * has replaced it meanwhile.
 */
export async function remoteSessionId(
  layout: StoreLayout,
  orchestratorId: string,
  host: RemoteHost,
  lost?: string,
): Promise<string> {
  const current = () => {
    const link = findHostSession(layout, orchestratorId, host.name);
    // A link to the session on a host of this name before (removed, added again elsewhere) is none.
    const known = link && isHostOf(host.record, link.host_id) ? link.remote_orchestrator_id : undefined;
    return known === lost ? undefined : known;
  };
  const known = current();
  if (known) return known;
  const lock = path.join(layout.sessionDir(orchestratorId), `host-session-${host.name}`);
  return withLock(lock, `opening a session on host ${host.name}`, async () => {
    const madeMeanwhile = current();
    if (madeMeanwhile) return madeMeanwhile;
    await refuseForeignClone(host);
    const doc = await host.orch(["init"]);
    const id = String(doc.orchestrator_id);
    const made = new Date().toISOString();
    const link = { host: host.name, remote_orchestrator_id: id, created_at: made, host_id: hostIdOf(host.record) };
    saveHostSession(layout, orchestratorId, link);
    return id;
  });
}

/** Exit 4 when the clone's git lacks orch's setting (host add's), 3 when there is no clone to enter. */
const ORCHS_CLONE = 'command cd -- "$1" || exit 3; ' +
  '[ "$(git config receive.denyCurrentBranch)" = updateInstead ] || exit 4';

/**
 * A session is made only in the clone host add made: one removed and made anew by hand there (the user's
 * own checkout, which host add refuses too) would get orch's store, worktrees and branches. A missing one is
 * the host's orch to report, as for any command.
 */
async function refuseForeignClone(host: RemoteHost): Promise<void> {
  const looked = await host.run(host.script(ORCHS_CLONE, "orch-clone", [host.record.path]));
  if (looked.code !== 4) return;
  const why = `${host.record.path} on host ${host.name} is not orch's clone (it lacks host add's git setting ` +
    "receive.denyCurrentBranch updateInstead: made anew by hand?)";
  throw new HostError("refused", host.name, `${why}: nothing was made there; move it away, then ` +
    `${host.addAgain()} makes orch's clone again`, { foreign_clone: true });
}

export function remoteSessionOf(layout: StoreLayout, record: RemoteWorkerRecord): string {
  const link = findHostSession(layout, record.orchestrator_id, record.host);
  if (!link) throw new OrchError("not_found", `no session on host ${record.host} for ${record.orchestrator_id}`);
  return link.remote_orchestrator_id;
}

/**
 * orch spawn --host: the base commit (and the branch, when it exists here) goes to the host's clone
 * with git push over ssh, the host's orch makes the worker, and the worker is recorded here too.
 * `pending`: a worker recorded by spawn --after --host whose prerequisites have landed (its caller
 * holds the start claim); its record becomes the remote worker's, keeping what it waited for.
 */
export async function spawnOnHost(
  options: SpawnOptions & { host: string },
  ctx: Context,
  pending?: WorkerRecord,
): Promise<SpawnResult> {
  const { layout, session } = await resolveSession(ctx, options.orch);
  const host = new RemoteHost(loadHost(layout, options.host), ctx.env);
  const main = mainWorktreeOf(await requireRepo(ctx));
  // This session's workers, here and on hosts, decide its id (a pending worker has its own already); the
  // host's orch is told it (--worker-id), so both record it under one id.
  const orchestratorId = session.orchestrator_id;
  const choice = pending ? { workerId: pending.worker_id } : newWorkerId(layout, orchestratorId, options.branch);
  const { workerId, existing } = choice;
  if (existing) throw alreadyExists(existing);
  // HEAD from git's files (no git process); any other --from is git's to resolve.
  const head = options.from === undefined || options.from === "HEAD" ? readRefFromFiles(main, "HEAD") : undefined;
  const fromSha = head && "sha" in head ? head.sha : await gitAdapter.resolveCommit(main.root, options.from ?? "HEAD");
  if (!fromSha) throw notACommit(options.from, main);
  const local = readRefFromFiles(main, `refs/heads/${options.branch}`);
  const branchHere = local ? "sha" in local : await gitAdapter.branchExists(main.root, options.branch);
  // Its commits come back into refs/heads/B here (git fetch), which git refuses for a branch checked out here.
  const checkedOutAt = branchHere ? await gitAdapter.worktreeOfBranch(main.root, options.branch) : undefined;
  if (checkedOutAt !== undefined) {
    const why = "a worker's commits come back into it with git fetch, which git refuses for a branch checked out";
    throw new OrchError("refused", `branch ${options.branch} is checked out at ${checkedOutAt}: ${why} ` +
      "(switch that worktree to another branch, or spawn another one)");
  }
  // The branch goes over as it is here, or starts at the base: either way the host checks it out as is. Never
  // over a worktree there that has it checked out (a worker of another session sharing the clone, or one an
  // interrupted spawn of this session left): that push is refused ("checked-out"), and the host's spawn says
  // whose. The base goes only where the host has no such branch ("exists" otherwise): one there that is not a
  // branch here is another repository's or session's (sharing the clone), and its commits are its own.
  let madeByPush = false;
  const push = async (source: string): Promise<"pushed" | "checked-out" | "exists"> => {
    const refspec = `${source}:refs/heads/${options.branch}`;
    const onlyNew = `--force-with-lease=refs/heads/${options.branch}:`;
    const args = ["--porcelain", branchHere ? "--force" : onlyNew, host.gitUrl(), refspec];
    const pushed = await host.git("push", args, main.root, { sparingCheckedOut: true });
    madeByPush ||= pushed.code === 0 && /^\*\t.*\[new branch\]$/m.test(pushed.stdout);
    if (pushed.code === 0) return "pushed";
    // --porcelain puts the ref's line, with git's reason, on standard output.
    const said = `${pushed.stdout}\n${pushed.stderr}`;
    if (/branch is currently checked out/.test(said)) return "checked-out";
    if (!branchHere && /\(stale info\)/.test(said)) return "exists";
    // Its refusal first ("!", the refspec, "[remote rejected] (why)"), as git's --quiet says it on stderr.
    const rejected = pushed.stdout.split("\n").filter((line) => line.startsWith("!\t"))
      .map((line) => line.split("\t").slice(2).join(" "));
    throw host.gitFailure(`push ${options.branch} to`, { ...pushed, stderr: [...rejected, pushed.stderr].join("\n") });
  };
  if (branchHere) await push(`refs/heads/${options.branch}`);
  // A clone that is not orch's (made anew by hand) keeps no branch this spawn made there before it knew.
  const sessionThere = async (lost?: string): Promise<string> => {
    try {
      return await remoteSessionId(layout, session.orchestrator_id, host, lost);
    } catch (error) {
      if (madeByPush && error instanceof HostError && error.details.foreign_clone === true) {
        const deletion = ["--quiet", host.gitUrl(), "--delete", `refs/heads/${options.branch}`];
        await host.git("push", deletion, main.root).catch(() => undefined);
      }
      throw error;
    }
  };
  let remoteId = await sessionThere();
  const args = ["--from", fromSha, "--agent", options.agent];
  // Not an id an earlier build gave a pending worker (the host takes only the branch's contract or digest id).
  if (isWorkerIdOfBranch(workerId, options.branch)) args.push("--worker-id", workerId);
  if (options.plan) args.push("--plan");
  if (!options.window) args.push("--no-window");
  if (options.backend) args.push("--backend", options.backend);
  // Not a branch here: the host makes it from the base, and refuses one it has (not this repository's to use).
  let newBranch = !branchHere;
  // remoteId may change before a second try (a new session there): the arguments are made at each.
  const spawnThere = () => host.orch(
    ["spawn", options.branch, "--orch", remoteId, ...args, ...(newBranch ? ["--new-branch"] : []), "-"],
    { input: options.prompt },
  );
  const notOurs = () => {
    const why = "a worker of another repository or session sharing its clone made it, or it was deleted here since";
    const fix = `spawn under another branch name, or delete it there (git -C ${host.record.path} branch -D ` +
      `${options.branch} on the host) to start it anew`;
    return new OrchError("exists", `branch ${options.branch} is on host ${host.name} but is no branch here ` +
      `(${why}): nothing was made; ${fix}`);
  };
  let doc: Record<string, unknown> | undefined;
  let adopted = false;
  let basePushed = branchHere;
  let sessionMade = false;
  while (!doc) {
    try {
      doc = await spawnThere();
    } catch (error) {
      // The host lost this session (its store removed, its clone made anew): a new one there, once.
      if (!sessionMade && error instanceof OrchError && error.details.session_missing === true) {
        sessionMade = true;
        remoteId = await sessionThere(remoteId);
        continue;
      }
      // An orch there older than --new-branch: it checks out a branch it has as it is, as before (host add
      // upgrades it).
      if (newBranch && hostLacksFlag(error, "--new-branch")) {
        newBranch = false;
        continue;
      }
      const refused = error instanceof OrchError && error.kind === "exists" && error.message.includes(BRANCH_NOT_NEW);
      if (newBranch && refused) throw notOurs();
      const orphan = pending
        ? undefined
        : await leftByInterruptedSpawn(error, host, remoteId, workerId, options.branch);
      if (orphan) {
        ctx.warn(`worker ${workerId} was made on host ${host.name} by an earlier spawn of this session whose ` +
          "connection broke before it was recorded here: recorded now as it is there " +
          "(its agent has that spawn's prompt)");
        doc = orphan;
        adopted = true;
        continue;
      }
      // The base is usually there already (host add pushed it, or an earlier spawn did), which saves a
      // push; when it is not, the host's spawn refuses before it changes anything, and it is pushed now.
      const baseMissing = error instanceof OrchError && error.kind === "not_found" &&
        error.message.includes(`--from ${fromSha} is not a commit`);
      if (basePushed || !baseMissing) throw error;
      basePushed = true;
      const pushed = await push(fromSha);
      if (pushed === "exists") throw notOurs();
      // The branch there is the base this spawn pushed.
      newBranch = false;
      if (pushed === "checked-out") {
        const whose = "a worker of another session sharing its clone?";
        throw new OrchError("exists", `branch ${options.branch} is checked out in a worktree on host ${host.name} ` +
          `(${whose}): nothing was pushed; spawn under another branch name`);
      }
    }
  }
  // The id names the worker's folder here: only the one asked for, or one the host's orch makes of the branch
  // (an id it was not told), never a path or another worker's id that a host's answer names.
  const madeId = String(doc.worker_id);
  if (madeId !== workerId && !isWorkerIdOfBranch(madeId, options.branch)) {
    throw new HostError("failed", host.name, `on host ${host.name}: orch spawn answered worker id ` +
      `${asGiven(madeId)}, not ${workerId} nor one of branch ${options.branch}: nothing was recorded here`);
  }
  // Its base goes into git's command lines here (apply, land): only a commit id, never an option such as
  // --output=FILE, which git log would write.
  const baseCommit = doc.base_commit ?? fromSha;
  if (typeof baseCommit !== "string" || !isFullCommitId(baseCommit)) {
    throw new HostError("failed", host.name, `on host ${host.name}: orch spawn answered base commit ` +
      `${asGiven(String(baseCommit))}, which is no commit id: nothing was recorded here`);
  }
  const { baseBranch, baseTip } = await startingBase(main, pending);
  const record: RemoteWorkerRecord = {
    ...(pending?.after ? { after: pending.after, after_landed: pending.after_landed } : {}),
    worker_id: madeId,
    branch: options.branch,
    orchestrator_id: session.orchestrator_id,
    worktree_path: String(doc.worktree_path),
    base_commit: baseCommit,
    base_branch: baseBranch,
    backend: "git",
    agent: String(doc.agent ?? options.agent),
    agent_argv: [],
    window_id: typeof doc.window_id === "string" ? doc.window_id : null,
    tmux_session: typeof doc.tmux_session === "string" ? doc.tmux_session : null,
    created_at: pending?.created_at ?? new Date().toISOString(),
    host: host.name,
    host_id: hostIdOf(host.record),
    ...(baseTip ? { base_tip: baseTip } : {}),
  };
  if (pending) {
    // The prompt was kept when it was recorded pending.
    saveWorker(layout, record);
  } else if (!createWorker(layout, record, options.prompt)) {
    // Recorded by another spawn meanwhile. One that recorded this very worker (a spawn of the same branch to
    // this host, which made it or found it made) keeps it; anything else leaves it here to remove.
    const winner = findWorker(layout, session.orchestrator_id, workerId);
    const same = winner?.host === host.name && winner.worktree_path === record.worktree_path && !winner.pending;
    if (!same) await host.orch(["rm", record.worker_id, "--orch", remoteId, "--force", "--yes"]).catch(() => undefined);
    throw new OrchError("exists", `worker ${workerId} was created by another spawn at the same time`);
  }
  if (baseBranch && baseTip) {
    rememberBaseTipIfNew(layout, session.orchestrator_id, await requireRepo(ctx), baseBranch, baseTip);
  }
  return { record, tmuxSession: record.tmux_session, ...(adopted ? { status: String(doc.status) } : {}) };
}

/**
 * The host's view of worker `workerId` when its spawn there was refused because the host's session (this
 * local session's own) has it already while nothing here records it: a spawn whose connection broke (or
 * whose orch was killed) after the host made it. Undefined for any other failure.
 */
async function leftByInterruptedSpawn(
  error: unknown, host: RemoteHost, remoteId: string, workerId: string, branch: string,
): Promise<Record<string, unknown> | undefined> {
  if (!(error instanceof OrchError) || error.kind !== "exists") return undefined;
  if (!error.message.includes(`worker ${workerId} already exists in session ${remoteId}`)) return undefined;
  const status = await host.orch(["status", "--orch", remoteId]);
  const workers = Array.isArray(status.workers) ? (status.workers as Record<string, unknown>[]) : [];
  return workers.find((w) => w.worker_id === workerId && w.branch === branch);
}

export async function stopOnHost(layout: StoreLayout, record: RemoteWorkerRecord, ctx: Context): Promise<StopOutcome> {
  const args = ["stop", record.worker_id, "--orch", remoteSessionOf(layout, record)];
  const doc = await hostOf(layout, record, ctx).orch(args);
  recordWorkerEvent(layout, record, "stopped", "stopped by the orchestrator");
  return endedOnHost(doc, record, ctx);
}

/** What the host's stop or rm ended of the worker, as a local one reports it: what it could not end is said. */
function endedOnHost(doc: Record<string, unknown>, record: RemoteWorkerRecord, ctx: Context): StopOutcome {
  const notEnded = Array.isArray(doc.not_ended) ? (doc.not_ended as NotEnded[]) : undefined;
  for (const left of notEnded ?? []) {
    const where = `of worker ${record.worker_id} on host ${record.host}`;
    ctx.warn(`could not end process ${left.pid} (${left.name}) ${where}: ${left.reason}`);
  }
  return {
    agent_stopped: doc.agent_stopped === true,
    window_closed: doc.window_closed === true,
    // An older orch on the host does not say.
    ...(typeof doc.processes_ended === "number" ? { processes_ended: doc.processes_ended } : {}),
    ...(notEnded ? { not_ended: notEnded } : {}),
  };
}

/** Brings a remote worker's branch here (refs/heads/B, as the host has it), for diff, apply, merge, land and clean. */
export async function fetchBranchFromHost(
  layout: StoreLayout, record: RemoteWorkerRecord, mainRoot: string, ctx: Context,
): Promise<void> {
  const host = hostOf(layout, record, ctx);
  const ref = `refs/heads/${record.branch}`;
  const fetchArgs = ["--quiet", "--no-tags", "--force", host.gitUrl(), `+${ref}:${ref}`];
  const fetched = await host.git("fetch", fetchArgs, mainRoot);
  if (fetched.code !== 0) throw host.gitFailure(`fetch ${record.branch} from`, fetched);
}

/** `git worktree list --porcelain -z` in the host's clone; exit 3 when the clone is missing. */
const LIST_WORKTREES = 'command cd -- "$1" || exit 3; exec git worktree list --porcelain -z';

/**
 * git deletes no branch checked out in a worktree, here or on the host (its receive-pack refuses the push):
 * found only after the host's rm, the worker's worktree there would be gone and its branch left on the host.
 */
async function refuseBranchCheckedOutElsewhere(host: RemoteHost, record: RemoteWorkerRecord, mainRoot: string) {
  const here = await gitAdapter.worktreesOfBranch(mainRoot, record.branch);
  if (here.length) throw gitAdapter.branchInUse(record.branch, here[0]!);
  const listed = await host.run(host.script(LIST_WORKTREES, "orch-worktrees", [host.record.path]));
  // A clone that cannot be listed (missing there) is the host's rm to report.
  if (listed.code !== 0) return;
  const own = path.posix.normalize(record.worktree_path);
  const withBranch = gitAdapter.worktreesWithBranch(listed.stdout, record.branch);
  const there = withBranch.find((dir) => path.posix.normalize(dir) !== own);
  if (there !== undefined) throw gitAdapter.branchInUse(record.branch, `${there} on host ${host.name}`);
}

/** Exit 0 when the path is there, 1 when it is not. */
const PATH_THERE = 'if command test -e "$1" || command test -L "$1"; then exit 0; fi; exit 1';

/**
 * What rm says of a worker's worktree on a host it only forgets the worker for: one an earlier rm whose
 * answer was lost (or the host's own rm) removed is said to be gone, not left; one it cannot look at
 * (the host forgotten here, or not answering) is left, if there is one.
 */
async function worktreeLeftOnHost(host: RemoteHost | undefined, worktree: string): Promise<string> {
  const looked = host?.run(host.script(PATH_THERE, "orch-path-there", [worktree])).catch(() => undefined);
  const there = (await looked)?.code;
  if (there === 1) return "its worktree there is gone";
  return `its worktree there${there === 0 ? "" : ", if any,"} is left as it is (${worktree})`;
}

/** rm on the host (which refuses a dirty worktree without --force), then the branch if asked, then forget here. */
export async function removeOnHost(
  layout: StoreLayout,
  record: RemoteWorkerRecord,
  options: RemoveOptions,
  ctx: Context,
  mainRoot: string,
): Promise<RemoveOutcome> {
  const ref = `refs/heads/${record.branch}`;
  // The branch here, as last fetched: deleted with the worker only when merged (or with --force).
  const refuseUnmerged = async (): Promise<void> => {
    if (!options.deleteBranch || options.forceBranch) return;
    if (!(await gitAdapter.branchExists(mainRoot, record.branch))) return;
    if (!(await gitAdapter.isMergedInto(mainRoot, ref, "HEAD"))) {
      const fix = "nothing was removed (use --force to delete it anyway)";
      throw new OrchError("refused", `branch ${record.branch} is not merged into ${mainRoot}'s HEAD: ${fix}`);
    }
  };
  const forgottenHere = async (why: string, host?: RemoteHost): Promise<RemoveOutcome> => {
    const left = await worktreeLeftOnHost(host, record.worktree_path);
    ctx.warn(`${record.worker_id} is only forgotten here: ${why}; ${left}`);
    const branchDeleted = options.deleteBranch && (await gitAdapter.branchExists(mainRoot, record.branch));
    if (branchDeleted) await gitAdapter.deleteBranch(mainRoot, record.branch, true);
    forgetWorker(layout, record.orchestrator_id, record.worker_id);
    const { worker_id, branch, worktree_path } = record;
    const nothingDone = { agent_stopped: false, window_closed: false };
    return { worker_id, branch, worktree_path, branch_deleted: branchDeleted, ...nothingDone, forgotten_only: true };
  };
  // Its host forgotten here (orch host rm --force), or its name another host's now: nothing reaches it any
  // more, and the record is all there is.
  const gone = hostGone(layout, record);
  if (gone) {
    await refuseUnmerged();
    const forgotten = `host ${record.host} is no longer known (orch host rm --force?)`;
    return forgottenHere(hostReplaced(layout, record) ? replacedWhy(record.host) : forgotten);
  }
  const host = hostOf(layout, record, ctx);
  if (options.deleteBranch) await refuseBranchCheckedOutElsewhere(host, record, mainRoot);
  if (options.deleteBranch && !options.forceBranch) {
    // A branch the host no longer has (its clone made anew) is judged as it was last fetched here, if it was.
    await fetchBranchFromHost(layout, record, mainRoot, ctx).catch((error: unknown) => {
      if (!(error instanceof HostError) || error.details.branch_missing !== true) throw error;
    });
    await refuseUnmerged();
  } else if (!options.deleteBranch) {
    // The branch is kept: here too, as the host has it, so that a later spawn of it from here pushes it back
    // and starts on its commits (one on the host that is no branch here is refused as another's).
    await fetchBranchFromHost(layout, record, mainRoot, ctx).catch((error: unknown) => {
      if (error instanceof HostUnreachable || !(error instanceof HostError)) throw error;
      if (error.details.branch_missing !== true) ctx.warn(`${record.worker_id}: ${error.message}`);
    });
  }
  const force = options.force ? ["--force"] : [];
  let forgottenOnly: string | undefined;
  const doc = await host.orch(["rm", record.worker_id, "--orch", remoteSessionOf(layout, record), "--yes", ...force])
    .catch((error: unknown): Record<string, unknown> => {
      // The host's orch has nothing of it any more (its store or its session removed there, the clone made
      // anew): it cannot remove anything, and the record here is what keeps the worker listed. A clone that
      // is missing may be back (its agent may still run there): that one is mended first (host add).
      if (!(error instanceof HostError) || error.kind !== "not_found" || error.details.clone_missing) throw error;
      forgottenOnly = error.message;
      return {};
    });
  if (forgottenOnly !== undefined) return forgottenHere(forgottenOnly, host);
  if (doc.record_unreadable === true) {
    return forgottenHere(`its record on host ${record.host} was unreadable, and only that was removed`, host);
  }
  let branchDeleted = false;
  if (options.deleteBranch) {
    const deletion = ["--quiet", host.gitUrl(), "--delete", ref];
    const pushed = await host.git("push", deletion, mainRoot);
    if (pushed.code !== 0) {
      const gitSaid = pushed.stderr.trim().split("\n").pop() ?? "";
      ctx.warn(`could not delete ${record.branch} on host ${record.host}: ${gitSaid}`);
    }
    if (await gitAdapter.branchExists(mainRoot, record.branch)) {
      await gitAdapter.deleteBranch(mainRoot, record.branch, true);
    }
    branchDeleted = pushed.code === 0;
  }
  forgetWorker(layout, record.orchestrator_id, record.worker_id);
  return {
    worker_id: record.worker_id,
    branch: record.branch,
    worktree_path: record.worktree_path,
    branch_deleted: branchDeleted,
    // As the host's rm says of its branch there (gone already, when an rm killed there had deleted it).
    branch_kept: !branchDeleted && doc.branch_kept !== false,
    ...endedOnHost(doc, record, ctx),
  };
}

/** What a send or reply to a remote worker must match to be the same one again (see unsureSendFile). */
function sameSend(a: Message, b: Message): boolean {
  const { text, in_reply_to: inReplyTo } = a.content;
  return a.message_type === b.message_type && text === b.content.text && inReplyTo === b.content.in_reply_to;
}

/**
 * A send to a remote worker whose outcome is unknown (its connection broke after the host's orch had started
 * it): kept here, so that the same send again reuses its id, which the host's orch delivers once.
 */
function unsureSendFile(layout: StoreLayout, record: RemoteWorkerRecord): string {
  return path.join(layout.workerDir(record.orchestrator_id, record.worker_id), "unsure-send.json");
}

function readUnsureSend(file: string): Message | undefined {
  try {
    return readJson<Message>(file);
  } catch {
    // Unusable: a send as if there were none (the host delivers a new id as a new message).
    return undefined;
  }
}

/**
 * send and reply to a remote worker: the host's orch delivers it there (its inbox, its event log, the
 * wake-up of its agent). Returns the message as the host made it, and whether the host woke the agent.
 * The message's id goes along (--message-id), so a send whose connection broke after the host's orch had
 * started is sent again with it, once at once (a new connection) and by the same send run again: the host
 * delivers each id once, whichever of them got through.
 */
export async function deliverOnHost(
  layout: StoreLayout, record: RemoteWorkerRecord, message: Message, ctx: Context,
): Promise<{ sent: Message; woken: boolean }> {
  const host = hostOf(layout, record, ctx);
  const orch = ["--orch", remoteSessionOf(layout, record)];
  const unsureFile = unsureSendFile(layout, record);
  const earlier = readUnsureSend(unsureFile);
  const sending = earlier && sameSend(earlier, message) ? { ...message, id: earlier.id } : message;
  const text = sending.content.text ?? "";
  const args = sending.message_type === "reply" && sending.content.in_reply_to
    ? ["reply", sending.content.in_reply_to, "-", ...orch]
    : ["send", record.worker_id, "-", ...orch];
  const deliver = () => host.orch([...args, "--message-id", sending.id], { input: text }).catch((error: unknown) => {
    // An orch on the host from before --message-id: sent as before, without it.
    if (hostLacksFlag(error, "--message-id")) {
      return host.orch(args, { input: text });
    }
    throw error;
  });
  // An earlier send of it may have arrived, or this one may have.
  let unsure = sending !== message;
  let doc: Record<string, unknown>;
  try {
    doc = await deliver().catch((error: unknown) => {
      if (!(error instanceof HostUnreachable) || !error.commandStarted) throw error;
      unsure = true;
      writeJsonAtomic(unsureFile, sending);
      return deliver();
    });
  } catch (error) {
    if (error instanceof HostUnreachable && (error.commandStarted || unsure)) {
      writeJsonAtomic(unsureFile, sending);
      const command = sending.message_type === "reply" ? "reply" : "send";
      const again = `orch ${command} with the same text again delivers it once`;
      const why = "a connection broke after the host's orch had started it";
      throw new HostError("failed", record.host, `${error.message}; the ${sending.message_type} to ` +
        `${record.worker_id} may have arrived there (${why}): ${again}`);
    }
    throw error;
  }
  fs.rmSync(unsureFile, { force: true });
  const id = String(doc.message_id ?? sending.id);
  const sent = { ...sending, id, created_at: String(doc.created_at ?? sending.created_at) };
  return { sent, woken: doc.woken === true };
}

/**
 * resume on the host: its orch restarts the agent there (its own resume, its window). Recorded here as
 * restarted too, so the local view of the worker (await's default list, land's queue) agrees.
 */
export async function resumeOnHost(
  layout: StoreLayout,
  record: RemoteWorkerRecord,
  prompt: string | undefined,
  ctx: Context,
): Promise<Record<string, unknown>> {
  const args = ["resume", record.worker_id, "--orch", remoteSessionOf(layout, record)];
  const doc = await withText(hostOf(layout, record, ctx), args, "--prompt", prompt);
  const was = String(doc.previous_status);
  recordWorkerEvent(layout, record, "restarted", `resumed on host ${record.host} by the orchestrator (was ${was})`);
  if (typeof doc.window_id === "string" && doc.window_id !== record.window_id) {
    saveWorker(layout, { ...record, window_id: doc.window_id });
  }
  return { ...doc, orchestrator_id: record.orchestrator_id, host: record.host };
}

/**
 * `orch ARGS` on the host with a text flag's value on standard input (--text-on-stdin), as send's text
 * goes: any text fits. A host's orch older than that flag gets it as the quoted argument, as before.
 */
async function withText(
  host: RemoteHost,
  args: string[],
  flag: string,
  text: string | undefined,
): Promise<Record<string, unknown>> {
  if (text === undefined) return host.orch(args);
  return host.orch([...args, "--text-on-stdin"], { input: text }).catch((error: unknown) => {
    if (hostLacksFlag(error, "--text-on-stdin")) return host.orch([...args, flag, text]);
    throw error;
  });
}

export type HostAnswer = Omit<RequestAnswer, "answered_at">;

/** approve / deny on the host: the request lives in the host's store, where the worker's hook waits for it. */
export async function answerOnHost(
  layout: StoreLayout,
  record: RemoteWorkerRecord,
  requestId: string | undefined,
  answer: HostAnswer,
  ctx: Context,
): Promise<Record<string, unknown>> {
  const args = [answer.decision === "allow" ? "approve" : "deny", record.worker_id];
  if (requestId !== undefined) args.push(requestId);
  args.push("--orch", remoteSessionOf(layout, record));
  if (answer.always) args.push("--always");
  const doc = await withText(hostOf(layout, record, ctx), args, "--message", answer.message);
  const verb = answer.decision === "allow" ? "approved" : "denied";
  recordWorkerEvent(layout, record, "answered", `${verb} ${String(doc.waiting_for)} on host ${record.host}`);
  return { ...doc, orchestrator_id: record.orchestrator_id, host: record.host };
}


/** A worker on a host, as a WorkerPlace (place.ts): the host's orch does each operation there. */
export async function hostPlace(layout: StoreLayout, record: RemoteWorkerRecord, ctx: Context): Promise<WorkerPlace> {
  const coherence = await import("./coherence.ts");
  return {
    stop: () => stopOnHost(layout, record, ctx),
    remove: (options, mainRoot) => removeOnHost(layout, record, options, ctx, mainRoot),
    answer: (requestId, decision) => answerOnHost(layout, record, requestId, decision, ctx),
    resume: (prompt) => resumeOnHost(layout, record, prompt, ctx),
    // The host delivers each message id once itself (send's --message-id): `once` holds there.
    deliver: (message) => deliverOnHost(layout, record, message, ctx),
    tell: (repo, notice) => coherence.tellOnHost(layout, repo, record, notice, ctx),
    sync: (repo, request) => coherence.syncOnHost(layout, repo, record, request, ctx),
    syncOwed: () => readSyncOwed(layout, record.orchestrator_id, record.worker_id, SYNC_OWED_ON_HOST),
    oweSync: (owed) => writeSyncOwed(layout, record.orchestrator_id, record.worker_id, SYNC_OWED_ON_HOST, owed),
    settleSync: () => removeSyncOwed(layout, record.orchestrator_id, record.worker_id, SYNC_OWED_ON_HOST),
  };
}

export interface HostViews {
  /** worker id → the host's view of it (its status document's entry). */
  views: Map<string, Record<string, unknown>>;
  unread: number;
  total: number;
  errors: Map<string, string>;
  /** worker id → why its host is not reached, for a worker whose host's name is another host's now. */
  workerErrors: Map<string, string>;
}

/** What each field of a host's view of a worker must be to be taken ("?": or null); the rest is the view here. */
const VIEW_TYPES: Record<string, string> = {
  branch: "string", worktree_path: "string?", status: "string", pr_url: "string?", window_id: "string?",
  alive: "boolean", window_alive: "boolean", agent_alive: "boolean", agent: "string", base_commit: "string?",
  base_branch: "string?", ahead: "number?", behind: "number?", merges_cleanly: "boolean?", conflict_paths: "strings",
  landed: "boolean", after: "strings", created_at: "string", last_activity_at: "string?", waiting_for: "string?",
  request_id: "string?", error: "string", branch_tip: "string?", needs: "string",
};

/**
 * A worker's view as a host's status or await sent it, with each field of the wrong type left out (status,
 * list and await print them as text), or undefined when it names no worker.
 */
export function viewOf(value: unknown): Record<string, unknown> | undefined {
  if (!value || typeof value !== "object" || Array.isArray(value)) return undefined;
  const view = value as Record<string, unknown>;
  if (typeof view.worker_id !== "string") return undefined;
  const fits = (field: string, v: unknown) => {
    const type = VIEW_TYPES[field];
    if (type === undefined) return true;
    if (v === null) return type.endsWith("?");
    if (type === "strings") return Array.isArray(v) && v.every((s) => typeof s === "string");
    return typeof v === type.replace("?", "") && (typeof v !== "number" || Number.isFinite(v));
  };
  return Object.fromEntries(Object.entries(view).filter(([field, v]) => fits(field, v)));
}

/** One `orch status` per host, all at once; an unreachable host is an error entry, never a wait. */
export async function statusOnHosts(
  layout: StoreLayout, records: RemoteWorkerRecord[], ctx: Context,
): Promise<HostViews> {
  const out: HostViews = { views: new Map(), unread: 0, total: 0, errors: new Map(), workerErrors: new Map() };
  const hosts = [...new Set(records.map((r) => r.host))];
  if (hosts.length) checkSshSetup(ctx.env);
  await Promise.all(hosts.map(async (name) => {
    const silent = silentHost(layout, name);
    if (silent) {
      out.errors.set(name, silent.error);
      const until = `until the ${nextTryText(silent)}`;
      return ctx.warn(`host ${name} ${silentSince(silent)}: its workers count as unreachable ${until}`);
    }
    const startedAt = Date.now();
    const named = records.filter((r) => r.host === name);
    try {
      // Its record read once, whatever the number of workers (status is a hot path).
      const known = findHost(layout, name);
      if (!known) throw forgottenHost(name);
      // Workers of the host this name was before (host rm --force, then added elsewhere): not this host's to say.
      const id = hostIdOf(known);
      const replaced = named.filter((r) => r.host_id !== undefined && r.host_id !== id);
      for (const r of replaced) out.workerErrors.set(r.worker_id, replacedHost(name).message);
      if (replaced.length) ctx.warn(replacedHost(name).message);
      const sample = named.find((r) => !replaced.includes(r));
      if (!sample) return;
      const host = new RemoteHost(known, ctx.env);
      const args = ["status", "--orch", remoteSessionOf(layout, sample)];
      // Branch tips, not the host's standings (computed here against the base as it is here); an older
      // orch on the host does not know the flag and answers as it always did.
      // An orch there that hangs makes the host unreachable for this status, not the status wait for ever.
      const limit = { answerWithinMs: answerTimeoutMs(ctx.env) };
      const doc = await host.orch([...args, "--branch-tips"], limit).catch((error: unknown) => {
        if (hostLacksFlag(error, "--branch-tips")) return host.orch(args, limit);
        throw error;
      });
      noteHostReached(layout, name);
      // Messages still unread on the host are not in the local mailbox yet: they count as unread here too.
      const unread = Number.isSafeInteger(doc.unread_count) && Number(doc.unread_count) >= 0 ? doc.unread_count : 0;
      out.unread += Number(unread);
      out.total += Number(unread);
      for (const view of Array.isArray(doc.workers) ? (doc.workers as unknown[]) : []) {
        const checked = viewOf(view);
        if (checked) out.views.set(`${name}/${String(checked.worker_id)}`, checked);
      }
    } catch (error) {
      const why = error instanceof HostUnreachable ? error.sshError : (error as Error).message;
      out.errors.set(name, why);
      ctx.warn(error instanceof HostUnreachable ? `host ${name}: ${why}` : aboutHost(name, error));
      if (error instanceof HostUnreachable) noteSilentFailure(layout, name, why, startedAt);
    }
  }));
  return out;
}
