// orch merge WORKER: merge the worker's PR with gh and fast-forward the base, or merge its branch
// locally into the base checked out in the main worktree (mirrors gh pr merge).

import * as gitAdapter from "../adapters/git.ts";
import { removeStaleScratchWorktrees } from "../adapters/scratch-worktrees.ts";
import { requireRepo, resolveSession, type Context } from "../context.ts";
import { asGiven, OrchError, usage } from "../errors.ts";
import { booleanFlag, positional, stringFlag, type Flags } from "../flags.ts";
import { bringHome } from "../hosts/place.ts";
import { withLock } from "../store/lock.ts";
import { prUrlProblem } from "../store/messages.ts";
import type { StoreLayout } from "../store/layout.ts";
import { loadWorker, type WorkerRecord } from "../store/workers.ts";
import {
  branchTipOrFail, checkBaseCheckout, checkoutLockTarget, committedAside, fastForwardCheckout, finishKilledFastForward, forkPoint,
  mergeMessage, refusePending, reportedPrUrl, uncommittedWarning,
} from "./integration.ts";
import { removeWorker } from "./lifecycle.ts";
import type { CommandResult } from "./types.ts";

export function methodFromFlags(flags: Flags): gitAdapter.MergeMethod {
  const chosen = (["squash", "rebase", "merge"] as const).filter((m) => booleanFlag(flags, m));
  if (chosen.length > 1) {
    throw usage(`choose one of --squash, --rebase, --merge (got ${chosen.map((m) => `--${m}`).join(" ")})`);
  }
  const method = stringFlag(flags, "method");
  if (method !== undefined) {
    if (method !== "squash" && method !== "rebase" && method !== "merge") {
      throw usage(`--method must be squash, rebase or merge, not ${JSON.stringify(method)}`);
    }
    return method;
  }
  return chosen[0] ?? "squash";
}

/** Merges a worker's branch into the base branch of the main worktree; throws a conflict with its paths. */
export async function mergeLocally(
  layout: StoreLayout, record: WorkerRecord, mainRoot: string, method: gitAdapter.MergeMethod, env: NodeJS.ProcessEnv,
  warn: (line: string) => void,
): Promise<{ commit: string; base: string; tip: string }> {
  const base = await checkBaseCheckout(mainRoot, record);
  const tip = await branchTipOrFail(mainRoot, record);
  const fork = await forkPoint(mainRoot, record, tip);
  const head = await gitAdapter.gitOut(["rev-parse", "HEAD"], mainRoot);
  const branchRef = `refs/heads/${record.branch}`;
  if (await gitAdapter.isMergedInto(mainRoot, branchRef, head)) {
    // Never committed (an agent that reported done without committing) is said as apply says it.
    const why = tip === record.base_commit
      ? `has no commits since its base ${tip.slice(0, 12)}`
      : `is already merged into ${base}`;
    throw new OrchError("refused", `${record.worker_id} ${why}: nothing to do`);
  }
  const overlap = await gitAdapter.dirtyPathsTouched(mainRoot, mainRoot, fork, branchRef);
  if (overlap.length) {
    const touched = `touch files ${record.worker_id} changes: ${overlap.join(", ")}`;
    const what = `local changes in ${mainRoot} (uncommitted, untracked or ignored)`;
    throw new OrchError("refused", `${what} ${touched}; nothing was merged`);
  }
  const message = mergeMessage(layout, record, await gitAdapter.commitsBetween(mainRoot, fork, tip));
  // The user's identity, else orch's, as land commits: a user without one (git would refuse) merges as land does.
  const identity = await gitAdapter.commitIdentity(mainRoot, env);
  // Merged in a throw-away worktree, then fast-forwarded here: interrupted, the base has all of it or none.
  const { outcome, made: commit } = await committedAside(mainRoot, head,
    (dir) => gitAdapter.mergeInto(dir, tip, fork, method, message, identity), warn);
  if (!outcome.ok) {
    const paths = outcome.conflictPaths;
    if (paths.length === 0) {
      // A refusing hook or signing without a key is no conflict (as for land and apply): rebasing would not help.
      const text = `could not merge ${record.worker_id} into ${base}: ${gitAdapter.gitSaid(outcome.message)}`;
      throw new OrchError("failed", `${text}; nothing was merged`, { conflict_paths: [], worker_id: record.worker_id });
    }
    const text = `${record.worker_id} does not merge cleanly into ${base}: conflicts in ${paths.join(", ")}`;
    const extra = { conflict_paths: paths, worker_id: record.worker_id };
    throw new OrchError("conflict", `${text}; nothing was merged`, extra);
  }
  if (commit === head && outcome.message) throw new OrchError("refused", `${record.worker_id}: ${outcome.message}`);
  await fastForwardCheckout(mainRoot, head, commit,
    (why) => `could not merge ${record.worker_id} into ${base}: ${why} (fast-forwarding to ${commit.slice(0, 12)}); ` +
      "nothing was merged");
  return { commit, base, tip };
}

