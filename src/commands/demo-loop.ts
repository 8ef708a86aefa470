// What orch demo and orch demo --hosts share: the shop and its three tasks, the scratch folder with its private
// tmux server, the narrator, and the loop after the spawns (await and approve, land, hand back, clean).

import fs from "node:fs";
import path from "node:path";
import * as gitAdapter from "../adapters/git.ts";
import { processesWorkingIn, terminate } from "../adapters/processes.ts";
import { killServer, startPrivateServer } from "../adapters/tmux.ts";
import type { Context } from "../context.ts";
import { booleanFlag, type Flags } from "../flags.ts";
import { guardInterrupts, throwIfInterrupted, untilInterrupted } from "../interrupt.ts";
import { tempFolder } from "../runtime.ts";
import { colorsFor, NO_COLORS, writeErr, writeOut, type Colors } from "../output.ts";
import { approveMain } from "./approve.ts";
import { runAwait, type AwaitedWorker } from "./await.ts";
import { main as cleanMain } from "./clean.ts";
import { runLand, type LandEntry } from "./land.ts";
import { main as rmMain } from "./rm.ts";
import { renderWorkers, runStatus, type StatusView } from "./status.ts";

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
  {
    branch: "feat/usage-doc",
    prompt: "Write the usage notes.\nask Bash make docs\n" +
      "write docs/USAGE.md # Usage\\n\\nRun the shop and buy a pear.\ncommit Add usage notes",
  },
  {
    branch: "feat/greeting-en",
    prompt: "Make the greeting friendlier.\nsleep 600\nreplace greeting.txt 1 Hello, world!\n" +
      "commit Friendlier English greeting",
  },
  {
    branch: "feat/greeting-fr",
    prompt: "Greet in French.\nsleep 900\nreplace greeting.txt 1 Bonjour !\ncommit Greet in French\n" +
      "on-conflict replace greeting.txt 1 Hello, world! Bonjour !",
  },
];

const TEST_COMMAND = "test -f README.md";

/** A demo's scratch world and its narrator. */
export interface DemoStage {
  scratch: string;
  repo: string;
  /** The environment every step runs with (the hosts demo adds its ssh settings to it). */
  env: NodeJS.ProcessEnv;
  ctx: Context;
  c: Colors;
  keep: boolean;
  started: number;
  say(line: string): void;
  /** One command of the loop as a user would type it, and what it did. */
  step(command: string, result?: string): void;
}

/**
 * The private tmux server's folder: in the scratch folder when its socket path (<folder>/tmux-<uid>/default)
 * fits a Unix socket's 104 bytes, else a folder of its own in /tmp (a long $TMPDIR, as on macOS).
 */
function tmuxFolder(scratch: string): string {
  const inScratch = path.join(scratch, "tmux");
  const socket = path.join(inScratch, `tmux-${process.getuid?.() ?? 0}`, "default");
  return Buffer.byteLength(socket) < 104 ? inScratch : fs.mkdtempSync("/tmp/orch-demo-tmux-");
}

/** Makes the scratch folder and the private tmux server's folder; nothing of the caller's session leaks in. */
export async function openStage(flags: Flags, parent: Context): Promise<DemoStage> {
  const json = booleanFlag(flags, "json");
  const c = json ? NO_COLORS : await colorsFor(1, parent.env);
  const say = (line: string) => (json ? writeErr : writeOut)(`${line}\n`);
  const scratch = fs.mkdtempSync(path.join(tempFolder("the demo's scratch repository goes there"), "orch-demo-"));
  const repo = path.join(scratch, "shop");
  const env: NodeJS.ProcessEnv = {
    ...parent.env,
    TMUX_TMPDIR: tmuxFolder(scratch),
    GIT_AUTHOR_NAME: parent.env.GIT_AUTHOR_NAME ?? "orch demo",
    GIT_AUTHOR_EMAIL: parent.env.GIT_AUTHOR_EMAIL ?? "demo@orch.invalid",
    GIT_COMMITTER_NAME: parent.env.GIT_COMMITTER_NAME ?? "orch demo",
    GIT_COMMITTER_EMAIL: parent.env.GIT_COMMITTER_EMAIL ?? "demo@orch.invalid",
  };
  for (const key of ["TMUX", "TMUX_PANE", "ORCH_ID", "ORCH_WORKER", "ORCH_HOME"]) delete env[key];
  fs.mkdirSync(env.TMUX_TMPDIR!, { recursive: true, mode: 0o700 });
  await startPrivateServer(env);
  // The narrative says what happens; orch's own progress lines would only repeat it.
  const warn = (line: string) => (line.startsWith("land: testing") ? undefined : parent.warn(line));
  const ctx: Context = { cwd: repo, env, warn };
  const step = (command: string, result = "") => {
    say(`${c.dim("$")} ${c.bold(command)}${result ? `  ${c.dim("→")} ${result}` : ""}`);
    // Between two steps is where a Ctrl-C takes effect (the programs a step runs end at once).
    throwIfInterrupted();
  };
  return { scratch, repo, env, ctx, c, keep: booleanFlag(flags, "keep"), started: Date.now(), say, step };
}

