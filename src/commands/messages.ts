// orch send, orch reply (orchestrator → worker) and orch inbox (the worker reads them), with the
// mailbox's guarantees: delivered whole, handed out once.

import fs from "node:fs";
import path from "node:path";
import { resolveSession, resolveWorkerSession, type Context } from "../context.ts";
import { OrchError, usage } from "../errors.ts";
import { booleanFlag, positional, stringFlag, timeoutFlag, type Flags } from "../flags.ts";
import { checkMessageId } from "../ids.ts";
import { MAX_TEXT_BYTES, readStdinBounded } from "../input.ts";
import { requireOpenStdout, type Colors } from "../output.ts";
import { baseTipsMoved } from "../store/coherence.ts";
import { readEventLog } from "../store/events.ts";
import { isRealDirectory, listDir, readRegularFile, storeError } from "../store/files.ts";
import type { StoreLayout } from "../store/layout.ts";
import { isWorkerMessageType, newMessage, parseMessage, sendMessage, type Message } from "../store/messages.ts";
import { guardListener } from "../listener.ts";
import { loadWorker, type WorkerRecord } from "../store/workers.ts";
import { claimWakeUp, markTurnStarted, workerState } from "../store/worker-status.ts";
import { runningAgentPid } from "../store/watchdog.ts";
import { placeOf } from "../hosts/place.ts";
import { publicMessage, takeFromMailbox } from "./poll.ts";
import type { CommandResult } from "./types.ts";

/**
 * TEXT, or standard input when it is "-": empty either way is refused, as an empty TEXT argument is. A tool
 * of orch mcp (`literalText`) sends "-" as it is: its standard input is the protocol's.
 */
function textArgument(args: string[], index: number, flags: Flags): string {
  const text = positional(args, index, "text");
  // Blank, as git takes a blank commit message: an unset "$MSG" would wake the agent to an empty prompt.
  if (text !== "-" || flags.literalText === true) {
    if (text.trim() === "") throw usage("missing text: it is blank");
    return text;
  }
  const piped = readStdinBounded(MAX_TEXT_BYTES, "the text on standard input", flags);
  if (piped.trim() === "") throw usage(`missing text: standard input was ${piped === "" ? "empty" : "blank"}`);
  // As for spawn's prompt: a TEXT argument cannot hold one, and the agent reads the text as a prompt.
  if (piped.includes("\0")) throw new OrchError("invalid", "the text on standard input holds a NUL byte");
  return piped;
}

function deliverToWorker(layout: StoreLayout, record: WorkerRecord, message: Message): void {
  try {
    const events = layout.eventsDir(record.orchestrator_id, record.worker_id);
    sendMessage(layout.inboxDir(record.orchestrator_id, record.worker_id), message, events);
  } catch (error) {
    const inbox = layout.inboxDir(record.orchestrator_id, record.worker_id);
    throw storeError(`deliver the message to worker ${record.worker_id} in`, inbox, error);
  }
}

/** The one line orch types into an idle agent's window; the message itself stays in the mailbox. */
export const WAKE_LINE = "orch: you have a new message from your orchestrator. Read it with: orch inbox";

/**
 * Claude Code 2.1.328 drops an Enter that arrives in the moment its turn ends (its Stop hook, which
 * put the worker at its prompt, has run, but its prompt is not back yet): measured, an Enter 0–100 ms
 * after the idle report was lost about half the time, one 300 ms or more after it never.
 */
const SETTLE_MS = 500;
/** Pauses before pressing Enter again while the wake-up line has not started a turn. */
const RETRY_ENTER_MS = [400, 700, 1000];

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function mtimeMs(file: string): number {
  try {
    return fs.statSync(file).mtimeMs;
  } catch {
    return 0;
  }
}

/**
 * A worker whose agent sits at its prompt runs no hook and reads nothing until something is typed:
 * type the fixed wake-up line into its window. Only then, so a working agent is never interrupted.
 * The line is typed once; Enter is pressed again (a no-op at an empty prompt) while neither a hook
 * has run nor the message has left the inbox, since an Enter the agent dropped leaves the line
 * waiting in its input for nobody.
 */
export async function wakeIfIdle(
  layout: StoreLayout,
  record: WorkerRecord,
  ctx: Context,
  message?: Message,
): Promise<boolean> {
  const state = workerState(layout, record);
  if (!state.at_prompt || state.status === "stopped" || !record.window_id) return false;
  if (runningAgentPid(layout, record) === undefined) return false;
  const settled = (state.at_prompt_since ?? 0) + SETTLE_MS - Date.now();
  if (settled > 0) await sleep(Math.min(settled, SETTLE_MS));
  const { typeLine, pressEnter } = await import("../adapters/tmux.ts");
  // Claimed before typing: of several sends at once, one types the line (the rest find it woken).
  if (!claimWakeUp(layout, record)) return false;
  const typedAt = Date.now();
  // The agent's pane, not the window: the window's active pane may be one a hook of the user's split off.
  const target = record.tmux_pane ?? record.window_id;
  if (!(await typeLine(target, WAKE_LINE, ctx.env))) return false;
  const inbox = layout.inboxDir(record.orchestrator_id, record.worker_id);
  const waiting = message && path.join(inbox, "new", `${message.id}.json`);
  const activity = path.join(layout.workerDir(record.orchestrator_id, record.worker_id), "activity");
  for (const pause of RETRY_ENTER_MS) {
    await sleep(pause);
    if ((waiting !== undefined && !fs.existsSync(waiting)) || mtimeMs(activity) >= typedAt) break;
    if (!(await pressEnter(target, ctx.env))) break;
  }
  return true;
}

