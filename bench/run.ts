// The benchmark: orch's compiled binary against references measured in the same run (a one-line
// program compiled with the same bun build --compile flags, git --version, raw git and tmux), as ratios.
// Usage: npm run bench [-- --quick] [-- --startup-only | --status-only [--keep] | --claude-only | --claude-wake
//        | --claude-blocked | --watch-latency | --codex | --hosts-only]
// (writes bench/results.md when run whole; needs GNU time for peak memory; the claude rows need .ci/install-agents)

import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { BUN_COMPILE_FLAGS } from "../compile-flags.ts";
import { claudeBlocked, claudeWake, watchAgainstPoll, type BenchContext } from "./lifecycle.ts";
import { cachedCodex, codexHome, responsesServer, scratchOutsideTmp, stopSharedCodexServer } from "../test/codex-harness.ts";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
const BUILT = path.join(ROOT, "dist/orch");
const BUN = path.join(ROOT, "node_modules/.bin/bun");
const QUICK = process.argv.includes("--quick");
const N = QUICK ? 15 : 41;
const WORK = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), "orch-bench-")));
const TIME = ["/usr/bin/time", "/bin/time"].find((p) => fs.existsSync(p));
/**
 * What is timed: a fresh copy of dist/orch, made as the bench starts, as the floors are built then. A start-up's
 * time moves with how a binary got into the page cache: a dist/orch read back from disk some time after its build
 * started 1–2 ms slower than the same file just written (notify 2.52× against 2.07× the floor as just built), so
 * the two of each ratio are put in the same state.
 */
const ORCH = path.join(WORK, "orch");

const env: NodeJS.ProcessEnv = {
  ...process.env,
  NO_COLOR: "1",
  GIT_AUTHOR_NAME: "bench",
  GIT_AUTHOR_EMAIL: "b@e.invalid",
  GIT_COMMITTER_NAME: "bench",
  GIT_COMMITTER_EMAIL: "b@e.invalid",
  TMUX_TMPDIR: path.join(WORK, "tmux"),
};
for (const key of ["TMUX", "TMUX_PANE", "ORCH_ID", "ORCH_WORKER", "ORCH_HOME"]) delete env[key];
fs.mkdirSync(env.TMUX_TMPDIR!);

function sh(argv: string[], cwd = WORK, input?: string): string {
  const r = spawnSync(argv[0]!, argv.slice(1), { cwd, env, encoding: "utf8", input, maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(`${argv.join(" ")} failed: ${r.stderr}`);
  return r.stdout;
}

function timeOnce(argv: string[], cwd: string, input?: string): number {
  const t = performance.now();
  const r = spawnSync(argv[0]!, argv.slice(1), { cwd, env, input, stdio: [input === undefined ? "ignore" : "pipe", "pipe", "pipe"] });
  const ms = performance.now() - t;
  if (r.status !== 0) throw new Error(`${argv.join(" ")} exited ${r.status}: ${r.stderr}`);
  return ms;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))]!;

/** Peak RSS in KB of one run, through GNU time (NaN without it). */
function peakOnce(argv: string[], cwd: string, input?: string): number {
  if (!TIME) return NaN;
  const r = spawnSync(TIME, ["-f", "%M", ...argv], { cwd, env, encoding: "utf8", input });
  return Number(r.stderr.trim().split("\n").pop());
}

/**
 * The subject and its reference, measured alternately (subject, reference, subject, …) so that
 * whatever the machine does meanwhile weighs on both alike; returns both medians.
 */
function interleaved(subject: () => number, reference: () => number, runs = N): [number, number] {
  const a: number[] = [];
  const b: number[] = [];
  for (let i = 0; i < runs; i++) {
    a.push(subject());
    b.push(reference());
  }
  return [median(a), median(b)];
}

const rows: string[][] = [];
function row(what: string, value: string, reference: string, ratio: number | string, target: string, ok?: boolean): void {
  const r = typeof ratio === "number" ? `${ratio.toFixed(2)}×` : ratio;
  rows.push([what, value, reference, r, target, ok === undefined ? "" : ok ? "yes" : "**no**"]);
  console.error(`${what}: ${value} vs ${reference} = ${r} (target ${target})`);
}
const ms = (x: number) => `${x.toFixed(1)} ms`;
const mb = (kb: number) => (Number.isNaN(kb) ? "n/a" : `${(kb / 1024).toFixed(1)} MB`);

function repoWith(files: number, name = "repo"): string {
  const dir = path.join(WORK, name);
  fs.mkdirSync(dir);
  sh(["git", "init", "-q", "-b", "main"], dir);
  for (let i = 0; i < files; i++) {
    const sub = path.join(dir, `pkg${i % 20}`);
    fs.mkdirSync(sub, { recursive: true });
    fs.writeFileSync(path.join(sub, `file${i}.ts`), `export const value${i} = ${i};\n`.repeat(20));
  }
  sh(["git", "add", "-A"], dir);
  sh(["git", "commit", "-q", "-m", "initial"], dir);
  return dir;
}

/** The floor: a one-line program compiled with the same flags as dist/orch (compile-flags.ts). */
function buildFloor(name = "floor", source = 'console.log("hello");\n'): string {
  const floor = path.join(WORK, name);
  fs.writeFileSync(`${floor}.ts`, source);
  sh([BUN, "build", "--compile", ...BUN_COMPILE_FLAGS, `${floor}.ts`, "--outfile", floor]);
  return floor;
}

/**
 * A second floor for what any program that touches a file pays in a bun binary: the same line written
 * through node:fs, whose loading alone costs start-up time and memory (README, Benchmarks).
 */
function buildFsFloor(): string {
  return buildFloor("floor-fs", 'import { writeSync } from "node:fs";\nwriteSync(1, "hello\\n");\n');
}

