// Shared test helpers: run orch as a real process, make scratch git repositories and private tmux servers.

import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

/** The repository root (tests run from dist/node/test/). */
const compiledToDist = fileURLToPath(import.meta.url).includes(`${path.sep}dist${path.sep}`);
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), compiledToDist ? "../../.." : "..");

/** How orch is started: the compiled binary by default; ORCH_TEST_RUNTIME=node|deno|bun for the source. */
export function orchCommand(runtime = process.env.ORCH_TEST_RUNTIME ?? "binary"): string[] {
  switch (runtime) {
    case "node":
      return [process.execPath, path.join(ROOT, "dist/node/src/main.js")];
    case "deno":
      return [path.join(ROOT, "node_modules/.bin/deno"), "run", "-A", "--quiet", path.join(ROOT, "src/main.ts")];
    case "bun":
      return [path.join(ROOT, "node_modules/.bin/bun"), path.join(ROOT, "src/main.ts")];
    default:
      return [path.join(ROOT, "dist/orch")];
  }
}

export interface Result {
  code: number;
  stdout: string;
  stderr: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  json: any;
}

/** A message as `orch poll --json` (and await, watch) hands it out. */
export interface PolledMessage {
  id: string;
  worker_id: string;
  message_type: string;
  content: Record<string, string>;
}

/**
 * `orch poll --wait` until a message of `type` from `worker` is among `polled` (which keeps what every
 * call took, so each message is seen once); `describe` says what else to show when it does not come.
 * Asynchronous on purpose: a synchronous wait would stop a model server running in this process.
 */
export async function pollForMessage(
  cwd: string,
  env: Record<string, string | undefined>,
  polled: PolledMessage[],
  wanted: { worker: string; type: string; timeoutMs: number; describe: () => string },
): Promise<PolledMessage> {
  const deadline = Date.now() + wanted.timeoutMs;
  const match = (m: PolledMessage) => m.worker_id === wanted.worker && m.message_type === wanted.type;
  while (!polled.some(match)) {
    if (Date.now() > deadline) {
      throw new Error(`no ${wanted.type} from ${wanted.worker}; polled ${JSON.stringify(polled)}\n${wanted.describe()}`);
    }
    const r = await orchAsync(["poll", "--wait", "--timeout", "30", "--json"], { cwd, env }).done;
    if (r.code !== 0 && r.code !== 124) throw new Error(`orch poll --wait exited ${r.code}: ${r.stderr}`);
    if (r.code === 0) polled.push(...(r.json.messages as PolledMessage[]));
  }
  return polled.find(match)!;
}

/**
 * Following a session's workers from its repository, as an orchestrator does: `pollFor` (pollForMessage
 * with what it has taken so far in `polled`) and `status`, one worker's entry of `orch status --json`.
 */
export function followWorkers<View extends { worker_id: string }>(
  cwd: string,
  env: Record<string, string | undefined>,
  timeoutMs: number,
  describe: () => string,
): {
  polled: PolledMessage[];
  pollFor: (worker: string, type: string) => Promise<PolledMessage>;
  status: (worker: string) => View;
} {
  const polled: PolledMessage[] = [];
  const pollFor = (worker: string, type: string) => pollForMessage(cwd, env, polled, { worker, type, timeoutMs, describe });
  const status = (worker: string): View => {
    const r = orch(["status", "--json"], { cwd, env });
    if (r.code !== 0) throw new Error(`orch status exited ${r.code}: ${r.stderr}`);
    return (r.json.workers as View[]).find((w) => w.worker_id === worker)!;
  };
  return { polled, pollFor, status };
}

export interface RunOptions {
  cwd: string;
  env?: Record<string, string | undefined>;
  input?: string | Buffer;
  runtime?: string;
  /** Milliseconds: orch is killed past them and the call throws (a wait that must end). */
  timeout?: number;
  /** orchAsync: in a process group of its own, as a terminal runs a command (its Ctrl-C goes to the group). */
  ownGroup?: boolean;
}

