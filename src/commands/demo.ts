// orch demo: the whole loop on a scratch repository and a private tmux server, with the scripted agent
// that ships with orch: init, spawn three workers, await, approve the one that waits for permission,
// status, land (one conflicts and is handed back), the worker fixes its conflict, land it, clean.

import { openWindow } from "../adapters/tmux.ts";
import type { Context } from "../context.ts";
import { booleanFlag, type Flags } from "../flags.ts";
import { selfCommand } from "../runtime.ts";
import {
  awaitApproving, closeStage, elapsed, landAndClean, loopResult, makeShop, runDemo, showStatus, TASKS,
} from "./demo-loop.ts";
import { runInit } from "./init.ts";
import { runSpawn } from "./spawn.ts";
import type { CommandResult } from "./types.ts";

export async function main(args: string[], flags: Flags, parent: Context): Promise<CommandResult> {
  if (booleanFlag(flags, "hosts")) return (await import("./demo-hosts.ts")).main(args, flags, parent);
  return runDemo(flags, parent, async (stage) => {
    const { repo, env, ctx, c, say, step } = stage;
    await makeShop(stage);
    say(`${c.bold("orch demo")}: the whole loop on a scratch repository, with the scripted agent that ships with orch`);
    say(`  repository  ${repo}`);
    say(`  tmux        a private server (TMUX_TMPDIR=${env.TMUX_TMPDIR})\n`);

    const session = await runInit({ projectDir: repo }, ctx);
    const orch = session.orchestrator_id;
    step("orch init", orch);
    const agent = [...selfCommand(), "__demo-agent"];
    let shopSession = "orch-shop";
    for (const task of TASKS) {
      const options = {
        orch, branch: task.branch, from: undefined, plan: false, prompt: task.prompt,
        agent: "demo", agentArgv: agent, window: true, backend: "git" as const, after: [],
      };
      const { record, tmuxSession } = await runSpawn(options, ctx);
      const command = `orch spawn ${task.branch} --agent <scripted> --prompt "${task.prompt.split("\n")[0]}"`;
      step(command, `window ${record.window_id} in tmux session ${tmuxSession}`);
      shopSession = tmuxSession ?? shopSession;
    }
    if (stage.keep) {
      // clean closes the workers' windows, and tmux ends a session with its last window (and the server with
      // its last session): a shell in the repository keeps both for the look afterwards that --keep promises.
      const shell = env.SHELL || "/bin/sh";
      await openWindow({ session: shopSession, name: "shop", cwd: repo, env: {}, argv: [shell] }, env);
      say(c.dim(`  attach to watch: TMUX_TMPDIR=${env.TMUX_TMPDIR} tmux attach -t orch-shop (kept afterwards)`));
    } else {
      say(c.dim(`  attach to watch: TMUX_TMPDIR=${env.TMUX_TMPDIR} tmux attach -t orch-shop (with --keep)`));
    }

    const awaited = await awaitApproving(stage, orch, {
      awaitMs: 60_000, blocked: "is blocked", approved: "allowed through the worker's permission hook",
    });
    await showStatus(stage, orch, (status) => `${status.total_messages} messages, ${status.workers.length} workers`);

    const landings = await landAndClean(stage, orch, {
      awaitMs: 60_000,
      queue: "the merge queue, one worker at a time",
      fixed: "the worker got its conflict in its inbox, rebased onto main and reported again",
      cleaned: "merged into main",
    });
    const keptLine = stage.keep
      // The server is a private one: the line to attach (and to end it) names its TMUX_TMPDIR.
      ? ` Kept ${stage.scratch} and its tmux server (a shell in the repository: ` +
        `TMUX_TMPDIR=${env.TMUX_TMPDIR} tmux attach -t orch-shop; tmux kill-server there ends it).`
      : " Scratch repository and tmux server removed (--keep keeps them).";
    say(`\n${c.green("done")} in ${elapsed(stage)} s.${keptLine}`);
    const kept = stage.keep ? { tmux_tmpdir: env.TMUX_TMPDIR } : {};
    return { json: loopResult(stage, orch, awaited, landings, kept), human: () => "" };
  }, async (stage) => {
    // Kept, the tmux server stays too: its windows show what the workers did.
    await closeStage(stage, stage.keep);
  });
}
