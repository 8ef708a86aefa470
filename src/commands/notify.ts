// orch notify: a message from a worker to its orchestrator (mirrors send_message).

import { resolveWorkerSession, type Context } from "../context.ts";
import { invalid, usage } from "../errors.ts";
import { requiredString, stringFlag, type Flags } from "../flags.ts";
import { branchNameProblem } from "../ids.ts";
import { storeError } from "../store/files.ts";
import {
  WORKER_MESSAGE_TYPES, isWorkerMessageType, messageTypeError, newMessage, prUrlProblem, sendMessage,
  type Message, type MessageContent, type WorkerMessageType,
} from "../store/messages.ts";
import type { CommandResult } from "./types.ts";

export interface NotifyOptions {
  orch: string | undefined;
  type: WorkerMessageType;
  content: MessageContent;
}

const CONTENT_FLAGS = ["details", "prUrl", "branch", "error", "question", "waitingFor"] as const;
type ContentKey = "details" | "pr_url" | "branch" | "error" | "question" | "waiting_for";
const CONTENT_KEYS: Record<(typeof CONTENT_FLAGS)[number], ContentKey> = {
  details: "details",
  prUrl: "pr_url",
  branch: "branch",
  error: "error",
  question: "question",
  waitingFor: "waiting_for",
};

export function parseNotify(flags: Flags): NotifyOptions {
  const type = requiredString(flags, "type");
  if (!isWorkerMessageType(type)) throw messageTypeError(type, WORKER_MESSAGE_TYPES);
  const summary = requiredString(flags, "summary");
  if (summary.trim() === "") throw usage("--summary must not be empty");
  const content: MessageContent = { summary };
  for (const flag of CONTENT_FLAGS) {
    const value = stringFlag(flags, flag);
    if (value !== undefined) content[CONTENT_KEYS[flag]] = value;
  }
  const branchProblem = content.branch === undefined ? null : branchNameProblem(content.branch);
  if (branchProblem !== null) throw invalid(`bad --branch ${JSON.stringify(content.branch)}: ${branchProblem}`);
  const prUrl = content.pr_url === undefined ? undefined : prUrlProblem(content.pr_url);
  if (prUrl !== undefined) throw invalid(prUrl.replace("pr_url", "--pr-url"));
  return { orch: stringFlag(flags, "orch"), type, content };
}

export async function runNotify(options: NotifyOptions, ctx: Context): Promise<Message> {
  const { layout, session, marker, workerId: found } = await resolveWorkerSession(ctx, options.orch);
  const workerId = found ?? null;
  const content = { ...options.content };
  if (content.branch === undefined && marker && marker.worker_id === workerId) content.branch = marker.branch;
  const message = newMessage({
    orchestrator_id: session.orchestrator_id,
    worker_id: workerId,
    message_type: options.type,
    content,
  });
  const events = workerId === null ? undefined : layout.eventsDir(session.orchestrator_id, workerId);
  try {
    sendMessage(layout.mailDir(session.orchestrator_id), message, events, ctx.warn);
  } catch (error) {
    throw storeError("deliver the message into", layout.mailDir(session.orchestrator_id), error);
  }
  // Sent first, whatever git says: then the agent that reported done in its own worktree with work left
  // uncommitted is told, while it can still commit it (land, merge and apply take only commits).
  if (options.type === "task_complete" && marker && marker.worker_id === workerId) await warnUncommitted(ctx);
  return message;
}

async function warnUncommitted(ctx: Context): Promise<void> {
  const { dirtyPaths } = await import("../adapters/git.ts");
  const dirty = await dirtyPaths(ctx.cwd).catch(() => []);
  if (dirty.length === 0) return;
  const listed = `${dirty.slice(0, 8).join(", ")}${dirty.length > 8 ? ", …" : ""}`;
  ctx.warn(`this worktree has uncommitted changes, which land, merge and apply leave out: ${listed} ` +
    "(commit them, then report task_complete again)");
}

export async function main(_args: string[], flags: Flags, ctx: Context): Promise<CommandResult> {
  const message = await runNotify(parseNotify(flags), ctx);
  return {
    json: {
      success: true,
      message_id: message.id,
      orchestrator_id: message.orchestrator_id,
      worker_id: message.worker_id,
      message_type: message.message_type,
      status: "unread",
      created_at: message.created_at,
    },
    human: (c) => `${c.green("sent")} ${message.message_type} ${c.dim(message.id)} to ${message.orchestrator_id}\n`,
  };
}
