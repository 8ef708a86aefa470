// orch clean: remove the workers whose branch is merged into its base locally (or, with --merged, whose
// pull request GitHub reports merged), and forget workers whose worktree is gone (mirrors git gtr clean).

import path from "node:path";
import * as gitAdapter from "../adapters/git.ts";
import { removeStaleScratchWorktrees } from "../adapters/scratch-worktrees.ts";
import { requireRepo, resolveSession, type Context } from "../context.ts";
import { OrchError } from "../errors.ts";
import { booleanFlag, stringFlag, type Flags } from "../flags.ts";
import type { Colors } from "../output.ts";
import { landedAtTip } from "../store/coherence.ts";
import {
  checkSshSetupFor, fetchWorkerBranches, movedWorktree, notItsWorktree, uncommittedPaths, worktreeGone,
} from "../hosts/place.ts";
import type { StoreLayout } from "../store/layout.ts";
import { listWorkers, type WorkerRecord } from "../store/workers.ts";
import { workerState } from "../store/worker-status.ts";
import { confirm } from "./confirm.ts";
import { removeWorker } from "./lifecycle.ts";
import { repairAllSpawns } from "./spawn-journal.ts";
import type { CommandResult } from "./types.ts";

export interface CleanCandidate {
  worker_id: string;
  branch: string;
  reason: string;
  /** Kept because clean could not check it (its host, GitHub) or its removal failed: not a settled keep. */
  failed?: true;
}

interface Verdict {
  record: WorkerRecord;
  action: "remove" | "forget" | "skip";
  reason: string;
  /**
   * Merged only on GitHub, or landed by orch with the squash hidden by later changes: git cannot see
   * the branch in the local base, so it is deleted with -D.
   */
  viaGitHub: boolean;
  /** Skipped because clean could not find out or do what it had to, not because the worker must stay. */
  failed?: true;
}

async function judge(
  layout: StoreLayout, record: WorkerRecord, mainRoot: string, askGitHub: boolean, ctx: Context,
): Promise<Verdict> {
  if (record.pending) return { record, action: "skip", reason: "pending: not started yet", viaGitHub: false };
  // Gone by hand, or by a clean or rm killed half-way: forgotten, and its branch deleted too when it is merged.
  const gone = worktreeGone(record);
  const moved = await movedWorktree(layout, record);
  if (moved !== undefined) return { record, action: "skip", reason: moved, viaGitHub: false, failed: true };
  const forget: Verdict = { record, action: "forget", reason: "worktree folder is gone", viaGitHub: false };
  try {
    await fetchWorkerBranches(layout, [record], mainRoot, ctx);
  } catch (error) {
    return { record, action: "skip", reason: (error as Error).message, viaGitHub: false, failed: true };
  }
  if (!(await gitAdapter.branchExists(mainRoot, record.branch))) {
    return gone ? forget : { record, action: "skip", reason: "branch no longer exists", viaGitHub: false };
  }
  const tip = await gitAdapter.gitOut(["rev-parse", `refs/heads/${record.branch}`], mainRoot);
  // A worker that has not committed yet is trivially "merged": it is still at work, not finished.
  const noCommits: Verdict = { record, action: "skip", reason: "no commits yet", viaGitHub: false };
  if (tip === record.base_commit) return gone ? forget : noCommits;
  const base = record.base_branch && (await gitAdapter.branchExists(mainRoot, record.base_branch))
    ? record.base_branch
    : "HEAD";
  // Landed by orch at this very tip counts even when later changes to the same lines hide the squash,
  // as long as that landing is still in the base (the user may have reset it away since).
  const landedAs = landedAtTip(layout, record.orchestrator_id, record.worker_id, tip);
  const stillLanded = landedAs !== undefined && (await gitAdapter.isAncestor(mainRoot, landedAs.commit, base));
  const landedByOrch = stillLanded && landedAs.byOrch;
  const merged = stillLanded || (await gitAdapter.isMergedInto(mainRoot, `refs/heads/${record.branch}`, base));
  let reason = landedByOrch ? `landed on ${base} by orch` : merged ? `merged into ${base} locally` : "";
  let viaGitHub = false;
  if (!merged && askGitHub) {
    const { mergedPullRequests } = await import("../adapters/gh.ts");
    try {
      const prs = await mergedPullRequests(record.branch, mainRoot, ctx.env);
      const pr = prs.find((p) => p.headRefOid === tip);
      if (pr) {
        reason = `pull request #${pr.number} merged on GitHub`;
        viaGitHub = true;
      } else if (prs.length) {
        const why = `its merged pull request #${prs[0]!.number} is not at the branch tip: ` +
          "commits were added after the merge";
        return { record, action: "skip", reason: why, viaGitHub: false };
      }
    } catch (error) {
      const why = `could not ask GitHub: ${(error as Error).message}`;
      return { record, action: "skip", reason: why, viaGitHub: false, failed: true };
    }
  }
  if (!reason) return gone ? forget : { record, action: "skip", reason: "not merged", viaGitHub: false };
  // A landing orch recorded at this tip (its own, or one it noticed in the base) lets the branch go as merged.
  const deleteWith = viaGitHub || stillLanded;
  if (gone) return { record, action: "remove", reason: `${reason}; worktree folder is gone`, viaGitHub: deleteWith };
  const notOurs = await notItsWorktree(record, mainRoot);
  if (notOurs !== undefined) {
    const why = `${reason}, but its record's ${record.worktree_path} ${notOurs}`;
    return { record, action: "skip", reason: why, viaGitHub, failed: true };
  }
  const dirty = await uncommittedPaths(record);
  if (dirty.length) return { record, action: "skip", reason: `${reason}, but has uncommitted changes`, viaGitHub };
  return { record, action: "remove", reason, viaGitHub: deleteWith };
}