/** Seconds since the demo started, for the narrative. */
export function elapsed(stage: DemoStage): string {
  return ((Date.now() - stage.started) / 1000).toFixed(1);
}

/** The shop's repository, one commit on main. */
export async function makeShop({ repo, env }: DemoStage): Promise<void> {
  fs.mkdirSync(repo);
  for (const [name, content] of Object.entries(FILES)) {
    fs.mkdirSync(path.dirname(path.join(repo, name)), { recursive: true });
    fs.writeFileSync(path.join(repo, name), content);
  }
  await gitAdapter.git(["init", "--quiet", "-b", "main"], repo, { env });
  await gitAdapter.git(["add", "-A"], repo, { env });
  await gitAdapter.git(["commit", "--quiet", "-m", "The shop"], repo, { env });
}

/** Each worker with its status and the summary of its last report. */
export function sayWorkers({ say, c }: DemoStage, workers: AwaitedWorker[]): void {
  for (const w of workers) {
    const m = w.final_message as { content?: { summary?: string } } | null;
    say(`    ${w.worker_id.padEnd(18)} ${c.green(w.status)}  ${m?.content?.summary ?? ""}`);
  }
}

/** The first await, answering any worker blocked on a permission; `blocked` and `approved` narrate it. */
export async function awaitApproving(
  stage: DemoStage, orch: string, says: { awaitMs: number; blocked: string; approved: string },
): Promise<{ workers: AwaitedWorker[]; approved: string[] }> {
  const { ctx, step } = stage;
  // await also returns when a worker waits for a person: the orchestrator answers, then waits on.
  let awaited = await untilInterrupted(runAwait([], false, says.awaitMs, orch, ctx));
  const approved: string[] = [];
  const blockedOne = () => awaited.workers.find((w) => w.status === "blocked");
  for (let blocked = blockedOne(); blocked; blocked = blockedOne()) {
    const m = blocked.final_message as { content?: { waiting_for?: string } } | null;
    const request = m?.content?.waiting_for ?? "a request";
    step("orch await", `${blocked.worker_id} ${says.blocked}: it waits for approval of ${request}`);
    const answer = await approveMain([blocked.worker_id], { orch }, ctx);
    approved.push(blocked.worker_id);
    step(`orch approve ${blocked.worker_id}`, `${String(answer.json.request_id)} ${says.approved}`);
    awaited = await untilInterrupted(runAwait([], false, says.awaitMs, orch, ctx));
  }
  step("orch await", `${awaited.workers.length} workers finished after ${elapsed(stage)} s`);
  sayWorkers(stage, awaited.workers);
  return { workers: awaited.workers, approved };
}

/** orch status, summed up by `summary`, then its table of workers. */
export async function showStatus(
  stage: DemoStage, orch: string, summary: (status: StatusView) => string,
): Promise<void> {
  const status = await runStatus(orch, stage.ctx);
  stage.step("orch status", summary(status));
  stage.say(renderWorkers(status.workers, stage.c).trimEnd().replace(/^/gm, "    "));
}

/** What the narrative of landing and cleaning says where the demos differ. */
export interface LandNarration {
  awaitMs: number;
  /** What the first land does besides the queue. */
  queue: string;
  /** How the handed-back worker got its conflict. */
  fixed: string;
  /** Where clean removes the workers. */
  cleaned: string;
}

export interface Landings {
  land: LandEntry[];
  relanded: LandEntry[];
  cleaned: string[];
}

/**
 * Lands every task in task order with the conflict handed back, awaits the fix and lands it, cleans up,
 * drops what still does not land and shows main.
 */
