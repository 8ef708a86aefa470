// orch land: a merge queue. One worker at a time: merge it onto the current base in a throw-away
// worktree, run the test command there, and fast-forward the base to exactly what was tested; stop at
// the first conflict or red test and say which worker and why.

import * as gitAdapter from "../adapters/git.ts";
import { copyIncludedFiles } from "../adapters/gtr.ts";
import { run } from "../adapters/exec.ts";
import { requireRepo, resolveSession, type Context } from "../context.ts";
import { stringFlag, type Flags } from "../flags.ts";
import type { Colors } from "../output.ts";
import { collectFromHosts, fetchWorkerBranches } from "../hosts/place.ts";
import { withLock } from "../store/lock.ts";
import type { StoreLayout } from "../store/layout.ts";
import { listWorkers, loadWorker, workerState, type WorkerRecord } from "../store/workers.ts";
import { checkBaseCheckout, checkoutLockTarget, mergeMessage } from "./integration.ts";
import { methodFromFlags } from "./merge.ts";
import type { CommandResult } from "./types.ts";

export type LandStatus = "landed" | "conflict" | "test_failed" | "skipped";

export interface LandEntry {
  worker_id: string;
  branch: string;
  status: LandStatus;
  reason: string;
  commit?: string;
  conflict_paths?: string[];
  test_exit_code?: number;
}

/** The finished workers in the order they finished: all `done` workers by their task_complete time. */
function queueOrder(layout: StoreLayout, orchestratorId: string): WorkerRecord[] {
  return listWorkers(layout, orchestratorId)
    .map((record) => ({ record, state: workerState(layout, record) }))
    .filter(({ state }) => state.status === "done")
    .sort((a, b) => (a.state.last_message?.id ?? "").localeCompare(b.state.last_message?.id ?? ""))
    .map(({ record }) => record);
}

async function landOne(layout: StoreLayout, record: WorkerRecord, mainRoot: string, method: gitAdapter.MergeMethod, testCommand: string | undefined, ctx: Context): Promise<LandEntry> {
  const entry = { worker_id: record.worker_id, branch: record.branch };
  const base = await checkBaseCheckout(mainRoot, record);
  const head = await gitAdapter.gitOut(["rev-parse", "HEAD"], mainRoot);
  if (await gitAdapter.isMergedInto(mainRoot, `refs/heads/${record.branch}`, head)) return { ...entry, status: "skipped", reason: `already in ${base}` };
  const message = await mergeMessage(layout, record, mainRoot);
  const env = gitAdapter.scratchIdentity(ctx.env);
  return gitAdapter.withScratchWorktree(mainRoot, head, async (dir): Promise<LandEntry> => {
    const outcome = await gitAdapter.mergeInto(dir, record.branch, record.base_commit, method, message, env);
    if (!outcome.ok) {
      const paths = outcome.conflictPaths;
      return { ...entry, status: "conflict", reason: `does not merge onto ${base} at ${head.slice(0, 12)}${paths.length ? `: conflicts in ${paths.join(", ")}` : `: ${outcome.message.split("\n").pop()}`}`, conflict_paths: paths };
    }
    const tested = await gitAdapter.gitOut(["rev-parse", "HEAD"], dir);
    if (tested === head) return { ...entry, status: "skipped", reason: `already in ${base}` };
    if (testCommand) {
      await copyIncludedFiles(mainRoot, dir, await gitAdapter.readSettings(mainRoot), ctx.warn);
      ctx.warn(`land: testing ${record.worker_id} on ${base} with: ${testCommand}`);
      // The test command is the user's shell command line, so sh runs it, like git bisect run does.
      const test = await run(["sh", "-c", testCommand], { cwd: dir, env: { ...ctx.env, ORCH_LAND_WORKER: record.worker_id }, allowFailure: true, outputToStderr: true });
      if (test.code !== 0) return { ...entry, status: "test_failed", reason: `test command exited ${test.code}`, test_exit_code: test.code };
    }
    const overlap = await gitAdapter.dirtyPathsTouched(mainRoot, mainRoot, head, tested);
    if (overlap.length) return { ...entry, status: "conflict", reason: `uncommitted changes in ${mainRoot} touch ${overlap.join(", ")}`, conflict_paths: overlap };
    // What lands is exactly the commit that was tested.
    const ff = await gitAdapter.git(["merge", "--ff-only", "--quiet", tested], mainRoot, { allowFailure: true });
    if (ff.code !== 0) return { ...entry, status: "conflict", reason: `could not fast-forward ${base}: ${ff.stderr.trim().split("\n").pop() ?? ""}` };
    return { ...entry, status: "landed", reason: testCommand ? "merged, tests passed" : "merged", commit: tested };
  });
}

export async function runLand(names: string[], testCommand: string | undefined, method: gitAdapter.MergeMethod, orch: string | undefined, ctx: Context) {
  const { layout, session } = await resolveSession(ctx, orch);
  const repo = await requireRepo(ctx);
  // Without names the queue is every done worker: a remote worker is done once its task_complete is
  // here, so the hosts are asked first (a poll may not have run since).
  if (names.length === 0) await collectFromHosts(layout, session.orchestrator_id, ctx);
  const queue = names.length ? names.map((n) => loadWorker(layout, session.orchestrator_id, n)) : queueOrder(layout, session.orchestrator_id);
  await fetchWorkerBranches(layout, queue, repo.mainRoot, ctx);
  const results: LandEntry[] = [];
  await withLock(checkoutLockTarget(layout), "land", async () => {
    let stoppedAt: LandEntry | undefined;
    for (const record of queue) {
      if (stoppedAt) {
        results.push({ worker_id: record.worker_id, branch: record.branch, status: "skipped", reason: `the queue stopped at ${stoppedAt.worker_id} (${stoppedAt.status})` });
        continue;
      }
      const result = await landOne(layout, record, repo.mainRoot, method, testCommand, ctx);
      results.push(result);
      if (result.status === "conflict" || result.status === "test_failed") stoppedAt = result;
    }
  });
  return { orchestratorId: session.orchestrator_id, results };
}

function render(results: LandEntry[], c: Colors): string {
  if (results.length === 0) return "nothing to land: no finished workers\n";
  const paint: Record<LandStatus, (s: string) => string> = { landed: c.green, conflict: c.red, test_failed: c.red, skipped: c.dim };
  return results.map((r) => `${paint[r.status](r.status.padEnd(11))} ${c.bold(r.worker_id)}  ${r.reason}${r.commit ? c.dim(` ${r.commit.slice(0, 12)}`) : ""}`).join("\n") + "\n";
}

export async function main(args: string[], flags: Flags, ctx: Context): Promise<CommandResult> {
  const method = methodFromFlags(flags);
  const { orchestratorId, results } = await runLand(args, stringFlag(flags, "test"), method, stringFlag(flags, "orch"), ctx);
  const failed = results.find((r) => r.status === "conflict" || r.status === "test_failed");
  const json = { orchestrator_id: orchestratorId, method, landed: results.filter((r) => r.status === "landed").length, results };
  if (failed) {
    ctx.warn(`the queue stopped at ${failed.worker_id}: ${failed.reason}`);
    return {
      json: { success: false, error: { code: failed.status, message: `the queue stopped at ${failed.worker_id}: ${failed.reason}` }, ...json },
      human: (c) => render(results, c),
      exitCode: 1,
    };
  }
  return { json: { success: true, ...json }, human: (c) => render(results, c) };
}
