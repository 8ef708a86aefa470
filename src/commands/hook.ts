// orch hook post-tool-use | stop | stop-failure | user-prompt-submit | permission-request | notification | pre-compact
// | session-start:
// Claude Code (and Codex) hook handlers for workers. They read the hook's JSON on stdin, report a new PR, idle turns
// and requests for a person (blocked) to the orchestrator, hand the worker its inbox, and return the
// orchestrator's approve/deny as the agent's permission decision. They run after every Bash call of
// every session, so they stay cheap and always exit 0: a hook must never break the agent it serves.

import fs from "node:fs";
import path from "node:path";
import { readWorkerMarker, resolveWorkerSession, type Context } from "../context.ts";
import { errnoCode, OrchError, usage } from "../errors.ts";
import type { PermissionAnswer } from "../agents/profile.ts";
import type { Flags } from "../flags.ts";
import { readUpTo, writeNewFile } from "../store/files.ts";
import type { StoreLayout } from "../store/layout.ts";
import { newMessage, sendMessage, takeMessages, type Message } from "../store/messages.ts";
import { answerFile, answerRequest, openRequest, pendingRequests, supersedeRequests } from "../store/requests.ts";
import { waitFor } from "../store/waker.ts";
import { findWorker, recordAgentSession, type WorkerRecord } from "../store/workers.ts";
import {
  markTurnStarted, recordWorkerEvent, reportTurnFailed, touchActivity, workerState,
} from "../store/worker-status.ts";
import { HOOK_EVENTS } from "../cli/hot.ts";
import { shortened } from "../text.ts";
import type { CommandResult } from "./types.ts";

type HookEvent = (typeof HOOK_EVENTS)[number];

/** Accepts orch's names and Claude Code's (post-tool-use, PostToolUse, post_tool_use_failure, Stop…). */
export function parseHookEvent(name: string | undefined): HookEvent {
  const key = (name ?? "").toLowerCase().replace(/[-_]/g, "");
  if (key === "posttooluse" || key === "posttoolusefailure") return "post-tool-use";
  if (key === "stop") return "stop";
  if (key === "stopfailure") return "stop-failure";
  if (key === "userpromptsubmit") return "user-prompt-submit";
  if (key === "permissionrequest") return "permission-request";
  if (key === "notification") return "notification";
  if (key === "precompact") return "pre-compact";
  if (key === "sessionstart") return "session-start";
  const events = `${HOOK_EVENTS.slice(0, -1).join(", ")} or ${HOOK_EVENTS[HOOK_EVENTS.length - 1]}`;
  const message = `unknown hook event ${JSON.stringify(name ?? "")}: use ${events}`;
  if (name === undefined) throw usage(message);
  // Named by a settings file (one of another orch version, say): Claude Code takes a hook's exit 2 as "block"
  // (every tool call, or the end of every turn), so this one fails as any other error does, with exit 1.
  throw new OrchError("failed", message);
}

/** The fields of Claude Code's hook input that orch reads; everything is optional and checked. */
interface HookPayload {
  hook_event_name?: unknown;
  cwd?: unknown;
  tool_name?: unknown;
  tool_input?: unknown;
  tool_response?: unknown;
  stop_hook_active?: unknown;
  last_assistant_message?: unknown;
  background_tasks?: unknown;
  permission_suggestions?: unknown;
  message?: unknown;
  notification_type?: unknown;
  error?: unknown;
  error_details?: unknown;
  session_id?: unknown;
  trigger?: unknown;
}

/** What Claude Code reads from a hook's stdout (only the fields orch uses). */
type HookOutput =
  | { hookSpecificOutput: { hookEventName: string; additionalContext: string } }
  | { hookSpecificOutput: { hookEventName: "PermissionRequest"; decision: Record<string, unknown> } }
  | { decision: "block"; reason: string };

interface HookReply {
  output?: HookOutput;
  /** Marks the delivered inbox messages read; runs only after the output was written. */
  commit?: () => void;
}

const MAX_PAYLOAD = 64 * 1024 * 1024;

/**
 * All of stdin (a payload over MAX_PAYLOAD counts as none). A terminal (someone trying the command by
 * hand) counts as empty input.
 */
function readStdin(): string {
  try {
    if (fs.fstatSync(0).isCharacterDevice()) return "";
    return readUpTo(0, MAX_PAYLOAD, "the hook payload", Date.now() + 5000).toString("utf8");
  } catch {
    return "";
  }
}

