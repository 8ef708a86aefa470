// orch __agent WORKER [--resume]: runs inside the worker's tmux window; starts the agent with the
// prompt (or, with --resume, what orch resume prepared), keeps its pid in the store while it runs,
// and reports to the orchestrator when the agent cannot start, ends without reporting, or its window
// is closed under it.

import fs from "node:fs";
import path from "node:path";
import { startAgent } from "../adapters/agent-process.ts";
import { orchestratorSessionEnv, takeCallerEnv } from "../agents/caller-env.ts";
import { argvWithPrompt, knownProfile, MAX_PROMPT_ARGUMENT_BYTES } from "../agents/index.ts";
import { resolveSession, type Context } from "../context.ts";
import { booleanFlag, positional, stringFlag, type Flags } from "../flags.ts";
import { readJson, writeFileAtomic } from "../store/files.ts";
import type { StoreLayout } from "../store/layout.ts";
import { findWorker, loadWorker, saveWorker, type WorkerRecord } from "../store/workers.ts";
import { reportTurnFailed, reportWaitingAtStart, workerState } from "../store/worker-status.ts";
import { claimAgentEnd, writeAgentPid } from "../store/watchdog.ts";
import { shortened } from "../text.ts";
import { withoutRepositoryEnv, workerEnv } from "./spawn-here.ts";
import type { CommandResult } from "./types.ts";

/** What orch resume leaves for the runner: the agent's resume command and the next user message. */
export interface ResumePlan {
  argv: string[];
  prompt_placement: "last" | "after-dashdash";
  prompt: string;
}

export function resumePlanFile(layout: StoreLayout, record: WorkerRecord): string {
  return path.join(layout.workerDir(record.orchestrator_id, record.worker_id), "resume.json");
}

function agentArgv(layout: StoreLayout, record: WorkerRecord, resume: boolean): string[] {
  if (resume) {
    const plan = readJson<ResumePlan>(resumePlanFile(layout, record));
    if (!plan) throw new Error(`no resume plan at ${resumePlanFile(layout, record)}`);
    // Too large for an argument, the message is read from a file of its text alone (not the plan's JSON, nor
    // $ORCH_PROMPT_FILE, which holds the task as spawned).
    const messageFile = path.join(layout.workerDir(record.orchestrator_id, record.worker_id), "resume-message.md");
    if (Buffer.byteLength(plan.prompt, "utf8") > MAX_PROMPT_ARGUMENT_BYTES) writeFileAtomic(messageFile, plan.prompt);
    const what = "The message orch resume gave you";
    return argvWithPrompt(plan.argv, plan.prompt_placement, plan.prompt, messageFile, what);
  }
  const promptFile = layout.promptFile(record.orchestrator_id, record.worker_id);
  const prompt = fs.readFileSync(promptFile, "utf8");
  return argvWithPrompt(record.agent_argv, record.agent_prompt_placement ?? "last", prompt, promptFile);
}

/**
 * For an agent that picks its own session id: waits (while it runs, at most a minute) until it has
 * recorded the session, then keeps the id with the worker, for resume; returns it.
 */
