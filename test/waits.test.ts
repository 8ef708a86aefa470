// Every wait notices that what it waits on is gone, and every read of user input has a bound.

import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { orch, orchAsync, sessionRepo, sleep, tempDir } from "./helpers.ts";

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