export async function main(_args: string[], flags: Flags, ctx: Context): Promise<CommandResult> {
  const dryRun = booleanFlag(flags, "dryRun") || booleanFlag(flags, "n");
  let askGitHub = booleanFlag(flags, "merged");
  const { layout, session } = await resolveSession(ctx, stringFlag(flags, "orch"));
  const repo = await requireRepo(ctx);
  const { insideCodex, refuseReadOnlyFolders } = await import("../sandbox.ts");
  if (!dryRun && insideCodex(ctx.env)) {
    const local = listWorkers(layout, session.orchestrator_id).filter((w) => w.host === undefined && !w.pending);
    const worktreeFolders = [...new Set(local.map((w) => path.dirname(w.worktree_path)))];
    refuseReadOnlyFolders([
      { dir: repo.commonDir, why: "clean removes the workers' worktrees and branches from the git dir" },
      ...worktreeFolders.map((dir) => ({ dir, why: "clean removes the workers' worktrees there" })),
    ], ctx.env);
  }
  // gh finds a repository's pull requests through its remotes: with none on GitHub (none at all, or a GitLab
  // or file:// origin), there is nothing to ask (not a failure), as merge decides too. GitHub is github.com,
  // gh's GH_HOST, or the server of a pull request a worker reported (GitHub Enterprise).
  const prUrls = () => listWorkers(layout, session.orchestrator_id).map((w) => workerState(layout, w).pr_url);
  if (askGitHub && (await gitAdapter.githubRemote(repo.mainRoot, gitAdapter.gitHubHosts(ctx.env, prUrls()))) === null) {
    askGitHub = false;
    const none = (await gitAdapter.gitOut(["remote"], repo.mainRoot)) === "";
    const which = none ? "this repository has no remote" : "no remote of this repository is on GitHub";
    ctx.warn(`${which}, so --merged has no pull request to ask GitHub about: only merges into the base here count`);
  }
  // A host that fails only skips its workers below: a setup that reaches no host is refused before anything.
  await checkSshSetupFor(listWorkers(layout, session.orchestrator_id), ctx);
  // Notice first: a worker merged elsewhere may let pending workers start before it is removed.
  await (await import("./coherence.ts")).reconcile(layout, session.orchestrator_id, repo, ctx);
  // What spawns killed with -9 left (worktrees and branches no record names) is debris by definition.
  const repaired = dryRun ? [] : [
    ...(await repairAllSpawns(layout, session.orchestrator_id, repo.mainRoot)),
    ...(await removeStaleScratchWorktrees(repo.mainRoot)),
  ];
  for (const line of repaired) ctx.warn(line);
  const verdicts: Verdict[] = [];
  for (const record of listWorkers(layout, session.orchestrator_id, ctx.warn)) {
    verdicts.push(await judge(layout, record, repo.mainRoot, askGitHub, ctx));
  }
  const toChange = verdicts.filter((v) => v.action !== "skip");
  if (!dryRun && toChange.length && !booleanFlag(flags, "yes")) {
    await confirm(`Remove ${toChange.length} worker(s): ${toChange.map((v) => v.record.worker_id).join(", ")}?`);
  }
  const removed: CleanCandidate[] = [];
  const skipped: CleanCandidate[] = verdicts
    .filter((v) => v.action === "skip")
    .map((v) => {
      const entry: CleanCandidate = { worker_id: v.record.worker_id, branch: v.record.branch, reason: v.reason };
      return v.failed ? { ...entry, failed: v.failed } : entry;
    });
  for (const verdict of toChange) {
    const entry = { worker_id: verdict.record.worker_id, branch: verdict.record.branch, reason: verdict.reason };
    if (dryRun) {
      removed.push(entry);
      continue;
    }
    try {
      // Under the removal claim, as rm: a clean or rm at the same time removes each worker once.
      const how = { force: false, deleteBranch: verdict.action === "remove", forceBranch: verdict.viaGitHub };
      await removeWorker(layout, verdict.record, how, ctx, repo.mainRoot);
      removed.push(entry);
    } catch (error) {
      if (error instanceof OrchError && error.details.removed_by_other === true) {
        skipped.push({ ...entry, reason: `${verdict.reason}; another orch command removes it` });
        continue;
      }
      const reason = `${verdict.reason}, but removing failed: ${(error as Error).message}`;
      skipped.push({ ...entry, reason, failed: true });
    }
  }
  const document = { orchestrator_id: session.orchestrator_id, dry_run: dryRun, removed, skipped, repaired };
  const human = (c: Colors) => {
    const verb = dryRun ? "would remove" : "removed";
    const lines = removed.map((r) => `${c.green(verb)} ${c.bold(r.worker_id)} (${r.reason})`);
    lines.push(...skipped.map((s) => `${s.failed ? c.red("failed") : c.dim("kept")} ${s.worker_id} (${s.reason})`));
    lines.push(...repaired.map((line) => `${c.green("repaired")} ${line}`));
    return lines.length ? `${lines.join("\n")}\n` : "no workers\n";
  };
  // As git branch -d with several names: what could be done is done, and the exit code says not all was.
  const failed = skipped.filter((s) => s.failed);
  if (failed.length === 0) return { json: { success: true, ...document }, human };
  const message = `could not check or remove ${failed.length} worker(s), kept: ` +
    failed.map((s) => `${s.worker_id} (${s.reason})`).join("; ");
  ctx.warn(message);
  return { json: { success: false, error: { code: "failed", message }, ...document }, human, exitCode: 1 };
}
