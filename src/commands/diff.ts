// orch diff WORKER [--stat] and orch pr WORKER: review a worker's change without (or with) GitHub.

import * as gitAdapter from "../adapters/git.ts";
import { requireRepo, resolveSession, type Context } from "../context.ts";
import { OrchError } from "../errors.ts";
import { prUrlProblem } from "../store/messages.ts";
import { booleanFlag, positional, stringFlag, type Flags } from "../flags.ts";
import { fetchWorkerBranches } from "../hosts/place.ts";
import { loadWorker } from "../store/workers.ts";
import { forkPoint, refusePending, reportedPrUrl, uncommittedWarning } from "./integration.ts";
import type { CommandResult } from "./types.ts";

export async function diffMain(args: string[], flags: Flags, ctx: Context): Promise<CommandResult> {
  const stat = booleanFlag(flags, "stat");
  const { layout, session } = await resolveSession(ctx, stringFlag(flags, "orch"));
  const given = loadWorker(layout, session.orchestrator_id, positional(args, 0, "worker"));
  refusePending(given);
  const repo = await requireRepo(ctx);
  await fetchWorkerBranches(layout, [given], repo.mainRoot, ctx);
  const { finishKilledSyncsOf } = await import("./coherence.ts");
  const [record] = await finishKilledSyncsOf(layout, repo, [given], ctx);
  const tip = await gitAdapter.resolveCommit(repo.mainRoot, `refs/heads/${record.branch}`);
  if (!tip) throw new OrchError("not_found", `branch ${record.branch} no longer exists`);
  const fork = await forkPoint(repo.mainRoot, record, tip);
  const range = [fork, tip];
  // The worker's change as git apply takes it, whatever the user's diff.external, color.ui=always,
  // textconv drivers or diff.noprefix would make of it.
  const plain = ["--no-ext-diff", "--no-color", "--no-textconv", "--src-prefix=a/", "--dst-prefix=b/"];
  const [commits, numstat, patch, summary] = await Promise.all([
    gitAdapter.commitsBetween(repo.mainRoot, fork, tip),
    gitAdapter.git(["diff", "--numstat", "-z", "-M", ...range], repo.mainRoot),
    // As bytes too: a file that is not UTF-8 (Latin-1) keeps its bytes in the printed patch, which then applies.
    stat ? Promise.resolve(undefined) : gitAdapter.git(["diff", ...plain, "--binary", "-M", ...range], repo.mainRoot, {
      keepStdoutBytes: true,
    }),
    gitAdapter.git(["diff", "--no-color", "--stat", "-M", ...range], repo.mainRoot),
  ]);
  const files: { path: string; additions: number | null; deletions: number | null; from?: string }[] = [];
  const fields = numstat.stdout.split("\0");
  for (let i = 0; i < fields.length; i++) {
    const field = fields[i]!;
    if (!field) continue;
    const [add = "", del = "", name = ""] = field.split("\t");
    const counts = { additions: add === "-" ? null : Number(add), deletions: del === "-" ? null : Number(del) };
    if (name === "") files.push({ ...counts, from: fields[++i]!, path: fields[++i]! });
    else files.push({ ...counts, path: name });
  }
  const warning = await uncommittedWarning(record);
  if (warning) ctx.warn(warning);
  return {
    json: {
      success: true,
      worker_id: record.worker_id,
      branch: record.branch,
      base_commit: fork,
      head_commit: tip,
      commits,
      files,
      ...(patch ? { diff: patch.stdout } : {}),
      uncommitted_warning: warning,
    },
    human: () => {
      if (!stat) return patch!.stdoutBytes!;
      const commitLines = commits.map((c) => `${c.sha.slice(0, 10)} ${c.subject}`).join("\n");
      return `${commitLines}\n${summary.stdout}`;
    },
    verbatim: !stat,
  };
}

/**
 * What gh pr view takes for the PR of `branch`: the branch itself, unless gh would read it as a PR number
 * (a branch "42" or "#42" is PR #42 to gh): then the URL of the newest PR whose head it is.
 */
async function prOfBranch(branch: string, cwd: string, env: NodeJS.ProcessEnv): Promise<string> {
  if (!/^#?[0-9]+$/.test(branch)) return branch;
  const { ghJson, ghRun, ghSaid } = await import("../adapters/gh.ts");
  const args = ["pr", "list", "--head", branch, "--state", "all", "--json", "url", "--limit", "1"];
  const listed = await ghRun(args, cwd, env);
  if (listed.code !== 0) throw new OrchError("failed", `gh pr list failed: ${ghSaid(listed)}`);
  const [pr] = ghJson("gh pr list", listed.stdout || "[]", "array") as { url?: unknown }[];
  if (typeof pr?.url !== "string") throw new OrchError("not_found", `no pull request has ${branch} as its head`);
  if (prUrlProblem(pr.url) !== undefined) throw new OrchError("failed", `gh pr list gave no PR URL: ${pr.url}`);
  return pr.url;
}

export async function prMain(args: string[], flags: Flags, ctx: Context): Promise<CommandResult> {
  const { layout, session } = await resolveSession(ctx, stringFlag(flags, "orch"));
  const record = loadWorker(layout, session.orchestrator_id, positional(args, 0, "worker"));
  refusePending(record);
  const repo = await requireRepo(ctx);
  const { ghFoundNoPullRequest, ghJson, ghRun, ghSaid } = await import("../adapters/gh.ts");
  const selector = reportedPrUrl(layout, record) ?? (await prOfBranch(record.branch, repo.mainRoot, ctx.env));
  const prFields = "number,url,title,state,body,headRefName,baseRefName,mergeable,reviewDecision,additions,deletions";
  const view = await ghRun(["pr", "view", selector, "--json", prFields], repo.mainRoot, ctx.env);
  if (view.code !== 0 && ghFoundNoPullRequest(view)) {
    throw new OrchError("not_found", `no pull request for ${record.worker_id} (${selector}): ${ghSaid(view)}`);
  }
  // Not logged in, offline, no GitHub remote: gh could not look, which says nothing about the PR.
  if (view.code !== 0) throw new OrchError("failed", `gh pr view ${selector} failed: ${ghSaid(view)}`);
  const pr = ghJson("gh pr view", view.stdout, "object") as Record<string, unknown>;
  const diff = await ghRun(["pr", "diff", String(pr.url ?? selector)], repo.mainRoot, ctx.env);
  return {
    json: { success: true, worker_id: record.worker_id, pr, diff: diff.code === 0 ? diff.stdout : null },
    human: (c) => {
      const heading = `${c.bold(`#${pr.number} ${pr.title}`)} (${pr.state}) ${pr.url}`;
      const body = pr.body ? `\n${pr.body}\n` : "";
      return `${heading}\n${body}\n${diff.stdout}`;
    },
  };
}
