// orch status and orch list: the session, its mail counts and its workers (as get_orchestrator_status, task_list).

import fs from "node:fs";
import { mainWorktreeOf } from "../adapters/repo.ts";
import { repoOf, resolveSession, type Context } from "../context.ts";
import { booleanFlag, stringFlag, type Flags } from "../flags.ts";
import { windowKey } from "../ids.ts";
import { checkSshSetupFor, onHost } from "../hosts/place.ts";
import type { Colors } from "../output.ts";
import type { StoreLayout } from "../store/layout.ts";
import { branchTipFromFiles, owesSync } from "../store/coherence.ts";
import { countMail } from "../store/maildir.ts";
import { readWorkersForStatus, statusStateOf, workersForStatus, type StatusWorker } from "../store/status-cache.ts";
import type { WorkerRecord, WorkerStatus } from "../store/workers.ts";
import { noticeBlockedPending } from "../store/worker-status.ts";
import { noticeEndedAgents, type WorkerLook } from "../store/watchdog.ts";
import { controlsShown, displayWidth, padToWidth } from "../text.ts";
import type { CommandResult } from "./types.ts";

export interface WorkerView {
  worker_id: string;
  branch: string;
  /** null while pending: no worktree yet (as spawn --after answers). */
  worktree_path: string | null;
  status: WorkerStatus | "unreachable";
  pr_url: string | null;
  window_id: string | null;
  /** The agent process is running. */
  alive: boolean;
  window_alive: boolean;
  agent_alive: boolean;
  agent: string;
  /** null while pending: it starts from the base as it is then. */
  base_commit: string | null;
  base_branch: string | null;
  /** Commits against the base branch's current tip (null while pending or when the branch is gone). */
  ahead: number | null;
  behind: number | null;
  /** Whether the branch merges onto the base's tip without conflicts (git merge-tree), null when unknown. */
  merges_cleanly: boolean | null;
  conflict_paths?: string[];
  /** All of its commits are in its base branch (landed by orch, or merged some other way). */
  landed?: boolean;
  /** spawn --after: the workers it waits for (pending; blocked with waiting_for "after" when one failed). */
  after?: string[];
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
  /** Only for the orch that drives this host (status --branch-tips): the branch's tip here, null when it is gone. */
  branch_tip?: string | null;
}

/** Where each started worker stands against its base: from the coherence check, keyed by worker. */
export type Standings = Map<string, WorkerStanding>;

interface WorkerStanding {
  ahead: number;
  behind: number;
  merges_cleanly: boolean;
  conflict_paths: string[];
  landed: boolean;
}

export interface StatusView {
  orchestrator_id: string;
  project_dir: string;
  created_at: string;
  unread_count: number;
  total_messages: number;
  workers: WorkerView[];
}

export async function viewWorkers(
  layout: StoreLayout,
  workers: StatusWorker[],
  env: NodeJS.ProcessEnv,
  standings: Standings = new Map(),
): Promise<WorkerView[]> {
  const records = workers.map((w) => w.record);
  // The watchdog and the view share one reading of each worker's state and agent.pid.
  const seen = new Map(workers.map((w) => [w.record.worker_id, { status: w.state.status, agent: w.agent }]));
  const { windows, reported } = await noticeEndedWorkers(layout, records, env, seen);
  return workers.map(({ record, state: known, agent }) => {
    // A worker the watchdog has just reported failed has a new event in its log.
    const state = reported.includes(record.worker_id) ? statusStateOf(layout, record) : known;
    const alive = agent.running !== undefined;
    const standing = standings.get(record.worker_id);
    return {
      worker_id: record.worker_id,
      branch: record.branch,
      worktree_path: record.worktree_path || null,
      status: state.status,
      pr_url: state.pr_url,
      window_id: record.window_id,
      alive,
      window_alive: record.window_id !== null && windows.has(windowKey(record.window_id, record.tmux_server)),
      agent_alive: alive,
      agent: record.agent,
      base_commit: record.base_commit || null,
      base_branch: record.base_branch,
      ahead: standing?.ahead ?? null,
      behind: standing?.behind ?? null,
      merges_cleanly: standing?.merges_cleanly ?? null,
      ...(standing && !standing.merges_cleanly ? { conflict_paths: standing.conflict_paths } : {}),
      ...(standing?.landed ? { landed: true } : {}),
      ...(record.after ? { after: record.after } : {}),
      created_at: record.created_at,
      last_activity_at: state.last_activity_at,
      ...(state.status === "blocked" ? { waiting_for: state.waiting_for, request_id: state.request_id } : {}),
      host: record.host ?? null,
    };
  });
}

/**
 * The coherence check (tells workers whose base moved, starts pending workers that may start) and
 * every started worker's standing; loaded only when there are workers.
 */