/**
 * Drops a file's pages from the page cache (GNU dd: iflag=nocache with count=0 covers the whole file).
 * The peak memory of a bun binary counts the pages of its code the kernel maps in, and how many it maps
 * around each touched page depends on how the file got into the page cache: just written (a build, a
 * copy) maps far more than read back from disk (README, Benchmarks). Both binaries of a ratio must be
 * in the same state.
 */
function dropFromPageCache(file: string): boolean {
  return spawnSync("dd", [`if=${file}`, "iflag=nocache", "count=0", "status=none"]).status === 0;
}

/** CPU time (user + system, ms) of one run, from the shell's `times` over `runs` runs in a row. */
function cpuPerRun(argv: string[], cwd: string, runs: number): number {
  const script = `for i in $(seq ${runs}); do "$@" >/dev/null 2>&1 </dev/null; done; times`;
  const out = sh(["bash", "-c", script, "bench", ...argv], cwd);
  const children = out.trim().split("\n").pop()!.split(/\s+/);
  const seconds = (t: string) => {
    const m = /^(\d+)m([\d.]+)s$/.exec(t);
    return m ? Number(m[1]) * 60 + Number(m[2]) : NaN;
  };
  return ((seconds(children[0]!) + seconds(children[1]!)) * 1000) / runs;
}

/**
 * The start-up rows: notify and an empty poll (wall, CPU, peak memory in both page-cache states) and
 * the 2,000-notify burst, each against the floor. `--startup-only` runs just these.
 */
async function benchStartup(floorBin: string): Promise<void> {
  const FLOOR = [floorBin];
  const floor = () => timeOnce(FLOOR, WORK);
  const repo = repoWith(200);
  sh([ORCH, "init", "--json"], repo);
  const notifyWith = (bin: string) => [bin, "notify", "--type", "progress", "--summary", "bench"];
  const notify = notifyWith(ORCH);
  const [notifyMs, floorN] = interleaved(() => timeOnce(notify, repo), floor);
  sh([ORCH, "poll", "--json"], repo);
  const [pollMs, floorP] = interleaved(() => timeOnce([ORCH, "poll"], repo), floor);
  row("orch notify: median wall", ms(notifyMs), `floor ${ms(floorN)}`, notifyMs / floorN, "≤ 2×", notifyMs / floorN <= 2);
  row("orch poll (empty): median wall", ms(pollMs), `floor ${ms(floorP)}`, pollMs / floorP, "≤ 2×", pollMs / floorP <= 2);
  const fsFloor = buildFsFloor();
  const [fsFloorMs, floorF] = interleaved(() => timeOnce([fsFloor], WORK), floor);
  row("floor with node:fs: the same line written through node:fs", ms(fsFloorMs), `floor ${ms(floorF)}`,
    fsFloorMs / floorF, "reported", undefined);
  const [notifyAgain, fsFloorN] = interleaved(() => timeOnce(notify, repo), () => timeOnce([fsFloor], WORK));
  row("orch notify: median wall, against the floor with node:fs", ms(notifyAgain), `floor with node:fs ${ms(fsFloorN)}`,
    notifyAgain / fsFloorN, "reported", undefined);

  // Peak memory, both binaries as just written (fresh copies), then both read back from disk.
  const orchCopy = path.join(WORK, "orch-copy");
  const floorCopy = path.join(WORK, "floor-copy");
  fs.copyFileSync(ORCH, orchCopy);
  fs.copyFileSync(floorBin, floorCopy);
  const fsFloorCopy = path.join(WORK, "floor-fs-copy");
  fs.copyFileSync(fsFloor, fsFloorCopy);
  const peaks = (state: string) => {
    const [notifyKb, floorKb] = interleaved(() => peakOnce(notifyWith(orchCopy), repo), () => peakOnce([floorCopy], WORK), 15);
    sh([orchCopy, "poll", "--json"], repo);
    const [pollKb, floorKb2] = interleaved(() => peakOnce([orchCopy, "poll"], repo), () => peakOnce([floorCopy], WORK), 15);
    row(`orch notify: peak memory, ${state}`, mb(notifyKb), `floor ${mb(floorKb)}`,
      notifyKb / floorKb, "≤ 1.3×", notifyKb / floorKb <= 1.3);
    row(`orch poll (empty): peak memory, ${state}`, mb(pollKb), `floor ${mb(floorKb2)}`,
      pollKb / floorKb2, "≤ 1.3×", pollKb / floorKb2 <= 1.3);
    const [notifyKb2, fsFloorKb] = interleaved(() => peakOnce(notifyWith(orchCopy), repo), () => peakOnce([fsFloorCopy], WORK), 15);
    row(`orch notify: peak memory, ${state}, against the floor with node:fs`, mb(notifyKb2), `floor with node:fs ${mb(fsFloorKb)}`,
      notifyKb2 / fsFloorKb, "reported", undefined);
  };
  peaks("binaries as just written");
  if (dropFromPageCache(orchCopy) && dropFromPageCache(floorCopy) && dropFromPageCache(fsFloorCopy)) {
    spawnSync(orchCopy, ["poll"], { cwd: repo, env, stdio: "ignore" });
    spawnSync(floorCopy, [], { cwd: WORK, env, stdio: "ignore" });
    spawnSync(fsFloorCopy, [], { cwd: WORK, env, stdio: "ignore" });
    peaks("binaries read back from disk");
  }

  const runs = QUICK ? 100 : 300;
  const notifyCpu = cpuPerRun(notify, repo, runs);
  const floorCpu = cpuPerRun(FLOOR, WORK, runs);
  row("orch notify: CPU time (user + system) per run", ms(notifyCpu), `floor ${ms(floorCpu)}`, notifyCpu / floorCpu, "reported", undefined);

  // Throughput: 2,000 messages from 8 concurrent senders, against the floor run 2,000 times the same way.
  const burst = async (argv: (n: number) => string[], cwd: string) => {
    const t = performance.now();
    await Promise.all(Array.from({ length: 8 }, async (_, s) => {
      for (let i = 0; i < 250; i++) {
        await new Promise<void>((resolve, reject) => {
          const p = spawn(argv(s * 1000 + i)[0]!, argv(s * 1000 + i).slice(1), { cwd, env, stdio: "ignore" });
          p.on("exit", (code) => (code === 0 ? resolve() : reject(new Error(`exit ${code}`))));
        });
      }
    }));
    return performance.now() - t;
  };
  const burstRepo = repoWith(1, "burst");
  sh([ORCH, "init"], burstRepo);
  const floorBurst = await burst(() => FLOOR, burstRepo);
  const orchBurst = await burst((n) => [ORCH, "notify", "--type", "progress", "--summary", `m${n}`], burstRepo);
  const delivered = JSON.parse(sh([ORCH, "poll", "--json"], burstRepo));
  const unique = new Set(delivered.messages.map((m: { id: string }) => m.id)).size;
  row(`2,000 notifies from 8 senders (${delivered.message_count} delivered, ${unique} unique)`, ms(orchBurst),
    `floor ×2,000: ${ms(floorBurst)}`, orchBurst / floorBurst, "≤ 1.5×, all once",
    orchBurst / floorBurst <= 1.5 && unique === 2000 && delivered.message_count === 2000);
}