function sentResult(message: Message, woken: boolean): CommandResult {
  return {
    json: {
      success: true,
      message_id: message.id,
      orchestrator_id: message.orchestrator_id,
      worker_id: message.worker_id,
      message_type: message.message_type,
      created_at: message.created_at,
      woken,
    },
    human: (c) => {
      const wake = woken ? " (woke it at its prompt)" : "";
      return `${c.green("sent")} ${message.message_type} ${c.dim(message.id)} to ${message.worker_id}${wake}\n`;
    },
  };
}

/**
 * The message with `id` when the worker's event log has it already: a send from the orch that drives this
 * host, run again because its connection broke before the answer came (the first run may have delivered it).
 */
function deliveredBefore(layout: StoreLayout, record: WorkerRecord, id: string): Message | undefined {
  const eventsDir = layout.eventsDir(record.orchestrator_id, record.worker_id);
  const entry = readEventLog(eventsDir).find((e) => e.id === id);
  if (!entry) return undefined;
  const parsed = parseMessage(readRegularFile(path.join(eventsDir, entry.name)).toString("utf8"), `${id}.json`);
  return typeof parsed === "string" ? undefined : parsed;
}

/**
 * The message's id given by the orch that drives this host (internal --message-id): the same send again
 * delivers it once.
 */
function givenMessageId(flags: Flags): string | undefined {
  const id = stringFlag(flags, "messageId");
  return id === undefined ? undefined : checkMessageId(id);
}

/**
 * Delivers here and wakes the agent if it sits idle at its prompt; for a worker on a host, the host's
 * orch does both (and gives the message its id there). `once`: a message of this id delivered already
 * is not delivered again (see givenMessageId).
 */
async function deliverAnywhere(
  layout: StoreLayout, record: WorkerRecord, message: Message, ctx: Context, once = false,
): Promise<{ sent: Message; woken: boolean }> {
  if (record.pending && record.host !== undefined) {
    // Its inbox will be on the host, where nothing exists yet: a message kept here would never reach it.
    const why = `it waits for ${(record.after ?? []).join(", ")} to land, then starts on host ${record.host}`;
    throw new OrchError("refused", `worker ${record.worker_id} has not started yet (${why}): nothing was sent`);
  }
  return (await placeOf(layout, record, ctx)).deliver(message, once);
}

/** deliverAnywhere to a worker on this machine (or one still pending here: it reads its inbox once started). */
export async function deliverHere(
  layout: StoreLayout, record: WorkerRecord, message: Message, ctx: Context, once: boolean,
): Promise<{ sent: Message; woken: boolean }> {
  const earlier = once ? deliveredBefore(layout, record, message.id) : undefined;
  if (earlier) return { sent: earlier, woken: false };
  deliverToWorker(layout, record, message);
  return { sent: message, woken: await wakeIfIdle(layout, record, ctx, message) };
}

export async function sendMain(args: string[], flags: Flags, ctx: Context): Promise<CommandResult> {
  const workerArg = positional(args, 0, "worker");
  const text = textArgument(args, 1, flags);
  const givenId = givenMessageId(flags);
  const { layout, session } = await resolveSession(ctx, stringFlag(flags, "orch"));
  let record = loadWorker(layout, session.orchestrator_id, workerArg);
  if (baseTipsMoved(layout, session.orchestrator_id)) {
    const { noticeMoves } = await import("./coherence.ts");
    await noticeMoves(layout, session.orchestrator_id, ctx);
    // It may have been started just now (spawn --after), on a host too.
    record = loadWorker(layout, session.orchestrator_id, record.worker_id);
  }
  const message = newMessage({
    orchestrator_id: session.orchestrator_id, worker_id: record.worker_id, message_type: "message", content: { text },
  });
  if (givenId) message.id = givenId;
  const { sent, woken } = await deliverAnywhere(layout, record, message, ctx, givenId !== undefined);
  return sentResult(sent, woken);
}

/** A message of the session's mailbox by id, wherever it is (unread, being handed out, or read). */
export function findSessionMessage(layout: StoreLayout, orchestratorId: string, id: string): Message | undefined {
  const mail = layout.mailDir(orchestratorId);
  const name = `${id}.json`;
  const places = [path.join(mail, "cur"), path.join(mail, "new")];
  try {
    for (const claim of fs.readdirSync(path.join(mail, "claims"))) places.push(path.join(mail, "claims", claim));
  } catch {
    // no claims folder: nothing being handed out
  }
  for (const dir of places) {
    try {
      const parsed = parseMessage(readRegularFile(path.join(dir, name)).toString("utf8"), name);
      if (typeof parsed !== "string") return parsed;
    } catch {
      // not here
    }
  }
  return workerSentMessage(layout, orchestratorId, id);
}

