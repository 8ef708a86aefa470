// Keeping parallel work coherent: where each worker stands against its base (ahead, behind, merges
// cleanly), telling workers once per move of their base (base_moved), and starting pending workers
// (spawn --after) whose prerequisites have landed. Run by the orchestrator's commands; no daemon.

import type { CommitInfo } from "../adapters/git.ts";
import { locateRepo, mainWorktreeOf, refReader, type Repo } from "../adapters/repo.ts";
import type { Context } from "../context.ts";
import { fetchBranchesWherePossible, onHost, placeOf } from "../hosts/place.ts";
import { storeError } from "../store/files.ts";
import type { StoreLayout } from "../store/layout.ts";
import {
  branchTipFromFiles,
  claimTelling,
  readBaseTips,
  readStandings,
  readWorkerCoherence,
  releaseTelling,
  saveBaseTips,
  saveStandings,
  owesSync,
  updateWorkerCoherence,
  type CachedStanding,
  type Standing,
  type WorkerCoherence,
} from "../store/coherence.ts";
import { newMessage, sendMessage, type Message, type MessageContent } from "../store/messages.ts";
import { findWorker, isWaitingToStart, listWorkers, saveWorker, type WorkerRecord } from "../store/workers.ts";
import { claimStart, releaseStart } from "../store/worker-claims.ts";
import { agentHasEnded } from "../store/watchdog.ts";

// The git adapter loads only when git has to run: status with nothing new needs none.
const loadGit = () => import("../adapters/git.ts");

/** The tip of a branch of the main repository: from git's files, else from git; undefined when it is gone. */
export async function branchTip(main: Repo, branch: string, readRef = refReader(main)): Promise<string | undefined> {
  const fromFiles = branchTipFromFiles(main, branch, readRef);
  if (fromFiles !== undefined) return fromFiles ?? undefined;
  return (await loadGit()).resolveCommit(main.root, `refs/heads/${branch}`);
}

/** Runs `fn` over `items`, at most `limit` at a time (git processes on a small machine). */
async function pooled<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
    for (let i = next++; i < items.length; i = next++) results[i] = await fn(items[i]!);
  });
  await Promise.all(lanes);
  return results;
}

interface StandingQuestion {
  baseTip: string;
  branchTip: string;
  baseCommit: string;
}

/**
 * Standings for many (base tip, branch tip) pairs: one rev-list per pair (a few at a time), then one
 * merge-tree for all pairs that diverged and one rev-parse for the trees of their bases. null for a pair
 * that shares no commit here: its counts would be of two whole histories, and no merge can be tried.
 */
async function computeStandings(mainRoot: string, questions: StandingQuestion[]): Promise<(Standing | null)[]> {
  if (questions.length === 0) return [];
  const gitAdapter = await loadGit();
  const counts = await pooled(questions, 6, (q) => gitAdapter.aheadBehind(mainRoot, q.baseTip, q.branchTip));
  const diverged = questions.map((_, i) => i).filter((i) => counts[i]!.ahead > 0 && counts[i]!.behind > 0);
  const tipPairs = diverged.map((i): [string, string] => [questions[i]!.baseTip, questions[i]!.branchTip]);
  const merges = await gitAdapter.mergeTrees(mainRoot, tipPairs);
  const mergeOf = new Map(diverged.map((index, k) => [index, merges[k]!]));
  const baseTips = [...new Set(diverged.filter((i) => mergeOf.get(i)?.clean).map((i) => questions[i]!.baseTip))];
  const trees = new Map((await gitAdapter.treesOf(mainRoot, baseTips)).map((tree, k) => [baseTips[k]!, tree]));
  // A branch reset to its base or before it (its work dropped) has nothing in the base: not landed.
  const inBaseOnly = questions.map((_, i) => i)
    .filter((i) => counts[i]!.ahead === 0 && questions[i]!.branchTip !== questions[i]!.baseCommit);
  const behindItsStart = new Set(await pooled(inBaseOnly, 6, async (i) => {
    const { branchTip, baseCommit } = questions[i]!;
    return (await gitAdapter.isAncestor(mainRoot, branchTip, baseCommit)) ? i : -1;
  }));
  return questions.map((q, i) => {
    const { ahead, behind } = counts[i]!;
    const merge = mergeOf.get(i);
    if (merge === null) return null;
    // All of the branch is in the base: landed, unless the branch never had commits of its own.
    const landed = ahead === 0
      ? q.branchTip !== q.baseCommit && !behindItsStart.has(i)
      : merge !== undefined && merge.clean && merge.tree === trees.get(q.baseTip);
    return {
      base_tip: q.baseTip,
      branch_tip: q.branchTip,
      ahead,
      behind,
      merges_cleanly: merge ? merge.clean : true,
      conflict_paths: merge?.conflictPaths ?? [],
      landed,
    };
  });
}