async function recordSessionId(
  layout: StoreLayout,
  record: WorkerRecord,
  env: NodeJS.ProcessEnv,
  startedAtMs: number,
  exited: () => boolean,
  whileStarting: () => Promise<void>,
): Promise<string | undefined> {
  const profile = await knownProfile(record.agent);
  if (!profile?.findSessionId) return undefined;
  for (const deadline = startedAtMs + 60_000; Date.now() < deadline && !exited(); ) {
    const id = profile.findSessionId({ worktreePath: record.worktree_path, env, startedAtMs });
    if (id) {
      // Re-read: spawn saves the record (with its window) while the agent starts.
      const current = findWorker(layout, record.orchestrator_id, record.worker_id);
      if (current) saveWorker(layout, { ...current, agent_session_id: id });
      return id;
    }
    await whileStarting();
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return undefined;
}

/** How long an agent may take to begin its session before its screen is read for a question, and how often. */
const QUESTION_AFTER_MS = 1500;
const QUESTION_EVERY_MS = 1000;

/**
 * For an agent whose screen can tell (profile.startupQuestion): while it has not begun its session, a question it
 * asks in its window (a sign-in, hooks to review, a newer model) makes the worker blocked, told once, with the way
 * on. Read twice a second apart before it counts, so a screen drawn on the way to the session is no question.
 */
function startupQuestionWatch(
  layout: StoreLayout, record: WorkerRecord, env: NodeJS.ProcessEnv, startedAtMs: number,
): () => Promise<void> {
  let readAt = startedAtMs + QUESTION_AFTER_MS;
  let seen: string | undefined;
  let told = false;
  return async () => {
    const pane = env.TMUX_PANE || record.tmux_pane;
    if (told || !pane || Date.now() < readAt) return;
    readAt = Date.now() + QUESTION_EVERY_MS;
    const profile = await knownProfile(record.agent);
    if (!profile?.startupQuestion) return;
    const { screenLines } = await import("../adapters/tmux.ts");
    const question = profile.startupQuestion(await screenLines(pane, env));
    const same = question !== undefined && question.screen === seen;
    seen = question?.screen;
    if (!question || !same) return;
    told = true;
    // Stopped or reported meanwhile: a question on its screen changes nothing then.
    if (workerState(layout, record).status !== "running") return;
    const { summary, waitingFor, screen } = question;
    reportWaitingAtStart(layout, record, { summary, waitingFor, details: screen });
  };
}

/** How often the runner reads the agent's record for turns a model API error ended. */
const FAILED_TURN_EVERY_MS = 1000;

/**
 * For an agent with no hook for it (profile.failedTurns): while it runs, each turn that a model API error
 * ended is reported (reportTurnFailed), once, as it is read from the agent's own record. When its hooks name
 * the session (profile.hookSessionIds), the record read is that of the session the worker is in now: a /new in
 * Codex's window starts a new thread with a record of its own, which the hooks record (orch hook).
 */
async function watchFailedTurns(
  layout: StoreLayout, record: WorkerRecord, env: NodeJS.ProcessEnv, startedAtMs: number, sessionId: string,
  exited: () => boolean,
): Promise<void> {
  const profile = await knownProfile(record.agent);
  const lookup = { worktreePath: record.worktree_path, env, startedAtMs };
  let following = sessionId;
  let read = profile?.failedTurns?.(lookup, following);
  if (!read) return;
  while (!exited()) {
    for (const failed of read()) reportTurnFailed(layout, record, failed);
    const now = profile?.hookSessionIds ? findWorker(layout, record.orchestrator_id, record.worker_id) : undefined;
    if (now?.agent_session_id && now.agent_session_id !== following) {
      following = now.agent_session_id;
      read = profile!.failedTurns!(lookup, following);
      continue;
    }
    await new Promise((resolve) => setTimeout(resolve, FAILED_TURN_EVERY_MS));
  }
}

/** Lines of the screen an agent that failed left in its window: what it said as it went (its error). */
const LAST_LINES = 12;
const LAST_WORDS_WITHIN_MS = 2_000;

/**
 * What an agent that exited with an error left on its window's screen, for the orchestrator to read in the
 * task_failed ("error: unexpected argument '--full-auto' found"); undefined when it left nothing.
 */
async function lastWords(record: WorkerRecord, env: NodeJS.ProcessEnv): Promise<string | undefined> {
  const pane = env.TMUX_PANE || record.tmux_pane;
  if (!pane) return undefined;
  const { screenTail } = await import("../adapters/tmux.ts");
  // tmux reads what the agent wrote to its terminal as it can: its last lines may not be on screen yet.
  await new Promise((resolve) => setTimeout(resolve, 100));
  // The watchdog holds back while this runner lives: a tmux that does not answer must not hold the report.
  const noAnswer = new Promise<string[]>((resolve) => setTimeout(() => resolve([]), LAST_WORDS_WITHIN_MS).unref());
  const screen = await Promise.race([screenTail(pane, LAST_LINES, env), noAnswer]);
  const lines = screen.map((line) => shortened(line, 300));
  return lines.length > 0 ? `the last lines in its window:\n${lines.join("\n")}` : undefined;
}

export async function main(args: string[], flags: Flags, ctx: Context): Promise<CommandResult> {
  const { layout, session } = await resolveSession(ctx, stringFlag(flags, "orch"));
  const record = loadWorker(layout, session.orchestrator_id, positional(args, 0, "worker"));
  const pidFile = layout.agentPidFile(record.orchestrator_id, record.worker_id);
  // The pid file of the dead agent goes once its end is told (or needs no telling). A report that could not
  // be written (a full disk) leaves it, with the claim of a reporter that is gone: the watchdog of the next
  // status, poll or await sees the dead agent and sends the report in its place.
  const report = async (summary: string, error: string, details?: () => Promise<string | undefined>) => {
    try {
      const end = claimAgentEnd(layout, record, summary, error);
      end?.send(await details?.());
      fs.rmSync(pidFile, { force: true });
    } catch (failure) {
      const later = "the next orch status or poll reports it";
      ctx.warn(`could not report to the orchestrator: ${(failure as Error).message}; ${later}`);
    }
  };
  // Ctrl-C in the window is for the agent: the runner waits for it instead of dying first.
  process.on("SIGINT", () => undefined);
  // A closed window hangs up on the agent and on us: say so before going down with it.
  const windowClosed = () =>
    report("agent ended: its window was closed", `its tmux window ${record.window_id ?? "(none)"} was closed`);
  process.on("SIGHUP", () => void windowClosed().then(() => process.exit(129)));
  let code: number;
  try {
    // Taken first, so that no failure below leaves the caller's values in the store.
    const passed = takeCallerEnv(layout, record);
    const argv = agentArgv(layout, record, booleanFlag(flags, "resume"));
    const env = withoutRepositoryEnv({ ...ctx.env, ...passed, ...record.agent_env, ...workerEnv(layout, record) });
    for (const name of orchestratorSessionEnv()) delete env[name];
    const startedAtMs = Date.now();
    const agent = await startAgent(argv, record.worktree_path, env);
    if (agent.pid) writeAgentPid(layout, record, agent.pid);
    let exited = false;
    const exit = agent.exit.finally(() => (exited = true));
    // Resume is a convenience: failing to learn the session id must not disturb the worker.
    // A question in its window that nobody is there to see must not leave it shown running.
    const watchQuestion = startupQuestionWatch(layout, record, ctx.env, startedAtMs);
    const sessionId = await recordSessionId(layout, record, env, startedAtMs, () => exited, watchQuestion)
      .catch(() => undefined)
      ?? (booleanFlag(flags, "resume") ? record.agent_session_id : undefined);
    if (sessionId) {
      // Like the session id, a convenience: a failure to read must not disturb the worker.
      void watchFailedTurns(layout, record, env, startedAtMs, sessionId, () => exited).catch(() => undefined);
    }
    code = await exit;
    const startError = agent.startError();
    // An agent that ends without reporting would leave the orchestrator waiting forever: report for it.
    if (startError) await report(`agent ${record.agent_argv[0] ?? record.agent} could not start`, startError);
    // Killed by the hangup of a closed window, maybe noticed before our own SIGHUP handler ran.
    else if (code === 129) await windowClosed();
    else {
      const error = `the agent exited with code ${code} without reporting`;
      await report("agent exited without reporting", error, code === 0 ? undefined : () => lastWords(record, ctx.env));
    }
  } catch (error) {
    code = 126;
    await report("the agent could not be started", (error as Error).message);
  }
  return { json: { success: code === 0, exit_code: code }, human: () => "", exitCode: code };
}
