// orch apply WORKER: the worker's commits since its base as a patch series, applied here with git am;
// --dry-run tries it in a throw-away worktree (mirrors mux's task_apply_git_patch).

import path from "node:path";
import * as gitAdapter from "../adapters/git.ts";
import { removeStaleScratchWorktrees, withScratchWorktree } from "../adapters/scratch-worktrees.ts";
import { requireRepo, resolveSession, type Context } from "../context.ts";
import { asGiven, invalid, OrchError } from "../errors.ts";
import { booleanFlag, positional, stringFlag, type Flags } from "../flags.ts";
import { bringHome } from "../hosts/place.ts";
import type { Repo } from "../adapters/repo.ts";
import { owesSync } from "../store/coherence.ts";
import { readJson, writeJsonAtomic } from "../store/files.ts";
import type { StoreLayout } from "../store/layout.ts";
import { prepareLock, withLock } from "../store/lock.ts";
import { findWorker, loadWorker, type WorkerRecord } from "../store/workers.ts";
import { releaseSync } from "../store/worker-claims.ts";
import {
  checkoutLockTarget, committedAside, fastForwardCheckout, finishKilledFastForward, refusePending, refuseWorkerCheckout,
  removedMeanwhile, uncommittedWarning, writeSeries, type Series,
} from "./integration.ts";
import type { CommandResult } from "./types.ts";

interface AppliedRecord {
  tip: string;
  target: string;
  head_before: string;
  head_after: string;
  applied_at: string;
}

export interface ApplyOptions {
  orch: string | undefined;
  worker: string;
  dryRun: boolean;
  threeWay: boolean;
  force: boolean;
  expectedHead: string | undefined;
  leaveConflict: boolean;
}

export function parseApply(args: string[], flags: Flags): ApplyOptions {
  return {
    orch: stringFlag(flags, "orch"),
    worker: positional(args, 0, "worker"),
    dryRun: booleanFlag(flags, "dryRun"),
    threeWay: flags["3way"] !== false && flags.threeWay !== false,
    force: booleanFlag(flags, "force"),
    expectedHead: stringFlag(flags, "expectedHead"),
    leaveConflict: booleanFlag(flags, "leaveConflict"),
  };
}

function conflictError(worker: string, outcome: gitAdapter.AmOutcome, extra: Record<string, unknown>): OrchError {
  if (!outcome.conflict) {
    const why = gitAdapter.gitSaid(outcome.message);
    const what = `git am stopped at ${worker}'s patch "${outcome.failedCommit ?? "?"}" without a conflict`;
    const cause = "(a hook such as applypatch-msg or pre-applypatch refused it, or the commit could not be written)";
    return new OrchError("failed", `${what} ${cause}: ${why || "git said nothing"}; nothing was applied`, {
      conflict_paths: [],
      failed_commit: outcome.failedCommit,
      ...extra,
    });
  }
  const where = outcome.conflictPaths.length ? ` in ${outcome.conflictPaths.join(", ")}` : "";
  return new OrchError("conflict", `${worker}'s patch "${outcome.failedCommit ?? "?"}" does not apply${where}`, {
    conflict_paths: outcome.conflictPaths,
    failed_commit: outcome.failedCommit,
    ...extra,
  });
}

export async function runApply(options: ApplyOptions, ctx: Context): Promise<Record<string, unknown>> {
  const { layout, session } = await resolveSession(ctx, options.orch);
  const given = loadWorker(layout, session.orchestrator_id, options.worker);
  refusePending(given);
  const repo = await requireRepo(ctx);
  refuseWorkerCheckout(repo, given);
  // A name that is no commit is bad input: refused before anything is written into the store.
  const expectedGiven = options.expectedHead;
  if (expectedGiven !== undefined && (await gitAdapter.resolveCommit(repo.root, expectedGiven)) === undefined) {
    throw invalid(`--expected-head ${asGiven(expectedGiven)} names no commit: nothing was applied`);
  }
  await bringHome(layout, [given], repo.mainRoot, ctx);
  // Under the worker's sync claim: a sync under way ends first, and none rebases its branch while it is read
  // and applied; an rm, clean or merge of it waits for this apply (they take that claim too).
  await (await import("./lifecycle.ts")).waitForSyncClaim(layout, given, "apply");
  let applied: { result: Record<string, unknown>; record: WorkerRecord; series: Series };
  try {
    applied = await applyClaimed(layout, repo, given, options, ctx);
  } finally {
    releaseSync(layout, given);
  }
  const { result, record, series } = applied;
  if (options.dryRun) return result;
  // Applied onto the worker's base branch: it has landed; the others are told of the move.
  const onBase = record.base_branch !== null && (await gitAdapter.currentBranch(repo.root)) === record.base_branch;
  const { afterBaseMoved } = await import("./coherence.ts");
  const landed = onBase ? { record, commit: String(result.head_after), branchTip: series.tip } : undefined;
  const checked = await afterBaseMoved(layout, session.orchestrator_id, repo, ctx, landed);
  return { ...result, told: checked?.told ?? [], started: checked?.started ?? [] };
}

