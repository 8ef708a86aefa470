// orch __agent WORKER: runs inside the worker's tmux window; starts the agent with the prompt, keeps
// its pid in the store while it runs, and reports a failed start to the orchestrator.

import fs from "node:fs";
import { startAgent } from "../agents/command.ts";
import { argvWithPrompt } from "../agents/index.ts";
import { resolveSession, type Context } from "../context.ts";
import { positional, stringFlag, type Flags } from "../flags.ts";
import { newMessage, sendMessage } from "../store/messages.ts";
import { loadWorker, workerState, writeAgentPid } from "../store/workers.ts";
import { workerEnv } from "./spawn.ts";
import type { CommandResult } from "./types.ts";

export async function main(args: string[], flags: Flags, ctx: Context): Promise<CommandResult> {
  const { layout, session } = await resolveSession(ctx, stringFlag(flags, "orch"));
  const record = loadWorker(layout, session.orchestrator_id, positional(args, 0, "worker"));
  const prompt = fs.readFileSync(layout.promptFile(record.orchestrator_id, record.worker_id), "utf8");
  const env = { ...ctx.env, ...record.agent_env, ...workerEnv(layout, record, ctx.env) };
  // Ctrl-C in the window is for the agent: the runner waits for it instead of dying first.
  process.on("SIGINT", () => undefined);
  const agent = await startAgent(argvWithPrompt(record.agent_argv, record.agent_prompt_placement ?? "last", prompt), record.worktree_path, env);
  const pidFile = layout.agentPidFile(record.orchestrator_id, record.worker_id);
  if (agent.pid) writeAgentPid(layout, record, agent.pid);
  const code = await agent.exit;
  fs.rmSync(pidFile, { force: true });
  // An agent that ends without reporting would leave the orchestrator waiting forever: report for it.
  const status = workerState(layout, record).status;
  if (status === "running" || status === "idle") {
    const failure = agent.startFailure();
    const error = failure ?? `the agent exited with code ${code} without reporting`;
    const message = newMessage({
      orchestrator_id: record.orchestrator_id,
      worker_id: record.worker_id,
      message_type: "task_failed",
      content: { summary: failure ? `agent ${record.agent_argv[0]} could not start` : `agent exited with code ${code} without reporting`, error, branch: record.branch },
    });
    sendMessage(layout.mailDir(record.orchestrator_id), message, layout.eventsDir(record.orchestrator_id, record.worker_id));
  }
  return { json: { success: code === 0, exit_code: code }, human: () => "", exitCode: code };
}