/** A clean environment: no orch or tmux variables leak in from the session running the tests. */
export function baseEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const key of Object.keys(env)) if (key.startsWith("ORCH_") && key !== "ORCH_TEST_RUNTIME") delete env[key];
  delete env.TMUX;
  delete env.TMUX_PANE;
  // Run from a Claude Code session in the background, orch would refuse to take messages in every test.
  delete env.CLAUDE_CODE_SESSION_ATTENDED;
  delete env.CLAUDE_JOB_DIR;
  env.NO_COLOR = "1";
  // The shell a worker's window falls back to: dash (named so, unlike the runner's sh), so the
  // machine's bash rc files (a pyenv rehash lock left by a killed shell stalls every new bash) never
  // decide a test.
  if (fs.existsSync("/bin/dash")) env.SHELL = "/bin/dash";
  env.GIT_AUTHOR_NAME = env.GIT_COMMITTER_NAME = "orch test";
  env.GIT_AUTHOR_EMAIL = env.GIT_COMMITTER_EMAIL = "test@orch.invalid";
  for (const [key, value] of Object.entries(extra)) {
    if (value === undefined) delete env[key];
    else env[key] = value;
  }
  return env;
}

function parseJson(stdout: string): unknown {
  try {
    return JSON.parse(stdout);
  } catch {
    return undefined;
  }
}

export function orch(args: string[], options: RunOptions): Result {
  const [cmd, ...pre] = orchCommand(options.runtime);
  const result = spawnSync(cmd!, [...pre, ...args], {
    cwd: options.cwd,
    env: baseEnv(options.env),
    input: options.input,
    encoding: "utf8",
    maxBuffer: 64 * 1024 * 1024,
    timeout: options.timeout,
  });
  if (result.error) throw result.error;
  return { code: result.status ?? -1, stdout: result.stdout, stderr: result.stderr, json: parseJson(result.stdout) };
}

export function orchAsync(args: string[], options: RunOptions): { child: ChildProcess; done: Promise<Result> } {
  const [cmd, ...pre] = orchCommand(options.runtime);
  const child = spawn(cmd!, [...pre, ...args], {
    cwd: options.cwd,
    env: baseEnv(options.env),
    stdio: [options.input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
    detached: options.ownGroup === true,
  });
  let stdout = "";
  let stderr = "";
  child.stdout!.setEncoding("utf8").on("data", (d: string) => (stdout += d));
  child.stderr!.setEncoding("utf8").on("data", (d: string) => (stderr += d));
  if (options.input !== undefined) child.stdin!.end(options.input);
  const done = new Promise<Result>((resolve) => {
    child.on("close", (code, signal) => {
      resolve({ code: code ?? (signal === "SIGKILL" ? 137 : -1), stdout, stderr, json: parseJson(stdout) });
    });
  });
  return { child, done };
}

export function git(args: string[], cwd: string, env: Record<string, string | undefined> = {}): string {
  const result = spawnSync("git", args, { cwd, env: baseEnv(env), encoding: "utf8" });
  if (result.status !== 0) throw new Error(`git ${args.join(" ")} failed: ${result.stderr}`);
  return result.stdout.trim();
}

export function gitOk(args: string[], cwd: string): boolean {
  return spawnSync("git", args, { cwd, env: baseEnv(), encoding: "utf8" }).status === 0;
}

const cleanups: (() => void)[] = [];
/** Runs `cleanup` as the test process exits, before what was registered earlier (last in, first run). */
export function atExit(cleanup: () => void): void {
  cleanups.push(cleanup);
}
process.on("exit", () => {
  for (const cleanup of cleanups.reverse()) {
    try {
      cleanup();
    } catch {
      // best effort
    }
  }
});

/** One regular expression from literal parts (their sources joined), so a long one can be written over lines. */
export function regExpOf(...parts: RegExp[]): RegExp {
  return new RegExp(parts.map((part) => part.source).join(""));
}

export function tempDir(prefix = "orch-test-"): string {
  const dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), prefix)));
  if (!process.env.ORCH_TEST_KEEP) cleanups.push(() => removeRetrying(dir));
  return dir;
}