async function checkCoherence(
  layout: StoreLayout,
  orchestratorId: string,
  records: WorkerRecord[],
  ctx: Context,
): Promise<{ standings: Standings; started: number; failedToStart: number }> {
  const standings: Standings = new Map();
  const repo = await repoOf(ctx);
  if (!repo) return { standings, started: 0, failedToStart: 0 };
  const { reconcile, settledStandings } = await import("./coherence.ts");
  // Nothing moved since the last look: no one to tell or start, and the standings come from the cache.
  const settled = await settledStandings(layout, orchestratorId, repo, records, ctx.warn);
  if (settled) return { standings: settled, started: 0, failedToStart: 0 };
  const checked = await reconcile(layout, orchestratorId, repo, ctx, { allStandings: true, records });
  for (const view of checked.views) if (view.standing) standings.set(view.record.worker_id, view.standing);
  return { standings, started: checked.started.length, failedToStart: checked.failedToStart.length };
}

/**
 * The no-daemon watchdog of status and await: reports (once) each active worker whose agent died or
 * whose window was closed without a report. Returns the windows tmux has and the workers reported now.
 * `seen`: what the caller has read about each worker this command (status reads it once for both).
 */
export async function noticeEndedWorkers(
  layout: StoreLayout,
  records: WorkerRecord[],
  env: NodeJS.ProcessEnv,
  seen?: Map<string, WorkerLook>,
): Promise<{ windows: Set<string>; reported: string[] }> {
  const orphaned = records.some((r) => r.opening_window)
    ? await (await import("./spawn-journal.ts")).adoptOpenedWindows(layout, records, env)
    : [];
  // Remote workers' windows are on their hosts (their views come from there): tmux here is asked only
  // for local ones, and only when one of them has a window (status shows window_alive for every window).
  let windows = new Set<string>();
  let known = false;
  if (records.some((r) => r.window_id && r.host === undefined)) {
    const { listPanes, liveWindowKeys, serverRunning } = await import("../adapters/tmux.ts");
    const panes = await listPanes(env);
    windows = liveWindowKeys(panes);
    // No pane at all may be a server we cannot reach: only tmux saying "no server" closes every window.
    known = panes.length > 0 || (await serverRunning(env)) === false;
  }
  const reported = [...orphaned, ...noticeEndedAgents(layout, records, known ? windows : undefined, seen)];
  // After them: a worker that failed just now may leave one that waits for it (spawn --after) blocked.
  noticeBlockedPending(layout, records);
  return { windows, reported };
}

/**
 * What a host's orch answers the orch that drives it (status --branch-tips): each worker's branch tip
 * instead of its standing, which the driving orch computes against its own base (the host's copy of the
 * base branch is never moved); so no coherence check runs here.
 */
async function addBranchTips(views: WorkerView[], ctx: Context): Promise<void> {
  const repo = await repoOf(ctx);
  if (!repo) return;
  const main = mainWorktreeOf(repo);
  const { branchTip } = await import("./coherence.ts");
  for (const view of views) {
    const fromFiles = branchTipFromFiles(main, view.branch);
    view.branch_tip = fromFiles !== undefined ? fromFiles : (await branchTip(main, view.branch)) ?? null;
  }
}

export async function runStatus(orch: string | undefined, ctx: Context, branchTips = false): Promise<StatusView> {
  const { layout, session } = await resolveSession(ctx, orch);
  const read = readWorkersForStatus(layout, session.orchestrator_id, ctx.warn);
  let found = read.workers;
  let records = found.map((w) => w.record);
  const initial = records;
  // The hosts are asked first, so their round trips overlap the check made here.
  let hosts = records.some(onHost) ? await import("../hosts/views.ts") : undefined;
  // A bad ssh setup refuses status before it writes anything, its cache of what it read too.
  await checkSshSetupFor(records, ctx);
  read.keep();
  // A sync killed after its git left a base unrecorded: finished first, so that this status (and the hosts'
  // views, asked next) count from the base the branch is on.
  if (!branchTips && records.some((r) => owesSync(layout, r))) {
    const repo = await repoOf(ctx);
    const { finishKilledSyncsOf } = await import("./coherence.ts");
    if (repo) await finishKilledSyncsOf(layout, repo, records, ctx);
    found = workersForStatus(layout, session.orchestrator_id, ctx.warn);
    records = found.map((w) => w.record);
  }
  let asked = hosts?.askHosts(layout, records, ctx);
  // Its failure (a bad ssh setting) is thrown where it is awaited, below; meanwhile it is not "unhandled".
  asked?.catch(() => undefined);
  // The check runs once their requests have gone: before that, it would hold them back (see requestsSent).
  await hosts?.requestsSent();
  const checking = records.length > 0 && !branchTips;
  const checked = checking ? await checkCoherence(layout, session.orchestrator_id, records, ctx) : undefined;
  const { standings, started, failedToStart } = checked ?? { standings: new Map(), started: 0, failedToStart: 0 };
  // A pending worker the check tried to start is read again after it, started or failed.
  if (started || failedToStart) {
    found = workersForStatus(layout, session.orchestrator_id, ctx.warn);
    records = found.map((w) => w.record);
    // A pending worker started on its host just now (spawn --after --host): the hosts, asked before it
    // was there, are asked again.
    const startedOnHost = records.some((r) => onHost(r) && initial.find((i) => i.worker_id === r.worker_id)?.pending);
    if (startedOnHost) {
      void asked?.catch(() => undefined);
      hosts = await import("../hosts/views.ts");
      asked = hosts.askHosts(layout, records, ctx);
      asked.catch(() => undefined);
    }
  }
  if (fs.existsSync(layout.spawningDir(session.orchestrator_id))) {
    const { interruptedSpawns } = await import("./spawn-journal.ts");
    for (const line of interruptedSpawns(layout, session.orchestrator_id)) ctx.warn(line);
  }
  const counts = countMail(layout.mailDir(session.orchestrator_id));
  const workers = await viewWorkers(layout, found, ctx.env, standings);
  if (branchTips) await addBranchTips(workers, ctx);
  if (hosts && asked) {
    const answers = await asked;
    await hosts.overlayHostViews(layout, records, workers, counts, answers, ctx);
    // A host that failed lately answered: the move its workers were not told of is brought to them now.
    if (answers.cameBack && checking) {
      await (await import("./coherence.ts")).noticeMoves(layout, session.orchestrator_id, ctx);
    }
  }
  return { ...session, unread_count: counts.unread, total_messages: counts.total, workers };
}

