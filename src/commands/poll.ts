// orch poll: take the unread messages of a session, oldest first, each handed out once (mirrors poll_messages).

import path from "node:path";
import { resolveSession, type Context } from "../context.ts";
import { OrchError } from "../errors.ts";
import { booleanFlag, stringFlag, timeoutFlag, type Flags } from "../flags.ts";
import { requireOpenStdout, type Colors } from "../output.ts";
import { takeMessages, type Message, type TakenMessages } from "../store/messages.ts";
import { storeError } from "../store/files.ts";
import { sameFolder, waitFor } from "../store/waker.ts";
import type { CommandResult } from "./types.ts";

export interface PollOptions {
  orch: string | undefined;
  wait: boolean;
  timeoutMs: number | undefined;
}

export function parsePoll(flags: Flags): PollOptions {
  return { orch: stringFlag(flags, "orch"), wait: booleanFlag(flags, "wait"), timeoutMs: timeoutFlag(flags) };
}

export interface PollResult {
  orchestratorId: string;
  taken: TakenMessages | undefined;
}

/** Takes the unread messages of a mailbox; with `wait`, blocks until some arrive or the timeout runs out. */
/**
 * Takes the unread messages of a mailbox; with `wait`, blocks until some arrive or the timeout runs out.
 * A wait whose session folder is removed or replaced (rm -rf .orch, then a new init) ends with an error:
 * the session it waited on is gone, and a new session is a new conversation, never followed silently.
 */
export async function takeFromMailbox(mailDir: string, wait: boolean, timeoutMs: number | undefined, ctx: Context, what = "the session"): Promise<TakenMessages | undefined> {
  const take = () => {
    try {
      return takeMessages(mailDir, ctx.warn);
    } catch (error) {
      if (error instanceof OrchError) throw error;
      throw storeError("take messages from", mailDir, error);
    }
  };
  if (!wait) return take();
  const sessionGone = sameFolder(path.dirname(mailDir), what);
  const mailGone = sameFolder(mailDir, "its mailbox");
  return waitFor([path.join(mailDir, "new")], timeoutMs, take, () => sessionGone() ?? mailGone());
}

export async function runPoll(options: PollOptions, ctx: Context): Promise<PollResult> {
  const { layout, session } = await resolveSession(ctx, options.orch);
  const taken = await takeFromMailbox(layout.mailDir(session.orchestrator_id), options.wait, options.timeoutMs, ctx);
  if (!taken && options.wait) {
    throw new OrchError("timeout", `no message within ${(options.timeoutMs ?? 0) / 1000}s`, {
      orchestrator_id: session.orchestrator_id,
      message_count: 0,
      messages: [],
    });
  }
  return { orchestratorId: session.orchestrator_id, taken };
}

/** The seed's poll_messages shape: no orchestrator_id inside each message. */
export function publicMessage(message: Message): Record<string, unknown> {
  return { id: message.id, worker_id: message.worker_id, message_type: message.message_type, content: message.content, created_at: message.created_at };
}

export function renderMessage(message: Message, c: Colors): string {
  const from = message.worker_id ?? "(no worker)";
  const typeColor = message.message_type === "task_failed" ? c.red : message.message_type === "question" ? c.yellow : c.green;
  const lines = [`${typeColor(message.message_type)} ${c.bold(from)}: ${message.content.summary ?? message.content.text ?? ""} ${c.dim(`(${message.id})`)}`];
  const { details, pr_url, branch, error, question } = message.content;
  if (question) lines.push(`  question: ${question}`);
  if (error) lines.push(`  error: ${error}`);
  if (pr_url) lines.push(`  pr: ${pr_url}`);
  if (branch) lines.push(`  branch: ${branch}`);
  if (details) lines.push(...details.split("\n").map((line) => `  ${line}`));
  return `${lines.join("\n")}\n`;
}

export async function main(_args: string[], flags: Flags, ctx: Context): Promise<CommandResult> {
  const options = parsePoll(flags);
  requireOpenStdout();
  const { orchestratorId, taken } = await runPoll(options, ctx);
  const messages = taken?.messages ?? [];
  return {
    json: { success: true, orchestrator_id: orchestratorId, message_count: messages.length, messages: messages.map(publicMessage) },
    human: (c) => (messages.length === 0 ? "no unread messages\n" : messages.map((m) => renderMessage(m, c)).join("")),
    afterOutput: () => taken?.commit(),
  };
}