export async function landAndClean(stage: DemoStage, orch: string, says: LandNarration): Promise<Landings> {
  const { ctx, c, say, step } = stage;
  const land = (names: string[]) =>
    runLand({ names, testCommand: TEST_COMMAND, method: "squash", onConflict: "return", sync: false, orch }, ctx);
  const showLand = (results: LandEntry[]) => {
    for (const r of results) {
      const paint = r.status === "landed" ? c.green : r.status === "skipped" ? c.dim : c.yellow;
      say(`    ${paint(r.status.padEnd(11))} ${r.worker_id.padEnd(18)} ${r.reason}`);
    }
  };
  // Named in the order of the tasks, so the queue meets the conflict last whatever order they finished in.
  const greetingLast = (a: string, b: string) => Number(a.includes("greeting")) - Number(b.includes("greeting"));
  const queue = TASKS.map((t) => t.branch).sort(greetingLast);
  const first = await land(queue);
  step(`orch land ${queue.join(" ")} --test "${TEST_COMMAND}" --on-conflict return`, says.queue);
  showLand(first.results);
  if (first.told.length) say(c.dim(`    told that main moved (base_moved): ${first.told.join(", ")}`));
  const returned = first.results.filter((r) => r.status === "returned").map((r) => r.worker_id);
  let relanded: LandEntry[] = [];
  if (returned.length) {
    const fixed = await untilInterrupted(runAwait(returned, false, says.awaitMs, orch, ctx));
    step(`orch await ${returned.join(" ")}`, says.fixed);
    sayWorkers(stage, fixed.workers);
    relanded = (await land(returned)).results;
    step(`orch land ${returned.join(" ")} --test "${TEST_COMMAND}"`);
    showLand(relanded);
  }

  const cleaned = await cleanMain([], { yes: true, orch }, ctx);
  const removed = (cleaned.json.removed as { worker_id: string }[]).map((r) => r.worker_id);
  step("orch clean --yes", `removed ${removed.join(", ") || "nothing"} (${says.cleaned})`);
  // A worker's last land is the one that counts: what did not land (nor was in main already) is dropped.
  const last = new Map([...first.results, ...relanded].map((r) => [r.worker_id, r]));
  for (const r of [...last.values()].filter((x) => x.status !== "landed" && x.status !== "skipped")) {
    await rmMain([r.worker_id], { force: true, deleteBranch: true, yes: true, orch }, ctx);
    step(`orch rm ${r.worker_id} --force --delete-branch --yes`, "it does not land: dropped");
  }
  const log = await gitAdapter.gitOut(["log", "--format=%h %s", "-5"], stage.repo);
  say(`\nmain now:\n${log.replace(/^/gm, "    ")}`);
  return { land: first.results, relanded, cleaned: removed };
}

/** The demo's --json answer: what the loop did, with `extra` (the hosts) after the session. */
export function loopResult(
  stage: DemoStage, orch: string, awaited: { workers: AwaitedWorker[]; approved: string[] }, landings: Landings,
  extra: Record<string, unknown> = {},
) {
  return {
    success: true,
    repository: stage.repo,
    orchestrator_id: orch,
    ...extra,
    workers: awaited.workers,
    approved: awaited.approved,
    ...landings,
    seconds: (Date.now() - stage.started) / 1000,
    kept: stage.keep,
  };
}

/**
 * Runs a demo on its stage: on Ctrl-C, SIGTERM or SIGHUP the programs it runs end, its waits give up and
 * `teardown` (which the demo also runs when it ends normally) takes down what it made; the demo then
 * exits 128 + the signal's number, as a shell reports it.
 */
export function runDemo<T>(
  flags: Flags, parent: Context, demo: (stage: DemoStage) => Promise<T>, teardown: (stage: DemoStage) => Promise<void>,
): Promise<T> {
  return guardInterrupts(async () => {
    const stage = await openStage(flags, parent);
    try {
      return await demo(stage);
    } finally {
      await teardown(stage);
    }
  });
}

/**
 * Ends the private tmux server (unless kept to attach to) and removes the scratch folder (unless --keep).
 * The workers' runners and agents, hung up with their windows, are ended before the folder goes: one still
 * ending (a runner writing its worker's ended marker) would make parts of the store again once removed.
 */
export async function closeStage(stage: DemoStage, keepServer: boolean): Promise<void> {
  if (!keepServer) await killServer(stage.env);
  const tmuxOutside = !stage.env.TMUX_TMPDIR!.startsWith(`${stage.scratch}${path.sep}`);
  if (!keepServer && tmuxOutside) fs.rmSync(stage.env.TMUX_TMPDIR!, { recursive: true, force: true });
  if (stage.keep) return;
  if (!keepServer) await terminate(processesWorkingIn(stage.scratch));
  fs.rmSync(stage.scratch, { recursive: true, force: true });
}