/**
 * Claude Code: orch spawn → the worker's first request at the model server, against `claude -- PROMPT`
 * started by hand (tmux new-window) in the same worktree, alternately, with the real Claude Code and a
 * scripted model server on 127.0.0.1 (test/agents/): what orch adds to an agent's start.
 */
async function benchClaude(): Promise<void> {
  const { agentBinary, claudeUser } = await import("../test/agents/harness.ts");
  const { AnthropicServer, step } = await import("../test/agents/anthropic-server.ts");
  try {
    agentBinary("claude");
  } catch (error) {
    rows.push(["claude: spawn → first model request", `not measured: ${(error as Error).message}`, "", "", "", ""]);
    return;
  }
  const server = await new AnthropicServer({ fallback: step.say("hi") }).start();
  const user = claudeUser();
  const agentEnv: NodeJS.ProcessEnv = { ...env, ...server.env, TMUX_TMPDIR: path.join(WORK, "tmux-claude") };
  for (const [key, value] of Object.entries(user.env)) {
    if (value === undefined) delete agentEnv[key];
    else agentEnv[key] = value;
  }
  fs.mkdirSync(agentEnv.TMUX_TMPDIR!);
  const repo = repoWith(100, "agents");
  spawnSync(ORCH, ["init"], { cwd: repo, env: agentEnv });
  const run = (argv: string[], cwd: string) => {
    const r = spawnSync(argv[0]!, argv.slice(1), { cwd, env: agentEnv, encoding: "utf8" });
    if (r.status !== 0) throw new Error(`${argv.join(" ")} failed: ${r.stderr}`);
    return r.stdout;
  };
  const firstRequest = async (key: string, started: number) => {
    await server.waitFor(
      () => server.turns().some((t) => JSON.stringify(t.body?.messages ?? "").includes(key)),
      120_000,
      `the first request of ${key}`,
    );
    return server.turns().find((t) => JSON.stringify(t.body?.messages ?? "").includes(key))!.at - started;
  };
  // A session of its own keeps the server (started with this environment) up between windows.
  run(["tmux", "new-session", "-d", "-s", "keep"], repo);
  const subject: number[] = [];
  const reference: number[] = [];
  for (let i = 0; i < (QUICK ? 3 : 5); i++) {
    const started = Date.now();
    const spawned = JSON.parse(run([ORCH, "spawn", `bench/c${i}`, "--prompt", `Say hi (subject ${i}).`, "--json"], repo));
    subject.push(await firstRequest(`subject ${i}`, started));
    run(["tmux", "kill-window", "-t", spawned.window_id], repo);
    spawnSync("sleep", ["1"]);
    const refStarted = Date.now();
    const window = run(["tmux", "new-window", "-d", "-P", "-F", "#{window_id}", "-t", "keep:", "-c", spawned.worktree_path,
      "--", "claude", "--", `Say hi (reference ${i}).`], repo).trim();
    reference.push(await firstRequest(`reference ${i}`, refStarted));
    run(["tmux", "kill-window", "-t", window], repo);
    spawnSync("sleep", ["1"]);
  }
  spawnSync("tmux", ["kill-server"], { env: agentEnv });
  await server.stop();
  const [orchMs, rawMs] = [median(subject), median(reference)];
  row("claude: orch spawn → first model request", ms(orchMs), `claude -- PROMPT in the same worktree: ${ms(rawMs)}`,
    orchMs / rawMs, "≤ 1.2×", orchMs / rawMs <= 1.2);
}

/**
 * Spawn → first request at the model server for a Codex worker, against `codex -- PROMPT` started by
 * hand (in a tmux window, the worktree trusted in its config as after the user's "trust") in the same
 * worktree, against the same scripted Responses API. Skipped when the pinned Codex is not cached.
 */
