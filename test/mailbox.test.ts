// The mailbox under load and under kill -9: many real notify and poll processes at once.

import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { baseEnv, orch, orchAsync, orchCommand, sessionRepo, sleep, tempDir, waitUntil, type Result } from "./helpers.ts";

interface Received {
  id: string;
  worker_id: string;
  content: { summary: string };
}

/** A sender loop: `count` notifies one after another, as worker `name`; resolves with the exit codes. */
async function sender(repo: string, name: string, count: number, onChild?: (kill: () => void) => void): Promise<number[]> {
  const codes: number[] = [];
  for (let n = 0; n < count; n++) {
    const run = orchAsync(["notify", "--type", "progress", "--summary", `${name}:${n}`, "--details", "x".repeat(200)], {
      cwd: repo,
      env: { ORCH_WORKER: name },
    });
    onChild?.(() => run.child.kill("SIGKILL"));
    codes.push((await run.done).code);
  }
  return codes;
}

/** A poll loop until `stop()` says so: every complete JSON output it got. */
async function poller(repo: string, stop: () => boolean, onChild?: (kill: () => void) => void): Promise<Result[]> {
  const outputs: Result[] = [];
  while (!stop()) {
    const run = orchAsync(["poll", "--wait", "--timeout", "0.5", "--json"], { cwd: repo });
    onChild?.(() => run.child.kill("SIGKILL"));
    outputs.push(await run.done);
  }
  return outputs;
}

function messagesOf(outputs: Result[]): Received[] {
  // A poller killed while writing leaves no complete JSON document: it delivered nothing.
  return outputs.filter((o) => o.json && o.json.success).flatMap((o) => o.json.messages as Received[]);
}

function assertSenderOrder(outputs: Result[]): void {
  for (const output of outputs.filter((o) => o.json?.success)) {
    const last = new Map<string, number>();
    for (const m of output.json.messages as Received[]) {
      const [who, n] = m.content.summary.split(":");
      assert.ok(Number(n) > (last.get(who!) ?? -1), `${who}'s messages keep their order within a poll`);
      last.set(who!, Number(n));
    }
  }
}

test("16 senders x 50 messages with 4 pollers at once: every message handed out exactly once, in each sender's order", async () => {
  const { repo, id } = sessionRepo();
  let sending = true;
  const senders = Array.from({ length: 16 }, (_, i) => sender(repo, `s${i}`, 50));
  const pollers = Array.from({ length: 4 }, () => poller(repo, () => !sending));
  const codes = (await Promise.all(senders)).flat();
  sending = false;
  const outputs = (await Promise.all(pollers)).flat();
  outputs.push(orch(["poll", "--json"], { cwd: repo }));
  assert.equal(codes.filter((c) => c !== 0), [], "every notify exited 0");
  // Readers finishing their claims at once never trip each other up (a claim folder gone meanwhile).
  const failed = outputs.filter((o) => o.code !== 0 && o.code !== 124);
  assert.equal(failed.map((o) => o.stderr), [], "every poll answered (or timed out)");
  const received = messagesOf(outputs);
  assert.is(received.length, 800, "all 800 delivered");
  assert.is(new Set(received.map((m) => m.id)).size, 800, "no duplicates");
  assert.is(new Set(received.map((m) => m.content.summary)).size, 800);
  assertSenderOrder(outputs);
  // Ids sort by creation: each sender's messages, in id order, are 0..49.
  const byId = [...received].sort((a, b) => a.id.localeCompare(b.id));
  for (let i = 0; i < 16; i++) {
    const mine = byId.filter((m) => m.worker_id === `s${i}`).map((m) => Number(m.content.summary.split(":")[1]));
    assert.equal(mine, Array.from({ length: 50 }, (_, n) => n), `s${i} in order`);
  }
  const mail = path.join(repo, ".orch/sessions", id, "mail");
  assert.is(fs.readdirSync(path.join(mail, "new")).length, 0);
  assert.is(fs.readdirSync(path.join(mail, "claims")).length, 0);
  assert.is(fs.readdirSync(path.join(mail, "cur")).length, 800);
});

