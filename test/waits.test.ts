// Every wait notices that what it waits on is gone, and every read of user input has a bound.

import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { orch, orchAsync, sessionRepo, sleep, tempDir, waitUntil, watching } from "./helpers.ts";

test("poll --wait whose store is deleted ends with a clear error, also when a new init follows", async () => {
  const { repo } = sessionRepo();
  const waiting = orchAsync(["poll", "--wait", "--json"], { cwd: repo });
  await sleep(500);
  fs.rmSync(path.join(repo, ".orch"), { recursive: true, force: true });
  assert.is(orch(["init"], { cwd: repo }).code, 0);
  const result = await waiting.done;
  assert.is(result.code, 1, result.stderr);
  assert.match(result.json.error.message, /removed/);
});

test("inbox --wait ends when its worker is removed; await ends when the session folder goes", async () => {
  const { repo } = sessionRepo();
  const wt = orch(["spawn", "feat/w", "--no-window", "--json"], { cwd: repo }).json.worktree_path as string;
  orch(["spawn", "feat/v", "--no-window"], { cwd: repo });
  const inbox = orchAsync(["inbox", "--wait", "--json"], { cwd: wt });
  await sleep(500);
  assert.is(orch(["rm", "feat/w", "--force", "--yes"], { cwd: repo }).code, 0);
  const inboxResult = await inbox.done;
  assert.is(inboxResult.code, 1, inboxResult.stderr);
  assert.match(inboxResult.stderr, /removed/);
  const awaiting = orchAsync(["await", "feat/v", "--json"], { cwd: repo });
  await sleep(500);
  fs.rmSync(path.join(repo, ".orch"), { recursive: true, force: true });
  const awaitResult = await awaiting.done;
  assert.is(awaitResult.code, 1, awaitResult.stderr);
  assert.match(awaitResult.stderr, /session .* removed while waiting/);
});

test("await of a worker removed while the wait was stopped (SIGSTOP): it counts as stopped", async () => {
  const { repo } = sessionRepo();
  assert.is(orch(["spawn", "feat/gone", "--no-window"], { cwd: repo }).code, 0);
  const wt = orch(["spawn", "feat/other", "--no-window", "--json"], { cwd: repo }).json.worktree_path as string;
  const waiting = orchAsync(["await", "feat/gone", "feat/other", "--timeout", "30", "--json"], { cwd: repo });
  await waitUntil(() => watching(waiting.child.pid!), 30_000, "the await to wait");
  // A laptop lid, a Ctrl-Z: the wait does not see the stop rm makes before the worker's folder goes.
  waiting.child.kill("SIGSTOP");
  assert.is(orch(["rm", "feat/gone", "--force", "--yes"], { cwd: repo }).code, 0);
  assert.is(orch(["notify", "--type", "task_complete", "--summary", "done"], { cwd: wt }).code, 0);
  waiting.child.kill("SIGCONT");
  const result = await waiting.done;
  // Before, the removed worker read as running for good: 124, "feat-gone running".
  assert.is(result.code, 0, result.stderr);
  const statuses = result.json.workers.map((w: { worker_id: string; status: string }) => [w.worker_id, w.status]);
  assert.equal(statuses, [["feat-gone", "stopped"], ["feat-other", "done"]]);
});

test("await while rm -rf .orch takes the workers, then the session: exit 1, the session was removed", async () => {
  const { repo, id } = sessionRepo();
  assert.is(orch(["spawn", "feat/w", "--no-window"], { cwd: repo }).code, 0);
  const waiting = orchAsync(["await", "feat/w", "--timeout", "30", "--json"], { cwd: repo });
  await waitUntil(() => watching(waiting.child.pid!), 30_000, "the await to wait");
  waiting.child.kill("SIGSTOP");
  // rm -rf half-way: the session's workers are gone, the session folder not yet.
  const session = path.join(repo, ".orch", "sessions", id);
  fs.rmSync(path.join(session, "workers"), { recursive: true });
  waiting.child.kill("SIGCONT");
  await sleep(200);
  fs.rmSync(path.join(repo, ".orch"), { recursive: true, force: true });
  const result = await waiting.done;
  // Not "feat-w stopped" (exit 0): the worker was not removed by orch, its whole session went.
  assert.is(result.code, 1, result.stdout);
  assert.match(result.stderr, /session .* removed while waiting/);
});

/** Debian's libfaketime, under the machine's multiarch folder (x86_64-linux-gnu, aarch64-linux-gnu, …). */
const FAKETIME = fs.readdirSync("/usr/lib").map((dir) => `/usr/lib/${dir}/faketime/libfaketime.so.1`)
  .find((file) => fs.existsSync(file));

/**
 * A wall clock that can be set while orch runs, as date -s, NTP or a restored VM sets it: libfaketime reads
 * the offset in `file` at every call. The monotonic clock is left alone, as a real jump leaves it.
 */
function settableClock(): { env: Record<string, string>; set: (offset: string) => void } {
  const file = path.join(tempDir("orch-clock-"), "offset");
  fs.writeFileSync(file, "+0\n");
  const env = { LD_PRELOAD: FAKETIME!, FAKETIME_TIMESTAMP_FILE: file, FAKETIME_NO_CACHE: "1",
    FAKETIME_DONT_FAKE_MONOTONIC: "1" };
  return { env, set: (offset) => fs.writeFileSync(file, `${offset}\n`) };
}