/**
 * Standings of the given workers, by worker id: from the session's cache while the base tip, the
 * branch tip and the base commit are those it was computed for, else from git (then cached). A worker
 * whose branch shares no commit with its base here has none, and is handed to `onUnrelated`.
 */
export async function standingsFor(
  layout: StoreLayout,
  repo: Repo,
  records: WorkerRecord[],
  tips: Map<string, string | undefined>,
  onUnrelated: (record: WorkerRecord) => void = () => undefined,
): Promise<Map<string, Standing>> {
  const main = mainWorktreeOf(repo);
  const readRef = refReader(main);
  const standings = new Map<string, Standing>();
  const missing: { record: WorkerRecord; question: StandingQuestion }[] = [];
  let cache: Record<string, CachedStanding> | undefined;
  for (const record of records) {
    const baseTip = record.base_branch ? tips.get(record.base_branch) : undefined;
    if (!baseTip || isWaitingToStart(record) || record.pending) continue;
    // From git's files without a promise per worker; git is asked only when the files cannot tell.
    const fromFiles = branchTipFromFiles(main, record.branch, readRef);
    const tip = fromFiles === undefined ? await branchTip(main, record.branch, readRef) : fromFiles ?? undefined;
    if (!tip) continue;
    cache ??= readStandings(layout, record.orchestrator_id);
    const cached = Object.hasOwn(cache, record.worker_id) ? cache[record.worker_id] : undefined;
    const valid = cached?.base_tip === baseTip && cached.branch_tip === tip &&
      cached.base_commit === record.base_commit;
    if (cached && valid) {
      const { base_commit: _, ...standing } = cached;
      standings.set(record.worker_id, standing);
    } else {
      missing.push({ record, question: { baseTip, branchTip: tip, baseCommit: record.base_commit } });
    }
  }
  if (missing.length === 0) return standings;
  const computed = await computeStandings(repo.mainRoot, missing.map((m) => m.question));
  const fresh = new Map<string, CachedStanding>();
  missing.forEach(({ record }, i) => {
    const standing = computed[i];
    // Not cached: rare, and a fetch that deepens a shallow clone may find their merge base.
    if (!standing) return onUnrelated(record);
    standings.set(record.worker_id, standing);
    fresh.set(record.worker_id, { ...standing, base_commit: record.base_commit });
  });
  if (fresh.size === 0) return standings;
  try {
    saveStandings(layout, missing[0]!.record.orchestrator_id, fresh);
  } catch {
    // Only a cache: the next command computes them again.
  }
  return standings;
}

/** What a pass knows about one started worker. */
export interface WorkerStanding {
  record: WorkerRecord;
  baseTip: string | undefined;
  state: WorkerCoherence;
  standing: Standing | null;
  /** Its branch shares no commit with its base here (standing null): see unrelatedWarning. */
  unrelated?: true;
}

/**
 * Why a worker has no standing although both branches exist: they share no commit here. In a shallow
 * clone that is its cut-off history (a worker started --from a ref fetched shallow), which a deeper
 * fetch mends; elsewhere the branch was started from an unrelated history.
 */
export async function unrelatedWarning(repo: Repo, record: WorkerRecord): Promise<string> {
  const why = await (await loadGit()).noMergeBaseWhy(repo.mainRoot);
  return `${record.worker_id} shares no commit with ${record.base_branch} here, so its ahead, behind and ` +
    `merges_cleanly are unknown and land, merge and sync cannot merge it: ${why}`;
}

