// Messages between orchestrator and workers: their shape, their validation, sending and taking them.

import path from "node:path";
import { OrchError } from "../errors.ts";
import { isMessageId, newMessageId } from "../ids.ts";
import { linkEvent } from "./events.ts";
import { MAX_STORE_FILE_BYTES, toJson } from "./files.ts";
import { claimNew, deliver } from "./maildir.ts";

export const WORKER_MESSAGE_TYPES = [
  "task_complete", "task_failed", "question", "progress", "idle", "blocked",
] as const;
export type WorkerMessageType = (typeof WORKER_MESSAGE_TYPES)[number];
/**
 * What the orchestrator sends a worker: a free message, a reply to one of its questions, or base_moved
 * (its base branch moved: what landed, whether its branch still merges, or a conflict handed back).
 */
export type OrchestratorMessageType = "message" | "reply" | "base_moved";
/**
 * Written by orch itself into a worker's event log: `stopped` by orch stop; `restarted` by orch resume;
 * `turn_started` when the agent takes up work again (a hook saw a prompt or a tool call, or it read its
 * inbox); `turn_ended` when its turn ended (Stop hook); `answered` when approve/deny answered a request;
 * `woken` when orch typed its wake-up line (once per wait at the prompt); `returned` when land hands a
 * conflict back to the worker (it is at work again). `resumed` is the older name of turn_started.
 */
export type LifecycleType =
  | "stopped" | "restarted" | "turn_started" | "turn_ended" | "answered" | "woken" | "resumed" | "returned";
export type MessageType = WorkerMessageType | OrchestratorMessageType | LifecycleType;

export interface MessageContent {
  summary?: string;
  details?: string;
  pr_url?: string;
  branch?: string;
  error?: string;
  question?: string;
  /** Orchestrator → worker text. */
  text?: string;
  /** The question a reply answers. */
  in_reply_to?: string;
  /** base_moved: the base branch, its new tip and the tip the worker knew before. */
  base_branch?: string;
  base_commit?: string;
  previous_base?: string;
  /** base_moved: what landed between the two tips (commits may be cut short; commit_count is all). */
  commits?: { sha: string; subject: string }[];
  commit_count?: number;
  files?: string[];
  /** base_moved: whether the worker's branch merges onto the new tip, and where it would conflict. */
  merges_cleanly?: boolean;
  conflict_paths?: string[];
  /** base_moved: orch sync brought the branch onto the new tip (its commits were rewritten). */
  synced?: boolean;
  /** base_moved: land handed a conflict back (land --on-conflict return): rebase and report again. */
  returned?: boolean;
  /** base_moved: what to rebase onto (the base branch; on a host, orch's ref of its new tip there). */
  rebase_onto?: string;
  /** blocked: what the agent waits for (the tool call, "plan approval", a dialog). */
  waiting_for?: string;
  /** blocked: the request approve/deny answer. */
  request_id?: string;
}

export interface Message {
  id: string;
  orchestrator_id: string;
  worker_id: string | null;
  message_type: MessageType;
  content: MessageContent;
  created_at: string;
  /** A host's message whose host's clock is off: its created_at on this machine's clock (see storeHostMessages). */
  created_here?: string;
}

export function isWorkerMessageType(type: string): type is WorkerMessageType {
  return (WORKER_MESSAGE_TYPES as readonly string[]).includes(type);
}

export function newMessage(fields: Omit<Message, "id" | "created_at">): Message {
  return { id: newMessageId(), ...fields, created_at: new Date().toISOString() };
}

/** Delivers `message` into a mailbox and, when given, into a worker's event log (in arrival order). */
export function sendMessage(mailDir: string, message: Message, eventsDir?: string, warn?: Warn): void {
  const link = eventsDir === undefined
    ? undefined
    : (file: string) => linkEvent(eventsDir, file, message.message_type, message.id);
  const report =
    warn && ((from: string, to: string, why: string) => warn(`quarantined ${from}: ${why} (moved to ${to})`));
  deliver(mailDir, `${message.id}.json`, storedMessage(message), link, report);
}

/**
 * A task_failed for a turn that a model API error ended, the agent still at its prompt: delivered as any
 * message, and in the event log as `turn_failed`, so the worker's status is failed until its next turn.
 */
export function sendTurnFailed(mailDir: string, message: Message, eventsDir: string): void {
  const link = (file: string) => linkEvent(eventsDir, file, TURN_FAILED, message.id);
  deliver(mailDir, `${message.id}.json`, storedMessage(message), link);
}