/**
 * The open PR of a worker that reported none (made by hand, or by a tool orch's hooks do not see), when the
 * repository has a GitHub remote: merged with gh as a reported one is. Null when there is none, or when gh
 * cannot look (not installed, not logged in, offline): then the merge is local, and says why. A PR whose head
 * is not the branch's tip here is refused: merging it would leave out the commits that were not pushed.
 */
async function unreportedPr(record: WorkerRecord, mainRoot: string, ctx: Context): Promise<string | null> {
  const { openPullRequests } = await import("../adapters/gh.ts");
  let open;
  try {
    open = await openPullRequests(record.branch, mainRoot, ctx.env);
  } catch (error) {
    ctx.warn(`${record.worker_id} reported no PR, and gh could not look for one (${(error as Error).message}): ` +
      "merging locally");
    return null;
  }
  if (open.length === 0) return null;
  const tip = await branchTipOrFail(mainRoot, record);
  const pushed = open.filter((pr) => pr.headRefOid === tip);
  if (pushed.length === 1) {
    if (prUrlProblem(String(pushed[0]!.url)) === undefined) return pushed[0]!.url;
    throw new OrchError("failed", `gh pr list gave no PR URL: ${asGiven(String(pushed[0]!.url))}`);
  }
  const prs = open.map((pr) => `${pr.url} (head ${String(pr.headRefOid).slice(0, 12)})`).join(", ");
  throw new OrchError("refused", `${record.branch} has an open PR on GitHub, ${prs}, and its tip here is ` +
    `${tip.slice(0, 12)}: push the branch and merge again, or merge it here with --local`);
}