/** Standings of the given workers with what orch remembers about each (told, landed). */
export async function standingsOf(
  layout: StoreLayout,
  repo: Repo,
  records: WorkerRecord[],
  tips: Map<string, string | undefined>,
  states: Map<string, WorkerCoherence> = new Map(),
): Promise<WorkerStanding[]> {
  const unrelated = new Set<string>();
  const standings = await standingsFor(layout, repo, records, tips, (r) => unrelated.add(r.worker_id));
  return records.map((record) => ({
    record,
    baseTip: record.base_branch ? tips.get(record.base_branch) : undefined,
    state: states.get(record.worker_id) ?? readWorkerCoherence(layout, record.orchestrator_id, record.worker_id),
    standing: standings.get(record.worker_id) ?? null,
    ...(unrelated.has(record.worker_id) ? { unrelated: true as const } : {}),
  }));
}

/**
 * Status's standings when nothing can need telling or starting: every base branch is where the last
 * orch command saw it (the check poll makes), no worker waits to start, and every worker knows the
 * tip it started from. Undefined when the full check (reconcile) has to run. Remote workers are left
 * out, as reconcile leaves them out of status's standings.
 */
export async function settledStandings(
  layout: StoreLayout,
  orchestratorId: string,
  repo: Repo,
  records: WorkerRecord[],
  warn: (line: string) => void,
): Promise<Map<string, Standing> | undefined> {
  if (records.some((r) => isWaitingToStart(r) || (!r.pending && r.base_tip === undefined))) return undefined;
  const seen = readBaseTips(layout, orchestratorId);
  if (!seen || seen.main_root !== repo.mainRoot || seen.common_dir !== repo.commonDir) return undefined;
  const readRef = refReader(mainWorktreeOf(repo));
  const tips = new Map<string, string | undefined>();
  for (const branch of new Set(records.map((r) => r.base_branch).filter((b): b is string => Boolean(b)))) {
    const tip = branchTipFromFiles(mainWorktreeOf(repo), branch, readRef);
    if (tip === undefined || tip === null || seen.tips[branch] !== tip) return undefined;
    tips.set(branch, tip);
  }
  const unrelated: WorkerRecord[] = [];
  const standings = await standingsFor(layout, repo, records.filter((r) => !r.pending && !r.host), tips,
    (r) => unrelated.push(r));
  for (const record of unrelated) warn(await unrelatedWarning(repo, record));
  return standings;
}

/** The tips of the base branches the workers were spawned from. */
export async function baseTipsOf(repo: Repo, records: WorkerRecord[]): Promise<Map<string, string | undefined>> {
  const main = mainWorktreeOf(repo);
  const readRef = refReader(main);
  const tips = new Map<string, string | undefined>();
  for (const branch of new Set(records.map((r) => r.base_branch).filter((b): b is string => Boolean(b)))) {
    tips.set(branch, await branchTip(main, branch, readRef));
  }
  return tips;
}

/**
 * One line per base branch that no longer exists here (renamed with git branch -m, or deleted): without it,
 * its workers' standings are silently unknown and land refuses them.
 */
function warnOfMissingBases(started: WorkerRecord[], tips: Map<string, string | undefined>, ctx: Context): void {
  for (const [branch, tip] of tips) {
    if (tip !== undefined) continue;
    const ids = started.filter((r) => r.base_branch === branch).map((r) => r.worker_id);
    if (ids.length === 0) continue;
    ctx.warn(`base branch ${branch} of ${ids.join(", ")} does not exist here (renamed or deleted?): ` +
      `ahead, behind and merges_cleanly are unknown and land refuses them until ${branch} is back`);
  }
}

/** Saves the tips seen; for an `unsettled` branch the one seen before, so its move is noticed again. */
export function rememberBaseTips(
  layout: StoreLayout,
  orchestratorId: string,
  repo: Repo,
  tips: Map<string, string | undefined>,
  unsettled: Set<string> = new Set(),
): void {
  const before = unsettled.size ? readBaseTips(layout, orchestratorId)?.tips ?? {} : {};
  const known: Record<string, string> = {};
  for (const [branch, tip] of tips) if (tip) known[branch] = unsettled.has(branch) ? before[branch] ?? "" : tip;
  saveBaseTips(layout, orchestratorId, { main_root: repo.mainRoot, common_dir: repo.commonDir, tips: known });
}

