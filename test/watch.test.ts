// orch watch and the listener's lifetime: each message once as a JSON line as it arrives; a listener
// whose session is gone (parent SIGKILLed, terminal hung up) takes nothing and leaves it for the next.

import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { baseEnv, orch, orchAsync, orchCommand, sessionRepo, sleep, tempDir, waitUntil, watching } from "./helpers.ts";

function notify(cwd: string, summary: string): void {
  const r = orch(["notify", "--type", "progress", "--summary", summary], { cwd });
  assert.is(r.code, 0, r.stderr);
}

function workerIn(repo: string, branch: string): string {
  return orch(["spawn", branch, "--no-window", "--json"], { cwd: repo }).json.worktree_path;
}

test("watch prints each message once, as one JSON line, as it arrives; nothing is left unread", async () => {
  const { repo, id } = sessionRepo();
  const wt = workerIn(repo, "feat/watched");
  notify(wt, "before the watch");
  const watch = orchAsync(["watch"], { cwd: repo });
  let out = "";
  watch.child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
  await waitUntil(() => out.split("\n").length > 1, 15_000, "the first line");
  for (const n of [1, 2, 3]) {
    notify(wt, `message ${n}`);
    await waitUntil(() => out.includes(`message ${n}`), 15_000, `line ${n}`);
  }
  watch.child.kill("SIGTERM");
  await watch.done;
  const lines = out.trim().split("\n").map((line) => JSON.parse(line));
  assert.equal(lines.map((l) => l.content.summary), ["before the watch", "message 1", "message 2", "message 3"]);
  for (const line of lines) {
    assert.is(line.orchestrator_id, id);
    assert.is(line.worker_id, "feat-watched");
    assert.equal(Object.keys(line).sort(), ["content", "created_at", "id", "message_type", "orchestrator_id", "worker_id"]);
  }
  assert.is(orch(["poll", "--json"], { cwd: repo }).json.message_count, 0, "every printed message is marked read");
});

test("watch --timeout: 124 with nothing at all; 0 after printing something; --json changes nothing", async () => {
  const { repo } = sessionRepo();
  const empty = orch(["watch", "--timeout", "0.5"], { cwd: repo });
  assert.is(empty.code, 124);
  assert.is(empty.stdout, "");
  assert.is(orch(["watch", "--timeout", "x"], { cwd: repo }).code, 2);
  // With --json a failure's document is one line too: the output stays JSON Lines for a line reader.
  for (const [args, code, kind] of [[["--timeout", "0"], 124, "timeout"], [["--bogus"], 2, "usage"]] as const) {
    const failed = orch(["watch", ...args, "--json"], { cwd: repo });
    assert.is(failed.code, code, failed.stderr);
    assert.is(failed.stdout.split("\n").length, 2, `one line: ${failed.stdout}`);
    assert.equal([failed.json.success, failed.json.error.code], [false, kind]);
  }
  const wt = workerIn(repo, "feat/one");
  notify(wt, "one");
  const one = orch(["watch", "--timeout", "0.5", "--json"], { cwd: repo });
  assert.is(one.code, 0, one.stderr);
  assert.is(one.stdout.trim().split("\n").length, 1, "one JSON line, no closing document");
  assert.is(JSON.parse(one.stdout).content.summary, "one");
});

test("a summary holding Unicode's line ends (U+2028, U+2029, NEL) and emoji stays one JSON line, read back whole", () => {
  const { repo } = sessionRepo();
  const summary = "before\u2028between\u2029after\u0085end 👩\u200d👩\u200d👧 日本 e\u0301";
  notify(workerIn(repo, "feat/lines"), summary);
  const [command, ...pre] = orchCommand();
  const watched = spawnSync(command!, [...pre, "watch", "--timeout", "0.5"], { cwd: repo, env: baseEnv(), encoding: "utf8" });
  assert.is(watched.status, 0, watched.stderr);
  // Python's str.splitlines() ends a line at each of these.
  const lines = watched.stdout.split(/\r\n|[\n\r\v\f\x1c-\x1e\x85\u2028\u2029]/).filter(Boolean);
  assert.is(lines.length, 1, JSON.stringify(watched.stdout));
  assert.is(JSON.parse(lines[0]!).content.summary, summary);
});