test("kill -9 of senders and pollers at random moments: whole messages, none lost, a second copy only from a killed poll", async () => {
  const { repo, id } = sessionRepo();
  const live = new Set<() => void>();
  const track = (kill: () => void) => live.add(kill);
  let sending = true;
  let kills = 0;
  const killer = (async () => {
    while (sending) {
      await sleep(15 + Math.random() * 40);
      const victims = [...live];
      const victim = victims[Math.floor(Math.random() * victims.length)];
      if (victim) {
        victim();
        live.delete(victim);
        kills++;
      }
    }
  })();
  const senders = Array.from({ length: 8 }, (_, i) => sender(repo, `k${i}`, 30, track));
  const pollers = [poller(repo, () => !sending, track), poller(repo, () => !sending, track)];
  const codes = await Promise.all(senders);
  sending = false;
  await killer;
  const outputs = (await Promise.all(pollers)).flat();
  // The next command after the burst is not blocked by anything the killed processes left.
  const started = Date.now();
  const drain = orch(["poll", "--json"], { cwd: repo });
  outputs.push(drain);
  assert.is(drain.code, 0, drain.stderr);
  assert.ok(Date.now() - started < 5000, "the drain was not held up by a stale lock");
  assert.ok(kills >= 10, `the test killed processes (${kills})`);

  const received = messagesOf(outputs);
  // A poller killed after its whole answer was written and before it marked it read hands those messages
  // out again (at least once, as the README says): a second copy must always be one such killed poll's.
  const finished = messagesOf(outputs.filter((o) => o.code !== 137)).map((m) => m.id);
  assert.is(new Set(finished).size, finished.length, "no message delivered twice by polls that finished");
  for (const m of received) assert.match(m.content.summary, /^k\d:\d+$/, "every delivered message is whole");
  const got = new Set(received.map((m) => m.content.summary));
  codes.forEach((list, i) => list.forEach((code, n) => {
    if (code === 0) assert.ok(got.has(`k${i}:${n}`), `confirmed message k${i}:${n} was delivered`);
  }));
  const mail = path.join(repo, ".orch/sessions", id, "mail");
  assert.is(fs.readdirSync(path.join(mail, "new")).length, 0, "nothing left unread");
  assert.equal(fs.readdirSync(path.join(mail, "claims")), [], "no abandoned claim left");
  for (const name of fs.readdirSync(path.join(mail, "cur"))) JSON.parse(fs.readFileSync(path.join(mail, "cur", name), "utf8"));
});

test("root's notify and a root reader killed mid-claim in another user's store: the owner's poll gets the rest, each once", async () => {
  if (process.getuid?.() !== 0) {
    console.log("SKIP: writing as root into another user's store needs root");
    return;
  }
  const home = tempDir("orch-owner-");
  fs.chownSync(home, 65534, 65534);
  const asOwner = (args: string[]) => {
    const run = spawnSync("setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", ...orchCommand(), ...args], {
      cwd: home, env: baseEnv({ HOME: home, ORCH_HOME: path.join(home, "store") }), encoding: "utf8",
    });
    return { code: run.status, stderr: run.stderr, json: run.status === 0 ? JSON.parse(run.stdout) : undefined };
  };
  const init = asOwner(["init", "--json"]);
  if (init.code !== 0 && /permission denied/i.test(init.stderr)) {
    console.log(`SKIP: uid 65534 cannot reach ${home}`);
    return;
  }
  assert.is(init.code, 0, init.stderr);
  const asRoot = { cwd: home, env: { HOME: home, ORCH_HOME: path.join(home, "store") } };
  for (let n = 0; n < 6; n++) {
    const sent = orch(["notify", "--type", "progress", "--summary", `root ${n}`, "--details", "z".repeat(100_000)], asRoot);
    assert.is(sent.code, 0, sent.stderr);
  }
  // A watch whose reader does not read: it claims all six, writes until the socket is full, and is killed there.
  const watch = orchAsync(["watch"], asRoot);
  watch.child.stdout!.pause();
  const claims = fs.readdirSync(path.join(home, "store", "sessions"))
    .map((id) => path.join(home, "store", "sessions", id, "mail", "claims"))[0]!;
  await waitUntil(() => fs.readdirSync(claims).length > 0, 30_000, "the watch's claim");
  await sleep(500);
  // Read on only once it is dead: a writer blocked on a full socket that gets room before it sees the
  // SIGKILL finishes that write, and dies before marking the line read (README: at least once).
  const dead = new Promise((resolve) => watch.child.on("exit", resolve));
  watch.child.kill("SIGKILL");
  await dead;
  watch.child.stdout!.resume();
  // A line counts once its newline is out: the last piece, cut by the kill, was never handed out.
  const printed = (await watch.done).stdout.split("\n").slice(0, -1).map((line) => JSON.parse(line).id);
  const polled = asOwner(["poll", "--json"]);
  assert.is(polled.code, 0, polled.stderr);
  const ids = [...printed, ...polled.json.messages.map((m: { id: string }) => m.id)];
  assert.ok(polled.json.messages.length > 0, "the watch was killed with messages still claimed");
  assert.is(ids.length, 6, `every message once: ${printed.join(" ")} printed, then ${ids.slice(printed.length).join(" ")}`);
  assert.is(new Set(ids).size, 6);
});

test.run();
