// orch watch: a never-ending poll --wait. Each message is taken once and printed as one JSON line as it
// arrives (for Claude Code's Monitor tool, which reads a command's output line by line), and marked
// read only once its line is written.

import path from "node:path";
import { resolveSession, type Context } from "../context.ts";
import { OrchError, errnoCode } from "../errors.ts";
import { stringFlag, timeoutFlag, type Flags } from "../flags.ts";
import { writeOut } from "../output.ts";
import { takeMessages } from "../store/messages.ts";
import { waitFor } from "../store/waker.ts";
import { orchestratorTakeCheck, publicMessage } from "./poll.ts";
import type { CommandResult } from "./types.ts";

export async function main(_args: string[], flags: Flags, ctx: Context): Promise<CommandResult> {
  const timeoutMs = timeoutFlag(flags);
  const { layout, session } = await resolveSession(ctx, stringFlag(flags, "orch"));
  const orchestratorId = session.orchestrator_id;
  const mailDir = layout.mailDir(orchestratorId);
  const beforeTake = orchestratorTakeCheck(layout, orchestratorId, "watch", ctx.env);
  const deadline = timeoutMs === undefined ? undefined : Date.now() + timeoutMs;
  let printed = 0;
  for (;;) {
    const remaining = deadline === undefined ? undefined : Math.max(0, deadline - Date.now());
    const taken = await waitFor([path.join(mailDir, "new")], remaining, () => {
      beforeTake();
      return takeMessages(mailDir, ctx.warn);
    });
    if (!taken) break;
    for (const message of taken.messages) {
      try {
        writeOut(`${JSON.stringify({ ...publicMessage(message), orchestrator_id: orchestratorId })}\n`);
      } catch (error) {
        // Nobody reads any more: this message and the rest of the claim go back to new/ for the next reader.
        throw new OrchError("failed", `watch: cannot write to stdout (${errnoCode(error) ?? (error as Error).message}); ${message.id} stays unread`);
      }
      taken.commitOne(message);
      printed++;
    }
    taken.commit();
  }
  if (printed === 0) throw new OrchError("timeout", `no message within ${(timeoutMs ?? 0) / 1000}s`, { orchestrator_id: orchestratorId });
  return { json: { success: true, orchestrator_id: orchestratorId, message_count: printed }, human: () => "", streamed: true };
}
