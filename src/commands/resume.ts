// orch resume WORKER [--prompt TEXT]: start the agent of a stopped, failed or dead worker again in its
// worktree, continuing its conversation through the agent's own resume, in its window or a new one.

import fs from "node:fs";
import path from "node:path";
import { missingProgram } from "../adapters/agent-process.ts";
import { locateRepo } from "../adapters/repo.ts";
import { forgetCallerEnv, leaveCallerEnv } from "../agents/caller-env.ts";
import { knownProfile } from "../agents/index.ts";
import type { ResumeStart } from "../agents/profile.ts";
import { resolveSession, type Context } from "../context.ts";
import { OrchError } from "../errors.ts";
import { positional, stringFlag, type Flags } from "../flags.ts";
import { windowKey } from "../ids.ts";
import { flagTextOrStdin } from "../input.ts";
import { placeOf } from "../hosts/place.ts";
import { isSameProcess } from "../proc.ts";
import { ensureShim } from "../runtime.ts";
import type { StoreLayout } from "../store/layout.ts";
import { writeJsonAtomic } from "../store/files.ts";
import { loadWorker, saveWorker, type WorkerRecord } from "../store/workers.ts";
import { claimResume, releaseResume, removalUnderWay, resumeClaimHeld } from "../store/worker-claims.ts";
import { recordWorkerEvent, reportStartQuestions, workerState } from "../store/worker-status.ts";
import { agentStartedOrEnded, clearEndedMarker, runningAgentPid } from "../store/watchdog.ts";
import { resumePlanFile, type ResumePlan } from "./agent-run.ts";
import { tmuxSessionName, windowArgv, windowEnv } from "./spawn-here.ts";
import type { CommandResult } from "./types.ts";

const DEFAULT_PROMPT = "Continue where you left off. Report back with orch notify as your instructions say.";

export async function main(args: string[], flags: Flags, ctx: Context): Promise<CommandResult> {
  const workerArg = positional(args, 0, "worker");
  const text = flagTextOrStdin(flags, "prompt", "the prompt on standard input");
  const { layout, session } = await resolveSession(ctx, stringFlag(flags, "orch"));
  const record = loadWorker(layout, session.orchestrator_id, workerArg);
  if (record.pending) {
    // spawn --after: nothing to resume (no worktree or agent yet, here or on its host).
    const failed = record.pending_spawn?.start_error;
    const why = failed === undefined
      ? `it starts when ${(record.after ?? []).join(", ")} have landed`
      : `its start failed (${failed}): orch rm it and spawn it again`;
    throw new OrchError("refused", `worker ${record.worker_id} has not started: ${why}`);
  }
  // On a host, its orch resumes the agent there; its answer is the result, with the host.
  const json = await (await placeOf(layout, record, ctx)).resume(text);
  const was = String(json.previous_status);
  const where = typeof json.host === "string" ? ` on host ${json.host}` : ` in window ${String(json.window_id)}`;
  const startsOver = json.conversation_continued === false
    ? " — it has no conversation to continue: it starts its task over"
    : "";
  return {
    json,
    human: (c) => `${c.green("resumed")} ${c.bold(record.worker_id)} (was ${was})${where}${startsOver}\n`,
  };
}