async function codexFirstRequest(): Promise<void> {
  const codexEntry = cachedCodex();
  if (!codexEntry) {
    rows.push(["orch spawn --agent codex → first model request", "skipped: run .ci/install-agents", "", "", "≤ 1.2×", ""]);
    return;
  }
  const scratch = scratchOutsideTmp();
  const server = await responsesServer({ bench: [{ say: "ok" }] });
  const home = codexHome(scratch.users, server, codexEntry);
  const codexEnv = { ...env, TMPDIR: scratch.tmp, TMUX_TMPDIR: path.join(scratch.tmp, "tmux"), ...home };
  fs.mkdirSync(codexEnv.TMUX_TMPDIR, { recursive: true });
  const repo = path.join(scratch.tmp, "codex-repo");
  fs.mkdirSync(repo);
  const run = (argv: string[], cwd: string) => {
    const r = spawnSync(argv[0]!, argv.slice(1), { cwd, env: codexEnv, encoding: "utf8" });
    if (r.status !== 0) throw new Error(`${argv.join(" ")} failed: ${r.stderr}`);
    return r.stdout;
  };
  run(["git", "init", "-q", "-b", "main"], repo);
  run(["git", "commit", "-q", "--allow-empty", "-m", "init"], repo);
  run([ORCH, "init"], repo);
  // A session of its own keeps the tmux server up between the windows that come and go.
  run(["tmux", "new-session", "-d", "-s", "bench-hand"], repo);
  const firstRequest = async (token: string, startedAt: number): Promise<number> => {
    for (const deadline = Date.now() + 60_000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 5))) {
      const hit = server.requests.find((q) => q.threadSource === "user" && server.userTexts(q).some((t) => t.includes(token)));
      if (hit) return hit.at - startedAt;
    }
    throw new Error(`no model request for ${token}`);
  };
  const orchTimes: number[] = [];
  const handTimes: number[] = [];
  const embeddedTimes: number[] = [];
  const config = path.join(home.CODEX_HOME!, "config.toml");
  for (let i = 0; i < (QUICK ? 3 : 7); i++) {
    const token = `RUN-${i}`;
    let t = Date.now();
    const spawnArgv = [ORCH, "spawn", `codex/b${i}`, "--agent", "codex", "--prompt", `SCRIPT:bench ${token}`, "--json"];
    const spawned = JSON.parse(run(spawnArgv, repo));
    orchTimes.push(await firstRequest(token, t));
    run([ORCH, "stop", spawned.worker_id], repo);
    fs.appendFileSync(config, `\n[projects.${JSON.stringify(spawned.worktree_path)}]\ntrust_level = "trusted"\n`);
    t = Date.now();
    const newWindow = ["tmux", "new-window", "-d", "-t", "bench-hand:", "-P", "-F", "#{window_id}"];
    const inWorktree = ["-c", spawned.worktree_path];
    const window = run([...newWindow, ...inWorktree, "codex", "--", `SCRIPT:bench hand-${token}`], repo).trim();
    handTimes.push(await firstRequest(`hand-${token}`, t));
    run(["tmux", "kill-window", "-t", window], repo);
    // The same by hand with the shared server off, as orch runs it: what orch itself adds.
    t = Date.now();
    const embeddedArgv = ["codex", "--no-daemon", "--", `SCRIPT:bench embedded-${token}`];
    const embedded = run([...newWindow, ...inWorktree, ...embeddedArgv], repo).trim();
    embeddedTimes.push(await firstRequest(`embedded-${token}`, t));
    run(["tmux", "kill-window", "-t", embedded], repo);
  }
  spawnSync("tmux", ["kill-server"], { env: codexEnv });
  // `codex` by hand starts the shared background server; it must not outlive the bench.
  stopSharedCodexServer(home);
  await server.close();
  const [orchMs, handMs] = [median(orchTimes), median(handTimes)];
  const embeddedMs = median(embeddedTimes);
  row("orch spawn --agent codex → first model request", ms(orchMs), `codex -- PROMPT by hand: ${ms(handMs)}`,
    orchMs / handMs, "≤ 1.2×", orchMs / handMs <= 1.2);
  row("the same, against its own mode by hand", ms(orchMs), `codex --no-daemon -- PROMPT: ${ms(embeddedMs)}`,
    orchMs / embeddedMs, "reported", undefined);
}

/**
 * Workers on a host: an sshd on 127.0.0.1 with an account of its own (test/ssh-harness.ts; needs root),
 * measured against the same work by hand over the same ssh (orch's options, its shared connection).
 */