test("two watchers and a poll at once: every message is handed out exactly once", async () => {
  const { repo } = sessionRepo();
  const wt = workerIn(repo, "feat/many");
  const watchers = [orchAsync(["watch", "--timeout", "8"], { cwd: repo }), orchAsync(["watch", "--timeout", "8"], { cwd: repo })];
  for (let n = 0; n < 30; n++) notify(wt, `m${n}`);
  const polled = orch(["poll", "--json"], { cwd: repo }).json.messages.map((m: { content: { summary: string } }) => m.content.summary);
  const results = await Promise.all(watchers.map((w) => w.done));
  const watched = results.flatMap((r) => r.stdout.trim().split("\n").filter(Boolean).map((l) => JSON.parse(l).content.summary as string));
  const all = [...polled, ...watched].sort();
  assert.equal(all, Array.from({ length: 30 }, (_, n) => `m${n}`).sort());
});

/** Starts `orch ARGS` under a shell parent (as Claude Code's Bash tool runs it); returns both pids. */
function underParent(
  args: string[],
  cwd: string,
): { parent: number; listener: () => number | undefined; done: Promise<number>; kill: () => void } {
  const [cmd, ...pre] = orchCommand();
  const sh = spawn("sh", ["-c", '"$@" & echo $! > "$ORCH_TEST_PIDFILE"; wait', "sh", cmd!, ...pre, ...args], {
    cwd,
    env: { ...baseEnv(), ORCH_TEST_PIDFILE: path.join(cwd, ".listener.pid") },
    // stdout is a pipe: a listener refuses a stdout that leads nowhere (closed, or /dev/null opened
    // read-write as "ignore" does), since what it took would be marked read and lost.
    stdio: ["ignore", "pipe", "ignore"],
  });
  const pidFile = path.join(cwd, ".listener.pid");
  // The shell creates the file before echo writes to it: a pid counts once its whole line is there (an
  // empty file read as pid 0 made the listener look dead under load).
  const listener = () => {
    const text = fs.existsSync(pidFile) ? fs.readFileSync(pidFile, "utf8") : "";
    return /^[1-9][0-9]*\n$/.test(text) ? Number(text) : undefined;
  };
  return {
    parent: sh.pid!,
    listener,
    done: new Promise((resolve) => sh.on("close", (code) => resolve(code ?? -1))),
    kill: () => {
      for (const pid of [sh.pid!, listener()]) {
        try {
          if (pid && alive(pid)) process.kill(pid, "SIGKILL");
        } catch {
          // already gone
        }
      }
    },
  };
}

/** Running: an orphan that has exited stays a zombie until init reaps it, which some inits do seconds later. */
function alive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z /s.test(fs.readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return false;
  }
}

for (const args of [["watch"], ["poll", "--wait"], ["await", "--timeout", "60"]]) {
  test(`${args.join(" ")}: a listener whose parent is SIGKILLed exits and takes nothing`, async () => {
    const { repo } = sessionRepo();
    const wt = workerIn(repo, "feat/orphan");
    const run = underParent(args, repo);
    try {
      await waitUntil(() => run.listener() !== undefined, 15_000, "the listener to start");
      const listener = run.listener()!;
      await waitUntil(() => watching(listener), 15_000, "the listener to wait");
      assert.ok(alive(listener), "the listener waits");
      process.kill(run.parent, "SIGKILL");
      await run.done;
      await waitUntil(() => !alive(listener), 15_000, "the orphaned listener to exit");
      notify(wt, "for the next reader");
      const next = orch(["poll", "--json"], { cwd: repo });
      assert.equal(next.json.messages.map((m: { content: { summary: string } }) => m.content.summary), ["for the next reader"]);
    } finally {
      // A failure above must not leave the listener running: the test file would not end.
      run.kill();
    }
  });
}

test("inbox --wait and poll --wait end on SIGHUP (a closed terminal or pane) without taking anything", async () => {
  const { repo } = sessionRepo();
  const wt = workerIn(repo, "feat/hup");
  const inbox = orchAsync(["inbox", "--wait"], { cwd: wt });
  const poll = orchAsync(["poll", "--wait"], { cwd: repo });
  await new Promise((r) => setTimeout(r, 1000));
  inbox.child.kill("SIGHUP");
  poll.child.kill("SIGHUP");
  const [i, p] = await Promise.all([inbox.done, poll.done]);
  assert.is(i.stdout, "");
  assert.is(p.stdout, "");
  orch(["send", "feat/hup", "still here"], { cwd: repo });
  notify(wt, "still unread");
  assert.is(orch(["inbox", "--json"], { cwd: wt }).json.messages[0].content.text, "still here");
  assert.is(orch(["poll", "--json"], { cwd: repo }).json.messages[0].content.summary, "still unread");
});

