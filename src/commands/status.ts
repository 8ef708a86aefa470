// orch status and orch list: the session, its mailbox counts and its workers (mirrors get_orchestrator_status, task_list).

import { resolveSession, type Context } from "../context.ts";
import { stringFlag, type Flags } from "../flags.ts";
import type { Colors } from "../output.ts";
import type { StoreLayout } from "../store/layout.ts";
import { countMail } from "../store/maildir.ts";
import { listWorkers, noticeEndedAgents, runningAgentPid, workerState, type WorkerRecord, type WorkerStatus } from "../store/workers.ts";
import type { CommandResult } from "./types.ts";

export interface WorkerView {
  worker_id: string;
  branch: string;
  worktree_path: string;
  status: WorkerStatus | "unreachable";
  pr_url: string | null;
  window_id: string | null;
  /** The agent process is running. */
  alive: boolean;
  window_alive: boolean;
  agent_alive: boolean;
  agent: string;
  base_commit: string;
  created_at: string;
  /** The agent's last report, hook event or tool call. */
  last_activity_at: string | null;
  /** While blocked: what the agent waits for, and the request orch approve/deny answers. */
  waiting_for?: string | null;
  request_id?: string | null;
  /** The host it lives on, null here. */
  host: string | null;
  /** Why its host could not say (unreachable: the ssh error). */
  error?: string;
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
  const windows = await noticeEndedWorkers(layout, records, env);
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
      last_activity_at: state.last_activity_at,
      ...(state.status === "blocked" ? { waiting_for: state.waiting_for, request_id: state.request_id } : {}),
      host: record.host ?? null,
    };
  });
}

/**
 * The no-daemon watchdog of status and await: reports (once) each active worker whose agent died or
 * whose window was closed without a report. Returns the windows tmux has.
 */
export async function noticeEndedWorkers(layout: StoreLayout, records: WorkerRecord[], env: NodeJS.ProcessEnv): Promise<Set<string>> {
  // Remote workers' windows are on their hosts (their views come from there): tmux here is asked only for local ones.
  if (!records.some((r) => r.window_id && r.host === undefined)) {
    noticeEndedAgents(layout, records);
    return new Set();
  }
  const { listPanes, serverRunning } = await import("../adapters/tmux.ts");
  const panes = await listPanes(env);
  const windows = new Set(panes.map((p) => p.windowId));
  // No pane at all may be a server we cannot reach: only tmux saying "no server" closes every window.
  const known = panes.length > 0 || (await serverRunning(env)) === false;
  noticeEndedAgents(layout, records, known ? windows : undefined);
  return windows;
}

export async function runStatus(orch: string | undefined, ctx: Context): Promise<StatusView> {
  const { layout, session } = await resolveSession(ctx, orch);
  const counts = countMail(layout.mailDir(session.orchestrator_id));
  const records = listWorkers(layout, session.orchestrator_id);
  const workers = await viewWorkers(layout, records, ctx.env);
  if (records.some((r) => r.host)) await (await import("../hosts/views.ts")).overlayHostViews(layout, records, workers, counts, ctx);
  return { ...session, unread_count: counts.unread, total_messages: counts.total, workers };
}

const STATUS_COLORS: Record<WorkerView["status"], keyof Colors> = {
  unreachable: "red",
  running: "cyan",
  waiting: "yellow",
  blocked: "yellow",
  idle: "dim",
  done: "green",
  failed: "red",
  stopped: "dim",
};

export function renderWorkers(workers: WorkerView[], c: Colors): string {
  if (workers.length === 0) return "no workers\n";
  const rows = workers.map((w) => [
    w.worker_id,
    w.status === "blocked" && w.waiting_for ? `blocked (${w.waiting_for}${w.request_id ? ` ${w.request_id}` : ""})` : w.status,
    w.window_id ? `${w.window_id}${w.window_alive ? "" : " (closed)"}` : "-",
    w.agent_alive ? "agent running" : "agent not running",
    w.pr_url ?? "",
    `${w.host ? `${w.host}:` : ""}${w.worktree_path}${w.error ? ` (${w.error})` : ""}`,
  ]);
  const widths = [0, 1, 2, 3].map((i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows
    .map((r) => {
      const status = c[STATUS_COLORS[r[1]!.split(" ")[0] as WorkerView["status"]] ?? "bold"](r[1]!.padEnd(widths[1]!));
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