async function benchHosts(): Promise<void> {
  const { sshSkipReason, startSshWorld } = await import("../test/ssh-harness.ts");
  const skip = sshSkipReason();
  if (skip) {
    rows.push(["hosts: remote status, poll, spawn, wake", `not measured: ${skip}`, "", "", "", ""]);
    return;
  }
  const { sshArgv, sshOptions } = await import("../src/adapters/ssh.ts");
  const world = await startSshWorld(1);
  try {
    const host = world.hosts[0]!;
    const hostEnv: NodeJS.ProcessEnv = { ...env, ...world.env };
    const ssh = (argv: string[]) => ["ssh", ...sshOptions(host.alias, hostEnv), host.alias, "--", ...argv];
    const repo = repoWith(1000, "hosts");
    const run = (argv: string[], input?: string, extraEnv: NodeJS.ProcessEnv = {}) => {
      const r = spawnSync(argv[0]!, argv.slice(1), { cwd: repo, env: { ...hostEnv, ...extraEnv }, encoding: "utf8", input });
      if (r.status !== 0) throw new Error(`${argv.join(" ")} failed: ${r.stderr}`);
      return r.stdout;
    };
    const timed = (argv: string[], extraEnv: NodeJS.ProcessEnv = {}) => () => {
      const t = performance.now();
      run(argv, undefined, extraEnv);
      return performance.now() - t;
    };
    run([ORCH, "init"]);
    run([ORCH, "host", "add", "h", host.alias, "--path", "bench/repo"]);
    const first = JSON.parse(run([ORCH, "spawn", "feat/first", "--host", "h", "--no-window", "--json"]));
    const sshTrue = timed(ssh(["true"]));
    sshTrue(); // the shared connection is up before anything is timed
    // The host's orch run by hand over the same ssh, in the clone, as orch runs it (RemoteHost.orchCommand).
    const { RemoteHost } = await import("../src/hosts/remote.ts");
    const record = JSON.parse(fs.readFileSync(path.join(repo, ".orch/hosts/h.json"), "utf8"));
    const remote = new RemoteHost(record, hostEnv);
    const sessions = path.join(repo, ".orch/sessions");
    const link = JSON.parse(fs.readFileSync(path.join(sessions, fs.readdirSync(sessions)[0]!, "hosts/h.json"), "utf8"));
    const inClone = (args: string[]) => remote.orchCommand([...args, "--orch", link.remote_orchestrator_id, "--json"]);
    const byHand = (args: string[]) => timed(sshArgv(host.alias, inClone(args), hostEnv));

    // The floors: a one-line program compiled as dist/orch is, running `true` on the host through the shared
    // connection's socket as orch does (ssh-mux.ts: no ssh started), and the same running the host's
    // orch --version (a command that needs the host's orch: one more program start there).
    const { controlPath } = await import("../src/adapters/ssh.ts");
    const { commandLine } = await import("../src/hosts/shell-quote.ts");
    const muxModule = path.join(ROOT, "src/adapters/ssh-mux.ts");
    fs.writeFileSync(path.join(WORK, "mux-floor.ts"), `import { runThroughMaster } from ${JSON.stringify(muxModule)};\n` +
      "const session = await runThroughMaster(process.argv[2]!, process.argv[3]!);\n" +
      "if (!session) throw new Error(\"no master\");\nsession.end();\nprocess.exitCode = await session.exit;\n");
    const floorBinary = path.join(WORK, "mux-floor");
    sh([BUN, "build", "--compile", ...BUN_COMPILE_FLAGS, path.join(WORK, "mux-floor.ts"), "--outfile", floorBinary]);
    const socket = controlPath(host.alias, hostEnv);
    const [floorMs, trueF] = interleaved(timed([floorBinary, socket, "true"]), sshTrue);
    row("floor: one-line compiled program running true through the shared connection's socket", ms(floorMs),
      `ssh HOST true, shared connection: ${ms(trueF)}`, floorMs / trueF, "reported", undefined);
    const remoteVersion = commandLine(remote.orchCommand(["--version"]));
    const [floorOrchMs, trueO] = interleaved(timed([floorBinary, socket, remoteVersion]), sshTrue);
    row("floor: the same running the host's orch --version in the clone", ms(floorOrchMs),
      `ssh HOST true, shared connection: ${ms(trueO)}`, floorOrchMs / trueO, "reported", undefined);

    const [statusMs, trueS] = interleaved(timed([ORCH, "status", "--json"]), sshTrue);
    row("remote orch status (1 worker on a host)", ms(statusMs), `ssh HOST true, shared connection: ${ms(trueS)}`,
      statusMs / trueS, "≤ 1.5×", statusMs / trueS <= 1.5);
    const [pollMs, trueP] = interleaved(timed([ORCH, "poll", "--json"]), sshTrue);
    row("remote orch poll (empty)", ms(pollMs), `ssh HOST true, shared connection: ${ms(trueP)}`,
      pollMs / trueP, "≤ 1.5×", pollMs / trueP <= 1.5);
    const withSsh = { ORCH_SSH_NO_MUX: "1" };
    const [pollMux, pollSsh] = interleaved(timed([ORCH, "poll", "--json"]), timed([ORCH, "poll", "--json"], withSsh));
    row("remote orch poll (empty), through the socket against starting ssh (ORCH_SSH_NO_MUX=1)", ms(pollMux),
      `the same starting ssh: ${ms(pollSsh)}`, pollMux / pollSsh, "reported", undefined);
    const [statusAgain, statusByHand] = interleaved(timed([ORCH, "status", "--json"]), byHand(["status", "--branch-tips"]));
    row("remote orch status, against the host's orch by hand", ms(statusAgain),
      `ssh HOST orch status in the clone: ${ms(statusByHand)}`, statusAgain / statusByHand, "reported", undefined);
    const [pollAgain, pollByHand] = interleaved(timed([ORCH, "poll", "--json"]), byHand(["poll"]));
    row("remote orch poll (empty), against the host's orch by hand", ms(pollAgain),
      `ssh HOST orch poll in the clone: ${ms(pollByHand)}`, pollAgain / pollByHand, "reported", undefined);

    let k = 0;
    const [spawnMs, addMs] = interleaved(
      () => timed([ORCH, "spawn", `feat/b${k}`, "--host", "h", "--no-window"])(),
      () => {
        k++;
        return timed(ssh(["git", "-C", "bench/repo", "worktree", "add", "-q", "-b", `raw-${k}`, `../raw-wt-${k}`]))();
      },
      QUICK ? 7 : 15,
    );
    row("remote orch spawn --host --no-window (1,000-file repository)", ms(spawnMs),
      `ssh HOST git worktree add -b: ${ms(addMs)}`, spawnMs / addMs, "≤ 1.5×", spawnMs / addMs <= 1.5);
    // The host's spawn by hand over the same ssh, exactly as orch asks it (the base is on the host).
    const base = run(["git", "rev-parse", "HEAD"]).trim();
    let h = 0;
    const [spawnAgain, spawnByHand] = interleaved(
      () => timed([ORCH, "spawn", `feat/c${h}`, "--host", "h", "--no-window"])(),
      () => {
        h++;
        const spawnArgs = ["spawn", `hand-${h}`, "--from", base, "--agent", "claude", "--no-window", "-"];
        return byHand(spawnArgs)();
      },
      QUICK ? 7 : 15,
    );
    row("remote orch spawn, against the host's orch by hand", ms(spawnAgain), `ssh HOST orch spawn in the clone: ${ms(spawnByHand)}`,
      spawnAgain / spawnByHand, "reported", undefined);

    // Wake: a notify on the host (as its user, in the worker's worktree) → a local poll --wait prints it.
    const notifyArgv = ["runuser", "-u", host.user, "--", "sh", "-c", 'cd "$1" && shift && exec "$@"', "bench", first.worktree_path,
      `${host.home}/.local/bin/orch`, "notify", "--type", "progress", "--summary"];
    const latencies: number[] = [];
    for (let i = 0; i < (QUICK ? 10 : 30); i++) {
      const poller = spawn(ORCH, ["poll", "--wait", "--json"], { cwd: repo, env: hostEnv, stdio: ["ignore", "pipe", "pipe"] });
      let stderr = "";
      poller.stderr.on("data", (d) => (stderr += d));
      const closed = new Promise<number | null>((resolve) => poller.on("close", resolve));
      const output = new Promise<number>((resolve) => poller.stdout.once("data", () => resolve(performance.now())));
      await new Promise((r) => setTimeout(r, 300)); // its connection to the host is up and waiting
      const sender = spawn(notifyArgv[0]!, [...notifyArgv.slice(1), `wake ${i}`], { env: hostEnv, stdio: "ignore" });
      const exited = await new Promise<number>((resolve) => sender.on("exit", () => resolve(performance.now())));
      const endedEarly = closed.then((code) => new Error(`poll --wait ended (${code}) without output: ${stderr}`));
      const arrived = await Promise.race([output, endedEarly]);
      if (arrived instanceof Error) throw arrived;
      latencies.push(Math.max(0, arrived - exited));
      await closed;
    }
    row("wake latency, notify on a host → local poll --wait output: p50", ms(pct(latencies, 50)), "over loopback ssh",
      "", "≤ 50 ms", pct(latencies, 50) <= 50);
    row("wake latency from a host: p99", ms(pct(latencies, 99)), "", "", "reported", undefined);
  } finally {
    world.close();
  }
}