/** The event of a task_failed that sendTurnFailed sent. */
export const TURN_FAILED = "turn_failed";

/**
 * The message as its file holds it, refused (exit 2, nothing written) when it is larger than a reader
 * takes: poll and inbox would quarantine it, so a send that exits 0 would never be handed out. JSON
 * escapes each control character as six bytes, so 1 MiB of text can need more than 4 MiB.
 */
export function storedMessage(message: Message): string {
  const text = toJson(message);
  const bytes = Buffer.byteLength(text);
  if (bytes > MAX_STORE_FILE_BYTES) {
    throw new OrchError("invalid", `the message would be ${bytes} bytes as stored (JSON, control characters ` +
      `escaped), over the ${MAX_STORE_FILE_BYTES / (1024 * 1024)} MiB a reader takes: nothing was sent`);
  }
  return text;
}

/** Why `value` (read from `fileName`) is not a message, or null when it is one. */
function messageProblem(value: unknown, fileName: string): string | null {
  if (!value || typeof value !== "object" || Array.isArray(value)) return "not a JSON object";
  const m = value as Record<string, unknown>;
  if (typeof m.id !== "string" || !isMessageId(m.id)) return "no valid id";
  if (`${m.id}.json` !== fileName) return "id does not match the file name";
  if (typeof m.message_type !== "string") return "no message_type";
  if (!m.content || typeof m.content !== "object" || Array.isArray(m.content)) return "no content object";
  if (typeof m.created_at !== "string") return "no created_at";
  return null;
}

/** The fields of a message's content that poll prints as text. */
const PRINTED_FIELDS = ["summary", "text", "details", "question", "error", "pr_url", "branch"];

/** `content` without a field poll prints as text whose value is not text (a hand-written file, a host's answer). */
export function printableContent(content: object): MessageContent {
  return Object.fromEntries(Object.entries(content)
    .filter(([field, value]) => !PRINTED_FIELDS.includes(field) || typeof value === "string"));
}

export function parseMessage(text: string, fileName: string): Message | string {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return "invalid JSON";
  }
  const problem = messageProblem(value, fileName);
  if (problem !== null) return problem;
  const message = value as Message;
  return { ...message, content: printableContent(message.content) };
}

export type Warn = (line: string) => void;

export interface TakenMessages {
  messages: Message[];
  /** Marks them read: call after they were handed out. */
  commit(): void;
  /** Marks one of them read, for a reader that hands them out one at a time (watch). */
  commitOne(message: Message): void;
  /** Leaves them unread for the next reader: call when they could not be handed out. */
  release(): void;
}

/**
 * Takes all unread messages of a mailbox, oldest first. Corrupt or foreign files are moved aside into
 * quarantine/ and reported through `warn`; the rest are still delivered.
 */
export function takeMessages(mailDir: string, warn: Warn): TakenMessages | undefined {
  const claim = claimNew(mailDir, (from, to, why) => warn(`quarantined ${from}: ${why} (moved to ${to})`));
  if (!claim) return undefined;
  const messages: Message[] = [];
  for (const file of [...claim.files]) {
    const parsed = parseMessage(file.text, file.name);
    if (typeof parsed === "string") {
      const to = claim.quarantine(file.name);
      warn(`quarantined ${path.join(mailDir, "new", file.name)}: ${parsed} (moved to ${to})`);
    } else {
      messages.push(parsed);
    }
  }
  if (messages.length === 0) {
    claim.commit();
    return undefined;
  }
  return {
    messages,
    commit: () => claim.commit(),
    commitOne: (message) => claim.commitFile(`${message.id}.json`),
    release: () => claim.release(),
  };
}

/**
 * Why `value` cannot be a message's pr_url, or undefined. It is handed to gh as an argument (gh pr merge,
 * gh pr view): only an http(s) URL, so a worker's "--admin" never becomes one of gh's flags.
 */
export function prUrlProblem(value: string): string | undefined {
  const protocol = URL.canParse(value) ? new URL(value).protocol : undefined;
  if (protocol === "https:" || protocol === "http:") return undefined;
  return `pr_url must be the pull request's http(s) URL, not ${JSON.stringify(value)}`;
}

export function messageTypeError(type: string, allowed: readonly string[]): OrchError {
  return new OrchError("invalid", `unknown message type ${JSON.stringify(type)}: use one of ${allowed.join(", ")}`);
}
