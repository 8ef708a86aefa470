// orch poll: take the unread messages of a session, oldest first, each handed out once (mirrors poll_messages).

import path from "node:path";
import { resolveSession, type Context } from "../context.ts";
import { OrchError } from "../errors.ts";
import { booleanFlag, stringFlag, timeoutFlag, type Flags } from "../flags.ts";
import { requireOpenStdout, stdoutReaderGone, type Colors } from "../output.ts";
import { baseTipsMoved } from "../store/coherence.ts";
import { guardListener, unattendedSessionReason } from "../listener.ts";
import { storeError } from "../store/files.ts";
import type { StoreLayout } from "../store/layout.ts";
import { takeMessages, type Message, type TakenMessages } from "../store/messages.ts";
import { sameFolder, waitFor } from "../store/waker.ts";
import { listWorkers } from "../store/workers.ts";
import { noticeBlockedPending } from "../store/worker-status.ts";
import { noticeEndedAgents } from "../store/watchdog.ts";
import { hasHostSessions } from "../hosts/store.ts";
import { earlySession } from "./poll-early.ts";
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

/**
 * Takes the unread messages of a mailbox; with `wait`, blocks until some arrive or the timeout runs
 * out. `beforeTake` runs before every attempt (it may throw to end the wait without taking anything).
 * A wait whose session folder (`what`) is removed or replaced (rm -rf .orch, then a new init) ends with
 * an error: the session it waited on is gone, and a new session is never followed silently.
 */
export async function takeFromMailbox(
  mailDir: string,
  wait: boolean,
  timeoutMs: number | undefined,
  ctx: Context,
  beforeTake: () => void | Promise<void> = () => undefined,
  what = "the session",
): Promise<TakenMessages | undefined> {
  const take = async () => {
    await beforeTake();
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
  return waitFor([path.join(mailDir, "new")], timeoutMs, take, () => sessionGone() ?? mailGone() ?? stdoutReaderGone());
}

/**
 * What the orchestrator's listeners do before each take: stop if the session that started them is
 * gone (`what` names the listener; undefined for a one-shot poll), and report workers whose agent
 * died without a word, so their task_failed is among what is taken.
 */
export function orchestratorTakeCheck(
  layout: StoreLayout,
  orchestratorId: string,
  what: string | undefined,
  env: NodeJS.ProcessEnv,
): () => void {
  const unattended = unattendedSessionReason(env);
  if (unattended) throw new OrchError("refused", `${what ?? "poll"}: ${unattended}; nothing was taken`);
  const guard = what === undefined ? undefined : guardListener(layout.root);
  return () => {
    guard?.check(what!);
    const records = listWorkers(layout, orchestratorId);
    noticeEndedAgents(layout, records);
    noticeBlockedPending(layout, records);
  };
}

/**
 * What a listener (poll --wait, watch) does at each wake-up: a base that moved (a merge by hand, a pull of a PR
 * merged on GitHub) is noticed as a command's start notices it, with file reads only while nothing moved: its
 * workers are told, and pending ones (spawn --after) may start.
 */
export async function noticeMovedBase(layout: StoreLayout, orchestratorId: string, ctx: Context): Promise<void> {
  if (!baseTipsMoved(layout, orchestratorId)) return;
  await (await import("./coherence.ts")).noticeMoves(layout, orchestratorId, ctx);
}

export async function runPoll(options: PollOptions, ctx: Context): Promise<PollResult> {
  const { layout, session } = earlySession(options.orch) ?? (await resolveSession(ctx, options.orch));
  const listener = options.wait ? "poll --wait" : undefined;
  const check = orchestratorTakeCheck(layout, session.orchestrator_id, listener, ctx.env);
  // Remote workers' messages are brought into this mailbox first (or, while waiting, as they come); a host
  // that answers is one the check below may bring a new base to, even within the pause of a failure.
  const hosts = hasHostSessions(layout, session.orchestrator_id) ? await import("../hosts/messages.ts") : undefined;
  const collecting =
    hosts && !options.wait ? hosts.collectHostMessages(layout, session.orchestrator_id, ctx) : undefined;
  // A base that moved since the last orch command (a commit by hand, a pull) is noticed here too, and so
  // are local agents that died (their task_failed is taken below with the rest): looked at once the
  // claims have gone, while the hosts answer.
  await collecting?.sent;
  const moved = baseTipsMoved(layout, session.orchestrator_id);
  if (collecting) check();
  await collecting?.done;
  if (moved) {
    await (await import("./coherence.ts")).noticeMoves(layout, session.orchestrator_id, ctx);
  }
  const following = options.wait ? hosts?.followHosts(layout, session.orchestrator_id, ctx) : undefined;
  let taken: TakenMessages | undefined;
  try {
    const once = collecting ? () => undefined : check;
    // While it waits, a base that moves (a merge by hand, a pull of a PR merged on GitHub) is noticed at each
    // wake-up, as at its start: its workers are told, and pending ones (spawn --after) may start.
    const beforeTake = !options.wait ? once : async () => {
      once();
      await noticeMovedBase(layout, session.orchestrator_id, ctx);
    };
    const mailDir = layout.mailDir(session.orchestrator_id);
    taken = await takeFromMailbox(mailDir, options.wait, options.timeoutMs, ctx, beforeTake);
  } finally {
    await following?.stop();
  }
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
  return {
    id: message.id,
    worker_id: message.worker_id,
    message_type: message.message_type,
    content: message.content,
    created_at: message.created_at,
  };
}

export function renderMessage(message: Message, c: Colors): string {
  const from = message.worker_id ?? "(no worker)";
  const typeColor =
    message.message_type === "task_failed" ? c.red : message.message_type === "question" ? c.yellow : c.green;
  // notify refuses an empty summary; a message written by hand may have none (or one left out: not text).
  const text = message.content.summary || message.content.text || c.dim("(no summary)");
  const lines = [`${typeColor(message.message_type)} ${c.bold(from)}: ${text} ${c.dim(`(${message.id})`)}`];
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
    json: {
      success: true,
      orchestrator_id: orchestratorId,
      message_count: messages.length,
      messages: messages.map(publicMessage),
    },
    human: (c) => (messages.length === 0 ? "no unread messages\n" : messages.map((m) => renderMessage(m, c)).join("")),
    afterOutput: () => taken?.commit(),
    notOutput: () => taken?.release(),
  };
}
