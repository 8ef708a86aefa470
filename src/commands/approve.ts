// orch approve / orch deny: answer a worker's pending request (a permission prompt, a plan to approve)
// from the orchestrator; the worker's hook, waiting for it, hands the answer to the agent.

import { resolveSession, type Context } from "../context.ts";
import { OrchError, usage } from "../errors.ts";
import { booleanFlag, positional, stringFlag, type Flags } from "../flags.ts";
import { checkRequestId } from "../ids.ts";
import { flagTextOrStdin } from "../input.ts";
import { placeOf } from "../hosts/place.ts";
import type { StoreLayout } from "../store/layout.ts";
import {
  answeredRequest, answerRequest, pendingRequests, type PendingRequest, type RequestAnswer,
} from "../store/requests.ts";
import { loadWorker, type WorkerRecord } from "../store/workers.ts";
import { recordWorkerEvent } from "../store/worker-status.ts";
import type { CommandResult } from "./types.ts";

/** The request to answer: the one named, else the oldest pending one. Exit 1 when none is pending. */
function pickRequest(layout: StoreLayout, record: WorkerRecord, requestId: string | undefined): PendingRequest {
  const pending = pendingRequests(layout, record);
  const request = requestId === undefined ? pending[0] : pending.find((r) => r.request_id === requestId);
  if (request) return request;
  // Another approve or deny (or the window) answered it first: said as such, with the answer that holds.
  const answered = answeredRequest(layout, record, requestId);
  if (answered && (answered.answer.decision === "allow" || answered.answer.decision === "deny")) {
    throw alreadyAnswered(record, answered.request_id, answered.answer);
  }
  const what = requestId === undefined ? "no pending request" : `no pending request ${requestId}`;
  const why = `${what} for worker ${record.worker_id} (an expired prompt can still be answered in its window)`;
  throw new OrchError("not_found", why);
}

function alreadyAnswered(record: WorkerRecord, requestId: string, holding: RequestAnswer): OrchError {
  const which = `request ${requestId} of worker ${record.worker_id}`;
  return new OrchError("not_found", `${which} was already answered (${holding.decision})`);
}

async function answer(
  args: string[],
  flags: Flags,
  ctx: Context,
  decision: Omit<RequestAnswer, "answered_at">,
): Promise<CommandResult> {
  const workerArg = positional(args, 0, "worker");
  const requestId = args[1] === undefined ? undefined : checkRequestId(args[1]);
  const { layout, session } = await resolveSession(ctx, stringFlag(flags, "orch"));
  const record = loadWorker(layout, session.orchestrator_id, workerArg);
  // On a host, the request is pending in the host's store (its worker's hook waits there): its orch answers.
  const json = await (await placeOf(layout, record, ctx)).answer(requestId, decision);
  const verb = decision.decision === "allow" ? "approved" : "denied";
  const where = typeof json.host === "string" ? ` on host ${json.host}` : "";
  return {
    json,
    human: (c) => {
      const what = `${String(json.waiting_for)} ${c.dim(`(${String(json.request_id)})`)}`;
      return `${c.green(verb)} ${what} for ${record.worker_id}${where}\n`;
    },
  };
}

/** approve / deny of a worker on this machine: the answer goes into its store, where its hook waits for it. */
export async function answerHere(
  layout: StoreLayout,
  record: WorkerRecord,
  requestId: string | undefined,
  decision: Omit<RequestAnswer, "answered_at">,
): Promise<Record<string, unknown>> {
  await checkAlways(record, decision);
  const request = pickRequest(layout, record, requestId);
  const { won, answer: holding } = answerRequest(layout, record, request.request_id, decision);
  if (!won) throw alreadyAnswered(record, request.request_id, holding);
  const verb = decision.decision === "allow" ? "approved" : "denied";
  recordWorkerEvent(layout, record, "answered", `${verb} ${request.waiting_for}`);
  return {
    success: true,
    orchestrator_id: record.orchestrator_id,
    worker_id: record.worker_id,
    request_id: request.request_id,
    waiting_for: request.waiting_for,
    decision: decision.decision,
    ...(decision.always ? { always: true } : {}),
    ...(decision.message !== undefined ? { message: decision.message } : {}),
  };
}

export async function approveMain(args: string[], flags: Flags, ctx: Context): Promise<CommandResult> {
  return answer(args, flags, ctx, { decision: "allow", always: booleanFlag(flags, "always") });
}

/** --always for an agent whose hook can allow only the one call: refused before anything is answered. */
async function checkAlways(record: WorkerRecord, decision: Omit<RequestAnswer, "answered_at">): Promise<void> {
  if (!decision.always) return;
  const { permissionHookOf } = await import("../agents/index.ts");
  if ((await permissionHookOf(record.agent)).allowsAlways) return;
  const why =
    `--always: ${record.agent}'s hook can allow this one call only, not a kind of call for the rest of its session; ` +
    "approve without --always";
  throw usage(why);
}

export async function denyMain(args: string[], flags: Flags, ctx: Context): Promise<CommandResult> {
  const message = flagTextOrStdin(flags, "message", "the message on standard input");
  const missing = message === undefined || message.trim() === "";
  if (missing) throw usage("--message is required: it is what the agent is told");
  return answer(args, flags, ctx, { decision: "deny", message });
}
