// The mailbox against what it may find (FIFOs, folders, links, devices, oversized files, new/ replaced by
// a link) and the two exactly-once holes: a closed stdout, and a slow reader's claim.

import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { orch, orchCommand, sessionRepo, tempDir, waitUntil } from "./helpers.ts";

function mailOf(repo: string, id: string): string {
  return path.join(repo, ".orch", "sessions", id, "mail");
}

/** A real message name: msg_ + 19 of [a-z0-9], sorting before anything notify makes now. */
function fakeName(n: number): string {
  return `msg_0000000000${String(n).padStart(9, "0")}.json`;
}

function notify(repo: string, summary: string): void {
  const r = orch(["notify", "--type", "progress", "--summary", summary], { cwd: repo, env: { ORCH_WORKER: "w1" } });
  assert.is(r.code, 0, r.stderr);
}

test("a FIFO, a folder, a link to /dev/zero, a link outside and an oversized file under message names: " +
  "quarantined, the rest delivered", () => {
  const { repo, id } = sessionRepo();
  const mail = mailOf(repo, id);
  const outside = tempDir("orch-outside-");
  fs.writeFileSync(path.join(outside, "precious.txt"), "keep\n");
  notify(repo, "before");
  spawnSync("mkfifo", [path.join(mail, "new", fakeName(1))]);
  fs.mkdirSync(path.join(mail, "new", fakeName(2)));
  fs.writeFileSync(path.join(mail, "new", fakeName(2), "inner"), "x");
  fs.symlinkSync("/dev/zero", path.join(mail, "new", fakeName(3)));
  fs.symlinkSync(outside, path.join(mail, "new", fakeName(4)));
  fs.writeFileSync(path.join(mail, "new", fakeName(5)), Buffer.alloc(5 * 1024 * 1024, 0x20));
  if (process.getuid?.() === 0) spawnSync("mknod", [path.join(mail, "new", fakeName(6)), "c", "1", "5"]);
  notify(repo, "after");
  const r = orch(["poll", "--json"], { cwd: repo });
  assert.is(r.code, 0, r.stderr);
  assert.equal(r.json.messages.map((m: { content: { summary: string } }) => m.content.summary), ["before", "after"]);
  for (const why of ["a FIFO", "a folder", "a symbolic link", "larger than"]) assert.match(r.stderr, new RegExp(`quarantined .*: ${why}`));
  const quarantined = fs.readdirSync(path.join(mail, "quarantine"));
  assert.is(quarantined.length, process.getuid?.() === 0 ? 6 : 5);
  assert.equal(fs.readdirSync(outside), ["precious.txt"], "nothing moved out of the folder a link named");
  assert.is(orch(["poll", "--json"], { cwd: repo }).json.message_count, 0, "later polls are not blocked");
});

test("new/ replaced by a link to a folder outside: moved aside within the store, nothing taken from outside", () => {
  const { repo, id } = sessionRepo();
  const mail = mailOf(repo, id);
  const outside = tempDir("orch-outside-");
  fs.writeFileSync(path.join(outside, fakeName(7)), JSON.stringify({ id: fakeName(7).slice(0, -5) }));
  fs.rmSync(path.join(mail, "new"), { recursive: true });
  fs.symlinkSync(outside, path.join(mail, "new"));
  const r = orch(["poll", "--json"], { cwd: repo });
  assert.is(r.code, 0, r.stderr);
  assert.is(r.json.message_count, 0);
  assert.match(r.stderr, /symbolic link in place of the mailbox's new\//);
  assert.equal(fs.readdirSync(outside), [fakeName(7)]);
  assert.ok(fs.lstatSync(path.join(mail, "new")).isDirectory(), "a real new/ again");
  notify(repo, "delivered");
  const polled = orch(["poll", "--json"], { cwd: repo }).json.messages;
  assert.equal(polled.map((m: { content: { summary: string } }) => m.content.summary), ["delivered"]);
  assert.equal(fs.readdirSync(outside), [fakeName(7)]);
});

test("tmp/ replaced by a link: notify does not write through it and the message is still delivered", () => {
  const { repo, id } = sessionRepo();
  const mail = mailOf(repo, id);
  const outside = tempDir("orch-outside-");
  fs.rmSync(path.join(mail, "tmp"), { recursive: true });
  fs.symlinkSync(outside, path.join(mail, "tmp"));
  notify(repo, "through");
  assert.equal(fs.readdirSync(outside), []);
  assert.is(orch(["poll", "--json"], { cwd: repo }).json.messages[0].content.summary, "through");
});

for (const [what, redirect] of [["closed", ">&-"], ["/dev/full", ">/dev/full"]] as const) {
  test(`poll with stdout ${what} fails and marks nothing read`, () => {
    const { repo } = sessionRepo();
    notify(repo, "keep me");
    const [cmd, ...pre] = orchCommand();
    const quoted = [cmd!, ...pre, "poll", "--json"].map((w) => `'${w}'`).join(" ");
    const r = spawnSync("sh", ["-c", `exec ${quoted} ${redirect}`], { cwd: repo, encoding: "utf8", env: { ...process.env, ORCH_ID: "" } });
    assert.is(r.status, 1, r.stderr);
    assert.not.match(r.stderr, /internal error|at .*:\d+:\d+/);
    const again = orch(["poll", "--json"], { cwd: repo });
    assert.equal(again.json.messages.map((m: { content: { summary: string } }) => m.content.summary), ["keep me"]);
  });
}

test("a live reader's claim is never taken back, however old; a claim whose pid now names another process is", async () => {
  const { repo, id } = sessionRepo();
  const mail = mailOf(repo, id);
  const slow = spawnSync("sh", ["-c", "sleep 300 >/dev/null 2>&1 & echo $!"], { encoding: "utf8" });
  const pid = Number(slow.stdout.trim());
  const start = fs.readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ")[19]!;
  const message = (n: number) => JSON.stringify({
    id: fakeName(n).slice(0, -5),
    orchestrator_id: id,
    worker_id: "w",
    message_type: "progress",
    content: { summary: `m${n}` },
    created_at: "2020-01-01T00:00:00Z",
  });
  const liveClaim = path.join(mail, "claims", `${pid}.${start}.slow`);
  const reusedClaim = path.join(mail, "claims", `${pid}.${Number(start) + 1}.reused`);
  fs.mkdirSync(liveClaim);
  fs.mkdirSync(reusedClaim);
  fs.writeFileSync(path.join(liveClaim, fakeName(8)), message(8));
  fs.writeFileSync(path.join(reusedClaim, fakeName(9)), message(9));
  const hourAgo = new Date(Date.now() - 3600_000);
  for (const p of [liveClaim, reusedClaim, path.join(liveClaim, fakeName(8))]) fs.utimesSync(p, hourAgo, hourAgo);
  const first = orch(["poll", "--json"], { cwd: repo });
  const summaryOf = (m: { content: { summary: string } }) => m.content.summary;
  assert.equal(first.json.messages.map(summaryOf), ["m9"], "only the reused pid's claim came back");
  assert.ok(fs.existsSync(path.join(liveClaim, fakeName(8))), "the live reader keeps its claim");
  process.kill(pid, "SIGKILL");
  await waitUntil(
    () => !fs.existsSync(`/proc/${pid}`) || fs.readFileSync(`/proc/${pid}/stat`, "utf8").includes(") Z"),
    10_000,
    "the reader to die",
  );
  const second = orch(["poll", "--json"], { cwd: repo });
  assert.equal(second.json.messages.map(summaryOf), ["m8"], "a dead reader's claim is delivered");
});

test.run();