function parsePayload(text: string): HookPayload | undefined {
  if (text.trim() === "") return undefined;
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as HookPayload) : undefined;
  } catch {
    return undefined;
  }
}

const str = (value: unknown): string | undefined => (typeof value === "string" ? value : undefined);
const field = (value: unknown, key: string): unknown =>
  typeof value === "object" && value !== null ? (value as Record<string, unknown>)[key] : undefined;

export interface WorkerHere {
  layout: StoreLayout;
  record: WorkerRecord;
}

/**
 * The worker whose worktree the hook runs in: the marker found from the payload's cwd (Claude Code
 * keeps it current when the agent cd's), else $ORCH_WORKER, which orch spawn gives the agent.
 * Anywhere else: undefined, having read no more than the .git entry above cwd.
 */
export async function workerHere(payload: HookPayload, ctx: Context): Promise<WorkerHere | undefined> {
  const cwd = str(payload.cwd) || ctx.cwd;
  const here: Context = { ...ctx, cwd };
  const marker = await readWorkerMarker(here);
  if (!marker && !ctx.env.ORCH_WORKER) return undefined;
  const { layout, session, workerId } = await resolveWorkerSession(here, undefined);
  if (!workerId) return undefined;
  const record = findWorker(layout, session.orchestrator_id, workerId);
  return record && { layout, record };
}

/** The PR URL a successful `gh pr create` printed (the last one, as gh prints it last), if any. */
export function createdPullRequest(payload: HookPayload): string | undefined {
  if (payload.tool_name !== "Bash") return undefined;
  const command = str(field(payload.tool_input, "command"));
  if (!command || !/\bgh\s+pr\s+create\b/.test(command)) return undefined;
  const response = payload.tool_response;
  const stdout = str(response) ?? str(field(response, "stdout")) ?? "";
  const urls = stdout.match(/https:\/\/[A-Za-z0-9.-]+(?::\d+)?\/[A-Za-z0-9._-]+\/[A-Za-z0-9._-]+\/pull\/\d+/g);
  return urls?.[urls.length - 1];
}