/** apply under the worker's sync claim: what a killed sync left is finished, then its series is applied. */
async function applyClaimed(
  layout: StoreLayout, repo: Repo, given: WorkerRecord, options: ApplyOptions, ctx: Context,
): Promise<{ result: Record<string, unknown>; record: WorkerRecord; series: Series }> {
  const fresh = findWorker(layout, given.orchestrator_id, given.worker_id);
  if (!fresh) throw removedMeanwhile(given);
  const record = owesSync(layout, fresh)
    ? await (await import("./sync.ts")).finishClaimedSync(layout, repo, fresh, ctx)
    : fresh;
  const target = repo.root;
  if (!options.dryRun) prepareLock();
  const [series, warning] = await Promise.all([writeSeries(layout, record, repo), uncommittedWarning(record)]);
  const squashed = series.squashed
    ? `${record.worker_id}'s branch has merge commits, which a patch series cannot carry: its whole change since ` +
      `${series.fork.slice(0, 12)} is applied as one commit`
    : null;
  const warnings = [squashed, warning].filter((w): w is string => w !== null);
  for (const warning of warnings) ctx.warn(warning);
  const appliedFile = path.join(layout.workerDir(record.orchestrator_id, record.worker_id), "applied.json");
  const base = {
    worker_id: record.worker_id, commits: series.commits.length, patch_file: series.file, series_tip: series.tip,
    warnings,
  };

  // What a killed land's or apply's git left in a throw-away worktree goes first.
  for (const line of await removeStaleScratchWorktrees(repo.mainRoot)) ctx.warn(line);
  if (options.dryRun) {
    const head = await gitAdapter.gitOut(["rev-parse", "HEAD"], target);
    const identity = await gitAdapter.commitIdentity(target, ctx.env);
    const outcome = await withScratchWorktree(target, head, (dir) =>
      gitAdapter.applyMailbox(dir, series.file, options.threeWay, identity), ctx.warn);
    if (!outcome.ok && !findWorker(layout, record.orchestrator_id, record.worker_id)) throw removedMeanwhile(record);
    if (!outcome.ok) throw conflictError(record.worker_id, outcome, { ...base, dry_run: true });
    return { result: { success: true, ...base, dry_run: true, applies_cleanly: true, head }, record, series };
  }

  const result = await withLock(checkoutLockTarget(layout), "apply", async () => {
    for (const line of await finishKilledFastForward(target)) ctx.warn(line);
    // Independent questions to git, asked at once.
    const [head, expected, staged, overlap] = await Promise.all([
      gitAdapter.gitOut(["rev-parse", "HEAD"], target),
      options.expectedHead === undefined ? undefined : gitAdapter.resolveCommit(target, options.expectedHead),
      gitAdapter.stagedPaths(target),
      gitAdapter.dirtyPathsTouched(target, repo.mainRoot, series.fork, series.tip),
    ]);
    if (options.expectedHead !== undefined) {
      const given = asGiven(options.expectedHead);
      if (expected === undefined) throw invalid(`--expected-head ${given} names no commit: nothing was applied`);
      if (expected !== head) {
        const message = `HEAD is ${head.slice(0, 12)}, not the expected ${given}: nothing was applied`;
        throw new OrchError("refused", message);
      }
    }
    const applied = readJson<AppliedRecord[]>(appliedFile) ?? [];
    const previous = applied.find((a) => a.tip === series.tip && a.target === target);
    if (previous && !options.force) {
      const which = `this series of ${record.worker_id} (${series.tip.slice(0, 12)})`;
      const when = `was already applied at ${previous.applied_at}`;
      throw new OrchError("refused", `${which} ${when}: use --force to apply it again`);
    }
    const operation = await gitAdapter.operationInProgress(target);
    if (operation) {
      throw new OrchError("refused", `this checkout is in the middle of ${operation}: finish or abort it first`);
    }
    if (staged.length) {
      const paths = staged.slice(0, 5).join(", ");
      const message = `the index has staged changes (${paths}): commit or unstage them first; nothing was applied`;
      throw new OrchError("refused", message);
    }
    if (overlap.length) {
      const paths = overlap.join(", ");
      const what = "local changes here (uncommitted, untracked or ignored)";
      const message = `${what} touch files the patch changes: ${paths}; nothing was applied`;
      throw new OrchError("refused", message);
    }

    // The committer as the dry run had it: a user whom git finds no identity for applies as land commits.
    const identity = await gitAdapter.commitIdentity(target, ctx.env);
    // Without --leave-conflict, git am runs in a throw-away worktree and this checkout is fast-forwarded to
    // what it made: interrupted (Ctrl-C, kill -9), the branch here has the whole series or none of it, never
    // the patches git am had committed before it stopped, nor its session left in progress.
    const leaveHere = options.leaveConflict;
    const amDone = leaveHere
      ? { outcome: await gitAdapter.applyMailbox(target, series.file, options.threeWay, identity), made: head }
      : await committedAside(target, head,
        (dir) => gitAdapter.applyMailbox(dir, series.file, options.threeWay, identity), ctx.warn);
    const { outcome, made } = amDone;
    // One refusal whichever way git am met them: its 3-way merge of a patch that is here may conflict (a file
    // the series adds, here with its last content) or find "No changes" and skip it.
    const alreadyHere = () =>
      new OrchError("refused", `${record.worker_id}'s changes are already here (HEAD has them): nothing was applied`,
        { ...base, head_before: head });
    if (!outcome.ok && (await gitAdapter.isMergedInto(target, series.tip, head))) {
      // An apply killed after its git am finished, before it recorded the series: they do not apply again
      // because they are here, which is no conflict to resolve.
      if (leaveHere) await gitAdapter.abortAm(target);
      throw alreadyHere();
    }
    if (!outcome.ok) {
      // Only a conflict is left to resolve: a refusal has nothing to resolve, and nothing is left changed.
      if (leaveHere && outcome.conflict) {
        ctx.warn("the git am session is left in progress: resolve the conflicts, `git add` them and run " +
          "`git am --continue`, or `git am --abort` to give up");
      } else if (leaveHere) {
        const stuck = await gitAdapter.abortAm(target);
        // Out of room, git am may not even end its own session: say so, not "nothing was applied" alone.
        if (stuck !== undefined) {
          const error = conflictError(record.worker_id, outcome, { ...base, left_in_progress: true });
          error.message += `, but git am --abort failed too (${stuck}): its session is left in progress here; ` +
            "git am --abort ends it (once there is room)";
          throw error;
        }
      }
      // Its series went with it (git am could not read it): no refusal or conflict of the worker's.
      if (!findWorker(layout, record.orchestrator_id, record.worker_id)) throw removedMeanwhile(record);
      const leftInProgress = leaveHere && outcome.conflict;
      throw conflictError(record.worker_id, outcome, { ...base, left_in_progress: leftInProgress });
    }
    if (!leaveHere && made !== head) {
      const says = (why: string) =>
        `could not apply ${record.worker_id}: ${why} (fast-forwarding to ${made.slice(0, 12)}); nothing was applied`;
      await fastForwardCheckout(target, head, made, says);
    }
    const after = (await gitAdapter.refCommit(repo, "HEAD")) ?? "";
    // git am skips a patch whose change is already here ("No changes -- Patch already applied") and exits 0.
    if (after === head) throw alreadyHere();
    const entry: AppliedRecord = {
      tip: series.tip, target, head_before: head, head_after: after, applied_at: new Date().toISOString(),
    };
    // A worker removed meanwhile keeps no record of it (its folder is not made again).
    if (findWorker(layout, record.orchestrator_id, record.worker_id)) writeJsonAtomic(appliedFile, [...applied, entry]);
    return { success: true, ...base, dry_run: false, head_before: head, head_after: after };
  });
  return { result, record, series };
}

export async function main(args: string[], flags: Flags, ctx: Context): Promise<CommandResult> {
  const result = await runApply(parseApply(args, flags), ctx);
  return {
    json: result,
    human: (c) => {
      const commits = `${result.commits} commit(s) of ${result.worker_id}`;
      const short = (commit: unknown) => String(commit).slice(0, 12);
      return result.dry_run
        ? `${c.green("applies cleanly")}: ${commits} onto ${short(result.head)} (dry run, nothing changed)\n`
        : `${c.green("applied")} ${commits}: HEAD ${short(result.head_before)} → ${short(result.head_after)}\n`;
    },
  };
}