test("a wall clock set back an hour under poll --wait, watch and await: --timeout 5 still ends after 5 s", async () => {
  if (!FAKETIME) return console.log("SKIP: no libfaketime (apt-get install faketime)");
  const { repo } = sessionRepo();
  orch(["spawn", "feat/slow", "--no-window"], { cwd: repo });
  const clock = settableClock();
  const waits = [["poll", "--wait"], ["watch"], ["await", "feat/slow"]]
    .map((args) => orchAsync([...args, "--timeout", "5", "--json"], { cwd: repo, env: clock.env }));
  await waitUntil(() => waits.every((w) => watching(w.child.pid!)), 30_000, "the listeners to wait");
  clock.set("-1h");
  // Before, each waited for its deadline by the wall clock: an hour and 5 s.
  let ended = 0;
  for (const w of waits) void w.done.then(() => ended++);
  await waitUntil(() => ended === waits.length, 60_000, "the waits to time out");
  for (const w of waits) assert.is((await w.done).code, 124, (await w.done).stderr);
});

test("a wall clock set forward an hour under poll --wait and await: the wait goes on for what comes next", async () => {
  if (!FAKETIME) return console.log("SKIP: no libfaketime (apt-get install faketime)");
  const { repo } = sessionRepo();
  const wt = orch(["spawn", "feat/next", "--no-window", "--json"], { cwd: repo }).json.worktree_path as string;
  const clock = settableClock();
  const waits = [["poll", "--wait"], ["await", "feat/next"]]
    .map((args) => orchAsync([...args, "--timeout", "60", "--json"], { cwd: repo, env: clock.env }));
  await waitUntil(() => waits.every((w) => watching(w.child.pid!)), 30_000, "the listeners to wait");
  clock.set("+1h");
  // Longer than a waiter's re-scan (RESCAN_MS): before, each looked at the clock then and ended with 124.
  await sleep(2500);
  assert.is(orch(["notify", "--type", "task_complete", "--summary", "after the jump"], { cwd: wt }).code, 0);
  const [polled, awaited] = await Promise.all(waits.map((w) => w.done));
  assert.is(polled!.code, 0, polled!.stderr);
  assert.is(polled!.json.messages[0].content.summary, "after the jump");
  assert.is(awaited!.code, 0, awaited!.stderr);
  assert.is(awaited!.json.workers[0].status, "done");
});

test("--prompt-file /dev/zero, a FIFO or a folder is refused at once (exit 2), nothing created", () => {
  const { repo } = sessionRepo();
  const fifo = path.join(tempDir("orch-fifo-"), "prompt");
  spawnSync("mkfifo", [fifo]);
  for (const file of ["/dev/zero", fifo, repo]) {
    const r = orch(["spawn", "feat/p", "--no-window", "--prompt-file", file, "--json"], { cwd: repo });
    assert.is(r.code, 2, `${file}: ${r.stderr}`);
    assert.match(r.json.error.message, /not a regular file/);
  }
  assert.is(orch(["status", "--json"], { cwd: repo }).json.workers.length, 0);
});

test("a prompt on stdin or in a file larger than 16 MiB is refused with exit 2; /dev/zero as stdin ends", () => {
  const { repo } = sessionRepo();
  const big = path.join(tempDir("orch-big-"), "prompt.txt");
  fs.writeFileSync(big, Buffer.alloc(17 * 1024 * 1024, 0x61));
  const fromFile = orch(["spawn", "feat/big", "--no-window", "--prompt-file", big, "--json"], { cwd: repo });
  assert.is(fromFile.code, 2, fromFile.stderr);
  assert.match(fromFile.json.error.message, /larger than 16 MiB/);
  const spawnFromStdin = orchArgs(["spawn", "feat/zero", "--no-window", "-", "--json"]);
  const zero = spawnSync("sh", ["-c", `exec "$@" < /dev/zero`, "sh", ...spawnFromStdin], {
    cwd: repo,
    encoding: "utf8",
    timeout: 60_000,
  });
  assert.is(zero.status, 2, zero.stderr);
  assert.match(zero.stdout, /larger than 16 MiB/);
  assert.is(orch(["status", "--json"], { cwd: repo }).json.workers.length, 0);
  const sent = orch(["spawn", "feat/ok", "--no-window", "-", "--json"], { cwd: repo, input: "a normal prompt\n" });
  assert.is(sent.code, 0, sent.stderr);
});

test("a send whose stored message would be over 4 MiB is refused with exit 2, so nothing is sent that inbox drops", () => {
  const { repo } = sessionRepo();
  const wt = orch(["spawn", "feat/w", "--no-window", "--json"], { cwd: repo }).json.worktree_path as string;
  // Within the 1 MiB send takes, but JSON writes each control character as six bytes: 6 MiB as stored.
  const controls = "\x01".repeat(1024 * 1024 - 1);
  const refused = orch(["send", "feat-w", "-", "--json"], { cwd: repo, input: controls });
  assert.is(refused.code, 2, refused.stderr);
  assert.match(refused.json.error.message, /over the 4 MiB a reader takes: nothing was sent/);
  const inbox = path.join(repo, ".orch/sessions", orch(["status", "--json"], { cwd: repo }).json.orchestrator_id,
    "workers/feat-w/inbox");
  assert.equal(fs.readdirSync(path.join(inbox, "new")), []);
  assert.equal(fs.readdirSync(path.join(inbox, "tmp")), []);
  const plain = "x".repeat(1024 * 1024 - 1);
  assert.is(orch(["send", "feat-w", "-"], { cwd: repo, input: plain }).code, 0);
  const read = orch(["inbox", "--json"], { cwd: wt });
  assert.is(read.code, 0, read.stderr);
  assert.equal(read.json.messages.map((m: { content: { text: string } }) => m.content.text), [plain]);
  assert.equal(fs.readdirSync(path.join(inbox, "quarantine")), []);
});

function orchArgs(args: string[]): string[] {
  const { orchCommand } = helpers;
  return [...orchCommand(), ...args];
}
const helpers = await import("./helpers.ts");

test.run();