/** resume of a worker on this machine: its agent again in its window (or a new one), as the command's JSON. */
export async function resumeHere(
  layout: StoreLayout, record: WorkerRecord, text: string | undefined, ctx: Context,
): Promise<Record<string, unknown>> {
  const claim = claimResume(layout, record);
  if (claim === "gone") throw new OrchError("not_found", `worker ${record.worker_id} was removed meanwhile`);
  // Another resume, a spawn opening its window, or a stop or rm ending its agent: which one is said.
  if (claim === "held") throw resumeClaimHeld(layout, record);
  try {
    // An rm or clean that claimed it first ends with the worker gone: nothing is started in it.
    const removal = removalUnderWay(layout, record);
    if (removal === "removing") {
      throw new OrchError("refused", `worker ${record.worker_id} is being removed by another orch command`);
    }
    if (removal === "interrupted") {
      const killed = `an orch rm or clean of worker ${record.worker_id} was killed half-way`;
      throw new OrchError("refused", `${killed}: orch rm ${record.worker_id} finishes the removal`);
    }
    if (record.opening_window) await adoptSpawnsWindow(layout, record, record.opening_window, ctx);
    const resumed = await startAgainHere(layout, record, text, ctx);
    // Held until the new agent runs (or its runner said it ended): a resume that came meanwhile would have
    // found no agent running and started a second one in the same worktree.
    const until = Date.now() + AGENT_START_WAIT_MS;
    while (!agentStartedOrEnded(layout, record) && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    return resumed;
  } finally {
    releaseResume(layout, record);
  }
}

/**
 * A worker whose spawn was killed -9 after tmux made its window, before it recorded which: that window (its
 * pane carries the worker's ORCH_ID and ORCH_WORKER) is recorded as its own, as status does, so the agent
 * starts again there and not in a second window of the same worktree. One whose spawn still runs is refused.
 */
async function adoptSpawnsWindow(
  layout: StoreLayout, record: WorkerRecord, spawn: { pid: number; start_time: string | null }, ctx: Context,
): Promise<void> {
  if (isSameProcess(spawn.pid, spawn.start_time ?? undefined)) {
    const wait = `its orch spawn (pid ${spawn.pid}) is still opening its window`;
    throw new OrchError("refused", `worker ${record.worker_id} has not started yet: ${wait}`);
  }
  await (await import("./spawn-journal.ts")).adoptOpenedWindows(layout, [record], ctx.env);
}

/** How long resume holds its claim for the new agent to start; a runner that never starts is let go then. */
const AGENT_START_WAIT_MS = 5000;

/**
 * How long after its final report resume waits for the agent to exit. A one-shot agent (a command that does its
 * task and exits) reports a few ms before it ends, and `orch await W && orch resume W` came in between and was
 * refused. An agent that stays at its prompt after its report (Claude Code, Codex) is refused after the wait.
 */
const REPORT_TO_EXIT_MS = 2000;

/** The agent's pid while it runs, once a just-finished one had its moment to exit. */
async function agentStillRunning(layout: StoreLayout, record: WorkerRecord): Promise<number | undefined> {
  let running = runningAgentPid(layout, record);
  if (running === undefined) return undefined;
  const { status, last_message: last, turn_failed: atPrompt } = workerState(layout, record);
  if ((status !== "done" && status !== "failed") || atPrompt) return running;
  const until = Date.parse(last?.created_here ?? last?.created_at ?? "") + REPORT_TO_EXIT_MS;
  while (running !== undefined && Date.now() < until) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    running = runningAgentPid(layout, record);
  }
  return running;
}

