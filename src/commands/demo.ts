// orch demo: the whole loop on a scratch repository and a private tmux server, with the scripted agent
// that ships with orch: init, spawn four workers, await, approve the one that waits for permission,
// status, land (one conflicts and is handed back), the worker fixes its conflict, land it, clean.

import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import * as gitAdapter from "../adapters/git.ts";
import { killServer } from "../adapters/tmux.ts";
import type { Context } from "../context.ts";
import { booleanFlag, type Flags } from "../flags.ts";
import { colorsFor, writeErr, writeOut, type Colors } from "../output.ts";
import { selfCommand } from "../runtime.ts";
import { approveMain } from "./approve.ts";
import { runAwait } from "./await.ts";
import { main as cleanMain } from "./clean.ts";
import { runInit } from "./init.ts";
import { runLand, type LandEntry } from "./land.ts";
import { main as rmMain } from "./rm.ts";
import { runSpawn } from "./spawn.ts";
import { renderWorkers, runStatus } from "./status.ts";
import type { CommandResult } from "./types.ts";

export const FILES: Record<string, string> = {
  "README.md": "# shop\n\nA tiny project for orch demo.\n",
  "greeting.txt": "Hello\nWelcome to the shop.\n",
  "src/prices.txt": "apple 1\npear 2\n",
};

/**
 * Four tasks: two touch greeting.txt, so the merge queue meets a conflict (that worker knows how to fix
 * it when it is handed back); one asks for permission before it runs a command.
 */
export const TASKS = [
  { branch: "feat/usage-doc", prompt: "Write the usage notes.\nsleep 300\nwrite docs/USAGE.md # Usage\\n\\nRun the shop and buy a pear.\ncommit Add usage notes" },
  { branch: "feat/greeting-en", prompt: "Make the greeting friendlier.\nsleep 600\nreplace greeting.txt 1 Hello, world!\ncommit Friendlier English greeting" },
  {
    branch: "feat/greeting-fr",
    prompt: "Greet in French.\nsleep 900\nreplace greeting.txt 1 Bonjour !\ncommit Greet in French\non-conflict replace greeting.txt 1 Hello, world! Bonjour !",
  },
  {
    branch: "feat/price-list",
    prompt: "Publish the price list.\nask Bash make prices.html\nwrite src/prices.html <ul><li>apple 1</li><li>pear 2</li></ul>\ncommit Publish the price list",
  },
];

