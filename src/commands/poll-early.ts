// orch poll's start when its session has hosts: their claims go out before the rest of orch loads, and
// the command parses, loads and looks here while the hosts answer (the host's part is about half of a
// remote poll). Only the plain forms (poll, --json, --orch ID); anything else, and anything that fails
// here, is the command's own to do and to report as it runs. collectHostMessages takes these claims over,
// and runPoll the session resolved here (earlySession), so a poll without hosts reads it once as before.

import process from "node:process";
import { resolveSession, type SessionRef } from "../context.ts";
import { hasHostSessions } from "../hosts/store.ts";
import { unattendedSessionReason } from "../listener.ts";
import { warn } from "../output.ts";

/** The session poll will take from, for `args` (what follows "poll"); undefined for any other form. */
function plainPoll(args: string[]): { orch: string | undefined } | undefined {
  let orch: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === "--json") continue;
    if (arg !== "--orch" || i + 1 >= args.length || orch !== undefined) return undefined;
    orch = args[++i];
  }
  return { orch };
}

/** The session resolved here, for the poll that follows (the same flag, environment and folder). */
let resolved: { orch: string | undefined; ref: SessionRef } | undefined;

/** The session claimHostsEarly resolved for `--orch` `orch`, once: poll does not read it all again. */
export function earlySession(orch: string | undefined): SessionRef | undefined {
  const found = resolved;
  resolved = undefined;
  return found && found.orch === orch ? found.ref : undefined;
}

export async function claimHostsEarly(args: string[]): Promise<void> {
  const form = plainPoll(args);
  if (!form || unattendedSessionReason(process.env)) return;
  // What resolving says (a session that cannot be read) is said once: here when poll takes this session, else
  // by poll's own resolving, which meets the same.
  let said: string[] | undefined = [];
  const ctx = { cwd: process.cwd(), env: process.env, warn: (line: string) => (said ? said.push(line) : warn(line)) };
  try {
    const ref = await resolveSession(ctx, form.orch);
    for (const line of said) warn(line);
    said = undefined;
    resolved = { orch: form.orch, ref };
    const { layout, session } = ref;
    if (!hasHostSessions(layout, session.orchestrator_id)) return;
    const { claimEarly } = await import("../hosts/messages.ts");
    await claimEarly(layout, session.orchestrator_id, ctx).sent;
  } catch {
    // The command finds the same failure and says it.
  }
}