/** What landed on a base between two tips: commits (newest last) and files, memoised per pair. */
type MoveSummary = { commits: CommitInfo[]; files: string[] };
const moveCache = new Map<string, Promise<MoveSummary>>();
function summarizeMove(mainRoot: string, from: string, to: string): Promise<MoveSummary> {
  const key = `${from}..${to}`;
  let summary = moveCache.get(key);
  if (!summary) {
    summary = loadGit()
      .then((gitAdapter) => Promise.all([
        gitAdapter.commitsBetween(mainRoot, from, to),
        gitAdapter.changedPaths(mainRoot, from, to),
      ]))
      .then(([commits, files]) => ({ commits, files }));
    moveCache.set(key, summary);
  }
  return summary;
}

export interface MoveNotice {
  baseBranch: string;
  from: string;
  to: string;
  standing: Pick<Standing, "merges_cleanly" | "conflict_paths">;
  /** sync brought the branch onto `to`. */
  synced?: boolean;
  /** How sync did it: a merge leaves the worker's commits as they were; a rebase (the default) rewrites them. */
  syncedBy?: "rebase" | "merge";
  /** land handed the conflict back. */
  returned?: boolean;
  /** Why sync left it alone, when it did. */
  notSyncedBecause?: string;
  /** What the worker rebases onto, where that is not the base branch (on a host: orch's ref of the new tip). */
  rebaseOnto?: string;
}

const short = (sha: string) => sha.slice(0, 12);
const list = (paths: string[], max = 20) => {
  const more = paths.length > max ? `, … (${paths.length} in all)` : "";
  return `${paths.slice(0, max).join(", ")}${more}`;
};

/** The base_moved message: what landed, whether the branch still merges, and what to do about it. */
export async function baseMovedMessage(mainRoot: string, record: WorkerRecord, notice: MoveNotice): Promise<Message> {
  const { baseBranch, from, to, standing } = notice;
  const onto = notice.rebaseOnto ?? baseBranch;
  const { commits, files } = from === to ? { commits: [], files: [] } : await summarizeMove(mainRoot, from, to);
  const lines: string[] = [];
  if (notice.returned) {
    lines.push(
      `orch land could not merge your branch ${record.branch} onto ${baseBranch} (now at ${short(to)}): ` +
        `conflicts in ${list(standing.conflict_paths)}. The work is handed back to you.`,
      `What to do: commit anything uncommitted, run \`git rebase ${onto}\`, resolve the conflicts in those files, ` +
        "`git add` them and `git rebase --continue`, and run the tests. Then report again with " +
        '`orch notify --type task_complete --summary "<what you did>"`, so the merge queue can take it.',
    );
  } else if (from === to) {
    // Told of this move before (by a landing or poll); what is new is the sync, or where the branch stands.
    lines.push(`Your base branch ${baseBranch} is at ${short(to)}, as you were told before.`);
  } else {
    const count = commits.length === 1 ? "1 commit" : `${commits.length} commits`;
    lines.push(`Your base branch ${baseBranch} moved from ${short(from)} to ${short(to)}: ${count} landed.`);
  }
  if (commits.length) lines.push(commits.slice(-20).map((c) => `  * ${c.subject} (${short(c.sha)})`).join("\n"));
  if (files.length) lines.push(`Files changed on ${baseBranch}: ${list(files)}`);
  if (notice.synced) {
    lines.push(notice.syncedBy === "merge"
      ? `orch sync merged ${baseBranch} (${short(to)}) into your branch: a merge commit on top of yours, ` +
        "which keep their ids."
      : `orch sync brought your branch onto ${baseBranch} (${short(to)}): ` +
        "your commits were replayed on it and have new ids.");
  } else if (!notice.returned) {
    lines.push(standing.merges_cleanly
      ? `Your branch ${record.branch} still merges cleanly onto it.`
      : `Your branch ${record.branch} would conflict with it in: ${list(standing.conflict_paths)}.`);
    if (notice.notSyncedBecause) lines.push(`orch sync left your branch as it was: ${notice.notSyncedBecause}.`);
    if (!standing.merges_cleanly) {
      lines.push("Before you report done, bring your branch onto the new base: " +
        `commit your work, \`git rebase ${onto}\`, ` +
        "resolve the conflicts, `git add` them and `git rebase --continue`.");
    }
  }
  // A move told before (by a landing or a poll) is not told again as one of 0 commits.
  const moved = from === to ? `${baseBranch} at ${short(to)}: ` : `${baseBranch} moved (${commits.length} commit(s)); `;
  const standsAs = standing.merges_cleanly ? "still merges cleanly" : `conflicts in ${list(standing.conflict_paths, 5)}`;
  const summary = notice.returned
    ? `Handed back: ${record.branch} does not merge onto ${baseBranch}; ` +
      `conflicts in ${list(standing.conflict_paths, 5)}`
    : !notice.synced
      ? `${moved}your branch ${standsAs}`
      : from === to
        ? `your branch was synced onto ${baseBranch} (${short(to)})`
        : `${moved}your branch was synced onto ${short(to)}`;
  const content: MessageContent = {
    summary,
    text: lines.join("\n\n"),
    base_branch: baseBranch,
    base_commit: to,
    previous_base: from,
    rebase_onto: onto,
    commits: commits.slice(-50).map((c) => ({ sha: c.sha, subject: c.subject })),
    commit_count: commits.length,
    files: files.slice(0, 200),
    merges_cleanly: standing.merges_cleanly,
    conflict_paths: standing.conflict_paths,
    ...(notice.synced ? { synced: true } : {}),
    ...(notice.returned ? { returned: true } : {}),
  };
  return newMessage({
    orchestrator_id: record.orchestrator_id,
    worker_id: record.worker_id,
    message_type: "base_moved",
    content,
  });
}

