// orch __coherence -: what a host's orch does for the orch that drives it when a base moved there (the
// request arrives as JSON on standard input): put a base_moved made there into a worker's inbox here
// (a hand-back also wakes the agent and sets it running), or sync a worker onto a pushed commit.

import { resolveSession, type Context } from "../context.ts";
import { usage } from "../errors.ts";
import { stringFlag, type Flags } from "../flags.ts";
import { readStdinBounded } from "../input.ts";
import { newMessage, type MessageContent } from "../store/messages.ts";
import { loadWorker } from "../store/workers.ts";
import { recordWorkerEvent } from "../store/worker-status.ts";
import { agentHasEnded } from "../store/watchdog.ts";
import { deliverToWorker } from "./coherence.ts";
import type { SyncRequest } from "./sync.ts";
import type { CommandResult } from "./types.ts";

export type CoherenceRequest =
  | { op: "tell"; worker_id: string; content: MessageContent; returned: boolean }
  | { op: "sync"; worker_id: string; sync: SyncRequest };

const MAX_REQUEST_BYTES = 4 * 1024 * 1024;
function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function parseRequest(text: string): CoherenceRequest {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw usage("__coherence takes one JSON request on standard input");
  }
  if (!isObject(value) || typeof value.worker_id !== "string") throw usage("__coherence: the request names no worker");
  const workerId = value.worker_id;
  if (value.op === "tell" && isObject(value.content) && typeof value.content.summary === "string") {
    const content = value.content as MessageContent;
    return { op: "tell", worker_id: workerId, content, returned: value.returned === true };
  }
  const sync = isObject(value.sync) ? value.sync : {};
  const { tip, method, mergesCleanly, message } = sync;
  const isCommit = typeof tip === "string" && /^[0-9a-f]{40,64}$/.test(tip);
  const isMethod = method === "rebase" || method === "merge";
  if (value.op === "sync" && isCommit && isMethod && typeof mergesCleanly === "boolean") {
    return {
      op: "sync",
      worker_id: workerId,
      sync: { tip, method, mergesCleanly, message: typeof message === "string" ? message : "" },
    };
  }
  throw usage("__coherence serves tell (with content) and sync (with a commit and a method) only");
}

export async function main(args: string[], flags: Flags, ctx: Context): Promise<CommandResult> {
  if (args[0] !== "-") throw usage("__coherence reads its request from standard input: __coherence -");
  const request = parseRequest(readStdinBounded(MAX_REQUEST_BYTES, "the request on standard input", flags));
  const { layout, session } = await resolveSession(ctx, stringFlag(flags, "orch"));
  const record = loadWorker(layout, session.orchestrator_id, request.worker_id);
  if (request.op === "sync") {
    const attempt = await (await import("./sync.ts")).syncHere(layout, record, request.sync, ctx);
    return { json: { success: true, worker_id: record.worker_id, attempt }, human: () => `${attempt.status}\n` };
  }
  const message = newMessage({
    orchestrator_id: session.orchestrator_id,
    worker_id: record.worker_id,
    message_type: "base_moved",
    content: request.content,
  });
  // As tellHere: whether its agent had ended is looked at before it is told.
  const ended = request.returned && agentHasEnded(layout, record);
  deliverToWorker(layout, record, message);
  let woken = false;
  if (request.returned) {
    if (!ended) woken = await (await import("./messages.ts")).wakeIfIdle(layout, record, ctx);
    recordWorkerEvent(layout, record, "returned", `land handed its conflict back: ${request.content.summary ?? ""}`);
  }
  return {
    json: { success: true, worker_id: record.worker_id, message_id: message.id, woken, agent_ended: ended },
    human: () => `${message.id}\n`,
  };
}
