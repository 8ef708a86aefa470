// Which session a command takes without --orch: the newest (CONTRACT.md), and while another session of the store is
// in use too (two orchestrators at one repository), a line on stderr naming them and --orch.

import fs from "node:fs";
import path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { commitFiles, orch, orchAsync, sessionRepo, sleep, waitUntil, type PolledMessage } from "./helpers.ts";

/** Two orchestrators at one repository, A (older) and B, each with a worker that has sent one progress message. */
function twoOrchestrators(): { repo: string; a: string; b: string; worktreeA: string; worktreeB: string } {
  const { repo, id: a } = sessionRepo();
  const spawnedA = orch(["spawn", "feat/a", "--no-window", "--json", "--orch", a], { cwd: repo });
  assert.is(spawnedA.code, 0, spawnedA.stderr);
  const b = orch(["init"], { cwd: repo }).stdout.trim();
  const spawnedB = orch(["spawn", "feat/b", "--no-window", "--json", "--orch", b], { cwd: repo });
  assert.is(spawnedB.code, 0, spawnedB.stderr);
  const worktreeA = spawnedA.json.worktree_path as string;
  const worktreeB = spawnedB.json.worktree_path as string;
  for (const [worktree, summary] of [[worktreeA, "from a"], [worktreeB, "from b"]]) {
    const sent = orch(["notify", "--type", "progress", "--summary", summary!, "--json"], { cwd: worktree });
    assert.is(sent.code, 0, sent.stderr);
  }
  return { repo, a, b, worktreeA, worktreeB };
}

const summaries = (messages: PolledMessage[]) => messages.map((m) => m.content.summary);

test("two orchestrators in one repository: a command without --orch takes the newest session, as the contract " +
  "says, with one line on stderr naming both sessions and --orch", () => {
  const { repo, a, b, worktreeA } = twoOrchestrators();
  const warning = `more than one orchestrator session in ${path.join(repo, ".orch")} is in use: ` +
    `${a} (1 worker, 1 unread message), ${b} (the newest; 1 worker, 1 unread message); taking the newest, ${b}: ` +
    "if yours is another, name it with --orch ID (or $ORCH_ID)";
  for (const args of [["status"], ["list"], ["diff", "feat-b"]]) {
    const r = orch([...args, "--json"], { cwd: repo });
    assert.is(r.code, 0, `${args.join(" ")}: ${r.stderr}`);
    assert.is(r.stderr.trim(), `orch: ${warning}`, args.join(" "));
  }
  const listed = orch(["list", "--json"], { cwd: repo });
  assert.equal(listed.json.workers.map((w: { worker_id: string }) => w.worker_id), ["feat-b"], "the newest's workers");
  const polled = orch(["poll", "--json"], { cwd: repo });
  assert.is(polled.stderr.trim(), `orch: ${warning}`);
  assert.equal(summaries(polled.json.messages), ["from b"], "the newest's message, and only it");
  // The other's message is still its own, for a poll that names it.
  assert.equal(summaries(orch(["poll", "--json"], { cwd: repo, env: { ORCH_ID: a } }).json.messages), ["from a"]);
  const named = orch(["status", "--json", "--orch", a], { cwd: repo });
  assert.is(named.stderr, "", "a command that names its session hears nothing");
  // A worker's own commands go by its worktree's marker, as before.
  const fromA = orch(["notify", "--type", "progress", "--summary", "again", "--json"], { cwd: worktreeA });
  assert.is(fromA.json.orchestrator_id, a, fromA.stderr);
  assert.is(fromA.stderr, "");
});

test("a session is in use while it has workers or unread messages: once the other's are removed and read, " +
  "the newest is taken unsaid", () => {
  const { repo, a } = twoOrchestrators();
  assert.is(orch(["rm", "feat-a", "--force", "--orch", a], { cwd: repo }).code, 0);
  // A's unread message alone keeps it in use.
  const unread = orch(["status", "--json"], { cwd: repo });
  assert.is(unread.code, 0, unread.stderr);
  assert.ok(unread.stderr.includes(`${a} (1 unread message)`), unread.stderr);
  assert.is(orch(["poll", "--orch", a], { cwd: repo }).code, 0);
  const taken = orch(["poll", "--json"], { cwd: repo });
  assert.is(taken.code, 0, taken.stderr);
  assert.is(taken.stderr, "");
  assert.equal(summaries(taken.json.messages), ["from b"]);
  // The newest in use and an older one not in use: the newest, as always.
  const { repo: other, id: old } = sessionRepo();
  const fresh = orch(["init"], { cwd: other }).stdout.trim();
  const spawned = orch(["spawn", "feat/x", "--no-window", "--json"], { cwd: other });
  assert.is(spawned.json.orchestrator_id, fresh, spawned.stderr);
  assert.equal(orch(["list", "--json", "--orch", old], { cwd: other }).json.workers, []);
});

