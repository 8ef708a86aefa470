// orch __agent WORKER: runs inside the worker's tmux window; starts the agent with the prompt, keeps
// its pid in the store while it runs, and reports a failed start to the orchestrator.

import fs from "node:fs";
import { startAgent } from "../agents/command.ts";
import { argvWithPrompt, knownProfile } from "../agents/index.ts";
import { resolveSession, type Context } from "../context.ts";
import { positional, stringFlag, type Flags } from "../flags.ts";
import { newMessage, sendMessage } from "../store/messages.ts";
import { findWorker, loadWorker, saveWorker, workerState, type WorkerRecord } from "../store/workers.ts";
import type { StoreLayout } from "../store/layout.ts";
import { workerEnv } from "./spawn.ts";
import type { CommandResult } from "./types.ts";

/**
 * For an agent that picks its own session id: waits (while it runs, at most a minute) until it has
 * recorded the session, then keeps the id with the worker, for resume.
 */
async function recordSessionId(
  layout: StoreLayout,
  record: WorkerRecord,
  env: NodeJS.ProcessEnv,
  startedAtMs: number,
  exited: () => boolean,
): Promise<void> {
  const profile = await knownProfile(record.agent);
  if (!profile?.findSessionId) return;
  for (const deadline = startedAtMs + 60_000; Date.now() < deadline && !exited(); ) {
    const id = profile.findSessionId({ worktreePath: record.worktree_path, env, startedAtMs });
    if (id) {
      // Re-read: spawn saves the record (with its window) while the agent starts.
      const current = findWorker(layout, record.orchestrator_id, record.worker_id);
      if (current) saveWorker(layout, { ...current, agent_session_id: id });
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

export async function main(args: string[], flags: Flags, ctx: Context): Promise<CommandResult> {
  const { layout, session } = await resolveSession(ctx, stringFlag(flags, "orch"));
  const record = loadWorker(layout, session.orchestrator_id, positional(args, 0, "worker"));
  const prompt = fs.readFileSync(layout.promptFile(record.orchestrator_id, record.worker_id), "utf8");
  const env = { ...ctx.env, ...record.agent_env, ...workerEnv(layout, record, ctx.env) };
  // Ctrl-C in the window is for the agent: the runner waits for it instead of dying first.
  process.on("SIGINT", () => undefined);
  const startedAtMs = Date.now();
  const agent = await startAgent(argvWithPrompt(record.agent_argv, record.agent_prompt_placement ?? "last", prompt), record.worktree_path, env);
  const pidFile = layout.agentPidFile(record.orchestrator_id, record.worker_id);
  if (agent.pid) fs.writeFileSync(pidFile, String(agent.pid), { mode: 0o600 });
  let exited = false;
  const exit = agent.exit.finally(() => (exited = true));
  // Resume is a convenience: failing to learn the session id must not disturb the worker.
  await recordSessionId(layout, record, env, startedAtMs, () => exited).catch(() => undefined);
  const code = await exit;
  fs.rmSync(pidFile, { force: true });
  // An agent that ends without reporting would leave the orchestrator waiting forever: report for it.
  const status = workerState(layout, record).status;
  if (status === "running" || status === "idle") {
    const error = code === 127 ? `${record.agent_argv[0]} was not found on PATH` : `the agent exited with code ${code} without reporting`;
    const message = newMessage({
      orchestrator_id: record.orchestrator_id,
      worker_id: record.worker_id,
      message_type: "task_failed",
      content: { summary: code === 127 ? `agent ${record.agent_argv[0]} could not start` : "agent exited without reporting", error, branch: record.branch },
    });
    sendMessage(layout.mailDir(record.orchestrator_id), message, layout.eventsDir(record.orchestrator_id, record.worker_id));
  }
  return { json: { success: code === 0, exit_code: code }, human: () => "", exitCode: code };
}