/** Blocks this process for `ms` (for the cleanups at exit, where nothing asynchronous runs). */
export function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * Removes `dir` and all it holds, again while something writes into it: a worker's runner, hung up by the end of
 * its tmux server, may still write its end report there, and the removal then fails (ENOTEMPTY) and leaves part of
 * the tree in /tmp. (Node 20's own maxRetries does not retry that here.)
 */
function removeRetrying(dir: string): void {
  for (let attempt = 1; ; attempt++) {
    try {
      return fs.rmSync(dir, { recursive: true, force: true });
    } catch (error) {
      if (attempt === 10) throw error;
      sleepSync(50);
    }
  }
}

/**
 * A scratch repository (branch main, one commit) inside its own temp folder, or in `parent` (a small disk),
 * so worktrees land beside it.
 */
export function scratchRepo(
  name = "repo",
  files: Record<string, string> = { "README.md": "# scratch\n" },
  parent = tempDir(),
): string {
  const dir = path.join(parent, name);
  fs.mkdirSync(dir);
  git(["init", "-q", "-b", "main"], dir);
  writeFiles(dir, files);
  git(["add", "-A"], dir);
  git(["commit", "-q", "-m", "initial"], dir);
  return dir;
}

export function writeFiles(dir: string, files: Record<string, string | Buffer>): void {
  for (const [name, content] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    fs.writeFileSync(path.join(dir, name), content);
  }
}

export function commitFiles(dir: string, files: Record<string, string | Buffer>, message: string): string {
  writeFiles(dir, files);
  git(["add", "-A"], dir);
  git(["commit", "-q", "-m", message], dir);
  return git(["rev-parse", "HEAD"], dir);
}

/** A small tmpfs for a full-disk test: `fill` leaves `leftKiB` free and returns the filler file to remove. */
export interface SmallDisk {
  dir: string;
  fill(leftKiB: number): string;
  unmount(): void;
}

/** A tmpfs of `size` (`4m`) mounted in a temp folder, or why none can be here (the test says SKIP): root only. */
export function smallDisk(size: string): SmallDisk | string {
  if (process.getuid?.() !== 0) return "a full disk needs root to mount a small tmpfs";
  const dir = tempDir("orch-full-");
  const mounted = spawnSync("mount", ["-t", "tmpfs", "-o", `size=${size}`, "tmpfs", dir], { encoding: "utf8" });
  if (mounted.status !== 0) return `cannot mount a tmpfs here: ${mounted.stderr.trim()}`;
  return {
    dir,
    fill(leftKiB) {
      const filler = path.join(dir, "filler");
      const free = fs.statfsSync(dir);
      fs.writeFileSync(filler, Buffer.alloc(Math.max(0, Number(free.bavail * free.bsize) - leftKiB * 1024)));
      return filler;
    },
    unmount: () => void spawnSync("umount", ["-l", dir]),
  };
}

/**
 * A small ext4 for the full disk a tmpfs cannot give: there a folder's entries take no room, here a folder
 * grows by blocks, so a rename or a link into a full folder fails while writing a file still fits.
 */
export interface BlockDisk {
  dir: string;
  /** Writes a filler until nothing is left, and returns it. */
  fillAll(): string;
  /** Links `file` into `folder` under names as long as a message file's until the folder's blocks are full. */
  fillFolder(folder: string, file: string): void;
  /** Gives `blocks` blocks back (1 KiB each) from the end of the filler. */
  free(filler: string, blocks: number): void;
  unmount(): void;
}

/**
 * An ext4 of `sizeKiB` (1 KiB blocks, none kept for root, folders unindexed so that one grows a block at a time)
 * on a loop device in a temp folder, or why none can be here (the test says SKIP): root only.
 */
export function blockDisk(sizeKiB = 4096): BlockDisk | string {
  if (process.getuid?.() !== 0) return "a full ext4 needs root to mount a loop device";
  const image = path.join(tempDir("orch-ext4-"), "disk.img");
  fs.writeFileSync(image, "");
  fs.truncateSync(image, sizeKiB * 1024);
  const made = spawnSync("mkfs.ext4", ["-q", "-F", "-b", "1024", "-m", "0", "-O", "^has_journal,^dir_index", image], {
    encoding: "utf8",
  });
  if (made.error || made.status !== 0) return `cannot make an ext4 here: ${made.error?.message ?? made.stderr.trim()}`;
  const dir = tempDir("orch-full-");
  const mounted = spawnSync("mount", ["-o", "loop", image, dir], { encoding: "utf8" });
  if (mounted.status !== 0) return `cannot mount a loop device here: ${mounted.stderr.trim()}`;
  const writeUntilFull = (file: string) => {
    const fd = fs.openSync(file, "a");
    const block = Buffer.alloc(1024, 120);
    try {
      for (;;) fs.writeSync(fd, block);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOSPC") throw error;
    } finally {
      fs.fsyncSync(fd);
      fs.closeSync(fd);
    }
  };
  return {
    dir,
    fillAll() {
      const filler = path.join(dir, "filler");
      // Twice: the first ENOSPC comes while blocks are still reserved for writes not yet allocated.
      writeUntilFull(filler);
      spawnSync("sync", ["-f", dir]);
      writeUntilFull(filler);
      return filler;
    },
    fillFolder(folder, file) {
      for (let n = 0; ; n++) {
        try {
          fs.linkSync(file, path.join(folder, `pad_${String(n).padStart(20, "0")}.pad`));
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code === "ENOSPC") return;
          throw error;
        }
      }
    },
    free(filler, blocks) {
      fs.truncateSync(filler, fs.statSync(filler).size - blocks * 1024);
    },
    unmount() {
      spawnSync("umount", ["-l", dir]);
      fs.rmSync(path.dirname(image), { recursive: true, force: true });
    },
  };
}

