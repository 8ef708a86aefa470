// orch stop WORKER: end the agent and its window, keep the worktree and the branch (mirrors task_stop).

import { resolveSession, type Context } from "../context.ts";
import { positional, stringFlag, type Flags } from "../flags.ts";
import { loadWorker } from "../store/workers.ts";
import { stopWorker } from "./lifecycle.ts";
import type { CommandResult } from "./types.ts";

export async function main(args: string[], flags: Flags, ctx: Context): Promise<CommandResult> {
  const { layout, session } = await resolveSession(ctx, stringFlag(flags, "orch"));
  const record = loadWorker(layout, session.orchestrator_id, positional(args, 0, "worker"));
  // From a sandbox that cannot reach tmux (nor see the agent's process), stop would only record "stopped".
  if (record.host === undefined && record.window_id) await (await import("../sandbox.ts")).refuseBlockedTmux(ctx.env);
  const outcome = await stopWorker(layout, record, ctx);
  return {
    json: {
      success: true,
      worker_id: record.worker_id,
      status: "stopped",
      ...outcome,
      worktree_path: record.worktree_path,
    },
    human: (c) => {
      const agentEnded = outcome.agent_stopped ? " (agent ended)" : "";
      const windowClosed = outcome.window_closed ? " (window closed)" : "";
      const notEnded = (outcome.not_ended ?? [])
        .map((left) => `  ${c.red("could not end")} process ${left.pid} (${left.name}): ${left.reason}\n`)
        .join("");
      return `${c.yellow("stopped")} ${c.bold(record.worker_id)}${agentEnded}${windowClosed}; ` +
        `worktree kept at ${record.worktree_path}\n${notEnded}`;
    },
  };
}