const STATUS_COLORS: Record<WorkerView["status"], keyof Colors> = {
  pending: "dim",
  unreachable: "red",
  running: "cyan",
  waiting: "yellow",
  blocked: "yellow",
  idle: "dim",
  done: "green",
  failed: "red",
  stopped: "dim",
};

/** "+2 -1 merges cleanly", "+1 -3 conflicts: a.txt", "waits for feat-a" for the human table. */
function standingText(w: WorkerView): string {
  // Not started yet: what it waits for. A started worker keeps its `after`, but blocked then means a request.
  const notStarted = w.status === "pending" || (w.status === "blocked" && w.waiting_for === "after");
  if (notStarted) {
    return w.after ? `${w.status === "blocked" ? "cannot start: after" : "after"} ${w.after.join(", ")}` : "";
  }
  if (w.ahead === null || w.behind === null) return "";
  if (w.landed) return `landed on ${w.base_branch ?? "its base"}`;
  const against = `+${w.ahead} -${w.behind} ${w.base_branch ?? "base"}`;
  return w.merges_cleanly === false ? `${against} conflicts: ${(w.conflict_paths ?? []).join(", ")}` : against;
}

/**
 * "blocked (Bash r-1)": a blocked worker with what it waits for (a command of several lines on one, to keep the
 * table's rows); else the status alone.
 */
function statusText(w: WorkerView): string {
  if (w.status !== "blocked" || !w.waiting_for) return w.status;
  return `blocked (${controlsShown(w.waiting_for)}${w.request_id ? ` ${w.request_id}` : ""})`;
}

/** host:path; a worker not made yet (pending) has no path, only the host it will start on. */
function whereText(w: WorkerView): string {
  if (!w.host) return w.worktree_path ?? "";
  return w.worktree_path ? `${w.host}:${w.worktree_path}` : `on host ${w.host}`;
}

export function renderWorkers(workers: WorkerView[], c: Colors): string {
  if (workers.length === 0) return "no workers\n";
  // An unreachable host's worker: what its window and agent do is not known here.
  const unknown = (w: WorkerView) => w.status === "unreachable";
  const rows = workers.map((w) => [
    w.worker_id,
    statusText(w),
    w.window_id ? `${w.window_id}${unknown(w) ? " (?)" : w.window_alive ? "" : " (closed)"}` : "-",
    unknown(w) ? "agent unknown" : w.agent_alive ? "agent running" : "agent not running",
    [w.pr_url ?? "", standingText(w)].filter(Boolean).join("  "),
    `${whereText(w)}${w.error ? ` (${w.error})` : ""}`,
  ]);
  const widths = [0, 1, 2, 3].map((i) => Math.max(...rows.map((r) => displayWidth(r[i]!))));
  return rows
    .map((r) => {
      const padded = (i: number) => padToWidth(r[i]!, widths[i]!);
      const status = c[STATUS_COLORS[r[1]!.split(" ")[0] as WorkerView["status"]] ?? "bold"](padded(1));
      return [c.bold(padded(0)), status, padded(2), padded(3), r[4], c.dim(r[5]!)].filter(Boolean).join("  ");
    })
    .join("\n") + "\n";
}

export async function main(_args: string[], flags: Flags, ctx: Context): Promise<CommandResult> {
  const view = await runStatus(stringFlag(flags, "orch"), ctx, booleanFlag(flags, "branchTips"));
  return {
    json: { success: true, ...view },
    human: (c) => {
      const counts = `${view.unread_count} unread of ${view.total_messages} messages`;
      const header = `${c.bold(view.orchestrator_id)}  ${counts}  ${c.dim(view.project_dir)}\n`;
      return header + renderWorkers(view.workers, c);
    },
  };
}

export async function listMain(_args: string[], flags: Flags, ctx: Context): Promise<CommandResult> {
  const view = await runStatus(stringFlag(flags, "orch"), ctx);
  return {
    json: { success: true, orchestrator_id: view.orchestrator_id, workers: view.workers },
    human: (c) => renderWorkers(view.workers, c),
  };
}