async function startAgainHere(
  layout: StoreLayout, record: WorkerRecord, text: string | undefined, ctx: Context,
): Promise<Record<string, unknown>> {
  const running = await agentStillRunning(layout, record);
  if (running !== undefined) {
    const id = record.worker_id;
    // Failed by the model API, not gone: the agent waits at its prompt, where a message wakes it.
    const why = workerState(layout, record).turn_failed
      ? `the agent of worker ${id} is still running (pid ${running}), at its prompt after a model API error ` +
        `ended its turn: orch send ${id} TEXT starts its next turn (or orch stop it first)`
      : `the agent of worker ${id} is still running (pid ${running}): orch stop it first`;
    throw new OrchError("refused", why);
  }
  if (!fs.existsSync(record.worktree_path)) {
    throw new OrchError("not_found", `the worktree of ${record.worker_id} is gone (${record.worktree_path})`);
  }
  const previous = workerState(layout, record).status;

  const profile = await knownProfile(record.agent);
  const recorded = { argv: record.agent_argv, promptPlacement: record.agent_prompt_placement ?? "last" } as const;
  const shimDir = ensureShim(ctx.env);
  // Where the agent's own files of the repository are (Claude Code's local settings); the worktree when unknown.
  const repo = await locateRepo(record.worktree_path).catch(() => undefined);
  const resumeSpec = {
    mainRoot: repo?.mainRoot ?? record.worktree_path,
    sessionId: record.agent_session_id,
    recorded,
    worktreePath: record.worktree_path,
    orchProgram: path.join(shimDir, "orch"),
    env: ctx.env,
    warn: ctx.warn,
  };
  const resumed: ResumeStart | undefined = profile?.resume?.(resumeSpec);
  // An agent with no resume of its own, or one that never saved its task, starts it over, the new message after it.
  const continued = resumed !== undefined && !resumed.startsOver;
  const firstPrompt = fs.readFileSync(layout.promptFile(record.orchestrator_id, record.worker_id), "utf8");
  const plan: ResumePlan = {
    argv: resumed?.argv ?? record.agent_argv,
    prompt_placement: resumed?.promptPlacement ?? record.agent_prompt_placement ?? "last",
    prompt: continued ? text ?? DEFAULT_PROMPT : text === undefined ? firstPrompt : `${firstPrompt}\n\n${text}`,
  };
  // The runner's PATH: the window's (orch's shim first), or the agent's own from its recorded environment.
  const windowPath = `${shimDir}${path.delimiter}${ctx.env.PATH ?? ""}`;
  const agentPath = resumed?.env?.PATH ?? record.agent_env?.PATH ?? windowPath;
  const missing = missingProgram(plan.argv[0] ?? "", record.worktree_path, agentPath);
  if (missing !== undefined) {
    throw new OrchError("not_found", `cannot resume worker ${record.worker_id}: ${missing} (uninstalled since its ` +
      "spawn?); nothing was started");
  }
  writeJsonAtomic(resumePlanFile(layout, record), plan);
  record.agent_env = { ...record.agent_env, ...resumed?.env };
  if (resumed?.sessionId) {
    // Saved before the agent starts: its hooks compare the session they run in with the recorded one.
    record.agent_session_id = resumed.sessionId;
    saveWorker(layout, record);
  }

  const tmux = await import("../adapters/tmux.ts");
  const windowSpec = {
    cwd: record.worktree_path,
    env: windowEnv(layout, record, shimDir, ctx.env),
    argv: windowArgv(record, shimDir, ["--resume"]),
  };
  const panes = await tmux.listPanes(ctx.env);
  const windows = tmux.liveWindowKeys(panes);
  // Recorded before the agent starts, so the runner and the watchdogs see a running worker.
  clearEndedMarker(layout, record);
  recordWorkerEvent(layout, record, "restarted", `resumed by the orchestrator (was ${previous})`);
  if (resumed?.questions?.length) reportStartQuestions(layout, record, record.agent, resumed.questions, ctx.warn);
  let reused = false;
  const window = record.window_id;
  leaveCallerEnv(layout, record, ctx.env, profile?.passedEnv);
  try {
    // Only the window this worker had: after a restart of tmux its id may be another worker's.
    if (window && windows.has(windowKey(window, record.tmux_server))) {
      // In the agent's own pane: panes the user (or a hook) added to the window are theirs and stay. A window
      // that lost that pane gets no agent started in another one (a new window is opened instead).
      const pane = record.tmux_pane;
      const paneThere = pane !== undefined && panes.some((p) => p.paneId === pane && p.windowId === window);
      if (pane === undefined || paneThere) reused = await tmux.respawnAgent(pane ?? window, windowSpec, ctx.env);
    }
    if (!reused) {
      const inTmux = Boolean(ctx.env.TMUX);
      const session = inTmux ? undefined : record.tmux_session ?? tmuxSessionName(path.dirname(record.worktree_path));
      const created = await tmux.openWindow({ ...windowSpec, session, name: record.worker_id }, ctx.env);
      record.window_id = created.windowId;
      record.tmux_pane = created.paneId;
      record.tmux_server = created.server;
      record.tmux_session = created.sessionName;
    }
  } catch (error) {
    forgetCallerEnv(layout, record);
    throw error;
  }
  saveWorker(layout, record);
  return {
    success: true,
    orchestrator_id: record.orchestrator_id,
    worker_id: record.worker_id,
    previous_status: previous,
    status: "running",
    window_id: record.window_id,
    window_reused: reused,
    conversation_continued: continued,
  };
}