/** The --title of the gh command, when it is given plainly enough to read without a shell. */
function prTitle(command: string): string | undefined {
  const match = /(?:^|\s)(?:--title|-t)(?:=|\s+)(?:"((?:[^"\\]|\\.)*)"|'([^']*)'|([^\s"'$`-][^\s"'$`]*))/.exec(command);
  const title = match?.[1]?.replace(/\\(.)/g, "$1") ?? match?.[2] ?? match?.[3];
  return title?.trim() || undefined;
}

/**
 * Sends task_complete for a new PR, once: the first hook to create the PR's marker file (O_EXCL)
 * sends; a repeated or concurrent call finds it and does nothing.
 */
function reportPullRequest(where: WorkerHere, url: string, command: string): boolean {
  const { layout, record } = where;
  const marker = layout.prReportedFile(record.orchestrator_id, record.worker_id, url);
  try {
    writeNewFile(marker, `${url}\n`, true);
  } catch (error) {
    if (errnoCode(error) === "EEXIST") return false;
    throw error;
  }
  const title = prTitle(command);
  const message = newMessage({
    orchestrator_id: record.orchestrator_id,
    worker_id: record.worker_id,
    message_type: "task_complete",
    content: { summary: title ? `Opened PR: ${title}` : `Opened PR ${url}`, pr_url: url, branch: record.branch },
  });
  try {
    const events = layout.eventsDir(record.orchestrator_id, record.worker_id);
    sendMessage(layout.mailDir(record.orchestrator_id), message, events);
  } catch (error) {
    // Not sent: let the next call try again.
    fs.rmSync(marker, { force: true });
    throw error;
  }
  return true;
}

/** The orchestrator's messages as the agent will read them. */
export function inboxText(messages: Message[], record: WorkerRecord): string {
  const count = messages.length === 1 ? "a message" : `${messages.length} messages`;
  const them = messages.length === 1 ? "it" : "them";
  const from = `from your orchestrator (session ${record.orchestrator_id}) for worker ${record.worker_id}`;
  const parts = [`orch: ${count} ${from}. orch has marked ${them} read, so orch inbox will not show ${them} again.`];
  for (const message of messages) {
    const { text, in_reply_to, question } = message.content;
    const head = message.message_type === "reply"
      ? `Answer ${message.id} to your question ${in_reply_to ?? ""}${question ? ` ("${question}")` : ""}:`
      : message.message_type === "base_moved"
        ? `${message.content.returned ? "Your work is handed back" : "Your base branch moved"} (${message.id}):`
        : `Message ${message.id}:`;
    parts.push(`${head}\n${text ?? message.content.summary ?? ""}`);
  }
  parts.push("Act on this now. Report back with orch notify as your instructions say.");
  return parts.join("\n\n");
}

function takeInbox(where: WorkerHere, ctx: Context): { text: string; commit: () => void } | undefined {
  const { layout, record } = where;
  const taken = takeMessages(layout.inboxDir(record.orchestrator_id, record.worker_id), ctx.warn);
  // Handed to the agent, the messages keep it going: it is at work again.
  if (taken) markTurnStarted(layout, record);
  return taken && { text: inboxText(taken.messages, record), commit: () => taken.commit() };
}

async function postToolUse(payload: HookPayload, ctx: Context): Promise<HookReply> {
  const event = str(payload.hook_event_name) ?? "PostToolUse";
  // Wired to some other event by hand: its output would not reach the agent, so take nothing.
  if (event !== "PostToolUse" && event !== "PostToolUseFailure") return {};
  const where = await workerHere(payload, ctx);
  if (!where) return {};
  touchActivity(where.layout, where.record);
  // An idle worker that uses a tool is at work again: its next Stop reports idle anew (once per turn).
  markTurnStarted(where.layout, where.record);
  const notes: string[] = [];
  // PostToolUseFailure means the command failed: no PR to report then.
  const url = event === "PostToolUse" ? createdPullRequest(payload) : undefined;
  if (url && reportPullRequest(where, url, str(field(payload.tool_input, "command")) ?? "")) {
    const told = `${url} is ready for review (task_complete, branch ${where.record.branch})`;
    notes.push(`orch: your orchestrator has been told that ${told}; no need to send orch notify for it.`);
  }
  const inbox = takeInbox(where, ctx);
  if (inbox) notes.push(inbox.text);
  if (notes.length === 0) return {};
  return {
    output: { hookSpecificOutput: { hookEventName: event, additionalContext: notes.join("\n\n") } },
    commit: inbox?.commit,
  };
}

/** A session id as Claude Code and Codex make them (a UUID; Codex's thread ids are UUIDs too). */
const SESSION_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Records the conversation the main agent's hook ran in when it is not the recorded one and the agent's hooks
 * name the session resume continues: after a /clear (Claude Code) or /new (Codex) in the window, resume continues
 * the new conversation, not the cleared one (often the one that had filled the model's context). The profile is
 * read only then.
 */
async function followSession(where: WorkerHere, payload: HookPayload): Promise<void> {
  const id = str(payload.session_id);
  const recorded = where.record.agent_session_id;
  if (!id || !recorded || id === recorded || !SESSION_ID.test(id)) return;
  const { knownProfile } = await import("../agents/index.ts");
  if ((await knownProfile(where.record.agent))?.hookSessionIds) recordAgentSession(where.layout, where.record, id);
}

/**
 * Unread messages keep the agent going (decision block). That cannot loop: each block hands out
 * and consumes what it shows, so the next Stop blocks only for a newer message, and Claude Code ends
 * the turn after 8 blocks in a row anyway. stop_hook_active is not trusted alone: it has been seen
 * to stay false (anthropics/claude-code#54360).
 */
async function stop(payload: HookPayload, ctx: Context): Promise<HookReply> {
  // Only the main agent's Stop: a SubagentStop block would hand the messages to a subagent.
  if ((str(payload.hook_event_name) ?? "Stop") !== "Stop") return {};
  const where = await workerHere(payload, ctx);
  if (!where) return {};
  touchActivity(where.layout, where.record);
  await followSession(where, payload);
  const inbox = takeInbox(where, ctx);
  if (inbox) return { output: { decision: "block", reason: inbox.text }, commit: inbox.commit };
  // A Stop after a blocked one ends a turn that went on: when another Stop hook (the user's own) kept it
  // going after orch had reported idle, that idle came too early, so this one is told with the last words.
  if (payload.stop_hook_active === true && workerState(where.layout, where.record).status === "idle") {
    markTurnStarted(where.layout, where.record);
  }
  // The turn is over: whatever was still waiting for an answer was answered in the window, or dropped.
  supersedeRequests(where.layout, where.record);
  if (!reportIdle(where, str(payload.last_assistant_message), backgroundTasks(payload.background_tasks))) {
    recordWorkerEvent(where.layout, where.record, "turn_ended", "the agent's turn ended");
  }
  return {};
}

/**
 * Claude Code's StopFailure, which it runs instead of Stop when a model API error ended the turn after its own
 * retries (a rate limit, overload, an invalid key, a prompt too long): the agent waits at its prompt having
 * done nothing more. The worker is failed and the orchestrator told once, with the agent's error text; the
 * wake-up line of an orch send starts its next turn, and the worker is running again.
 */
async function stopFailure(payload: HookPayload, ctx: Context): Promise<HookReply> {
  if ((str(payload.hook_event_name) ?? "StopFailure") !== "StopFailure") return {};
  const where = await workerHere(payload, ctx);
  if (!where) return {};
  touchActivity(where.layout, where.record);
  supersedeRequests(where.layout, where.record);
  const shown = str(payload.last_assistant_message)?.trim();
  const failed = { kind: str(payload.error) || "unknown", details: str(payload.error_details)?.trim() };
  reportTurnFailed(where.layout, where.record, shown ? { ...failed, text: shown } : failed);
  return {};
}

/**
 * A new turn begins (a person typed, or orch typed its wake-up line): the worker is running, and
 * the orchestrator's messages go along with the prompt as additional context.
 */
async function userPromptSubmit(payload: HookPayload, ctx: Context): Promise<HookReply> {
  if ((str(payload.hook_event_name) ?? "UserPromptSubmit") !== "UserPromptSubmit") return {};
  const where = await workerHere(payload, ctx);
  if (!where) return {};
  touchActivity(where.layout, where.record);
  await followSession(where, payload);
  supersedeRequests(where.layout, where.record);
  markTurnStarted(where.layout, where.record);
  const inbox = takeInbox(where, ctx);
  if (!inbox) return {};
  return {
    output: { hookSpecificOutput: { hookEventName: "UserPromptSubmit", additionalContext: inbox.text } },
    commit: inbox.commit,
  };
}

/** Seconds the permission hook waits for orch approve/deny before leaving the prompt to a person. */
function approvalWaitMs(env: NodeJS.ProcessEnv): number {
  const seconds = Number(env.ORCH_APPROVAL_WAIT);
  const given = Number.isFinite(seconds) && seconds >= 0 && env.ORCH_APPROVAL_WAIT !== "";
  return (given ? seconds : DEFAULT_APPROVAL_WAIT_S) * 1000;
}

/** Within the hook's timeout in the settings orch writes (600 s, Claude Code's default), with a margin. */
export const DEFAULT_APPROVAL_WAIT_S = 590;

/** What the agent waits for, in a few words: "plan approval", "Bash: npm test", "Write: src/a.ts". */
export function waitingForText(toolName: string, toolInput: unknown): string {
  if (toolName === "ExitPlanMode") return "plan approval";
  const subject = str(field(toolInput, "command")) ?? str(field(toolInput, "file_path")) ?? str(field(toolInput, "url"))
    ?? (toolInput === undefined ? "" : JSON.stringify(toolInput));
  const short = shortened(subject, 200);
  return short ? `${toolName}: ${short}` : toolName;
}

/**
 * The agent is about to wait for a person: tell the orchestrator (blocked, with a request id), then
 * wait for orch approve/deny and return it as the agent's decision, in the shape its profile says
 * (a worker of a command template that runs Claude Code gets Claude Code's). Without an answer in
 * time the hook says nothing and the prompt stays in the window for a person.
 */
async function permissionRequest(payload: HookPayload, ctx: Context): Promise<HookReply> {
  if ((str(payload.hook_event_name) ?? "PermissionRequest") !== "PermissionRequest") return {};
  const where = await workerHere(payload, ctx);
  if (!where) return {};
  const toolName = str(payload.tool_name) ?? "a tool";
  const answer = await raiseAndAwaitAnswer(where, toolName, payload.tool_input, approvalWaitMs(ctx.env));
  if (!answer) return {};
  const { permissionHookOf } = await import("../agents/index.ts");
  const hook = await permissionHookOf(where.record.agent);
  const asked = { toolName, toolInput: payload.tool_input, suggestions: payload.permission_suggestions };
  const decision = hook.decision(answer, asked);
  return { output: { hookSpecificOutput: { hookEventName: "PermissionRequest", decision } } };
}

/**
 * Raises a blocked request and waits up to `waitMs` for its answer: the path both the PermissionRequest
 * hook and orch's scripted agent take. Returns the decision, or undefined when a person must answer.
 */
export async function raiseAndAwaitAnswer(
  where: WorkerHere,
  toolName: string,
  toolInput: unknown,
  waitMs: number,
): Promise<PermissionAnswer | undefined> {
  const { layout, record } = where;
  touchActivity(layout, record);
  const waitingFor = waitingForText(toolName, toolInput);
  const request = openRequest(layout, record, toolName, waitingFor);
  const plan = toolName === "ExitPlanMode" ? str(field(toolInput, "plan")) : undefined;
  // Codex passes the model's justification for an escalated command as the description.
  const reason = plan ? undefined : str(field(toolInput, "description"));
  const message = newMessage({
    orchestrator_id: record.orchestrator_id,
    worker_id: record.worker_id,
    message_type: "blocked",
    content: {
      summary: `waiting for approval: ${waitingFor}`,
      waiting_for: waitingFor,
      request_id: request.request_id,
      branch: record.branch,
      ...(plan ? { details: plan.length > 8000 ? `${plan.slice(0, 8000)}…` : plan } : {}),
      ...(reason ? { details: reason.length > 2000 ? `${reason.slice(0, 2000)}…` : reason } : {}),
    },
  });
  const events = layout.eventsDir(record.orchestrator_id, record.worker_id);
  sendMessage(layout.mailDir(record.orchestrator_id), message, events);
  const answerPath = answerFile(layout, record, request.request_id);
  // The agent that ran the hook can die meanwhile (its window closed, orch stop, a crash): Codex starts
  // hooks in a session of their own, so nothing else would end this wait. Its parent is not always
  // the agent: Claude Code runs the hook through `sh -c`, and that shell outlives a SIGKILLed agent.
  // So every process above the hook counts, as for a listener: one of them ending says the agent is gone.
  const { SessionGuard } = await import("../listener.ts");
  const guard = new SessionGuard(layout.root);
  const outcome = await waitFor([path.dirname(answerPath)], waitMs, () => {
    if (fs.existsSync(answerPath)) return "answered";
    return guard.goneReason() === undefined ? undefined : "agent gone";
  });
  const decision = outcome === "agent gone" ? "superseded" : "expired";
  const { answer } = answerRequest(layout, record, request.request_id, { decision });
  if (answer.decision === "allow") return { behavior: "allow", always: answer.always === true };
  if (answer.decision === "deny") return { behavior: "deny", message: answer.message ?? "Denied by the orchestrator." };
  return undefined;
}

/**
 * Claude Code's own notice that it waits for a person (a permission prompt no hook answered, a
 * dialog): the worker is blocked, answerable in its window.
 */
async function notification(payload: HookPayload, ctx: Context): Promise<HookReply> {
  if ((str(payload.hook_event_name) ?? "Notification") !== "Notification") return {};
  const where = await workerHere(payload, ctx);
  if (!where) return {};
  touchActivity(where.layout, where.record);
  const kind = str(payload.notification_type) ?? "";
  if (kind !== "permission_prompt" && kind !== "elicitation_dialog") return {};
  const { layout, record } = where;
  if (workerState(layout, record).status === "blocked" || pendingRequests(layout, record).length > 0) return {};
  const waitingFor = str(payload.message) ?? (kind === "permission_prompt" ? "a permission prompt" : "a dialog");
  const message = newMessage({
    orchestrator_id: record.orchestrator_id,
    worker_id: record.worker_id,
    message_type: "blocked",
    content: { summary: `waiting for a person: ${waitingFor}`, waiting_for: waitingFor, branch: record.branch },
  });
  const events = layout.eventsDir(record.orchestrator_id, record.worker_id);
  sendMessage(layout.mailDir(record.orchestrator_id), message, events);
  return {};
}

/** Claude Code lists the session's in-flight background tasks: the orchestrator should know of them. */
function backgroundTasks(value: unknown): string[] {
  if (!Array.isArray(value)) return [];
  return value.map((task) =>
    str(field(task, "command")) ?? str(field(task, "description")) ?? str(field(task, "type")) ?? "task");
}

/**
 * Idle once per turn: only while the worker counts as running. After an idle, a done, a failure or
 * a question its status is no longer running, so a second Stop in the same turn sends nothing; a
 * message from the orchestrator, or a tool call of the idle agent (post-tool-use), makes it running again.
 */
function reportIdle(where: WorkerHere, lastMessage: string | undefined, background: string[]): boolean {
  const { layout, record } = where;
  const status = workerState(layout, record).status;
  if (status !== "running" && status !== "blocked") return false;
  const parts: string[] = [];
  if (lastMessage) parts.push(lastMessage.length > 2000 ? `${lastMessage.slice(0, 2000)}…` : lastMessage);
  if (background.length) {
    parts.push(`Background tasks still running: ${background.map((t) => t.slice(0, 200)).join("; ")}`);
  }
  const details = parts.join("\n\n");
  const message = newMessage({
    orchestrator_id: record.orchestrator_id,
    worker_id: record.worker_id,
    message_type: "idle",
    content: {
      summary: "The agent stopped and is waiting for input",
      branch: record.branch,
      ...(details ? { details } : {}),
    },
  });
  const events = layout.eventsDir(record.orchestrator_id, record.worker_id);
  sendMessage(layout.mailDir(record.orchestrator_id), message, events);
  return true;
}

/**
 * The agent compacts its conversation on its own. Codex (checked with 0.169) compacts a conversation near the model's
 * window before the turn a message of the orchestrator begins, and runs UserPromptSubmit only after: the worker it
 * woke (orch typed its wake-up line; it is no longer at its prompt) is at work from here, or it would show idle while
 * it compacts, which takes as long as a turn. A compaction at the prompt (a person's /compact, one after a turn)
 * starts no turn: no Stop would follow to end it.
 */
async function preCompact(payload: HookPayload, ctx: Context): Promise<HookReply> {
  if ((str(payload.hook_event_name) ?? "PreCompact") !== "PreCompact") return {};
  const where = await workerHere(payload, ctx);
  if (!where) return {};
  touchActivity(where.layout, where.record);
  if (payload.trigger === "manual" || workerState(where.layout, where.record).at_prompt) return {};
  markTurnStarted(where.layout, where.record);
  return {};
}

/**
 * A session of the agent begins: at its start, on a resume, and when a person's /clear (Claude Code) starts a new
 * conversation in its window. That one is recorded at once, so a stop and resume continue it even before its
 * first turn. It runs on every start: nothing is written when the session is the recorded one (followSession).
 */
async function sessionStart(payload: HookPayload, ctx: Context): Promise<HookReply> {
  if ((str(payload.hook_event_name) ?? "SessionStart") !== "SessionStart") return {};
  const where = await workerHere(payload, ctx);
  if (where) await followSession(where, payload);
  return {};
}

const HANDLERS: Record<HookEvent, (payload: HookPayload, ctx: Context) => Promise<HookReply>> = {
  "post-tool-use": postToolUse,
  stop,
  "stop-failure": stopFailure,
  "user-prompt-submit": userPromptSubmit,
  "permission-request": permissionRequest,
  notification,
  "pre-compact": preCompact,
  "session-start": sessionStart,
};

export async function main(args: string[], _flags: Flags, ctx: Context): Promise<CommandResult> {
  const event = parseHookEvent(args[0]);
  let reply: HookReply = {};
  try {
    const payload = parsePayload(readStdin());
    if (payload) reply = await HANDLERS[event](payload, ctx);
  } catch (error) {
    // Goes to Claude Code's debug log (stderr of a hook that exits 0), never to the agent.
    ctx.warn(`hook ${event}: ${(error as Error).message}`);
  }
  const text = reply.output ? `${JSON.stringify(reply.output)}\n` : "";
  return {
    json: reply.output ?? {},
    human: () => text,
    // Claude Code reads it as JSON: the text of a message in it (a C1 control included) goes through as sent.
    verbatim: true,
    exitCode: 0,
    afterOutput: () => {
      try {
        reply.commit?.();
      } catch (error) {
        ctx.warn(`hook ${event}: could not mark the delivered messages read: ${(error as Error).message}`);
      }
    },
  };
}