export async function main(args: string[], flags: Flags, ctx: Context): Promise<CommandResult> {
  const method = methodFromFlags(flags);
  const local = booleanFlag(flags, "local");
  const deleteBranch = booleanFlag(flags, "deleteBranch");
  const { layout, session } = await resolveSession(ctx, stringFlag(flags, "orch"));
  const given = loadWorker(layout, session.orchestrator_id, positional(args, 0, "worker"));
  refusePending(given);
  const repo = await requireRepo(ctx);
  for (const line of await removeStaleScratchWorktrees(repo.mainRoot)) ctx.warn(line);
  await bringHome(layout, [given], repo.mainRoot, ctx);
  const { finishKilledSyncsOf } = await import("./coherence.ts");
  const [record] = await finishKilledSyncsOf(layout, repo, [given], ctx);
  const reported = reportedPrUrl(layout, record);
  const gitHub = gitAdapter.gitHubHosts(ctx.env, [reported]);
  const remote = local ? null : await gitAdapter.githubRemote(repo.mainRoot, gitHub);
  const prUrl = remote ? (reported ?? (await unreportedPr(record, repo.mainRoot, ctx))) : null;
  // Before the warning: a worktree whose branch is gone has everything "uncommitted".
  if (!prUrl) await branchTipOrFail(repo.mainRoot, record);
  const warning = await uncommittedWarning(record);
  if (warning) ctx.warn(warning);

  // The branch's commit that landed; unknown for a PR merged on GitHub (its head need not be the local tip).
  let mergedTip: string | undefined;
  const result = await withLock(checkoutLockTarget(layout), "merge", async () => {
    for (const line of await finishKilledFastForward(repo.mainRoot)) ctx.warn(line);
    if (remote && prUrl) {
      const { ghRun, ghSaid, pullRequestOutcome, pullRequestRepository } = await import("../adapters/gh.ts");
      // Only if the PR's head is the branch's tip here: a commit the worker made after its last push is not
      // left out of what merges (GitHub refuses, and gh says "Head branch was modified").
      const tip = await gitAdapter.resolveCommit(repo.mainRoot, `refs/heads/${record.branch}`);
      const args = [
        "pr", "merge", prUrl, `--${method}`, ...(tip ? ["--match-head-commit", tip] : []),
        ...(deleteBranch ? ["--delete-branch"] : []),
      ];
      const merged = await ghRun(args, repo.mainRoot, ctx.env);
      // What gh's exit code does not say: --delete-branch fails (exit 1) after the merge, at the local branch
      // a worker's worktree has checked out; a merge queue or auto-merge exits 0 with the PR still open.
      const { state, base: prBase } = await pullRequestOutcome(prUrl, repo.mainRoot, ctx.env);
      if (merged.code !== 0 && state !== "MERGED") {
        throw new OrchError("failed", `gh pr merge ${prUrl} failed: ${ghSaid(merged)}`);
      }
      if (merged.code === 0 && state !== undefined && state !== "MERGED") {
        const queued = `gh pr merge ${prUrl} exited 0, but the PR is ${state.toLowerCase()}, not merged`;
        throw new OrchError("failed", `${queued} (queued for a merge queue or auto-merge?): nothing landed yet`);
      }
      if (merged.code !== 0) ctx.warn(`the PR is merged, but gh pr merge then failed: ${ghSaid(merged)}`);
      // Where the PR merged: its base on GitHub, which may have been changed there since the worker started.
      const recordedBase = record.base_branch ?? (await gitAdapter.currentBranch(repo.mainRoot));
      const base = prBase ?? recordedBase;
      if (prBase && recordedBase && prBase !== recordedBase) {
        ctx.warn(`the PR merged into ${prBase}, not ${recordedBase} (${record.worker_id}'s base): ${recordedBase} ` +
          "here is left as it is");
      }
      // The PR's own repository is where it merged, as gh pr merge pulls from it: with origin a fork and upstream
      // the PR's repository, origin's base has not moved. A URL gh would not read as a PR's: the GitHub remote.
      const prRepository = pullRequestRepository(prUrl);
      const baseRemote = prRepository
        ? await gitAdapter.remoteOfRepository(repo.mainRoot, prRepository.host, prRepository.repository)
        : remote;
      let baseUpdated = false;
      if (base && (await gitAdapter.currentBranch(repo.mainRoot)) === base) {
        if (!baseRemote) {
          const named = `${prRepository!.host}/${prRepository!.repository}`;
          ctx.warn(`the PR is merged, but no remote of this repository is ${named}: pull ${base} from it yourself`);
        } else {
          const optional = { allowFailure: true };
          const fetched = await gitAdapter.git(["fetch", "--quiet", baseRemote, base], repo.mainRoot, optional);
          const ff = fetched.code === 0
            ? await gitAdapter.git(["merge", "--ff-only", "--quiet", "FETCH_HEAD"], repo.mainRoot, optional)
            : fetched;
          baseUpdated = ff.code === 0;
          if (!baseUpdated) {
            const why = ff.stderr.trim().split("\n").pop() ?? "";
            ctx.warn(`the PR is merged, but ${base} could not be fast-forwarded from ${baseRemote}: ${why}`);
          }
        }
      }
      const commit = await gitAdapter.gitOut(["rev-parse", "HEAD"], repo.mainRoot);
      return { via: "github", pr_url: prUrl, base_branch: base, base_updated: baseUpdated, commit };
    }
    const { commit, base, tip } = await mergeLocally(layout, record, repo.mainRoot, method, ctx.env, ctx.warn);
    mergedTip = tip;
    return { via: "local", base_branch: base, commit };
  });
  // The base moved: the other workers are told, and workers waiting for this one may start.
  const landedHere = result.via === "local" || ("base_updated" in result && result.base_updated);
  const { afterBaseMoved } = await import("./coherence.ts");
  const landed = landedHere ? { record, commit: result.commit, branchTip: mergedTip } : undefined;
  const checked = await afterBaseMoved(layout, session.orchestrator_id, repo, ctx, landed);
  let removed = false;
  // After a merge on GitHub too: gh cannot delete a branch that the worker's worktree has checked out.
  if (deleteBranch) {
    try {
      await removeWorker(layout, record, { force: false, deleteBranch: true, forceBranch: true }, ctx, repo.mainRoot);
      removed = true;
    } catch (error) {
      ctx.warn(`merged, but the worker was kept: ${(error as Error).message}`);
    }
  }
  const json = {
    success: true, worker_id: record.worker_id, branch: record.branch, method, ...result, worker_removed: removed,
    told: checked?.told ?? [], started: checked?.started ?? [],
  };
  return {
    json,
    human: (c) => {
      const how = `${method}, ${result.via === "github" ? `PR ${prUrl}` : "locally"}`;
      const into = `into ${result.base_branch} (${how}) at ${result.commit.slice(0, 12)}`;
      return `${c.green("merged")} ${c.bold(record.worker_id)} ${into}\n`;
    },
  };
}