test("init says when another session of the store is in use, and that commands must name the new one", () => {
  const { repo, id: a } = sessionRepo();
  const quiet = orch(["init"], { cwd: repo });
  assert.is(quiet.stderr.trim().split("\n").length, 1, `no other session in use: ${quiet.stderr}`);
  assert.is(orch(["spawn", "feat/a", "--no-window", "--orch", a], { cwd: repo }).code, 0);
  const told = orch(["init"], { cwd: repo });
  const id = told.stdout.trim();
  assert.match(told.stderr, `another session, ${a} (1 worker), is in use in this store: give every command ` +
    `--orch ${id} (or set ORCH_ID=${id})`);
  const json = orch(["init", "--json"], { cwd: repo });
  assert.match(json.json.message, `Note: another session, ${a} (1 worker), is in use in this store`);
});

test("a listener started without --orch keeps its session when another orchestrator inits and spawns", async () => {
  const { repo, id: a } = sessionRepo();
  const spawnedA = orch(["spawn", "feat/a", "--no-window", "--json"], { cwd: repo });
  assert.is(spawnedA.code, 0, spawnedA.stderr);
  const watching = orchAsync(["watch", "--timeout", "60"], { cwd: repo });
  let printed = "";
  watching.child.stdout!.on("data", (d: string) => (printed += d));
  try {
    await sleep(500);
    const b = orch(["init"], { cwd: repo }).stdout.trim();
    const spawnedB = orch(["spawn", "feat/b", "--no-window", "--json", "--orch", b], { cwd: repo });
    assert.is(spawnedB.code, 0, spawnedB.stderr);
    assert.is(orch(["notify", "--type", "progress", "--summary", "b's"], { cwd: spawnedB.json.worktree_path }).code, 0);
    assert.is(orch(["notify", "--type", "progress", "--summary", "a's"], { cwd: spawnedA.json.worktree_path }).code, 0);
    await waitUntil(() => printed.includes("a's"), 30_000, "the watch to print a's message");
  } finally {
    watching.child.kill("SIGTERM");
  }
  const watched = await watching.done;
  const lines = watched.stdout.trim().split("\n").filter(Boolean).map((line) => JSON.parse(line));
  assert.equal(lines.map((m) => m.content.summary), ["a's"], watched.stderr);
  assert.is(lines[0].orchestrator_id, a);
});

test("both orchestrators spawning one branch: the second spawn is refused, naming the other session's worker; " +
  "their two lands at once both land, one after the other", async () => {
  const { repo, a, b, worktreeA, worktreeB } = twoOrchestrators();
  const again = orch(["spawn", "feat/a", "--no-window", "--json", "--orch", b], { cwd: repo });
  assert.is(again.code, 1, again.stderr);
  assert.is(again.json.error.code, "exists");
  assert.match(again.json.error.message, `${worktreeA} already exists: it is worker feat-a of session ${a}, ` +
    "another orchestrator session of this repository");
  assert.equal(orch(["list", "--json", "--orch", b], { cwd: repo }).json.workers.length, 1, "no worker recorded");
  commitFiles(worktreeA, { "a.txt": "a\n" }, "a's work");
  commitFiles(worktreeB, { "b.txt": "b\n" }, "b's work");
  const lands = [[a, "feat-a"], [b, "feat-b"]]
    .map(([id, worker]) => orchAsync(["land", worker!, "--orch", id!, "--json"], { cwd: repo }).done);
  for (const landed of await Promise.all(lands)) {
    assert.is(landed.code, 0, landed.stderr);
    assert.equal(landed.json.results.map((r: { status: string }) => r.status), ["landed"], landed.stdout);
  }
  assert.equal(fs.readdirSync(repo).filter((name) => name.endsWith(".txt")).sort(), ["a.txt", "b.txt"]);
});

test.run();