/**
 * A message a worker sent, from its event log (a hard link to it): read messages may be trimmed from mail/cur
 * (as the README says to), and a live worker's pending question must still be answerable with reply.
 */
function workerSentMessage(layout: StoreLayout, orchestratorId: string, id: string): Message | undefined {
  const suffix = `.${id}.json`;
  for (const workerId of listDir(layout.workersDir(orchestratorId))) {
    if (!isRealDirectory(layout.workerDir(orchestratorId, workerId))) continue; // a link is never followed
    const eventsDir = layout.eventsDir(orchestratorId, workerId);
    const entry = readEventLog(eventsDir).find((event) => event.id === id && event.name.endsWith(suffix));
    if (!entry || !isWorkerMessageType(entry.type)) continue;
    try {
      const parsed = parseMessage(readRegularFile(path.join(eventsDir, entry.name)).toString("utf8"), `${id}.json`);
      if (typeof parsed !== "string" && parsed.orchestrator_id === orchestratorId && parsed.worker_id === workerId) {
        return parsed;
      }
    } catch {
      // gone meanwhile (the worker removed), or not a message file
    }
  }
  return undefined;
}

export async function replyMain(args: string[], flags: Flags, ctx: Context): Promise<CommandResult> {
  const id = checkMessageId(positional(args, 0, "message id"));
  const text = textArgument(args, 1, flags);
  const givenId = givenMessageId(flags);
  const { layout, session } = await resolveSession(ctx, stringFlag(flags, "orch"));
  const original = findSessionMessage(layout, session.orchestrator_id, id);
  if (!original) throw new OrchError("not_found", `no message ${id} in session ${session.orchestrator_id}`);
  if (!original.worker_id) {
    throw new OrchError("not_found", `message ${id} came from no worker: there is nobody to reply to`);
  }
  const record = loadWorker(layout, session.orchestrator_id, original.worker_id);
  const content = {
    text,
    in_reply_to: id,
    ...(original.content.question ? { question: original.content.question } : {}),
  };
  const message = newMessage({
    orchestrator_id: session.orchestrator_id, worker_id: record.worker_id, message_type: "reply", content,
  });
  if (givenId) message.id = givenId;
  const { sent, woken } = await deliverAnywhere(layout, record, message, ctx, givenId !== undefined);
  return sentResult(sent, woken);
}

function renderInboxMessage(message: Message, c: Colors): string {
  const question = message.content.question ? ` (${message.content.question})` : "";
  const head = message.message_type === "reply" ? `${c.yellow("reply")} to ${message.content.in_reply_to}${question}`
    : message.message_type === "base_moved" ? c.yellow(message.content.returned ? "handed back" : "base moved")
    : c.cyan("message");
  return `${head} ${c.dim(`(${message.id})`)}\n${message.content.text ?? ""}\n`;
}

export async function inboxMain(_args: string[], flags: Flags, ctx: Context): Promise<CommandResult> {
  const wait = booleanFlag(flags, "wait");
  const timeoutMs = timeoutFlag(flags);
  requireOpenStdout();
  const { layout, session, workerId } = await resolveWorkerSession(ctx, stringFlag(flags, "orch"));
  if (!workerId) {
    throw new OrchError("not_found", "not inside a worker: run orch inbox in a worker's worktree (or set ORCH_WORKER)");
  }
  const record = loadWorker(layout, session.orchestrator_id, workerId);
  const inbox = layout.inboxDir(record.orchestrator_id, record.worker_id);
  const guard = wait ? guardListener(layout.root) : undefined;
  // A sandboxed agent may see the store read-only: that is one line for the user, not a crash.
  const checkFolder = () => guard?.check("inbox --wait");
  const whose = `worker ${record.worker_id}`;
  const taken = await takeFromMailbox(inbox, wait, timeoutMs, ctx, checkFolder, whose).catch((error: unknown) => {
    if (error instanceof OrchError) throw error;
    throw storeError("read the inbox at", inbox, error);
  });
  // A worker that reads its messages has taken up its work again.
  if (taken) markTurnStarted(layout, record);
  const base = { orchestrator_id: session.orchestrator_id, worker_id: record.worker_id };
  if (!taken && wait) {
    const nothing = { ...base, message_count: 0, messages: [] };
    throw new OrchError("timeout", `no message within ${(timeoutMs ?? 0) / 1000}s`, nothing);
  }
  const messages = taken?.messages ?? [];
  return {
    json: { success: true, ...base, message_count: messages.length, messages: messages.map(publicMessage) },
    human: (c) => messages.length
      ? messages.map((m) => renderInboxMessage(m, c)).join("\n")
      : "no messages from the orchestrator\n",
    afterOutput: () => {
      try {
        taken?.commit();
      } catch (error) {
        throw storeError("mark the messages read in", inbox, error);
      }
    },
  };
}
