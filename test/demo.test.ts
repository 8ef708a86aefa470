// orch demo: the README's main job runs end to end, shows the queue stopping at the conflict, and cleans up.

import fs from "node:fs";
import os from "node:os";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { orch, orchCommand, tempDir } from "./helpers.ts";
import { sshSkipReason } from "./ssh-harness.ts";

test("orch demo: four workers, one approved while blocked, the queue lands three and stops at the conflict, then cleans up", () => {
  const tmp = tempDir("orch-demo-home-");
  const before = fs.readdirSync(os.tmpdir()).filter((n) => n.startsWith("orch-demo-")).length;
  const r = orch(["demo", "--json"], { cwd: tmp });
  assert.is(r.code, 0, r.stderr);
  assert.equal(r.json.workers.map((w: { status: string }) => w.status), ["done", "done", "done", "done"]);
  assert.equal(r.json.approved, ["feat-price-list"], "the blocked worker was answered with orch approve");
  assert.equal(r.json.land.map((x: { worker_id: string; status: string }) => [x.worker_id, x.status]), [
    ["feat-usage-doc", "landed"],
    ["feat-price-list", "landed"],
    ["feat-greeting-en", "landed"],
    ["feat-greeting-fr", "conflict"],
  ]);
  assert.equal(r.json.land[3].conflict_paths, ["greeting.txt"]);
  assert.equal([...r.json.cleaned].sort(), ["feat-greeting-en", "feat-price-list", "feat-usage-doc"]);
  assert.not.ok(fs.existsSync(r.json.repository), "the scratch repository is removed");
  assert.is(fs.readdirSync(os.tmpdir()).filter((n) => n.startsWith("orch-demo-")).length, before);
  const human = orch(["demo"], { cwd: tmp });
  assert.is(human.code, 0, human.stderr);
  assert.match(human.stdout, /conflict\s+feat-greeting-fr/);
  assert.match(human.stdout, /Friendlier English greeting/);
  assert.match(human.stdout, /feat-price-list is blocked: it waits for approval of Bash: make prices.html/);
  assert.match(human.stdout, /orch approve feat-price-list/);
});

test("orch demo --hosts: the loop with workers on two local ssh hosts, which are gone again afterwards", () => {
  const skip = sshSkipReason();
  if (skip) return console.log(`SKIP: ${skip}`);
  const tmp = tempDir("orch-demo-home-");
  const before = fs.readdirSync(os.tmpdir()).filter((n) => n.startsWith("orch-demo-")).length;
  const r = orch(["demo", "--hosts", "--json"], { cwd: tmp });
  assert.is(r.code, 0, r.stderr);
  assert.equal(r.json.hosts.map((h: { name: string }) => h.name), ["north", "south"]);
  assert.equal(r.json.workers.map((w: { worker_id: string; status: string; host?: string }) => `${w.worker_id} ${w.status} ${w.host ?? "here"}`), [
    "feat-usage-doc done here",
    "feat-greeting-en done north",
    "feat-greeting-fr done south",
    "feat-price-list done south",
  ]);
  assert.equal(r.json.approved, ["feat-price-list"], "the worker blocked on south was approved through its host");
  assert.equal(r.json.land.map((x: { worker_id: string; status: string }) => [x.worker_id, x.status]), [
    ["feat-usage-doc", "landed"],
    ["feat-price-list", "landed"],
    ["feat-greeting-en", "landed"],
    ["feat-greeting-fr", "conflict"],
  ]);
  assert.equal([...r.json.cleaned].sort(), ["feat-greeting-en", "feat-price-list", "feat-usage-doc"]);
  for (const host of r.json.hosts as { user: string }[]) {
    assert.is.not(spawnSync("id", ["-u", host.user]).status, 0, `the account ${host.user} is deleted`);
  }
  assert.not.ok(fs.existsSync(r.json.repository), "the scratch folder is removed");
  assert.is(fs.readdirSync(os.tmpdir()).filter((n) => n.startsWith("orch-demo-")).length, before);
});

test("orch demo --hosts without root: one line, exit 1, nothing made", () => {
  if (process.getuid?.() !== 0) return console.log("SKIP: needs root to run orch as another user");
  const before = fs.readdirSync(os.tmpdir()).filter((n) => n.startsWith("orch-demo-")).length;
  const [binary] = orchCommand("binary");
  const r = spawnSync("runuser", ["-u", "nobody", "--", binary!, "demo", "--hosts"], { cwd: "/", encoding: "utf8" });
  assert.is(r.status, 1, r.stderr);
  assert.is(r.stdout, "");
  assert.is(r.stderr.trim().split("\n").length, 1, r.stderr);
  assert.match(r.stderr, /demo --hosts: .*needs root/);
  assert.is(fs.readdirSync(os.tmpdir()).filter((n) => n.startsWith("orch-demo-")).length, before);
});

test.run();