/**
 * A session in a repository (one file, a.txt) on `disk`, its store elsewhere (the disk fills under git, not
 * under orch), and a `--no-window` worker of `branch`.
 */
export function workerOnDisk(disk: SmallDisk, branch: string): { repo: string; env: Record<string, string>; wt: string } {
  const repo = scratchRepo("repo", { "a.txt": "a\n" }, disk.dir);
  const env = { ORCH_HOME: path.join(tempDir("orch-store-"), "store") };
  if (orch(["init"], { cwd: repo, env }).code !== 0) throw new Error("orch init failed");
  const wt = orch(["spawn", branch, "--no-window", "--json"], { cwd: repo, env }).json.worktree_path as string;
  return { repo, env, wt };
}

/** 1 MiB that git cannot compress much: a checkout of it needs about that much room. */
export function incompressibleMiB(): Buffer {
  return Buffer.from(Array.from({ length: 1024 * 1024 }, (_, i) => (i * 7919) % 251));
}

/** A private tmux server: TMUX_TMPDIR points at a fresh folder; killed at exit. */
export function privateTmux(): Record<string, string | undefined> {
  const dir = tempDir("orch-tmux-");
  const env = { TMUX_TMPDIR: dir, TMUX: undefined, TMUX_PANE: undefined };
  cleanups.push(() => spawnSync("tmux", ["kill-server"], { env: baseEnv(env), stdio: "ignore" }));
  return env;
}

export function tmux(args: string[], env: Record<string, string | undefined>): string {
  const result = spawnSync("tmux", args, { env: baseEnv(env), encoding: "utf8" });
  if (result.status !== 0) throw new Error(`tmux ${args.join(" ")} failed: ${result.stderr}`);
  return result.stdout.trim();
}

/**
 * What `dir` holds, byte for byte: every folder, every file with its contents (a link with its target), so
 * that a claim taken and given back, or a file rewritten to the same size, shows. A snapshot taken before
 * and after a refused command proves it changed nothing.
 */
export function snapshot(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  const out: string[] = [];
  const walk = (d: string) => {
    for (const name of fs.readdirSync(d).sort()) {
      const p = path.join(d, name);
      const stat = fs.lstatSync(p);
      const where = path.relative(dir, p);
      if (stat.isDirectory()) {
        out.push(`${where}/`);
        walk(p);
      } else if (stat.isSymbolicLink()) {
        out.push(`${where} -> ${fs.readlinkSync(p)}`);
      } else {
        out.push(`${where} ${stat.size} ${createHash("sha256").update(fs.readFileSync(p)).digest("hex").slice(0, 16)}`);
      }
    }
  };
  walk(dir);
  return out;
}

export async function waitUntil(check: () => boolean, timeoutMs = 10_000, what = "condition"): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/**
 * The listener waits: it has its inotify watch (made after it took note of the processes above it). A
 * parent ended before then is no parent it knows of: under load a fixed pause was sometimes too short.
 */
export function watching(pid: number): boolean {
  try {
    return fs.readdirSync(`/proc/${pid}/fd`).some((fd) => {
      try {
        return fs.readlinkSync(`/proc/${pid}/fd/${fd}`) === "anon_inode:inotify";
      } catch {
        return false;
      }
    });
  } catch {
    return false;
  }
}

