// orch demo: the README's main job runs end to end, shows the queue stopping at the conflict, and cleans up.

import fs from "node:fs";
import os from "node:os";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { orch, tempDir } from "./helpers.ts";

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

test.run();
