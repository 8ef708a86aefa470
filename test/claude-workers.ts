// What the tests of Claude Code workers against the scripted Anthropic server share: the server (stopped after
// the file, with the processes of its scratch users), a session in a fresh repository with a scratch Claude Code
// user, polling the orchestrator's messages, and waits that say what the server, the mailbox and the panes saw.

import { test } from "uvu";
import * as assert from "uvu/assert";
import { AnthropicServer } from "./agents/anthropic-server.ts";
import { claudeUser, endUserProcesses } from "./agents/harness.ts";
import { orch, privateTmux, sessionRepo, tmux, type PolledMessage, waitUntil } from "./helpers.ts";

/** Real agents start in seconds on a quiet machine; on a loaded 2-core one, give them minutes. */
export const AGENT_WAIT = 120_000;

/** A worker's entry of `orch status --json`. */
export interface WorkerView {
  worker_id: string;
  status: string;
  window_id: string;
  waiting_for?: string;
  request_id?: string;
  alive?: boolean;
  agent_alive?: boolean;
}

export interface SessionOptions {
  /** Claude Code's own allow rules for the user (claudeUser). */
  allow?: string[];
  /** More environment for orch and the agents (Claude Code's retries, its timeouts). */
  env?: Record<string, string>;
}

/** The scripted server of a test file's Claude Code workers, and `session`, which starts one of its sessions. */
export async function claudeWorkers() {
  const server = await new AnthropicServer().start();
  const users: ReturnType<typeof claudeUser>[] = [];
  test.after(async () => {
    for (const user of users) endUserProcesses(user);
    await server.stop();
  });

  /** One session in a fresh repository, a scratch Claude Code user, and every message polled so far. */
  const session = (options: SessionOptions = {}) => {
    const { repo, id } = sessionRepo();
    const user = claudeUser({ allow: options.allow ?? [] });
    users.push(user);
    const env = { ...privateTmux(), ...user.env, ...server.env, ...options.env };
    const polled: PolledMessage[] = [];
    const run = (args: string[]) => orch(args, { cwd: repo, env });
    const poll = () => {
      const r = run(["poll", "--json"]);
      assert.is(r.code, 0, r.stderr);
      polled.push(...(r.json.messages as PolledMessage[]));
      return polled;
    };
    const worker = (workerId: string): WorkerView => {
      const r = run(["status", "--json"]);
      assert.is(r.code, 0, r.stderr);
      return (r.json.workers as WorkerView[]).find((w) => w.worker_id === workerId)!;
    };
    const status = (workerId: string) => worker(workerId).status;
    const spawn = (branch: string, prompt: string, flags: string[] = []) => {
      const r = run(["spawn", branch, "--prompt", prompt, ...flags, "--json"]);
      assert.is(r.code, 0, r.stderr);
      return r.json as { worker_id: string; window_id: string; worktree_path: string };
    };
    const of = (workerId: string, type: string) =>
      polled.filter((m) => m.worker_id === workerId && m.message_type === type);
    /** Waits for a condition; on failure says what the model server, the mailbox and the panes saw. */
    const waitFor = async (check: () => boolean, what: string) => {
      try {
        await waitUntil(check, AGENT_WAIT, what);
      } catch (error) {
        const windows = tmux(["list-windows", "-a", "-F", "#{window_id} #{window_name}"], env).split("\n");
        const panes = windows.filter(Boolean).map((w) =>
          `--- ${w}\n${tmux(["capture-pane", "-p", "-t", w.split(" ")[0]!], env).replace(/\n{2,}/g, "\n")}`);
        const evidence = `messages: ${JSON.stringify(polled)}\nrequests:\n${server.describe()}\n${panes.join("\n")}`;
        throw new Error(`${(error as Error).message}\n${evidence}`);
      }
    };
    return { repo, id, env, polled, run, poll, worker, status, spawn, of, waitFor };
  };
  return { server, session };
}
