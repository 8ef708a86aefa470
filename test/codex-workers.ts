// What the tests of Codex workers share: a repository with a session and a Codex user, `orch spawn
// --agent codex`, waiting for the scripted model's requests, and polling the orchestrator's messages.

import fs from "node:fs";
import path from "node:path";
import * as assert from "uvu/assert";
import { codexHome, responsesServer } from "./codex-harness.ts";
import type { RecordedRequest, ResponsesServer, Step } from "./codex-harness.ts";
import { orch, privateTmux, sessionRepo, tmux, waitUntil } from "./helpers.ts";

/** The limit of every wait on the real Codex: generous, since two cores run two suites at once. */
export const LONG = 90_000;

export interface Setup {
  repo: string;
  id: string;
  server: ResponsesServer;
  env: Record<string, string | undefined>;
}

/** A session in a fresh repository, a private tmux server and a Codex user of the scripted model. */
export async function setup(
  scripts: Record<string, Step[]>, users: string, codexEntry: string, config: string[] = [],
  options: Parameters<typeof responsesServer>[1] = {},
): Promise<Setup> {
  const server = await responsesServer(scripts, options);
  const { repo, id } = sessionRepo();
  const home = codexHome(fs.mkdtempSync(path.join(users, "user-")), server, codexEntry, config);
  const env = { ...privateTmux(), ...home, ORCH_ID: id };
  return { repo, id, server, env };
}

/** The conversation's requests for a script (Codex's side requests left out), at one step or all. */
export function requestsOf(server: ResponsesServer, script: string, step?: number): RecordedRequest[] {
  const turn = (r: RecordedRequest) => r.threadSource === "user" && !r.compaction && r.script === script;
  return server.requests.filter((r) => turn(r) && (step === undefined || r.step === step));
}

export async function requestFor(server: ResponsesServer, script: string, step: number, what: string): Promise<RecordedRequest> {
  await waitUntil(() => requestsOf(server, script, step).length > 0, LONG, what);
  return requestsOf(server, script, step)[0]!;
}

export interface Polled {
  worker_id: string | null;
  message_type: string;
  content: { summary?: string; branch?: string; waiting_for?: string; request_id?: string; details?: string };
}

/** Polls until a message matching `match` has arrived; returns every message taken meanwhile. */
export async function pollUntil(s: Setup, seen: Polled[], match: (m: Polled) => boolean, what: string): Promise<Polled> {
  await waitUntil(() => {
    const r = orch(["poll", "--json"], { cwd: s.repo, env: s.env });
    if (r.code === 0) seen.push(...(r.json.messages as Polled[]));
    return seen.some(match);
  }, LONG, what);
  return seen.find(match)!;
}

/** A promise the scripted model waits on before it answers a step, and the way to open it. */
export function gate(): { opened: Promise<void>; open: () => void } {
  let open = () => {};
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { opened, open };
}

export function spawnCodex(s: Setup, branch: string, prompt: string): string {
  const r = orch(["spawn", branch, "--agent", "codex", "--json", "-"], { cwd: s.repo, env: s.env, input: prompt });
  assert.is(r.code, 0, r.stderr);
  return r.json.worker_id as string;
}

export function workerRecord(s: Setup, worker: string): { window_id: string; agent_session_id?: string } {
  return JSON.parse(fs.readFileSync(path.join(s.repo, ".orch/sessions", s.id, "workers", worker, "worker.json"), "utf8"));
}

export function paneText(s: Setup, windowId: string): string {
  return tmux(["capture-pane", "-p", "-t", windowId], s.env);
}
