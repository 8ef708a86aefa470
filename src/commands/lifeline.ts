// orch __lifeline REQUEST: how a host's orch serves a wait for the orch that reached it over ssh. It
// runs poll or await, prints the document on one line, and ends the moment its standard input closes
// (the ssh connection went away: no remote wait outlives the orch that asked). A poll marks its
// messages read only after the asker answered "ack", i.e. after it had stored them: a connection that
// drops in between leaves them unread here, to be handed out again (the asker drops the copies it has).

import { OrchError, usage } from "../errors.ts";
import type { Flags } from "../flags.ts";
import type { Context } from "../context.ts";
import type { LifelineRequest } from "../hosts/remote.ts";
import { writeOut } from "../output.ts";
import type { CommandResult } from "./types.ts";

const SERVED: readonly string[] = ["poll", "await"];

function parseRequest(text: string | undefined): LifelineRequest {
  let value: unknown;
  try {
    value = JSON.parse(text ?? "");
  } catch {
    throw usage("__lifeline takes one JSON request");
  }
  const request = value as Partial<LifelineRequest> | null;
  if (!request || typeof request.command !== "string" || !SERVED.includes(request.command)) {
    throw usage("__lifeline serves poll and await only");
  }
  const args = Array.isArray(request.args) ? request.args.filter((a): a is string => typeof a === "string") : [];
  const flags: Record<string, string | boolean> = {};
  for (const [key, flag] of Object.entries(request.flags ?? {})) {
    if (typeof flag === "string" || typeof flag === "boolean") flags[key] = flag;
  }
  return { command: request.command, args, flags };
}

/**
 * Ends this process when stdin closes, unless the "ack" line came first: then `whenAcked` runs at
 * once, in the same event as the line (an end of input right behind it must not overtake it).
 */
function holdLifeline(): { whenAcked: (fn: () => void) => void } {
  let buffered = "";
  let acked = false;
  let onAck: (() => void) | undefined;
  process.stdin.setEncoding("utf8");
  process.stdin.on("data", (chunk: string) => {
    buffered += chunk;
    if (!acked && buffered.includes("ack\n")) {
      acked = true;
      onAck?.();
    }
  });
  // Nobody is listening any more: leave now, before (or instead of) marking anything read.
  process.stdin.on("end", () => process.exit(0));
  process.stdin.on("error", () => process.exit(0));
  return {
    whenAcked: (fn) => {
      if (acked) fn();
      else onAck = fn;
    },
  };
}

export async function main(args: string[], _flags: Flags, ctx: Context): Promise<CommandResult> {
  const request = parseRequest(args[0]);
  const lifeline = holdLifeline();
  const { COMMANDS } = await import("../cli/spec.ts");
  const spec = COMMANDS.find((s) => s.usage.split(" ")[0] === request.command);
  if (!spec) throw new OrchError("failed", `no command ${request.command}`);
  const command = await spec.load();
  const result = await command(request.args, { ...request.flags, json: true }, ctx);
  // Its clock's time: the asker puts this host's message times on its own clock (the land queue's order).
  writeOut(`${JSON.stringify({ ...result.json, now: new Date().toISOString() })}\n`);
  const finish = () => {
    result.afterOutput?.();
    process.exit(result.exitCode ?? 0);
  };
  // A poll that took nothing has nothing to mark read: no need to wait for the asker's ack.
  if (!result.afterOutput || result.json.message_count === 0) finish();
  lifeline.whenAcked(finish);
  return new Promise<never>(() => undefined);
}
