// Benchmarks of the worker lifecycle with the real Claude Code (pinned, offline, scripted model server
// from test/agents/): send → the idle worker's next model request, blocked → the orchestrator's watch
// line, and orch watch's per-message latency against poll --wait's (no agent) in the same run.

import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import path from "node:path";

export interface BenchContext {
  orch: string;
  env: NodeJS.ProcessEnv;
  /** A scratch folder of this run. */
  work: string;
  quick: boolean;
  row: (what: string, value: string, reference: string, ratio: number | string, target: string, ok?: boolean) => void;
}

const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b);
const p50 = (xs: number[]) => sorted(xs)[Math.floor(xs.length / 2)]!;
const max = (xs: number[]) => sorted(xs).at(-1)!;
const ms = (x: number) => `${x.toFixed(x < 100 ? 1 : 0)} ms`;
const sleep = (t: number) => new Promise((resolve) => setTimeout(resolve, t));

function run(argv: string[], cwd: string, env: NodeJS.ProcessEnv): string {
  const r = spawnSync(argv[0]!, argv.slice(1), { cwd, env, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`${argv.join(" ")} failed: ${r.stderr}`);
  return r.stdout;
}

function gitRepo(dir: string, env: NodeJS.ProcessEnv): string {
  fs.mkdirSync(dir, { recursive: true });
  run(["git", "init", "-q", "-b", "main"], dir, env);
  run(["git", "commit", "-q", "--allow-empty", "-m", "init"], dir, env);
  return dir;
}

async function until(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  for (const deadline = Date.now() + timeoutMs; !check(); await sleep(20)) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
  }
}

/** Each stdout line of a long-running child, with the time it arrived. */
function lines(child: ChildProcess): { at: number; text: string }[] {
  const seen: { at: number; text: string }[] = [];
  let buffer = "";
  child.stdout!.setEncoding("utf8").on("data", (chunk: string) => {
    buffer += chunk;
    for (let nl = buffer.indexOf("\n"); nl >= 0; nl = buffer.indexOf("\n")) {
      seen.push({ at: Date.now(), text: buffer.slice(0, nl) });
      buffer = buffer.slice(nl + 1);
    }
  });
  return seen;
}

/**
 * orch watch against a poll --wait started anew for each message (as a background listener is), each
 * in its own session, messages alternating: notify's start → the message on the listener's stdout.
 */
export async function watchAgainstPoll(ctx: BenchContext): Promise<void> {
  const { orch, env } = ctx;
  const session = (name: string) => {
    const repo = gitRepo(path.join(ctx.work, name), env);
    run([orch, "init"], repo, env);
    const worktree = JSON.parse(run([orch, "spawn", "feat/w", "--no-window", "--json"], repo, env)).worktree_path as string;
    return { repo, worktree };
  };
  const watched = session("watch-session");
  const polled = session("poll-session");
  const watcher = spawn(orch, ["watch"], { cwd: watched.repo, env, stdio: ["ignore", "pipe", "ignore"] });
  const watchLines = lines(watcher);
  await sleep(200);
  const notify = (worktree: string, i: number) =>
    spawn(orch, ["notify", "--type", "progress", "--summary", `m${i}`], { cwd: worktree, env, stdio: "ignore" });
  const watchMs: number[] = [];
  const pollMs: number[] = [];
  for (let i = 0; i < (ctx.quick ? 15 : 41); i++) {
    let started = performance.now();
    const before = watchLines.length;
    notify(watched.worktree, i);
    await until(() => watchLines.length > before, 10_000, "the watch line");
    watchMs.push(performance.now() - started - (Date.now() - watchLines.at(-1)!.at));

    const poller = spawn(orch, ["poll", "--wait", "--json"], { cwd: polled.repo, env, stdio: ["ignore", "pipe", "ignore"] });
    const output = new Promise<number>((resolve) => poller.stdout!.once("data", () => resolve(performance.now())));
    await sleep(60); // let it start watching, as the wake-latency row does
    started = performance.now();
    notify(polled.worktree, i);
    pollMs.push((await output) - started);
    await new Promise((resolve) => poller.on("close", resolve));
  }
  watcher.kill();
  const [w, p] = [p50(watchMs), p50(pollMs)];
  ctx.row("orch watch: notify start → line, p50", ms(w), `poll --wait in the same run: ${ms(p)}`, w / p, "≤ 1.2×", w / p <= 1.2);
}

interface ClaudeBench {
  server: import("../test/agents/anthropic-server.ts").AnthropicServer;
  env: NodeJS.ProcessEnv;
  repo: string;
  done: () => Promise<void>;
}

