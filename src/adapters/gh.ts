// gh (GitHub CLI) through argument arrays: merged pull requests of a branch, viewing and merging a PR.

import { OrchError } from "../errors.ts";
import { textStart } from "../text.ts";
import { run, type RunResult } from "./exec.ts";

export interface PullRequest {
  number: number;
  url: string;
  headRefOid: string;
  state?: string;
}

async function gh(args: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<RunResult> {
  try {
    const quietEnv = { ...env, GH_PROMPT_DISABLED: "1", NO_COLOR: "1" };
    return await run(["gh", ...args], { cwd, env: quietEnv, allowFailure: true });
  } catch (error) {
    throw new OrchError("failed", (error as Error).message);
  }
}

/** The merged pull requests whose head is `branch` (gh pr list --head B --state merged). */
export async function mergedPullRequests(branch: string, cwd: string, env: NodeJS.ProcessEnv): Promise<PullRequest[]> {
  const query = ["--head", branch, "--state", "merged", "--json", "number,url,headRefOid,state", "--limit", "100"];
  const result = await gh(["pr", "list", ...query], cwd, env);
  if (result.code !== 0) throw new OrchError("failed", `gh pr list failed: ${ghSaid(result)}`);
  return ghJson("gh pr list", result.stdout || "[]", "array") as PullRequest[];
}

/** The open pull requests whose head is a branch named `branch` (in this repository or a fork). */
export async function openPullRequests(branch: string, cwd: string, env: NodeJS.ProcessEnv): Promise<PullRequest[]> {
  const query = ["--head", branch, "--state", "open", "--json", "number,url,headRefOid", "--limit", "100"];
  const result = await gh(["pr", "list", ...query], cwd, env);
  if (result.code !== 0) throw new OrchError("failed", ghSaid(result));
  return ghJson("gh pr list", result.stdout || "[]", "array") as PullRequest[];
}

/**
 * What a failed gh said, in one line: the cause, which gh prints first. The lines after it are hints ("add the
 * `--admin` flag", "Run the following to resolve the merge conflicts locally:", "Alternatively, populate the
 * GH_TOKEN environment variable…"), and a line starting "! " is a warning ("was already merged"). Exit 4 is
 * gh's "authentication required".
 */
export function ghSaid(result: RunResult): string {
  const lines = result.stderr.split("\n").map((line) => line.trim()).filter(Boolean);
  const cause = lines.find((line) => !line.startsWith("! ")) ?? lines[0] ?? `exit code ${result.code}`;
  return result.code === 4 ? `gh is not logged in (run gh auth login, or set GH_TOKEN): ${cause}` : cause;
}

/** Whether gh failed because there is no such pull request (its NotFoundError, or GitHub's own answer). */
export function ghFoundNoPullRequest(result: RunResult): boolean {
  return /no pull requests found|Could not resolve to a PullRequest/.test(result.stderr);
}

/**
 * What a gh --json command printed, as the array or object it prints; anything else (a wrapper's or an old
 * gh's text, null) is a one-line failure (exit 1), not a stack.
 */
export function ghJson(command: string, stdout: string, shape: "array" | "object"): unknown {
  let value: unknown;
  try {
    value = JSON.parse(stdout);
  } catch {
    value = undefined;
  }
  const isArray = Array.isArray(value);
  if (value !== null && typeof value === "object" && isArray === (shape === "array")) return value;
  const expected = shape === "array" ? "a JSON array" : "a JSON object";
  throw new OrchError("failed", `${command} printed something that is not ${expected}: ${textStart(stdout.trim(), 80)}`);
}

/** The host and OWNER/REPO of a pull request's URL (https://HOST/OWNER/REPO/pull/N, gh's own pattern), if it is one. */
export function pullRequestRepository(url: string): { host: string; repository: string } | undefined {
  if (!URL.canParse(url)) return undefined;
  const { hostname, pathname } = new URL(url);
  const match = /^\/([^/]+)\/([^/]+)\/pull\/\d+/.exec(pathname);
  return match ? { host: hostname.toLowerCase(), repository: `${match[1]}/${match[2]}`.toLowerCase() } : undefined;
}

/**
 * A pull request's state as gh pr view says it (OPEN, CLOSED, MERGED) and the branch it merges into; each
 * undefined when gh cannot say.
 */
export async function pullRequestOutcome(
  url: string,
  cwd: string,
  env: NodeJS.ProcessEnv,
): Promise<{ state?: string; base?: string }> {
  const view = await gh(["pr", "view", url, "--json", "state,baseRefName"], cwd, env);
  if (view.code !== 0) return {};
  try {
    const { state, baseRefName } = JSON.parse(view.stdout) as { state?: unknown; baseRefName?: unknown };
    return {
      ...(typeof state === "string" ? { state } : {}),
      ...(typeof baseRefName === "string" && baseRefName !== "" ? { base: baseRefName } : {}),
    };
  } catch {
    return {};
  }
}

export async function ghRun(args: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<RunResult> {
  return gh(args, cwd, env);
}