export function deliverToWorker(layout: StoreLayout, record: WorkerRecord, message: Message): void {
  const inbox = layout.inboxDir(record.orchestrator_id, record.worker_id);
  try {
    sendMessage(inbox, message, layout.eventsDir(record.orchestrator_id, record.worker_id));
  } catch (error) {
    throw storeError(`deliver the message to worker ${record.worker_id} in`, inbox, error);
  }
}

/**
 * Puts a base_moved into the worker's inbox, here or, for a worker on a host, there (with the new tip
 * pushed to the host first, so the worker can rebase onto it). A conflict handed back also wakes an
 * agent idle at its prompt (one fixed line; the message stays in its inbox).
 */
export async function tellWorker(
  layout: StoreLayout,
  repo: Repo,
  record: WorkerRecord,
  notice: MoveNotice,
  ctx: Context,
): Promise<{ agent_ended?: boolean }> {
  return (await placeOf(layout, record, ctx)).tell(repo, notice);
}

/** tellWorker of a worker on this machine. */
export async function tellHere(
  layout: StoreLayout, repo: Repo, record: WorkerRecord, notice: MoveNotice, ctx: Context,
): Promise<{ agent_ended?: boolean }> {
  // Looked at before the telling: an agent that reads it and ends at once is not taken for one that had ended.
  const ended = notice.returned === true && agentHasEnded(layout, record);
  deliverToWorker(layout, record, await baseMovedMessage(repo.mainRoot, record, notice));
  if (notice.returned && !ended) await (await import("./messages.ts")).wakeIfIdle(layout, record, ctx);
  return notice.returned ? { agent_ended: ended } : {};
}

/** Tells a worker about a move of its base, once per base tip; true when this call told it. */
export async function tellOnce(
  layout: StoreLayout,
  repo: Repo,
  record: WorkerRecord,
  notice: MoveNotice,
  ctx: Context,
): Promise<boolean> {
  if (!claimTelling(layout, record.orchestrator_id, record.worker_id, notice.to)) return false;
  try {
    await tellWorker(layout, repo, record, notice, ctx);
  } catch (error) {
    // Not told: the next command may try again. One removed meanwhile (an rm at the same time) has no one to tell.
    releaseTelling(layout, record.orchestrator_id, record.worker_id, notice.to);
    if (!findWorker(layout, record.orchestrator_id, record.worker_id)) return false;
    throw error;
  }
  return true;
}