/**
 * status with 50 workers, each with a commit of its own on a base that moved since (so ahead, behind
 * and merges_cleanly all have something to say), against the floor. The first status computes them.
 */
function benchStatusFifty(floor: () => number): void {
  const fifty = repoWith(1, "fifty");
  sh([ORCH, "init"], fifty);
  for (let i = 0; i < 50; i++) {
    const w = JSON.parse(sh([ORCH, "spawn", `w/${i}`, "--no-window", "--json"], fifty)).worktree_path as string;
    fs.writeFileSync(path.join(w, i % 10 === 0 ? "shared.txt" : `w${i}.txt`), `${i}\n`);
    sh(["git", "add", "-A"], w);
    sh(["git", "commit", "-q", "-m", `w ${i}`], w);
  }
  fs.writeFileSync(path.join(fifty, "shared.txt"), "main\n");
  sh(["git", "add", "-A"], fifty);
  sh(["git", "commit", "-q", "-m", "the base moves"], fifty);
  const firstStatus = JSON.parse(sh([ORCH, "status", "--json"], fifty));
  const conflicting = firstStatus.workers.filter((w: { merges_cleanly: boolean }) => w.merges_cleanly === false).length;
  const [statusMs, floorS] = interleaved(() => timeOnce([ORCH, "status", "--json"], fifty), floor);
  const what = `orch status with 50 workers, ahead/behind/merges_cleanly (${conflicting} conflicting)`;
  row(what, ms(statusMs), `floor ${ms(floorS)}`, statusMs / floorS, "≤ 3×", statusMs / floorS <= 3);
}

const lifecycle: BenchContext = { orch: ORCH, env, work: WORK, quick: QUICK, row };
/** The parts that run alone with their flag (printed; bench/results.md is left as it is). */
const ALONE: Record<string, () => Promise<void>> = {
  "--claude-only": benchClaude,
  "--claude-wake": () => claudeWake(lifecycle),
  "--claude-blocked": () => claudeBlocked(lifecycle),
  "--watch-latency": () => watchAgainstPoll(lifecycle),
};