/** A scripted model server, a scratch Claude Code user and a repository with a session, or why not. */
async function claudeSetup(ctx: BenchContext, name: string): Promise<ClaudeBench | string> {
  const { agentBinary, claudeUser, endUserProcesses } = await import("../test/agents/harness.ts");
  const { AnthropicServer } = await import("../test/agents/anthropic-server.ts");
  try {
    agentBinary("claude");
  } catch (error) {
    return `not measured: ${(error as Error).message}`;
  }
  const server = await new AnthropicServer().start();
  const user = claudeUser();
  const env: NodeJS.ProcessEnv = { ...ctx.env, ...server.env, TMUX_TMPDIR: path.join(ctx.work, `tmux-${name}`) };
  for (const [key, value] of Object.entries(user.env)) {
    if (value === undefined) delete env[key];
    else env[key] = value;
  }
  fs.mkdirSync(env.TMUX_TMPDIR!);
  const repo = gitRepo(path.join(ctx.work, name), env);
  run([ctx.orch, "init"], repo, env);
  const done = async () => {
    spawnSync("tmux", ["kill-server"], { env });
    endUserProcesses(user);
    await server.stop();
  };
  return { server, env, repo, done };
}

/**
 * orch send → the next model request of a Claude Code worker idle at its prompt, 20 times (8 with
 * --quick), a second after each idle report (the orchestrator's own model call takes longer).
 */
export async function claudeWake(ctx: BenchContext): Promise<void> {
  const setup = await claudeSetup(ctx, "wake");
  if (typeof setup === "string") return ctx.row("claude: send → idle worker's next model request", setup, "", "", "≤ 2 s");
  const { server, env, repo } = setup;
  const { step } = await import("../test/agents/anthropic-server.ts");
  const runs = ctx.quick ? 8 : 20;
  server.script("bench-wake", Array.from({ length: runs + 1 }, (_, i) => step.say(`turn ${i}`)));
  run([ctx.orch, "spawn", "bench/wake", "--prompt", "Wait for directions.", "--json"], repo, env);
  const status = () => JSON.parse(run([ctx.orch, "status", "--json"], repo, env)).workers[0].status as string;
  const latencies: number[] = [];
  try {
    for (let i = 0; i < runs; i++) {
      await until(() => status() === "idle", 120_000, "the worker to be idle");
      await sleep(1000);
      const before = server.used("bench-wake");
      const started = Date.now();
      run([ctx.orch, "send", "bench-wake", `direction ${i}`], repo, env);
      await server.waitFor(() => server.used("bench-wake") > before, 60_000, "the next request");
      latencies.push(server.turns("bench-wake").at(-1)!.at - started);
    }
  } finally {
    await setup.done();
  }
  ctx.row(`claude: send → idle worker's next model request, p50 (${runs} runs)`, ms(p50(latencies)),
    "", "", "≤ 2 s", p50(latencies) <= 2000);
  ctx.row("claude: send → next model request, max", ms(max(latencies)), "", "", "≤ 2 s", max(latencies) <= 2000);
}

/**
 * A Claude Code worker asks before a command (manual mode): from the moment its permission prompt is
 * on the screen (tmux capture-pane every 20 ms) to the orchestrator's `orch watch` line for it.
 */
export async function claudeBlocked(ctx: BenchContext): Promise<void> {
  const setup = await claudeSetup(ctx, "blocked");
  if (typeof setup === "string") return ctx.row("claude: permission prompt on screen → blocked watch line", setup, "", "", "≤ 10 s");
  const { server, env, repo } = setup;
  const { step } = await import("../test/agents/anthropic-server.ts");
  const watcher = spawn(ctx.orch, ["watch"], { cwd: repo, env, stdio: ["ignore", "pipe", "ignore"] });
  const watchLines = lines(watcher);
  const afterPrompt: number[] = [];
  try {
    for (let i = 0; i < (ctx.quick ? 3 : 5); i++) {
      const worker = `bench-blocked${i}`;
      server.script(worker, [step.bash(`touch blocked-${i}`, "Create a marker file"), step.say("ok")]);
      const spawned = JSON.parse(run([ctx.orch, "spawn", `bench/blocked${i}`, "--prompt", "Make a marker.", "--json"], repo, env));
      let shown = 0;
      await until(() => {
        const screen = shown ? "" : spawnSync("tmux", ["capture-pane", "-p", "-t", spawned.window_id], { env, encoding: "utf8" }).stdout;
        if (screen.includes("Do you want to proceed?")) shown = Date.now();
        return shown > 0 && watchLines.some((l) => l.text.includes(`"worker_id":"${worker}"`) && l.text.includes('"blocked"'));
      }, 120_000, "the prompt and the blocked line");
      const line = watchLines.find((l) => l.text.includes(`"worker_id":"${worker}"`) && l.text.includes('"blocked"'))!;
      afterPrompt.push(line.at - shown);
      run([ctx.orch, "deny", worker, "--message", "bench"], repo, env);
      run([ctx.orch, "stop", worker], repo, env);
    }
  } finally {
    watcher.kill();
    await setup.done();
  }
  // Negative: the line came before the prompt was drawn (the hook runs as Claude Code opens the prompt).
  ctx.row("claude: permission prompt on screen → blocked watch line, max", ms(max(afterPrompt)),
    `p50 ${ms(p50(afterPrompt))}`, "", "≤ 10 s", max(afterPrompt) <= 10_000);
}