/**
 * An unrelated long-lived process (sleep) that has exactly `pid`, as after a reboot a record's pid names another
 * process: made by setting the kernel's last pid (root only) and retried while other forks take it first. Its
 * start time is its own, not the record's. Undefined where the pid cannot be chosen; killed at exit.
 */
export async function processWithPid(pid: number): Promise<number | undefined> {
  await waitUntil(() => !fs.existsSync(`/proc/${pid}`), 10_000, `pid ${pid} to be free`);
  const take = `echo ${pid - 1} > /proc/sys/kernel/ns_last_pid && { sleep 600 </dev/null >/dev/null 2>&1 & echo $!; }`;
  for (let attempt = 0; attempt < 50; attempt++) {
    const started = spawnSync("sh", ["-c", take], { encoding: "utf8" });
    const got = Number(started.stdout.trim());
    if (started.status !== 0 || !(got > 0)) return undefined;
    if (got === pid) {
      cleanups.push(() => process.kill(got, "SIGKILL"));
      return got;
    }
    process.kill(got, "SIGKILL");
  }
  return undefined;
}

/** A process's start time as /proc says it (what orch's claims record beside the pid). */
export function startTime(pid: number): string {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
  return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19]!;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** A session in a fresh repository: the repo dir and the orchestrator id. */
export function sessionRepo(files?: Record<string, string>): { repo: string; id: string } {
  const repo = scratchRepo("repo", files);
  const result = orch(["init", "--json"], { cwd: repo });
  if (result.code !== 0) throw new Error(`orch init failed: ${result.stderr}`);
  return { repo, id: result.json.orchestrator_id as string };
}

/** Debian's libfaketime, under the machine's multiarch folder (x86_64-linux-gnu, …), if it is installed. */
export const FAKETIME_LIBRARY = fs.readdirSync("/usr/lib").map((dir) => `/usr/lib/${dir}/faketime/libfaketime.so.1`)
  .find((file) => fs.existsSync(file));

/**
 * A recording stand-in for gh on PATH (GitHub cannot be reached here): every call's arguments are
 * logged, then the given sh lines answer it (they see the arguments as "$@").
 */
export function ghStandIn(answer: string[]): { env: Record<string, string>; calls: () => string[] } {
  const bin = tempDir("orch-gh-");
  const log = path.join(bin, "calls.log");
  const script = ["#!/bin/sh", `printf '%s\\n' "$*" >> ${JSON.stringify(log)}`, ...answer, ""].join("\n");
  fs.writeFileSync(path.join(bin, "gh"), script, { mode: 0o755 });
  return {
    env: { PATH: `${bin}:${baseEnv().PATH}` },
    calls: () => (fs.existsSync(log) ? fs.readFileSync(log, "utf8").trim().split("\n") : []),
  };
}

/** A scripted agent: an executable sh script of these lines, in a folder of its own; its path. */
export function agentScript(body: string[]): string {
  const script = path.join(tempDir("orch-agent-"), "agent.sh");
  fs.writeFileSync(script, ["#!/bin/sh", ...body, ""].join("\n"), { mode: 0o755 });
  return script;
}

/** An agent that does nothing for five minutes: a worker that stays at work while a test races it. */
export function sleepingAgent(): string {
  return agentScript(["exec sleep 300"]);
}

/**
 * A session with a windowed worker `slow` whose agent says "working on it" and sleeps: the runner and agent that
 * crash tests stop and kill, with its agent.pid's path.
 */
export function slowWorker(): { repo: string; id: string; env: Record<string, string | undefined>; windowId: string;
  pidFile: string } {
  const { repo, id } = sessionRepo();
  const env = privateTmux();
  const script = agentScript(["echo 'working on it'", "exec sleep 600"]);
  const spawned = orch(["spawn", "slow", "--agent", script, "--json"], { cwd: repo, env });
  if (spawned.code !== 0) throw new Error(`spawn slow: ${spawned.stderr}`);
  const pidFile = path.join(repo, ".orch", "sessions", id, "workers", "slow", "agent.pid");
  return { repo, id, env, windowId: spawned.json.window_id as string, pidFile };
}