test("a watch whose reader went away leaves the message it could not write unread", async () => {
  const { repo } = sessionRepo();
  const wt = workerIn(repo, "feat/gone");
  const watch = orchAsync(["watch"], { cwd: repo });
  await new Promise((r) => setTimeout(r, 800));
  watch.child.stdout!.destroy();
  notify(wt, "nobody read this");
  const result = await watch.done;
  assert.is(result.code, 1);
  assert.not.match(result.stderr, /internal error/);
  const next = orch(["poll", "--json"], { cwd: repo });
  assert.equal(next.json.messages.map((m: { content: { summary: string } }) => m.content.summary), ["nobody read this"]);
});

/**
 * A session with 40 messages of 3 KB from one worker, more than a pipe holds (64 KiB), and a FIFO to write them
 * into: both its ends open, the read end without blocking (so opening the write end does not wait).
 */
function messagesAndFifo(branch: string) {
  const { repo, id } = sessionRepo();
  const wt = workerIn(repo, branch);
  const mail = path.join(repo, ".orch", "sessions", id, "mail");
  for (let n = 0; n < 40; n++) notify(wt, `m${n} ${"x".repeat(3000)}`);
  const fifo = path.join(tempDir("orch-fifo-"), "out");
  assert.is(spawnSync("mkfifo", [fifo]).status, 0);
  const readEnd = fs.openSync(fifo, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  const writeEnd = fs.openSync(fifo, fs.constants.O_WRONLY);
  return { repo, mail, readEnd, writeEnd };
}

for (const args of [["watch"], ["poll", "--wait", "--json"]]) {
  test(`${args[0]} to a full pipe nobody reads: SIGHUP ends it, what it did not write stays unread`, async () => {
    const { repo, mail, readEnd, writeEnd } = messagesAndFifo("feat/full-pipe");
    const reader = spawn("sleep", ["600"], { stdio: [readEnd, "ignore", "ignore"] });
    const [cmd, ...pre] = orchCommand();
    const listener = spawn(cmd!, [...pre, ...args], { cwd: repo, env: baseEnv(), stdio: ["ignore", writeEnd, "pipe"] });
    fs.closeSync(readEnd);
    fs.closeSync(writeEnd);
    let stderr = "";
    listener.stderr!.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    const exited = new Promise<number | null>((resolve) => listener.on("exit", (code) => resolve(code)));
    let code: number | null | undefined;
    void exited.then((c) => (code = c));
    try {
      // Everything is claimed: the listener is writing, and the pipe is full long before the last line.
      await waitUntil(() => fs.readdirSync(path.join(mail, "new")).length === 0, 30_000, "the listener to claim");
      listener.kill("SIGHUP");
      // Before, it sat in a blocking write: its SIGHUP handler never ran until the reader read.
      await waitUntil(() => code !== undefined, 30_000, `${args[0]} to end on SIGHUP`);
      assert.is(code, 129, stderr);
      reader.kill();
      const written = fs.readdirSync(path.join(mail, "cur")).length;
      const left = orch(["poll", "--json"], { cwd: repo }).json.message_count as number;
      assert.ok(left > 0, "the pipe was full before its last line");
      assert.is(written + left, 40, "every message is either written (read) or unread");
    } finally {
      listener.kill("SIGKILL");
      reader.kill("SIGKILL");
    }
  });
}

/** Everything a FIFO's non-blocking read end gets until every writer has closed it, read once it is full. */
async function readWhenFull(readEnd: number, pid: number): Promise<Buffer[]> {
  // Written as much as the pipe holds (wchar counts the bytes its writes took).
  const wchar = () => Number(/^wchar: (\d+)/m.exec(fs.readFileSync(`/proc/${pid}/io`, "utf8"))?.[1] ?? 0);
  await waitUntil(() => wchar() >= 65536, 30_000, "the pipe to fill");
  const chunks: Buffer[] = [];
  for (;;) {
    const buffer = Buffer.alloc(1 << 20);
    let got: number;
    try {
      got = fs.readSync(readEnd, buffer);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EAGAIN") throw error;
      await sleep(5);
      continue;
    }
    if (got === 0) return chunks; // every writer closed: the command has ended
    chunks.push(buffer.subarray(0, got));
  }
}

// Under Deno a write to a full non-blocking pipe wrote part and threw EAGAIN without saying how much: the
// retry wrote that part again. The binary (bun) never did; both are run.
for (const runtime of ["binary", "deno"]) {
  test(`${runtime}: poll --json into a full pipe read later: each byte once, one whole JSON document`, async () => {
    // More than the pipe holds: the poll waits for room part-way through.
    const { repo, mail, readEnd, writeEnd } = messagesAndFifo("feat/slow-reader");
    const [cmd, ...pre] = orchCommand(runtime);
    const stdio: ["ignore", number, "pipe"] = ["ignore", writeEnd, "pipe"];
    const poll = spawn(cmd!, [...pre, "poll", "--json"], { cwd: repo, env: baseEnv(), stdio });
    fs.closeSync(writeEnd);
    let stderr = "";
    poll.stderr!.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    const exited = new Promise<number | null>((resolve) => poll.on("exit", (code) => resolve(code)));
    try {
      await waitUntil(() => fs.readdirSync(path.join(mail, "new")).length === 0, 60_000, "the poll to claim");
      const chunks = await readWhenFull(readEnd, poll.pid!);
      assert.is(chunks[0]!.length, 65536, "the pipe was full when its reader began");
      assert.is(await exited, 0, stderr);
      const out = JSON.parse(Buffer.concat(chunks).toString("utf8"));
      const summaries = out.messages.map((m: { content: { summary: string } }) => m.content.summary.split(" ")[0]);
      assert.equal(summaries, Array.from({ length: 40 }, (_, n) => `m${n}`));
    } finally {
      fs.closeSync(readEnd);
      poll.kill("SIGKILL");
    }
  });
}

test("watch | head -1 ends once head has its line, with no message after it; poll --wait whose reader is gone ends too", async () => {
  const { repo } = sessionRepo();
  notify(repo, "the one line");
  const [cmd, ...pre] = orchCommand();
  // A shell pipeline, as a user types it: node's own child pipes are socket pairs, not pipes.
  const pipeline = (reader: string, args: string[]) => {
    const child = spawn("sh", ["-c", `"$0" "$@" | ${reader}`, cmd!, ...pre, ...args], { cwd: repo, env: baseEnv() });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    return new Promise<{ stdout: string; stderr: string }>((resolve) => child.on("close", () => resolve({ stdout, stderr })));
  };
  // --timeout only bounds a watch that never notices: ending by it would say nothing on stderr.
  const watched = await pipeline("head -1", ["watch", "--timeout", "40"]);
  assert.is(JSON.parse(watched.stdout).content.summary, "the one line");
  assert.match(watched.stderr, /nothing reads standard output any more/);
  const polled = await pipeline("true", ["poll", "--wait", "--timeout", "40", "--json"]);
  assert.match(polled.stderr, /nothing reads standard output any more/);
  notify(repo, "after them");
  const next = orch(["poll", "--json"], { cwd: repo });
  assert.equal(next.json.messages.map((m: { content: { summary: string } }) => m.content.summary), ["after them"]);
});

test("poll --wait under another user's process (sshd above a login): ends once its pipeline's reader is gone", () => {
  if (process.getuid?.() !== 0) return console.log("SKIP: needs root to run orch as another user");
  const { repo } = sessionRepo();
  const nobody = Number(spawnSync("id", ["-u", "nobody"], { encoding: "utf8" }).stdout);
  for (let dir = repo; dir !== path.dirname(dir) && dir !== "/tmp"; dir = path.dirname(dir)) fs.chmodSync(dir, 0o755);
  spawnSync("chown", ["-R", `${nobody}:${nobody}`, repo]);
  const [binary] = orchCommand("binary");
  // runuser stays above the shell, root's (nobody may look into it) and, after setsid, in another session: the
  // shell made the pipe for its pipeline, so runuser never held it and does not count as its reader.
  const line = `"$0" poll --wait --timeout 30 | true`;
  const env = { ...baseEnv(), HOME: repo };
  const asNobody = ["-u", "nobody", "--", "setsid", "sh", "-c", line, binary!];
  const r = spawnSync("runuser", asNobody, { cwd: repo, env, encoding: "utf8" });
  assert.match(r.stderr, /nothing reads standard output any more/);
});

test.run();
