// The mailbox against what it may find (FIFOs, folders, links, devices, oversized files, new/ replaced by
// a link) and the exactly-once holes: a closed stdout, a slow reader's claim, readers in other pid namespaces.

import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { baseEnv, orch, orchCommand, sessionRepo, tempDir, waitUntil } from "./helpers.ts";

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

function fakeMessage(id: string, n: number, summary: string): string {
  return JSON.stringify({
    id: fakeName(n).slice(0, -5),
    orchestrator_id: id,
    worker_id: "w",
    message_type: "progress",
    content: { summary },
    created_at: "2020-01-01T00:00:00Z",
  });
}

test("text fields that are not text in a hand-written message: left out, the message and its other fields kept", () => {
  const { repo, id } = sessionRepo();
  const mail = mailOf(repo, id);
  const message = JSON.parse(fakeMessage(id, 1, "x"));
  message.content = { summary: { a: 1 }, question: ["why"], details: 5, branch: "feat/x", commit_count: 3 };
  fs.writeFileSync(path.join(mail, "new", fakeName(1)), JSON.stringify(message));
  const json = orch(["poll", "--json"], { cwd: repo });
  assert.is(json.code, 0, json.stderr);
  assert.equal(json.json.messages[0].content, { branch: "feat/x", commit_count: 3 });
  fs.writeFileSync(path.join(mail, "new", fakeName(2)), JSON.stringify({ ...message, id: fakeName(2).slice(0, -5) }));
  const human = orch(["poll"], { cwd: repo });
  assert.is(human.code, 0, human.stderr);
  assert.match(human.stdout, /feat\/x/);
  assert.match(human.stdout, /^progress w: \(no summary\) \(/);
  assert.not.match(human.stdout, /\[object Object\]|why/);
});

/** A summary, with one over a kilobyte (a message that fills a pipe) shown by its length only. */
const shortSummaryOf = (m: { content: { summary: string } }) =>
  m.content.summary.length > 1024 ? `${m.content.summary.length} bytes` : m.content.summary;

/** The claim folders in the mailbox that no reader committed yet. */
function openClaims(mail: string): string[] {
  return fs.readdirSync(path.join(mail, "claims")).filter((name) => !name.endsWith(".done"));
}

/**
 * `orch poll --json` (in a new pid namespace of its own with `inNamespace`) into a pipe that nobody reads until
 * `release` writes to the gate FIFO: with a message bigger than the pipe, the poll holds its claim until then.
 */
function holdingPoll(repo: string, inNamespace: boolean) {
  const gate = path.join(tempDir("orch-gate-"), "gate");
  spawnSync("mkfifo", [gate]);
  const quoted = [...orchCommand(), "poll", "--json"].map((w) => `'${w}'`).join(" ");
  const line = `${quoted} | { read -r go < '${gate}'; cat; }`;
  const argv = inNamespace ? ["unshare", "--pid", "--fork", "--mount-proc", "sh", "-c", line] : ["sh", "-c", line];
  const child = spawn(argv[0]!, argv.slice(1), { cwd: repo, env: baseEnv(), stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let released = false;
  child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString("utf8")));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  const open = () => {
    if (!released && child.exitCode === null) fs.writeFileSync(gate, "go\n");
    released = true;
    return exited;
  };
  const release = async () => {
    await open();
    return JSON.parse(stdout);
  };
  /** Lets the reader finish whatever happened (a failed assertion would leave it waiting for ever). */
  const cleanUp = open;
  return { child, exited, release, cleanUp };
}

/** `orch poll --json` run inside a new pid namespace (with its own /proc), as in an agent's sandbox. */
function pollInNamespace(repo: string) {
  const r = spawnSync("unshare", ["--pid", "--fork", "--mount-proc", ...orchCommand(), "poll", "--json"], {
    cwd: repo,
    env: baseEnv(),
    encoding: "utf8",
  });
  assert.is(r.status, 0, r.stderr);
  return JSON.parse(r.stdout);
}

const asRoot = process.getuid?.() === 0
  && spawnSync("unshare", ["--pid", "--fork", "--mount-proc", "true"]).status === 0;

test("a poll in a pid namespace of its own leaves a live reader's claim outside alone: each message once", async () => {
  if (!asRoot) return console.log("SKIP: unshare --pid needs root");
  const { repo, id } = sessionRepo();
  const mail = mailOf(repo, id);
  const big = "x".repeat(1024 * 1024);
  fs.writeFileSync(path.join(mail, "new", fakeName(10)), fakeMessage(id, 10, big));
  const outside = holdingPoll(repo, false);
  try {
    await waitUntil(() => openClaims(mail).length === 1 && fs.readdirSync(path.join(mail, "new")).length === 0,
      10_000, "the reader outside to claim the big message");
    const [claim] = openClaims(mail);
    notify(repo, "small");
    const inside = pollInNamespace(repo);
    assert.equal(inside.messages.map(shortSummaryOf), ["small"], "the poll inside took only the unclaimed message");
    assert.equal(openClaims(mail), [claim], "the claim outside is still held");
    const held = await outside.release();
    assert.is(await outside.exited, 0);
    const handedOut = held.messages.map(shortSummaryOf);
    assert.equal(handedOut, [`${big.length} bytes`], "the reader outside handed out its message");
    assert.is(orch(["poll", "--json"], { cwd: repo }).json.message_count, 0, "nothing is handed out twice");
  } finally {
    await outside.cleanUp();
  }
});

test("a reader outside leaves a live claim of a reader in a pid namespace inside, and takes it back once the " +
  "namespace is killed", async () => {
  if (!asRoot) return console.log("SKIP: unshare --pid needs root");
  const { repo, id } = sessionRepo();
  const mail = mailOf(repo, id);
  const big = "y".repeat(1024 * 1024);
  fs.writeFileSync(path.join(mail, "new", fakeName(11)), fakeMessage(id, 11, big));
  const inside = holdingPoll(repo, true);
  try {
    await waitUntil(() => openClaims(mail).length === 1 && fs.readdirSync(path.join(mail, "new")).length === 0,
      10_000, "the reader inside to claim the big message");
    const [claim] = openClaims(mail);
    const here = fs.readlinkSync("/proc/self/ns/pid");
    assert.is.not(`pid:[${claim!.split(".")[2]}]`, here, `the claim names the reader's own namespace: ${claim}`);
    const meanwhile = orch(["poll", "--json"], { cwd: repo });
    assert.is(meanwhile.json.message_count, 0, "a reader outside finds the reader inside alive: it leaves the claim");
    assert.equal(openClaims(mail), [claim]);
    // The namespace's first process (unshare's child): killing it ends every process of the namespace.
    const unshare = inside.child.pid!;
    const init = Number(fs.readFileSync(`/proc/${unshare}/task/${unshare}/children`, "utf8").trim());
    process.kill(init, "SIGKILL");
    await inside.exited;
    assert.equal(openClaims(mail), [claim], "the killed reader left its claim");
  } finally {
    await inside.cleanUp();
  }
  const after = orch(["poll", "--json"], { cwd: repo });
  assert.is(after.code, 0, after.stderr);
  // Only a reader in the machine's first pid namespace sees every process; one in a container cannot tell a
  // namespace that is gone from one it cannot see, and leaves the claim (as the README says).
  if (fs.readlinkSync("/proc/self/ns/pid") !== "pid:[4026531836]") {
    assert.is(after.json.message_count, 0, "a reader in a container leaves the claim of a namespace it cannot see");
    return console.log("SKIP: the take-back needs the machine's first pid namespace (this runs in a container)");
  }
  assert.equal(after.json.messages.map(shortSummaryOf), [`${big.length} bytes`], "the message is delivered, once");
  assert.is(orch(["poll", "--json"], { cwd: repo }).json.message_count, 0);
});

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