/** What polls hand out until one hands out something (within 20 s): a runner's report, once it comes. */
export async function polledReport(repo: string, env: Record<string, string | undefined>): Promise<PolledMessage[]> {
  const seen: PolledMessage[] = [];
  await waitUntil(() => {
    seen.push(...orch(["poll", "--json"], { cwd: repo, env }).json.messages);
    return seen.length > 0;
  }, 20_000, "the runner's report");
  return seen;
}

/**
 * The environment of a user whom git finds no identity for in `repo`, as on a new account: no GIT_AUTHOR_* or
 * GIT_COMMITTER_*, a HOME with no .gitconfig, no system config, and user.useConfigOnly (no guess from the host
 * name), so that a git commit there refuses.
 */
export function noGitIdentity(repo: string): Record<string, string | undefined> {
  git(["config", "user.useConfigOnly", "true"], repo);
  const home = tempDir("orch-home-");
  return {
    GIT_AUTHOR_NAME: undefined, GIT_AUTHOR_EMAIL: undefined, GIT_COMMITTER_NAME: undefined, GIT_COMMITTER_EMAIL: undefined,
    HOME: home, XDG_CONFIG_HOME: home, GIT_CONFIG_NOSYSTEM: "1",
  };
}

/** The live processes that carry a worker's ORCH_ID and ORCH_WORKER (its runner, its agent, their children). */
export function workerProcesses(id: string, worker: string): number[] {
  const found: number[] = [];
  for (const name of fs.readdirSync("/proc").filter((n) => /^\d+$/.test(n))) {
    try {
      const vars = fs.readFileSync(`/proc/${name}/environ`, "utf8").split("\0");
      const zombie = fs.readFileSync(`/proc/${name}/stat`, "utf8").includes(") Z ");
      if (!zombie && vars.includes(`ORCH_ID=${id}`) && vars.includes(`ORCH_WORKER=${worker}`)) found.push(Number(name));
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return found;
}

/**
 * A stand-in for `program` on PATH that runs the given sh lines before the real one (they see the arguments as
 * "$@", the real program as $real and the process that ran it, orch, as $orch), then execs the real one.
 */
export function standIn(program: string, lines: string[]): Record<string, string> {
  const bin = tempDir(`orch-${program}-`);
  const real = spawnSync("sh", ["-c", `command -v ${program}`], { encoding: "utf8", env: baseEnv() }).stdout.trim();
  const script = ["#!/bin/sh", `real=${JSON.stringify(real)}`, "orch=$PPID", ...lines, 'exec "$real" "$@"', ""];
  fs.writeFileSync(path.join(bin, program), script.join("\n"), { mode: 0o755 });
  return { PATH: `${bin}:${baseEnv().PATH}` };
}

/**
 * A stand-in for git on PATH (see standIn): a crash or a signal at a chosen point of orch's work
 * (kill -9 "$orch" when it starts a rebase).
 */
export function gitStandIn(lines: string[]): Record<string, string> {
  return standIn("git", lines);
}

/**
 * A stand-in for `program` on PATH that, the first time its arguments match the sh case `pattern`, runs
 * `orch $RACE` in the background and gives it up to 3 s to end, then runs the real program: another command at
 * exactly that point of orch's work. $RACE_OUT/race.json is what it said.
 */
export function racing(program: string, pattern: string): Record<string, string> {
  return standIn(program, [
    `case ${pattern}) if [ -n "$RACE" ] && [ ! -e "$RACE_OUT/race.started" ]; then`,
    '  touch "$RACE_OUT/race.started"',
    `  (${orchCommand()[0]} $RACE --json > "$RACE_OUT/race.json" 2> "$RACE_OUT/race.err"`,
    // Not on the program's output, which orch reads to its end.
    '   touch "$RACE_OUT/race.done") < /dev/null > /dev/null 2>&1 &',
    '  i=0; while [ ! -e "$RACE_OUT/race.done" ] && [ $i -lt 150 ]; do sleep 0.02; i=$((i+1)); done',
    "fi;; esac",
  ]);
}

/**
 * tmux, racing (see racing) as an orch command (spawn, or one that starts a pending worker) asks it for a
 * window (new-window, or new-session for the first): a stop or rm that reads the record before the window is there.
 */
export function tmuxRacing(): Record<string, string> {
  return racing("tmux", '"$1" in new-window|new-session');
}
