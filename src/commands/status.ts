// orch status and orch list: the session, its mailbox counts and its workers (mirrors get_orchestrator_status, task_list).

import { resolveSession, type Context } from "../context.ts";
import { stringFlag, type Flags } from "../flags.ts";
import type { Colors } from "../output.ts";
import type { StoreLayout } from "../store/layout.ts";
import { countMail } from "../store/maildir.ts";
import { listWorkers, runningAgentPid, workerState, type WorkerRecord, type WorkerStatus } from "../store/workers.ts";
import type { CommandResult } from "./types.ts";

export interface WorkerView {
  worker_id: string;
  branch: string;
  worktree_path: string;
  status: WorkerStatus;
  pr_url: string | null;
  window_id: string | null;
  /** The agent process is running. */
  alive: boolean;
  window_alive: boolean;
  agent_alive: boolean;
  agent: string;
  base_commit: string;
  created_at: string;
}

export interface StatusView {
  orchestrator_id: string;
  project_dir: string;
  created_at: string;
  unread_count: number;
  total_messages: number;
  workers: WorkerView[];
}

export async function viewWorkers(layout: StoreLayout, records: WorkerRecord[], env: NodeJS.ProcessEnv): Promise<WorkerView[]> {
  let windows = new Set<string>();
  if (records.some((r) => r.window_id)) {
    const { listPanes } = await import("../adapters/tmux.ts");
    windows = new Set((await listPanes(env)).map((p) => p.windowId));
  }
  return records.map((record) => {
    const state = workerState(layout, record);
    const agent = runningAgentPid(layout, record) !== undefined;
    return {
      worker_id: record.worker_id,
      branch: record.branch,
      worktree_path: record.worktree_path,
      status: state.status,
      pr_url: state.pr_url,
      window_id: record.window_id,
      alive: agent,
      window_alive: record.window_id !== null && windows.has(record.window_id),
      agent_alive: agent,
      agent: record.agent,
      base_commit: record.base_commit,
      created_at: record.created_at,
    };
  });
}

export async function runStatus(orch: string | undefined, ctx: Context): Promise<StatusView> {
  const { layout, session } = await resolveSession(ctx, orch);
  const counts = countMail(layout.mailDir(session.orchestrator_id));
  const workers = await viewWorkers(layout, listWorkers(layout, session.orchestrator_id, ctx.warn), ctx.env);
  return { ...session, unread_count: counts.unread, total_messages: counts.total, workers };
}

const STATUS_COLORS: Record<WorkerStatus, keyof Colors> = {
  running: "cyan",
  waiting: "yellow",
  idle: "dim",
  done: "green",
  failed: "red",
  stopped: "dim",
};

export function renderWorkers(workers: WorkerView[], c: Colors): string {
  if (workers.length === 0) return "no workers\n";
  const rows = workers.map((w) => [
    w.worker_id,
    w.status,
    w.window_id ? `${w.window_id}${w.window_alive ? "" : " (closed)"}` : "-",
    w.agent_alive ? "agent running" : "agent not running",
    w.pr_url ?? "",
    w.worktree_path,
  ]);
  const widths = [0, 1, 2, 3].map((i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows
    .map((r) => {
      const status = c[STATUS_COLORS[r[1] as WorkerStatus]](r[1]!.padEnd(widths[1]!));
      return [c.bold(r[0]!.padEnd(widths[0]!)), status, r[2]!.padEnd(widths[2]!), r[3]!.padEnd(widths[3]!), r[4], c.dim(r[5]!)].filter(Boolean).join("  ");
    })
    .join("\n") + "\n";
}

export async function main(_args: string[], flags: Flags, ctx: Context): Promise<CommandResult> {
  const view = await runStatus(stringFlag(flags, "orch"), ctx);
  return {
    json: { success: true, ...view },
    human: (c) =>
      `${c.bold(view.orchestrator_id)}  ${view.unread_count} unread of ${view.total_messages} messages  ${c.dim(view.project_dir)}\n` + renderWorkers(view.workers, c),
  };
}

export async function listMain(_args: string[], flags: Flags, ctx: Context): Promise<CommandResult> {
  const view = await runStatus(stringFlag(flags, "orch"), ctx);
  return {
    json: { success: true, orchestrator_id: view.orchestrator_id, workers: view.workers },
    human: (c) => renderWorkers(view.workers, c),
  };
}