export async function main(args: string[], flags: Flags, parent: Context): Promise<CommandResult> {
  if (booleanFlag(flags, "hosts")) return (await import("./demo-hosts.ts")).main(args, flags, parent);
  const keep = booleanFlag(flags, "keep");
  const json = booleanFlag(flags, "json");
  const c: Colors = json ? (await import("../output.ts")).NO_COLORS : await colorsFor(1, parent.env);
  const say = (line: string) => (json ? writeErr : writeOut)(`${line}\n`);
  const started = Date.now();
  const scratch = fs.mkdtempSync(path.join(fs.realpathSync(os.tmpdir()), "orch-demo-"));
  const repo = path.join(scratch, "shop");
  const env: NodeJS.ProcessEnv = {
    ...parent.env,
    TMUX_TMPDIR: path.join(scratch, "tmux"),
    GIT_AUTHOR_NAME: parent.env.GIT_AUTHOR_NAME ?? "orch demo",
    GIT_AUTHOR_EMAIL: parent.env.GIT_AUTHOR_EMAIL ?? "demo@orch.invalid",
    GIT_COMMITTER_NAME: parent.env.GIT_COMMITTER_NAME ?? "orch demo",
    GIT_COMMITTER_EMAIL: parent.env.GIT_COMMITTER_EMAIL ?? "demo@orch.invalid",
  };
  for (const key of ["TMUX", "TMUX_PANE", "ORCH_ID", "ORCH_WORKER", "ORCH_HOME"]) delete env[key];
  fs.mkdirSync(env.TMUX_TMPDIR!, { mode: 0o700 });
  // The narrative says what happens; orch's own progress lines would only repeat it.
  const ctx: Context = { cwd: repo, env, warn: (line) => (line.startsWith("land: testing") ? undefined : parent.warn(line)) };
  const step = (command: string, result = "") => say(`${c.dim("$")} ${c.bold(command)}${result ? `  ${c.dim("→")} ${result}` : ""}`);
  let landed: LandEntry[] = [];
  let relanded: LandEntry[] = [];
  try {
    fs.mkdirSync(repo);
    for (const [name, content] of Object.entries(FILES)) {
      fs.mkdirSync(path.dirname(path.join(repo, name)), { recursive: true });
      fs.writeFileSync(path.join(repo, name), content);
    }
    await gitAdapter.git(["init", "--quiet", "-b", "main"], repo, { env });
    await gitAdapter.git(["add", "-A"], repo, { env });
    await gitAdapter.git(["commit", "--quiet", "-m", "The shop"], repo, { env });
    say(`${c.bold("orch demo")}: the whole loop on a scratch repository, with the scripted agent that ships with orch`);
    say(`  repository  ${repo}`);
    say(`  tmux        a private server (TMUX_TMPDIR=${env.TMUX_TMPDIR})\n`);

    const session = await runInit({ projectDir: repo }, ctx);
    step("orch init", session.orchestrator_id);
    const agent = [...selfCommand(), "__demo-agent"];
    for (const task of TASKS) {
      const { record, tmuxSession } = await runSpawn({ orch: session.orchestrator_id, branch: task.branch, from: undefined, plan: false, prompt: task.prompt, agent: "demo", agentArgv: agent, window: true, backend: "git", after: [] }, ctx);
      step(`orch spawn ${task.branch} --agent <scripted> --prompt "${task.prompt.split("\n")[0]}"`, `window ${record.window_id} in tmux session ${tmuxSession}`);
    }
    say(c.dim(`  attach to watch: TMUX_TMPDIR=${env.TMUX_TMPDIR} tmux attach -t orch-shop (with --keep)`));

    // await also returns when a worker waits for a person: the orchestrator answers, then waits on.
    let awaited = await runAwait([], false, 60_000, session.orchestrator_id, ctx);
    const approved: string[] = [];
    for (let blocked = awaited.workers.find((w) => w.status === "blocked"); blocked; blocked = awaited.workers.find((w) => w.status === "blocked")) {
      const m = blocked.final_message as { content?: { waiting_for?: string } } | null;
      step("orch await", `${blocked.worker_id} is blocked: it waits for approval of ${m?.content?.waiting_for ?? "a request"}`);
      const answer = await approveMain([blocked.worker_id], { orch: session.orchestrator_id }, ctx);
      approved.push(blocked.worker_id);
      step(`orch approve ${blocked.worker_id}`, `${String(answer.json.request_id)} allowed through the worker's permission hook`);
      awaited = await runAwait([], false, 60_000, session.orchestrator_id, ctx);
    }
    step("orch await", `${awaited.workers.length} workers finished after ${((Date.now() - started) / 1000).toFixed(1)} s`);
    for (const w of awaited.workers) {
      const m = w.final_message as { message_type?: string; content?: { summary?: string } } | null;
      say(`    ${w.worker_id.padEnd(18)} ${c.green(w.status)}  ${m?.content?.summary ?? ""}`);
    }

    const status = await runStatus(session.orchestrator_id, ctx);
    step("orch status", `${status.total_messages} messages, ${status.workers.length} workers`);
    say(renderWorkers(status.workers, c).trimEnd().replace(/^/gm, "    "));

    const testCommand = "test -f README.md";
    const land = (names: string[]) => runLand({ names, testCommand, method: "squash", onConflict: "return", sync: false, orch: session.orchestrator_id }, ctx);
    const showLand = (results: LandEntry[]) => {
      for (const r of results) {
        const paint = r.status === "landed" ? c.green : r.status === "skipped" ? c.dim : c.yellow;
        say(`    ${paint(r.status.padEnd(11))} ${r.worker_id.padEnd(18)} ${r.reason}`);
      }
    };
    // Named in the order of the tasks, so the queue meets the conflict last whatever order they finished in.
    const queue = TASKS.map((t) => t.branch).sort((a, b) => Number(a.includes("greeting")) - Number(b.includes("greeting")));
    const first = await land(queue);
    landed = first.results;
    step(`orch land ${queue.join(" ")} --test "${testCommand}" --on-conflict return`, "the merge queue, one worker at a time");
    showLand(landed);
    const returned = landed.filter((r) => r.status === "returned").map((r) => r.worker_id);
    if (first.told.length) say(c.dim(`    told that main moved (base_moved): ${first.told.join(", ")}`));

    if (returned.length) {
      const fixed = await runAwait(returned, false, 60_000, session.orchestrator_id, ctx);
      step(`orch await ${returned.join(" ")}`, "the worker got its conflict in its inbox, rebased onto main and reported again");
      for (const w of fixed.workers) {
        const m = w.final_message as { content?: { summary?: string } } | null;
        say(`    ${w.worker_id.padEnd(18)} ${c.green(w.status)}  ${m?.content?.summary ?? ""}`);
      }
      relanded = (await land(returned)).results;
      step(`orch land ${returned.join(" ")} --test "${testCommand}"`);
      showLand(relanded);
    }

    const cleaned = await cleanMain([], { yes: true, orch: session.orchestrator_id }, ctx);
    const removed = (cleaned.json.removed as { worker_id: string }[]).map((r) => r.worker_id);
    step("orch clean --yes", `removed ${removed.join(", ") || "nothing"} (merged into main)`);
    for (const r of relanded.filter((x) => x.status !== "landed")) {
      await rmMain([r.worker_id], { force: true, deleteBranch: true, yes: true, orch: session.orchestrator_id }, ctx);
      step(`orch rm ${r.worker_id} --force --delete-branch --yes`, "it still does not land: dropped");
    }
    const log = await gitAdapter.gitOut(["log", "--format=%h %s", "-5"], repo);
    say(`\nmain now:\n${log.replace(/^/gm, "    ")}`);
    say(`\n${c.green("done")} in ${((Date.now() - started) / 1000).toFixed(1)} s.${keep ? ` Kept ${scratch}.` : " Scratch repository and tmux server removed (--keep keeps them)."}`);
    return {
      json: {
        success: true,
        repository: repo,
        orchestrator_id: session.orchestrator_id,
        workers: awaited.workers,
        approved,
        land: landed,
        relanded,
        cleaned: removed,
        seconds: (Date.now() - started) / 1000,
        kept: keep,
      },
      human: () => "",
    };
  } finally {
    if (!keep) {
      await killServer(env);
      fs.rmSync(scratch, { recursive: true, force: true });
    }
  }
}
