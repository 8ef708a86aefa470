// The variables of the caller's environment a worker's agent gets: a tmux window takes its environment from the
// tmux server (its global environment, as it was when the server started), not from the shell that ran orch
// spawn. An agent whose provider, credentials, proxy or config folder the caller chose (`export
// ANTHROPIC_BASE_URL=…`, `CODEX_HOME=… codex`) would otherwise run against another endpoint or config folder than
// the one orch prepared it in (trust, hooks), and wait at a login or trust screen, shown running. Each profile
// names its variables; never the whole environment (the orchestrator's CLAUDECODE, TMUX_PANE, … are its own).

import fs from "node:fs";
import path from "node:path";
import { readJson, toJson, writeFileAtomic } from "../store/files.ts";
import type { StoreLayout } from "../store/layout.ts";
import type { WorkerRecord } from "../store/workers.ts";

/** Which variables of the caller's environment an agent's workers get: names, and families by their prefix. */
export interface PassedEnv {
  readonly names: readonly string[];
  /** A family the agent documents (ANTHROPIC_…); NEVER_PASSED applies to it too. */
  readonly prefixes?: readonly string[];
  /** More names the agent's own configuration in `env` names (the env_key of a Codex model provider). */
  configured?(env: NodeJS.ProcessEnv): string[];
}

/** Proxies and CA certificates, which every agent's requests go through (any other agent's too). */
export const COMMON_PASSED_ENV: PassedEnv = {
  names: [
    "HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "NO_PROXY", "https_proxy", "http_proxy", "all_proxy", "no_proxy",
    "NODE_EXTRA_CA_CERTS", "SSL_CERT_FILE", "SSL_CERT_DIR",
  ],
};

/**
 * What the orchestrator's own session and window set, which must never reach a worker, whatever a prefix says: a
 * worker is no nested Claude Code, and tmux gives its window its own TMUX and TMUX_PANE. orch's own (ORCH_*,
 * PATH) are set for each worker by spawn.
 */
const NEVER_PASSED = new Set<string>([...orchestratorSessionEnv(), "TMUX", "TMUX_PANE", "PATH"]);

/**
 * What an orchestrator's Claude Code session sets for the commands it runs (the IDE it is connected to, how it was
 * started). A tmux server that orch started from such a session keeps them in its global environment, and every
 * window would inherit them: the runner takes them out of its agent's environment too.
 */
export function orchestratorSessionEnv(): readonly string[] {
  return ["CLAUDECODE", "CLAUDE_CODE_ENTRYPOINT", "CLAUDE_CODE_SSE_PORT"];
}

function passes(name: string, lists: readonly PassedEnv[]): boolean {
  if (NEVER_PASSED.has(name) || name.startsWith("ORCH_")) return false;
  return lists.some((list) => list.names.includes(name) || (list.prefixes ?? []).some((p) => name.startsWith(p)));
}

/**
 * The variables of `env` (the caller's) that a worker of an agent with `passed` (its profile's list; none for a
 * command template) gets, with the caller's values; one the caller does not have is not there (the server's stays).
 */
export function callerAgentEnv(env: NodeJS.ProcessEnv, passed: PassedEnv | undefined): Record<string, string> {
  const configured = { names: passed?.configured?.(env) ?? [] };
  const lists = passed ? [COMMON_PASSED_ENV, passed, configured] : [COMMON_PASSED_ENV];
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) {
    if (value !== undefined && passes(name, lists)) out[name] = value;
  }
  return out;
}

/**
 * Where spawn and resume leave the caller's variables for the worker's runner. Not on tmux's command line
 * (`new-window -e`), where any user of the machine could read an API key in the process list while the client
 * runs; a file of the store only its owner can read, which the runner removes as it reads it.
 */
function passedEnvFile(layout: StoreLayout, record: WorkerRecord): string {
  return path.join(layout.workerDir(record.orchestrator_id, record.worker_id), "agent-env.json");
}

/**
 * The caller's variables for a worker of an agent with `passed`, written before its window is asked for (when there
 * are none too, so that no earlier start's values are taken).
 */
export function leaveCallerEnv(
  layout: StoreLayout, record: WorkerRecord, env: NodeJS.ProcessEnv, passed: PassedEnv | undefined,
): void {
  writeFileAtomic(passedEnvFile(layout, record), toJson(callerAgentEnv(env, passed)), false);
}

/** Undoes leaveCallerEnv for a start that opened no window. */
export function forgetCallerEnv(layout: StoreLayout, record: WorkerRecord): void {
  fs.rmSync(passedEnvFile(layout, record), { force: true });
}

/**
 * What the runner takes: the variables left for this start, removed at once. None when there is no file (a
 * window started otherwise) or it is not what orch wrote (values that are not text are left out).
 */
export function takeCallerEnv(layout: StoreLayout, record: WorkerRecord): Record<string, string> {
  const file = passedEnvFile(layout, record);
  let left: unknown;
  try {
    left = readJson(file);
  } catch {
    left = undefined;
  } finally {
    fs.rmSync(file, { force: true });
  }
  if (typeof left !== "object" || left === null) return {};
  const isText = (entry: [string, unknown]): entry is [string, string] => typeof entry[1] === "string";
  return Object.fromEntries(Object.entries(left).filter(isText));
}