export interface ReconcileResult {
  /** Every started worker of the session with its standing (computed only where asked or needed). */
  views: WorkerStanding[];
  told: string[];
  started: string[];
  /** Pending workers whose start was tried and failed (their records now say so). */
  failedToStart: string[];
}

export interface ReconcileOptions {
  /** Compute every worker's standing (status), not only those whose base moved. */
  allStandings?: boolean;
  /** Workers not to tell now (sync tells them itself, with the outcome). */
  skipTelling?: Set<string>;
  /** The session's workers, when the caller has just read them. */
  records?: WorkerRecord[];
}

/**
 * The check every orchestrator command makes: each worker whose base moved past what it was told is
 * told once (base_moved), workers seen landed are remembered, and pending workers whose prerequisites
 * have all landed are started from the base as it is now.
 */
export async function reconcile(
  layout: StoreLayout,
  orchestratorId: string,
  repo: Repo,
  ctx: Context,
  options: ReconcileOptions = {},
): Promise<ReconcileResult> {
  const records = await finishKilledSyncsOf(layout, repo, options.records ?? listWorkers(layout, orchestratorId), ctx,
    options.skipTelling);
  const tips = await baseTipsOf(repo, records);
  const started = records.filter((r) => !r.pending);
  warnOfMissingBases(started, tips, ctx);
  const states = new Map(started.map((r) => [r.worker_id, readWorkerCoherence(layout, orchestratorId, r.worker_id)]));
  const moved = (r: WorkerRecord) => {
    const tip = r.base_branch ? tips.get(r.base_branch) : undefined;
    return tip !== undefined && (states.get(r.worker_id)!.told_base ?? r.base_tip) !== tip;
  };
  const waiting = records.filter(isWaitingToStart);
  const prerequisites = new Set(waiting.flatMap((r) => r.after ?? []));
  // A remote worker's standing needs its branch fetched: only when its base moved (status shows the
  // host's view of it otherwise), and not for those the caller tells itself (sync fetches them).
  const wantedAll = started.filter((r) =>
    (options.allStandings && !r.host) || moved(r) || prerequisites.has(r.worker_id));
  const toTell = wantedAll.filter((r) => r.host && moved(r) && !options.skipTelling?.has(r.worker_id));
  // A host that failed lately is left alone until its pause runs out (one connection attempt per pause).
  const paused = toTell.length ? await pausedHosts(layout, toTell, ctx) : new Set<string>();
  const toFetch = toTell.filter((r) => !paused.has(r.host!));
  const unfetched = new Set(toTell.map((r) => r.worker_id));
  if (toFetch.length) {
    const fetchedAll = await fetchBranchesWherePossible(layout, toFetch, repo.mainRoot, ctx);
    for (const fetched of fetchedAll) unfetched.delete(fetched.worker_id);
  }
  const wanted = wantedAll.filter((r) => !unfetched.has(r.worker_id));
  // Base branches with a worker not told yet (its host did not answer): the next command looks again.
  const unsettled = new Set(toTell.filter((r) => unfetched.has(r.worker_id)).map((r) => r.base_branch!));
  // Those the caller tells itself (sync) keep their base's move visible until a later pass finds them
  // told: a caller that dies before telling them leaves the move for the next orch command to notice.
  for (const r of started) if (options.skipTelling?.has(r.worker_id) && moved(r)) unsettled.add(r.base_branch!);
  const views = await standingsOf(layout, repo, wanted, tips, states);
  for (const view of views) if (view.unrelated) ctx.warn(await unrelatedWarning(repo, view.record));
  const told: string[] = [];
  for (const view of views) {
    const { record, baseTip, standing } = view;
    if (!baseTip || !record.base_branch) continue;
    const known = view.state.told_base ?? record.base_tip;
    if (known === baseTip) continue;
    let landedNow: WorkerCoherence["landed"];
    if (known === undefined || !standing || standing.behind === 0) {
      // First sight (a record of an older orch) or the branch already has the base: nothing to tell.
    } else if (standing.landed) {
      // Found in the base, not landed by orch: merged by hand or elsewhere.
      landedNow = { commit: baseTip, at: new Date().toISOString(), branch_tip: standing.branch_tip, noticed: true };
    } else if (!options.skipTelling?.has(record.worker_id)) {
      const notice = { baseBranch: record.base_branch, from: known, to: baseTip, standing };
      if (onHost(record) && paused.has(record.host)) {
        unsettled.add(record.base_branch);
        continue;
      }
      try {
        if (await tellOnce(layout, repo, record, notice, ctx)) told.push(record.worker_id);
      } catch (error) {
        if (!onHost(record)) throw error;
        // An unreachable host: its worker is told by a later command, once the host answers again.
        const { aboutHost } = await import("../errors.ts");
        const why = aboutHost(record.host, error);
        ctx.warn(`could not tell ${record.worker_id} that ${record.base_branch} moved: ${why}`);
        const { HostUnreachable } = await import("../adapters/ssh.ts");
        if (error instanceof HostUnreachable) {
          (await import("../hosts/backoff.ts")).noteHostFailure(layout, record.host, error.sshError);
          paused.add(record.host);
        }
        unsettled.add(record.base_branch);
        continue;
      }
    } else {
      continue;
    }
    // As it is now: a land of this worker meanwhile noted the branch tip that landed, which this keeps.
    view.state = updateWorkerCoherence(layout, orchestratorId, record.worker_id, (now) => ({
      ...now, told_base: baseTip, ...(landedNow ? { landed: now.landed ?? landedNow } : {}),
    }));
  }
  const { started: startedNow, failed } = await startReadyWorkers(layout, waiting, views, ctx);
  rememberBaseTips(layout, orchestratorId, repo, tips, unsettled);
  // The views were made before the pending workers started: those just started are left out.
  const viewed = views.filter((v) => !startedNow.includes(v.record.worker_id));
  return { views: viewed, told, started: startedNow, failedToStart: failed };
}

