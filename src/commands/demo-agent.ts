// orch __demo-agent: the scripted agent that ships with orch for `orch demo`. It reads its prompt (its
// last argument, or ORCH_PROMPT_FILE), does the edits the prompt lists, commits them and reports
// task_complete.
//
// Prompt lines it understands (anything else is ignored, like the orch instructions appended):
//   write <path> <text>        replace the file with <text> (\n for new lines)
//   replace <path> <n> <text>  replace line <n> of the file
//   commit <message>           commit everything so far
//   sleep <ms>                 think for a while
//   on-conflict <line>         after reporting, stay for the orchestrator's messages; when land hands a
//                              conflict back, rebase onto the base, take the base's side of the conflicting
//                              files, do <line> (one of the lines above), continue, and report again
//   ask <tool> <text>          wait for a person to allow <tool> on <text> (blocked, until orch approve
//                              or deny), raised through the same path as Claude Code's permission hook

import fs from "node:fs";
import path from "node:path";
import * as gitAdapter from "../adapters/git.ts";
import { resolveSession, type Context } from "../context.ts";
import { usage } from "../errors.ts";
import type { Flags } from "../flags.ts";
import type { Message } from "../store/messages.ts";
import { runNotify } from "./notify.ts";
import { takeFromMailbox } from "./poll.ts";
import type { CommandResult } from "./types.ts";

/** Asks for permission as Claude Code's PermissionRequest hook does, and waits for the answer. */
async function askPermission(tool: string, text: string, ctx: Context, done: string[]): Promise<void> {
  const { raiseAndAwaitAnswer, workerHere } = await import("./hook.ts");
  const where = await workerHere({ cwd: ctx.cwd }, ctx);
  if (!where) throw usage("the demo agent asks for permission only inside an orch worker");
  const toolInput = tool === "Bash" ? { command: text } : { file_path: text };
  const decision = await raiseAndAwaitAnswer(where, tool, toolInput, 120_000);
  if (decision?.behavior === "allow") done.push(`${tool} ${text} approved`);
  else done.push(`${tool} ${text} ${decision ? `denied: ${decision.message}` : "unanswered"}`);
}

/** Does one prompt line; returns the commit message when it committed. */
async function perform(line: string, cwd: string, done: string[], ctx: Context): Promise<string | undefined> {
  const [verb, ...rest] = line.trim().split(" ");
  if (verb === "write" && rest.length >= 2) {
    const file = path.join(cwd, rest[0]!);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, `${rest.slice(1).join(" ").replace(/\\n/g, "\n")}\n`);
    done.push(`wrote ${rest[0]}`);
  } else if (verb === "replace" && rest.length >= 3) {
    const file = path.join(cwd, rest[0]!);
    const lines = fs.readFileSync(file, "utf8").split("\n");
    lines[Number(rest[1]) - 1] = rest.slice(2).join(" ");
    fs.writeFileSync(file, lines.join("\n"));
    done.push(`edited ${rest[0]}`);
  } else if (verb === "commit" && rest.length >= 1) {
    await gitAdapter.git(["add", "-A"], cwd);
    await gitAdapter.git(["commit", "--quiet", "-m", rest.join(" ")], cwd);
    return rest.join(" ");
  } else if (verb === "ask" && rest.length >= 2) {
    await askPermission(rest[0]!, rest.slice(1).join(" "), ctx, done);
  } else if (verb === "sleep" && rest.length === 1) {
    await new Promise((r) => setTimeout(r, Number(rest[0])));
  }
  return undefined;
}

/** Handed back a conflict: rebase onto the base, resolve it as the prompt says, report again. */
async function fixConflict(handedBack: Message, fixes: string[], ctx: Context): Promise<Message> {
  // On a host the base's new tip is not its branch there but orch's ref of it (rebase_onto).
  const base = handedBack.content.rebase_onto ?? handedBack.content.base_branch ?? "main";
  const env = { ...ctx.env, GIT_EDITOR: "true" };
  const rebase = await gitAdapter.git(["rebase", "--quiet", base], ctx.cwd, { allowFailure: true, env });
  const done: string[] = [];
  if (rebase.code !== 0) {
    const conflicted = await gitAdapter.unmergedPaths(ctx.cwd);
    // During a rebase "ours" is the base being rebased onto: start from its version, then redo the edit.
    await gitAdapter.git(["checkout", "--ours", "--", ...conflicted], ctx.cwd);
    for (const fix of fixes) await perform(fix, ctx.cwd, done, ctx);
    await gitAdapter.git(["add", "-A"], ctx.cwd);
    await gitAdapter.git(["rebase", "--continue"], ctx.cwd, { env });
  }
  const summary = `Rebased onto ${base}${done.length ? ` and resolved the conflict (${done.join(", ")})` : ""}`;
  const details = `handed back by ${handedBack.id} (scripted by orch demo)`;
  return runNotify({ orch: undefined, type: "task_complete", content: { summary, details } }, ctx);
}

/** Waits (up to two minutes) for the orchestrator to hand a conflict back, and fixes it. */
async function stayForConflicts(fixes: string[], ctx: Context): Promise<void> {
  const { layout, session, marker } = await resolveSession(ctx, undefined);
  const workerId = ctx.env.ORCH_WORKER ?? marker?.worker_id;
  if (!workerId) return;
  const inbox = layout.inboxDir(session.orchestrator_id, workerId);
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    const taken = await takeFromMailbox(inbox, true, deadline - Date.now(), ctx);
    if (!taken) return;
    taken.commit();
    const handedBack = taken.messages.find((m) => m.message_type === "base_moved" && m.content.returned);
    if (handedBack) {
      await fixConflict(handedBack, fixes, ctx);
      return;
    }
  }
}

export async function main(args: string[], _flags: Flags, ctx: Context): Promise<CommandResult> {
  const promptFile = ctx.env.ORCH_PROMPT_FILE;
  // Run by hand (it is hidden, but a user can type it): bad usage, said in one line.
  if (!promptFile) throw usage("the demo agent runs inside an orch worker (ORCH_PROMPT_FILE is not set)");
  // The prompt it is started with (orch resume gives the first prompt and the new message), else the file.
  const prompt = args[0] ?? fs.readFileSync(promptFile, "utf8");
  const done: string[] = [];
  ctx.warn(`demo agent: ${ctx.env.ORCH_WORKER} at work in ${ctx.cwd}`);
  let summary = "";
  for (const line of prompt.split("\n")) summary = (await perform(line, ctx.cwd, done, ctx)) ?? summary;
  const content = {
    summary: summary || done.join(", ") || "nothing to do",
    details: `${done.join(", ")} (scripted by orch demo)`,
  };
  const message = await runNotify({ orch: undefined, type: "task_complete", content }, ctx);
  const conflictFixLines = prompt.split("\n").filter((line) => line.startsWith("on-conflict "));
  const fixes = conflictFixLines.map((line) => line.slice("on-conflict ".length));
  if (fixes.length) await stayForConflicts(fixes, ctx);
  return {
    json: { success: true, message_id: message.id },
    human: () => `demo agent: reported ${message.message_type} (${message.id})\n`,
  };
}
