// orch watch: a never-ending poll --wait. Each message is taken once and printed as one JSON line as it
// arrives (for Claude Code's Monitor tool, which reads a command's output line by line), and marked
// read only once its line is written. Remote workers' messages come home as they do for poll --wait.

import path from "node:path";
import { resolveSession, type Context } from "../context.ts";
import { OrchError, errnoCode } from "../errors.ts";
import { stringFlag, timeoutFlag, type Flags } from "../flags.ts";
import { requireOpenStdout, stdoutReaderGone, writeOutPatiently } from "../output.ts";
import { takeMessages } from "../store/messages.ts";
import { monotonicMs, sameFolder, waitFor } from "../store/waker.ts";
import type { HostFollower } from "../hosts/messages.ts";
import { noticeMovedBase, orchestratorTakeCheck, publicMessage } from "./poll.ts";
import { guardListener } from "../listener.ts";
import { hasHostSessions } from "../hosts/store.ts";
import type { CommandResult } from "./types.ts";

/**
 * `value` as JSON on one line by every reader's idea of a line: JSON.stringify escapes the C0 controls but leaves
 * U+2028, U+2029 and U+0085 (NEL) as they are, and a reader that splits at Unicode's line ends (Python's
 * splitlines) cuts a summary holding one into two halves that are not JSON. Escaped, it reads back the same.
 */
function jsonLine(value: unknown): string {
  const escaped = (c: string) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`;
  return JSON.stringify(value).replace(/[\u0085\u2028\u2029]/g, escaped);
}

export async function main(_args: string[], flags: Flags, ctx: Context): Promise<CommandResult> {
  const timeoutMs = timeoutFlag(flags);
  const { layout, session } = await resolveSession(ctx, stringFlag(flags, "orch"));
  const orchestratorId = session.orchestrator_id;
  const mailDir = layout.mailDir(orchestratorId);
  requireOpenStdout();
  const beforeTake = orchestratorTakeCheck(layout, orchestratorId, "watch", ctx.env);
  const guard = guardListener(layout.root);
  const sessionGone = sameFolder(layout.sessionDir(orchestratorId), "the session");
  const deadline = timeoutMs === undefined ? undefined : monotonicMs() + timeoutMs;
  let printed = 0;
  // Hosts are followed from the moment this session has any (a spawn --host may come during the watch).
  let following: HostFollower | undefined;
  const followHostsOnceThere = async () => {
    if (following || !hasHostSessions(layout, orchestratorId)) return;
    following = (await import("../hosts/messages.ts")).followHosts(layout, orchestratorId, ctx);
  };
  try {
    for (;;) {
      const remaining = deadline === undefined ? undefined : Math.max(0, deadline - monotonicMs());
      const taken = await waitFor([path.join(mailDir, "new")], remaining, async () => {
        beforeTake();
        await followHostsOnceThere();
        await noticeMovedBase(layout, orchestratorId, ctx);
        return takeMessages(mailDir, ctx.warn);
      }, () => sessionGone() ?? stdoutReaderGone());
      if (!taken) break;
      for (const message of taken.messages) {
        try {
          const line = `${jsonLine({ ...publicMessage(message), orchestrator_id: orchestratorId })}\n`;
          // While its pipe is full, a watch whose session has ended stops: this message and the rest stay unread.
          await writeOutPatiently(line, () => {
            const gone = guard.goneReason();
            if (gone === undefined) return;
            throw new OrchError("failed", `watch: its session has ended (${gone}); ${message.id} stays unread`);
          });
        } catch (error) {
          if (error instanceof OrchError) throw error;
          // Nobody reads any more: this message and the rest of the claim go back to new/ for the next reader.
          const why = errnoCode(error) ?? (error as Error).message;
          throw new OrchError("failed", `watch: cannot write to stdout (${why}); ${message.id} stays unread`);
        }
        try {
          taken.commitOne(message);
        } catch {
          // cur/ cannot take it now (a full disk where it needs a block more): it stays in the claim, which the
          // commit below marks read as a whole. Ending here would hand it out again to the next reader.
        }
        printed++;
      }
      taken.commit();
    }
  } finally {
    await following?.stop();
  }
  if (printed === 0) {
    const why = `no message within ${(timeoutMs ?? 0) / 1000}s`;
    throw new OrchError("timeout", why, { orchestrator_id: orchestratorId });
  }
  return {
    json: { success: true, orchestrator_id: orchestratorId, message_count: printed },
    human: () => "",
    streamed: true,
  };
}
