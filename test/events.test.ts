// A worker's event log (store/events.ts): each event linked under the next sequence number, found from the
// names already there, one number per event when many processes link at once.

import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { linkEvent, readEventLog } from "../src/store/events.ts";
import { orch, orchAsync, privateTmux, sessionRepo, sleepingAgent, tempDir, waitUntil } from "./helpers.ts";

function eventFile(dir: string): string {
  const file = path.join(dir, `msg-${Math.random().toString(36).slice(2)}.json`);
  fs.writeFileSync(file, "{}");
  return file;
}

test("the next number follows the highest there, whatever else the log holds", () => {
  const root = tempDir("orch-events-");
  const log = path.join(root, "events");
  fs.mkdirSync(log);
  linkEvent(log, eventFile(root), "spawned", "msg_a");
  assert.equal(readEventLog(log).map((e) => e.seq), [0], "an empty log starts at 0");
  // An older log's names (<id>.<type>.json), a stray file, and numbers out of order.
  const others = ["msg_old.progress.json", "notes.txt"];
  others.push("000000000041.progress.msg_b.json", "000000000007.x.msg_c.json");
  for (const name of others) fs.writeFileSync(path.join(log, name), "{}");
  linkEvent(log, eventFile(root), "progress", "msg_d");
  const seqAndId = (dir: string) => readEventLog(dir).map((e) => [e.seq, e.id]);
  assert.equal(seqAndId(log), [[-1, "msg_old"], [0, "msg_a"], [7, "msg_c"], [41, "msg_b"], [42, "msg_d"]]);
  // Each number it gave is taken for good by its bare name, a second link to the same event.
  for (const n of ["000000000000", "000000000042"]) assert.ok(fs.existsSync(path.join(log, n)), n);
  const inode = (name: string) => fs.statSync(path.join(log, name)).ino;
  assert.is(inode("000000000042"), inode("000000000042.progress.msg_d.json"));
  // A number taken without its event (a writer killed between its two links) is passed over.
  fs.writeFileSync(path.join(log, "000000000043"), "");
  linkEvent(log, eventFile(root), "progress", "msg_g");
  assert.equal(seqAndId(log).slice(-2), [[42, "msg_d"], [44, "msg_g"]]);
  // A name that looks numbered but is not is read apart, not trusted.
  fs.writeFileSync(path.join(log, "99999999x999.progress.msg_e.json"), "{}");
  linkEvent(log, eventFile(root), "progress", "msg_f");
  assert.equal(readEventLog(log).at(-1)!.id, "msg_f");
  assert.is(readEventLog(log).at(-1)!.seq, 45);
  // A log with only the older names starts at 0.
  const old = path.join(root, "old");
  fs.mkdirSync(old);
  fs.writeFileSync(path.join(old, "msg_x.progress.json"), "{}");
  linkEvent(old, eventFile(root), "progress", "msg_y");
  assert.equal(readEventLog(old).map((e) => e.seq), [-1, 0]);
});

test("a gap left before the clock was set back does not hold the next writer until the clock catches up", () => {
  const root = tempDir("orch-events-");
  const log = path.join(root, "events");
  fs.mkdirSync(log);
  linkEvent(log, eventFile(root), "spawned", "msg_a");
  // A writer killed between its two links, just now; then the clock goes back an hour.
  fs.writeFileSync(path.join(log, "000000000001"), "");
  const events = new URL("../src/store/events.js", import.meta.url).href;
  const script = `Date.now = () => performance.timeOrigin + performance.now() - 3600000;
    const { nextEventSeq } = await import(${JSON.stringify(events)});
    process.stdout.write(String(nextEventSeq(${JSON.stringify(log)})));`;
  const run = spawnSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8", timeout: 30_000 });
  assert.is(run.signal, null, "nextEventSeq returned (it waited on the gap as on a writer at work)");
  assert.is(run.stdout, "2", run.stderr);
});

test("8 processes notifying as one worker at once: one number per event, none skipped, each in order", async () => {
  const { repo, id } = sessionRepo();
  const spawned = orch(["spawn", "feat/log", "--no-window", "--json"], { cwd: repo });
  assert.is(spawned.code, 0, spawned.stderr);
  const worktree = spawned.json.worktree_path as string;
  const log = path.join(repo, ".orch/sessions", id, "workers", "feat-log", "events");
  const before = readEventLog(log).length;
  const senders = Array.from({ length: 8 }, async (_, s) => {
    for (let n = 0; n < 25; n++) {
      const run = orchAsync(["notify", "--type", "progress", "--summary", `s${s}:${n}`], { cwd: worktree });
      assert.is((await run.done).code, 0);
    }
  });
  await Promise.all(senders);
  const entries = readEventLog(log);
  assert.is(entries.length, before + 200);
  assert.equal(entries.map((e) => e.seq), entries.map((_, i) => i), "0, 1, 2, … with none twice and none skipped");
  const summaryOf = (name: string) => JSON.parse(fs.readFileSync(path.join(log, name), "utf8")).content.summary;
  const summaries = entries.slice(before).map((e) => summaryOf(e.name));
  for (let s = 0; s < 8; s++) {
    const mine = summaries.filter((x: string) => x.startsWith(`s${s}:`)).map((x: string) => Number(x.split(":")[1]));
    assert.equal(mine, Array.from({ length: 25 }, (_, n) => n), `s${s}'s events in the order it sent them`);
  }
});

test("a hook paused between its two links as it records a turn: send types no wake-up line into it", async () => {
  const env = privateTmux();
  const { repo, id } = sessionRepo();
  const args = ["spawn", "feat/busy", "--agent", sleepingAgent(), "--prompt", "work", "--json"];
  const spawned = orch(args, { cwd: repo, env });
  assert.is(spawned.code, 0, spawned.stderr);
  const alive = () => orch(["status", "--json"], { cwd: repo, env }).json.workers[0].alive === true;
  await waitUntil(alive, 20_000, "the agent to run");
  const idle = orch(["notify", "--type", "idle", "--summary", "turn ended"], { cwd: spawned.json.worktree_path, env });
  assert.is(idle.code, 0, idle.stderr);
  // What the hook of the next turn leaves while it is stopped between its two links: the event's bare number.
  const events = path.join(repo, ".orch", "sessions", id, "workers", "feat-busy", "events");
  const next = Math.max(...readEventLog(events).map((entry) => entry.seq)) + 1;
  const turn = {
    id: "msg_0hoh2l3rhmu5lzsfebc", orchestrator_id: id, worker_id: "feat-busy", message_type: "turn_started",
    content: { summary: "the agent is at work again" }, created_at: new Date().toISOString() };
  fs.writeFileSync(path.join(events, String(next).padStart(12, "0")), JSON.stringify(turn));
  const sent = orch(["send", "feat-busy", "one more thing", "--json"], { cwd: repo, env });
  assert.is(sent.code, 0, sent.stderr);
  assert.is(sent.json.woken, false, "the wake-up line was typed into the turn the hook records");
  assert.not.ok(readEventLog(events).some((entry) => entry.type === "woken"));
});

test.run();