async function main(): Promise<void> {
  const alone = Object.keys(ALONE).filter((flag) => process.argv.includes(flag));
  if (alone.length > 0) {
    for (const flag of alone) await ALONE[flag]!();
    console.log(rows.map((r) => `| ${r.join(" | ")} |`).join("\n"));
    spawnSync("tmux", ["kill-server"], { env });
    fs.rmSync(WORK, { recursive: true, force: true });
    return;
  }
  if (!fs.existsSync(BUILT)) throw new Error("build first: npm run build");
  fs.copyFileSync(BUILT, ORCH);
  fs.chmodSync(ORCH, 0o755);
  console.error(`bench in ${WORK} (${N} runs per median)`);
  if (process.argv.includes("--hosts-only") || process.argv.includes("--hosts")) {
    // Only the hosts' measurements (they need root for the test sshd's accounts), printed.
    await benchHosts();
    console.log(rows.map((r) => `| ${r.join(" | ")} |`).join("\n"));
    fs.rmSync(WORK, { recursive: true, force: true });
    return;
  }
  if (process.argv.includes("--codex")) {
    // Only the Codex measurement (it needs the agent cache), printed, bench/results.md left alone.
    await codexFirstRequest();
    console.log(rows.map((r) => `| ${r.join(" | ")} |`).join("\n"));
    return;
  }
  const floorBin = buildFloor();
  const FLOOR = [floorBin];
  const floor = () => timeOnce(FLOOR, WORK);
  if (process.argv.includes("--startup-only")) {
    // Only the start-up rows (notify, poll, the burst), printed; bench/results.md is left as it is.
    await benchStartup(floorBin);
    console.log(rows.map((r) => `| ${r.join(" | ")} |`).join("\n"));
    fs.rmSync(WORK, { recursive: true, force: true });
    return;
  }
  if (process.argv.includes("--status-only")) {
    // Only status with 50 workers against the floor, printed; --keep leaves the repository for profiling.
    benchStatusFifty(floor);
    console.log(rows.map((r) => `| ${r.join(" | ")} |`).join("\n"));
    if (process.argv.includes("--keep")) console.error(`kept ${WORK}`);
    else fs.rmSync(WORK, { recursive: true, force: true });
    return;
  }
  const [gitMs, floorMs] = interleaved(() => timeOnce(["git", "--version"], WORK), floor);
  rows.push(["floor: one-line program, same `bun build --compile` flags", ms(floorMs), "", "", "", ""]);
  rows.push(["git --version", ms(gitMs), `floor ${ms(floorMs)}`, `${(gitMs / floorMs).toFixed(2)}×`, "", ""]);

  // Mailbox: notify and an empty poll (wall, CPU, memory) and the 2,000-notify burst.
  await benchStartup(floorBin);
  const repo = repoWith(200, "wake");
  sh([ORCH, "init"], repo);

  // Wake latency: from notify's exit to poll --wait's output.
  const latencies: number[] = [];
  for (let i = 0; i < (QUICK ? 20 : 60); i++) {
    const poller = spawn(ORCH, ["poll", "--wait", "--json"], { cwd: repo, env, stdio: ["ignore", "pipe", "pipe"] });
    let stderr = "";
    poller.stderr.on("data", (d) => (stderr += d));
    const closed = new Promise<number | null>((resolve) => poller.on("close", resolve));
    const output = new Promise<number>((resolve) => poller.stdout.once("data", () => resolve(performance.now())));
    await new Promise((r) => setTimeout(r, 60)); // let it start watching
    const sender = spawn(ORCH, ["notify", "--type", "progress", "--summary", `wake ${i}`], { cwd: repo, env, stdio: "ignore" });
    const exited = await new Promise<number>((resolve) => sender.on("exit", () => resolve(performance.now())));
    const arrived = await Promise.race([output, closed.then((code) => new Error(`poll --wait ended (${code}) without output: ${stderr}`))]);
    if (arrived instanceof Error) throw arrived;
    latencies.push(Math.max(0, arrived - exited));
    await closed;
  }
  row("wake latency notify exit → poll --wait output: p50", ms(pct(latencies, 50)), "(the seed polls every 30 s)",
    "", "≤ 10 ms", pct(latencies, 50) <= 10);
  row("wake latency: p99", ms(pct(latencies, 99)), "", "", "≤ 50 ms", pct(latencies, 99) <= 50);

  // poll cost with history: 1 new message and 10,000 read ones, against 1 new and no history.
  const fresh = repoWith(1, "fresh");
  sh([ORCH, "init"], fresh);
  const history = repoWith(1, "history");
  const hid = JSON.parse(sh([ORCH, "init", "--json"], history)).orchestrator_id as string;
  const cur = path.join(history, ".orch/sessions", hid, "mail/cur");
  const template = JSON.parse(sh([ORCH, "notify", "--type", "progress", "--summary", "old", "--json"], history));
  sh([ORCH, "poll"], history);
  const sample = fs.readFileSync(path.join(cur, `${template.message_id}.json`), "utf8");
  for (let i = 0; i < 10_000; i++) {
    const idx = `msg_0${i.toString(36).padStart(10, "0")}aaaaaaaa`;
    fs.writeFileSync(path.join(cur, `${idx}.json`), sample.replace(template.message_id, idx));
  }
  const pollOneNew = (dir: string) => () => {
    sh([ORCH, "notify", "--type", "progress", "--summary", "new"], dir);
    return timeOnce([ORCH, "poll"], dir);
  };
  const [pollHistory, pollFresh] = interleaved(pollOneNew(history), pollOneNew(fresh));
  row("poll of 1 new message with 10,000 read ones", ms(pollHistory), `no history: ${ms(pollFresh)}`,
    pollHistory / pollFresh, "≤ 1.2×", pollHistory / pollFresh <= 1.2);

  // Workers: spawn --no-window against raw git worktree add -b, in a repository of 1,000 files.
  const big = repoWith(1000, "project");
  sh([ORCH, "init"], big);
  let k = 0;
  const [spawnMs, rawAdd] = interleaved(
    () => timeOnce([ORCH, "spawn", `feat/s${k++}`, "--no-window"], big),
    () => timeOnce(["git", "worktree", "add", "-q", "-b", `raw-${k}`, path.join(WORK, `raw-wt-${k}`)], big),
    QUICK ? 7 : 15,
  );
  row("orch spawn --no-window (1,000-file repository)", ms(spawnMs), `git worktree add -b: ${ms(rawAdd)}`,
    spawnMs / rawAdd, "≤ 1.5×", spawnMs / rawAdd <= 1.5);
  sh(["tmux", "new-session", "-d", "-s", "bench"], big);
  // Each window's program keeps running after the command returns (orch's runs the agent, then the
  // user's shell; the raw one the user's shell); a pause before each timed run keeps that work out of
  // the next measurement, for both.
  const settle = () => spawnSync("sleep", ["0.4"]);
  const [spawnWindow, rawWindow] = interleaved(
    () => {
      settle();
      return timeOnce([ORCH, "spawn", `feat/w${k++}`, "--agent", "true"], big);
    },
    () => {
      settle();
      const dir = path.join(WORK, `raw-win-${k}`);
      const t = performance.now();
      sh(["git", "worktree", "add", "-q", "-b", `raw-win-${k}`, dir], big);
      sh(["tmux", "new-window", "-d", "-t", "bench:", "-c", dir], big); // the user's shell, as tmux starts it
      return performance.now() - t;
    },
    QUICK ? 7 : 15,
  );
  row("orch spawn with a tmux window", ms(spawnWindow), `worktree add + tmux new-window: ${ms(rawWindow)}`,
    spawnWindow / rawWindow, "≤ 1.5×", spawnWindow / rawWindow <= 1.5);

  benchStatusFifty(floor);

  // Telling 20 workers after one landing: a commit on the base (not timed), then the next orch command
  // (poll) notices it and tells all 20, against 20 × orch send.
  const twenty = repoWith(1, "twenty");
  sh([ORCH, "init"], twenty);
  for (let i = 0; i < 20; i++) {
    const w = JSON.parse(sh([ORCH, "spawn", `t/${i}`, "--no-window", "--json"], twenty)).worktree_path as string;
    fs.writeFileSync(path.join(w, `t${i}.txt`), `${i}\n`);
    sh(["git", "add", "-A"], w);
    sh(["git", "commit", "-q", "-m", `t ${i}`], w);
  }
  let landing = 0;
  const [tellMs, sendMs] = interleaved(
    () => {
      fs.writeFileSync(path.join(twenty, "landed.txt"), `${landing++}\n`);
      sh(["git", "add", "-A"], twenty);
      sh(["git", "commit", "-q", "-m", `landing ${landing}`], twenty);
      return timeOnce([ORCH, "poll"], twenty);
    },
    () => {
      const t = performance.now();
      for (let i = 0; i < 20; i++) sh([ORCH, "send", `t-${i}`, "the base moved"], twenty);
      return performance.now() - t;
    },
    QUICK ? 5 : 9,
  );
  // Every landing must have reached every worker once.
  const session = path.join(twenty, ".orch/sessions", fs.readdirSync(path.join(twenty, ".orch/sessions"))[0]!);
  let told = 0;
  for (const worker of fs.readdirSync(path.join(session, "workers"))) {
    const inbox = path.join(session, "workers", worker, "inbox/new");
    told += fs.readdirSync(inbox).filter((f) => fs.readFileSync(path.join(inbox, f), "utf8").includes('"base_moved"')).length;
  }
  const what = `telling 20 workers after one landing, by the next orch poll (${told} of ${landing * 20} told)`;
  row(what, ms(tellMs), `20 × orch send: ${ms(sendMs)}`,
    tellMs / sendMs, "≤ 1×, each once", tellMs / sendMs <= 1 && told === landing * 20);

  // apply of a 50-commit series against raw git format-patch | git am.
  const applyRepo = repoWith(50, "apply");
  sh([ORCH, "init"], applyRepo);
  const wt = JSON.parse(sh([ORCH, "spawn", "feat/fifty", "--no-window", "--json"], applyRepo)).worktree_path as string;
  for (let i = 0; i < 50; i++) {
    fs.writeFileSync(path.join(wt, `pkg${i % 20}`, `file${i}.ts`), `export const changed${i} = ${i};\n`);
    sh(["git", "commit", "-q", "-am", `change ${i}`], wt);
  }
  const base = sh(["git", "rev-parse", "HEAD"], applyRepo).trim();
  const reset = () => spawnSync("git", ["reset", "-q", "--hard", base], { cwd: applyRepo, env });
  const [orchApply, rawApply] = interleaved(
    () => {
      reset();
      return timeOnce([ORCH, "apply", "feat/fifty", "--force"], applyRepo);
    },
    () => {
      reset();
      const t = performance.now();
      const patch = sh(["git", "format-patch", "--binary", "--stdout", `${base}..feat/fifty`], applyRepo);
      sh(["git", "am", "--3way"], applyRepo, patch);
      return performance.now() - t;
    },
    QUICK ? 5 : 9,
  );
  row("orch apply of a 50-commit series", ms(orchApply), `git format-patch \\| git am: ${ms(rawApply)}`,
    orchApply / rawApply, "≤ 1.3×", orchApply / rawApply <= 1.3);

  // land of 10 workers with a trivial test, per worker, against raw git merge --squash + commit.
  const landRepo = repoWith(100, "land");
  sh([ORCH, "init"], landRepo);
  for (let i = 0; i < 10; i++) {
    const w = JSON.parse(sh([ORCH, "spawn", `feat/l${i}`, "--no-window", "--json"], landRepo)).worktree_path as string;
    fs.writeFileSync(path.join(w, `landed${i}.txt`), `${i}\n`);
    sh(["git", "add", "-A"], w);
    sh(["git", "commit", "-q", "-m", `land ${i}`], w);
    sh([ORCH, "notify", "--type", "task_complete", "--summary", `l${i}`], w);
  }
  const landStart = sh(["git", "rev-parse", "HEAD"], landRepo).trim();
  const tLand = performance.now();
  sh([ORCH, "land", "--test", "true"], landRepo);
  const landPer = (performance.now() - tLand) / 10;
  sh(["git", "reset", "-q", "--hard", landStart], landRepo);
  const tRaw = performance.now();
  for (let i = 0; i < 10; i++) {
    sh(["git", "merge", "--squash", `feat/l${i}`], landRepo);
    sh(["git", "commit", "-q", "-m", `land ${i}`], landRepo);
  }
  const rawPer = (performance.now() - tRaw) / 10;
  row("orch land, per worker (10 workers, --test true)", ms(landPer), `git merge --squash + commit: ${ms(rawPer)}`,
    landPer / rawPer, "reported", undefined);

  // The PostToolUse hook on a payload that is not ours (runs after every tool call of every worker).
  const payload = JSON.stringify({
    session_id: "s",
    transcript_path: "/dev/null",
    cwd: repo,
    hook_event_name: "PostToolUse",
    tool_name: "Read",
    tool_input: { file_path: "/etc/hostname" },
    tool_response: {},
  });
  const [hookMs, floorH] = interleaved(() => timeOnce([ORCH, "hook", "post-tool-use"], repo, payload), floor);
  row("orch hook post-tool-use, non-matching payload", ms(hookMs), `floor ${ms(floorH)}`, hookMs / floorH, "≤ 2×", hookMs / floorH <= 2);

  await benchHosts();
  await watchAgainstPoll(lifecycle);
  await benchClaude();
  await claudeWake(lifecycle);
  await claudeBlocked(lifecycle);
  await codexFirstRequest();

  spawnSync("tmux", ["kill-server"], { env });
  const day = new Date().toISOString().slice(0, 10);
  const machine = `${os.cpus().length} × ${os.cpus()[0]?.model ?? "cpu"}, ${os.platform()} ${os.release()}`;
  const gitVersion = sh(["git", "--version"]).trim().split(" ").pop();
  const tmuxVersion = sh(["tmux", "-V"]).trim().split(" ").pop();
  const table = [
    `Measured ${day} on ${machine}, git ${gitVersion}, tmux ${tmuxVersion}; ` +
      `medians of ${N} runs${QUICK ? " (--quick)" : ""}.`,
    "",
    "| measurement | orch | reference (same run) | ratio | target | met |",
    "|---|---|---|---|---|---|",
    ...rows.map((r) => `| ${r.join(" | ")} |`),
  ].join("\n");
  fs.writeFileSync(path.join(ROOT, "bench/results.md"), `${table}\n`);
  console.log(table);
  fs.rmSync(WORK, { recursive: true, force: true });
}

await main();
