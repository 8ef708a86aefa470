// Repositories that are not a full clone: a shallow clone (git clone --depth), locally and as the source of a
// host's clone. What orch says about a worker must stay true where the history is cut off.

import fs from "node:fs";
import path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { commitFiles, git, orch, scratchRepo } from "./helpers.ts";
import { commitOnHost, sshSkipReason, startSshWorld, type SshWorld } from "./ssh-harness.ts";

const skip = sshSkipReason();
let world: SshWorld | undefined;
test.after(() => world?.close());

/**
 * An origin with main (10 commits) and `old`, forked from its 2nd commit, and a clone of both branches
 * `--depth 3` beside it with an orch session: main's and old's histories there share no commit.
 */
function shallowClone(): { origin: string; repo: string } {
  const origin = scratchRepo("origin", { "log.txt": "0\n" });
  for (let i = 1; i <= 9; i++) {
    if (i === 2) git(["branch", "old"], origin);
    commitFiles(origin, { [`f${i}.txt`]: `${i}\n` }, `c${i}`);
  }
  git(["switch", "-q", "old"], origin);
  commitFiles(origin, { "old.txt": "old\n" }, "old");
  git(["switch", "-q", "main"], origin);
  const repo = path.join(path.dirname(origin), "repo");
  git(["clone", "-q", "--depth", "3", "--no-single-branch", `file://${origin}`, repo], path.dirname(origin));
  assert.is(orch(["init"], { cwd: repo }).code, 0);
  return { origin, repo };
}

interface Standing {
  worker_id: string;
  ahead: number | null;
  behind: number | null;
  merges_cleanly: boolean | null;
}

test("a shallow clone: a worker whose merge base with its base lies beyond the cut-off has no standing, " +
  "the others keep theirs; land says why; a deeper fetch brings it back", () => {
  const { repo } = shallowClone();
  const spawn = (branch: string, ...from: string[]) => {
    const r = orch(["spawn", branch, ...from, "--no-window", "--json"], { cwd: repo });
    assert.is(r.code, 0, r.stderr);
    commitFiles(r.json.worktree_path, { [`${r.json.worker_id}.txt`]: "work\n" }, `work of ${branch}`);
  };
  spawn("feat/old", "--from", "origin/old");
  spawn("feat/new");
  commitFiles(repo, { "log.txt": "moved\n" }, "the base moves");

  const status = orch(["status", "--json"], { cwd: repo });
  assert.is(status.code, 0, status.stderr);
  const standings = status.json.workers.map((w: Standing) => [w.worker_id, w.ahead, w.behind, w.merges_cleanly]);
  assert.equal(standings, [["feat-old", null, null, null], ["feat-new", 1, 1, true]]);
  const why = "this shallow clone's history stops before their merge base (git fetch --deepen=N or --unshallow " +
    "mends that)";
  assert.match(status.stderr, "feat-old shares no commit with main here, so its ahead, behind and merges_cleanly " +
    `are unknown and land, merge and sync cannot merge it: ${why}`);

  const synced = orch(["sync", "--all", "--json"], { cwd: repo });
  assert.is(synced.code, 0, synced.stderr);
  assert.equal(synced.json.synced, ["feat-new"]);
  const reason = `its branch shares no commit with main here: ${why}`;
  assert.equal(synced.json.skipped, [{ worker_id: "feat-old", reason }]);

  const landed = orch(["land", "feat/old", "--test", "true", "--json"], { cwd: repo });
  assert.is(landed.code, 1, landed.stdout);
  assert.match(landed.json.results[0].reason, `it shares no commit with main here: ${why}`);

  git(["fetch", "-q", "--unshallow"], repo);
  const deepened = orch(["status", "--json"], { cwd: repo });
  const old = deepened.json.workers.find((w: Standing) => w.worker_id === "feat-old");
  assert.equal([old.ahead, old.behind, old.merges_cleanly], [2, 9, true], deepened.stderr);
});

test("host add from a shallow clone: the host's clone takes its cut-off history, and a worker there lands", async () => {
  if (skip) return console.log(`SKIP: ${skip}`);
  world = await startSshWorld(1);
  const host = world.hosts[0]!;
  const { repo } = shallowClone();
  const env = world.env;
  const added = orch(["host", "add", "alpha", host.alias, "--json"], { cwd: repo, env });
  assert.is(added.code, 0, added.stderr);
  const spawned = orch(["spawn", "feat/far", "--host", "alpha", "--no-window", "--json"], { cwd: repo, env });
  assert.is(spawned.code, 0, spawned.stderr);
  commitOnHost(host, spawned.json.worktree_path, "far.txt", "made there\n");
  commitFiles(repo, { "log.txt": "moved\n" }, "the base moves");
  // sync pushes the moved base into the host's clone, and rebases the worker there.
  const synced = orch(["sync", "feat/far", "--json"], { cwd: repo, env });
  assert.equal([synced.code, synced.json.synced], [0, ["feat-far"]], synced.stderr);
  const landed = orch(["land", "feat/far", "--test", "test -f far.txt", "--json"], { cwd: repo, env });
  assert.is(landed.code, 0, landed.stdout + landed.stderr);
  assert.is(fs.readFileSync(path.join(repo, "far.txt"), "utf8"), "made there\n");
  assert.is(git(["rev-parse", "--is-shallow-repository"], repo), "true");
});

test.run();