/**
 * finishKilledSyncs (sync.ts) of these workers, loaded only when one of them has a sync not settled: the
 * records as they are now.
 */
export async function finishKilledSyncsOf(
  layout: StoreLayout, repo: Repo, records: WorkerRecord[], ctx: Context, skip?: Set<string>,
): Promise<WorkerRecord[]> {
  if (!records.some((r) => owesSync(layout, r))) return records;
  return (await import("./sync.ts")).finishKilledSyncs(layout, repo, records, ctx, skip);
}

/** The hosts of these workers that failed lately and wait out their pause, each said once on stderr. */
async function pausedHosts(layout: StoreLayout, records: WorkerRecord[], ctx: Context): Promise<Set<string>> {
  const { nextTryText, pausedHost } = await import("../hosts/backoff.ts");
  const paused = new Set<string>();
  for (const host of new Set(records.map((r) => r.host!))) {
    const failure = pausedHost(layout, host);
    if (!failure) continue;
    paused.add(host);
    ctx.warn(`host ${host} was unreachable at ${failure.last_failed_at} (${failure.error}): ` +
      `its workers are told of the move later (${nextTryText(failure)})`);
  }
  return paused;
}

/** Which of these workers have landed (by orch, or merged into their base some other way). */
export async function landedAmong(
  layout: StoreLayout,
  orchestratorId: string,
  repo: Repo,
  ids: string[],
): Promise<Set<string>> {
  const records = ids
    .map((id) => findWorker(layout, orchestratorId, id))
    .filter((r): r is WorkerRecord => r !== undefined && !r.pending);
  const views = await standingsOf(layout, repo, records, await baseTipsOf(repo, records));
  return new Set(views.filter(hasLanded).map((v) => v.record.worker_id));
}

/** Whether a prerequisite has landed: orch landed it, or its changes are all in its base. */
function hasLanded(view: WorkerStanding | undefined): boolean {
  return Boolean(view && (view.state.landed || view.standing?.landed));
}

