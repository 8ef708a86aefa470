// orch poll: oldest first, each message once, corrupt files quarantined, --wait and --timeout.

import fs from "node:fs";
import path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { forTerminal } from "../src/output.ts";
import { orch, orchAsync, sessionRepo, sleep, snapshot } from "./helpers.ts";

test("poll hands out messages oldest first, marks them read, and has nothing the second time", () => {
  const { repo, id } = sessionRepo();
  for (let i = 0; i < 5; i++) orch(["notify", "--type", "progress", "--summary", `m${i}`], { cwd: repo, env: { ORCH_WORKER: "w" } });
  const first = orch(["poll", "--json"], { cwd: repo });
  assert.is(first.code, 0);
  assert.is(first.json.message_count, 5);
  assert.equal(first.json.messages.map((m: { content: { summary: string } }) => m.content.summary), ["m0", "m1", "m2", "m3", "m4"]);
  assert.equal(Object.keys(first.json.messages[0]).sort(), ["content", "created_at", "id", "message_type", "worker_id"]);
  const second = orch(["poll", "--json"], { cwd: repo });
  assert.is(second.json.message_count, 0);
  const status = orch(["status", "--json"], { cwd: repo });
  assert.is(status.json.unread_count, 0);
  assert.is(status.json.total_messages, 5);
  assert.is(fs.readdirSync(path.join(repo, ".orch/sessions", id, "mail/cur")).length, 5);
});

test("corrupt and foreign files are quarantined, reported on stderr, and the rest delivered with exit 0", () => {
  const { repo, id } = sessionRepo();
  orch(["notify", "--type", "progress", "--summary", "good one"], { cwd: repo });
  const newDir = path.join(repo, ".orch/sessions", id, "mail/new");
  fs.writeFileSync(path.join(newDir, "notes.txt"), "hello");
  fs.writeFileSync(path.join(newDir, "msg_0000000000000000000.json"), '{"id": "msg_0000000');
  const misnamed = { id: "msg_2222222222222222222", message_type: "x", content: {}, created_at: "x" };
  fs.writeFileSync(path.join(newDir, "msg_1111111111111111111.json"), JSON.stringify(misnamed));
  fs.mkdirSync(path.join(newDir, "a-directory"));
  const r = orch(["poll", "--json"], { cwd: repo });
  assert.is(r.code, 0, r.stderr);
  assert.is(r.json.message_count, 1);
  assert.is(r.json.messages[0].content.summary, "good one");
  assert.is(r.stderr.split("\n").filter((l) => l.includes("quarantined")).length, 4, r.stderr);
  assert.is(fs.readdirSync(newDir).length, 0);
  assert.is(fs.readdirSync(path.join(repo, ".orch/sessions", id, "mail/quarantine")).length, 4);
  assert.is(orch(["poll", "--json"], { cwd: repo }).json.message_count, 0);
});

test("poll --wait returns as soon as a message arrives", async () => {
  const { repo } = sessionRepo();
  const waiting = orchAsync(["poll", "--wait", "--json"], { cwd: repo });
  await sleep(400);
  assert.is(waiting.child.exitCode, null, "still waiting with an empty mailbox");
  orch(["notify", "--type", "question", "--summary", "wake up"], { cwd: repo });
  const r = await waiting.done;
  assert.is(r.code, 0, r.stderr);
  assert.is(r.json.messages[0].content.summary, "wake up");
});

test("poll --wait --timeout exits 124 with an empty JSON result when nothing comes", () => {
  const { repo, id } = sessionRepo();
  const r = orch(["poll", "--wait", "--timeout", "0.2", "--json"], { cwd: repo });
  assert.is(r.code, 124);
  assert.is(r.json.success, false);
  assert.is(r.json.error.code, "timeout");
  assert.is(r.json.orchestrator_id, id);
  assert.is(r.json.message_count, 0);
  assert.equal(r.json.messages, []);
});

test("a bad --timeout is refused with exit 2 and changes nothing", () => {
  const { repo } = sessionRepo();
  orch(["notify", "--type", "progress", "--summary", "keep me"], { cwd: repo });
  const before = snapshot(path.join(repo, ".orch"));
  for (const value of ["abc", "-1", "1s", "", "NaN", "Infinity", "0x10", "1e309", ".", "e3", "+1", "1 ", " 5", "5\n"]) {
    const r = orch(["poll", "--wait", `--timeout=${value}`], { cwd: repo });
    assert.is(r.code, 2, `--timeout=${value}: ${r.stderr}`);
  }
  assert.equal(snapshot(path.join(repo, ".orch")), before);
  assert.is(orch(["poll", "--json"], { cwd: repo }).json.message_count, 1);
});

test("--timeout takes a decimal number as sleep does: .05, 0.05, 5e-2", () => {
  const { repo } = sessionRepo();
  for (const value of [".05", "0.05", "5e-2", "0."]) {
    const r = orch(["poll", "--wait", "--timeout", value, "--json"], { cwd: repo });
    assert.is(r.code, 124, `--timeout ${value}: ${r.stderr}`);
    assert.is(r.json.message_count, 0);
  }
});


test("poll's human form shows a worker's control characters escaped; --json keeps them; colours survive", () => {
  const { repo } = sessionRepo();
  const hostile = "evil\u001b]52;c;cHduZWQ=\u0007 \u001b[2J\r\u009b done";
  const sent = orch(["notify", "--type", "progress", "--summary", hostile, "--details", "a\n\tb"], { cwd: repo });
  assert.is(sent.code, 0, sent.stderr);
  const shown = orch(["poll"], { cwd: repo });
  assert.is(shown.code, 0, shown.stderr);
  assert.ok(shown.stdout.includes(String.raw`evil\x1b]52;c;cHduZWQ=\x07 \x1b[2J\x0d\x9b done`), shown.stdout);
  assert.match(shown.stdout, /a\n *\tb/, "newlines and tabs stay");
  assert.not.match(shown.stdout, /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/, "no control character reaches the terminal");
  orch(["notify", "--type", "progress", "--summary", hostile], { cwd: repo });
  const json = orch(["poll", "--json"], { cwd: repo });
  assert.is(json.json.messages[0].content.summary, hostile, "the data itself is unchanged");
  const red = "\u001b[31mred\u001b[39m";
  assert.is(forTerminal(`${red} \u001b]0;x\u0007`, true), `${red} \\x1b]0;x\\x07`, "orch's own colours stay on a terminal");
  assert.is(forTerminal(red, false), "\\x1b[31mred\\x1b[39m");
});

test.run();