async function startReadyWorkers(
  layout: StoreLayout,
  waiting: WorkerRecord[],
  views: WorkerStanding[],
  ctx: Context,
): Promise<{ started: string[]; failed: string[] }> {
  const byId = new Map(views.map((v) => [v.record.worker_id, v]));
  const started: string[] = [];
  const failed: string[] = [];
  for (const listed of waiting) {
    const exists = (id: string) => findWorker(layout, listed.orchestrator_id, id) !== undefined;
    const newlyLanded = (record: WorkerRecord) => (record.after ?? [])
      .filter((id) => !(record.after_landed ?? []).includes(id) && exists(id) && hasLanded(byId.get(id)));
    const allLanded = (record: WorkerRecord) => (record.after ?? []).every((id) => record.after_landed?.includes(id));
    if (!allLanded(listed) && newlyLanded(listed).length === 0) continue;
    // Claimed before its record is read again and written: a command that read it pending before another
    // started it would write the pending record back over the started one. Held: another command has it.
    if (!claimStart(layout, listed)) continue;
    const fresh = findWorker(layout, listed.orchestrator_id, listed.worker_id);
    if (!fresh || !isWaitingToStart(fresh)) {
      releaseStart(layout, listed);
      continue;
    }
    const landedNow = newlyLanded(fresh);
    const record = landedNow.length ? { ...fresh, after_landed: [...(fresh.after_landed ?? []), ...landedNow] } : fresh;
    if (!allLanded(record)) {
      if (record !== fresh) saveWorker(layout, record);
      releaseStart(layout, record);
      continue;
    }
    const { startPendingWorker } = await import("./spawn-here.ts");
    try {
      await startPendingWorker(layout, record, ctx);
      started.push(record.worker_id);
    } catch (error) {
      const waitedFor = (record.after ?? []).join(", ");
      ctx.warn(`could not start ${record.worker_id} after ${waitedFor}: ${(error as Error).message}`);
      failed.push(record.worker_id);
    }
  }
  return { started, failed };
}

/**
 * Remembers a worker as landed (by orch land, merge or apply): workers waiting for it may start. `branchTip`
 * is the commit of the worker's branch that landed, when orch knows it: the branch may have moved on since
 * (a commit made while land's tests ran), and clean takes a worker landed at its tip as merged.
 */
export function rememberLanded(
  layout: StoreLayout, record: WorkerRecord, commit: string, branchTip: string | undefined,
): void {
  const landed = { commit, at: new Date().toISOString(), ...(branchTip ? { branch_tip: branchTip } : {}) };
  const { orchestrator_id: orchestratorId, worker_id: workerId } = record;
  updateWorkerCoherence(layout, orchestratorId, workerId, (now) => ({ ...now, landed, told_base: commit }));
}

/**
 * After orch moved a base (merge, apply): remember what landed, tell the workers whose base moved and
 * start the pending ones that may start. The move itself already happened, so a failure here only warns.
 */
export async function afterBaseMoved(
  layout: StoreLayout,
  orchestratorId: string,
  repo: Repo,
  ctx: Context,
  landed: { record: WorkerRecord; commit: string; branchTip: string | undefined } | undefined,
): Promise<ReconcileResult | undefined> {
  try {
    if (landed) rememberLanded(layout, landed.record, landed.commit, landed.branchTip);
    return await reconcile(layout, orchestratorId, repo, ctx);
  } catch (error) {
    ctx.warn(`the base moved, but telling the workers failed: ${(error as Error).message}`);
    return undefined;
  }
}

/**
 * For commands that only need to notice (poll, await, send): when a base moved since the last look
 * (file reads only), run the check; never fails the command it serves.
 */
export async function noticeMoves(layout: StoreLayout, orchestratorId: string, ctx: Context): Promise<void> {
  try {
    const seen = readBaseTips(layout, orchestratorId);
    const repo = seen && (await locateRepo(seen.main_root));
    if (repo) await reconcile(layout, orchestratorId, repo, ctx);
  } catch (error) {
    ctx.warn(`could not check whether the workers' base moved: ${(error as Error).message}`);
  }
}
