// A host reached from the source under Node, Deno 2 and Bun, not only from the binary: status and poll go
// through the shared connection's socket (src/adapters/ssh-mux.ts, node:net outside Bun's binary), with
// an `ssh` first on PATH that only fails, so nothing can fall back to starting ssh unnoticed.

import fs from "node:fs";
import path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { orch, sessionRepo, tempDir } from "./helpers.ts";
import { orchOnHost, sshSkipReason, startSshWorld, type SshWorld } from "./ssh-harness.ts";

const skip = sshSkipReason();
let world: SshWorld;

test.before(async () => {
  if (!skip) world = await startSshWorld(1);
});
test.after(() => world?.close());

test("status and poll of a remote worker under node, deno and bun, through the socket", () => {
  if (skip) return console.log(`SKIP: ${skip}`);
  const [a] = world.hosts;
  const { repo } = sessionRepo({ "README.md": "# shop\n" });
  const env = { ...world.env };
  assert.is(orch(["host", "add", "alpha", a!.alias, "--path", "runtimes/repo"], { cwd: repo, env }).code, 0);
  const spawned = orch(["spawn", "feat/there", "--host", "alpha", "--no-window", "--json"], { cwd: repo, env });
  assert.is(spawned.code, 0, spawned.stderr);
  // The worker's branch is mirrored here by git over ssh (status fetches a tip it lacks), which needs ssh itself.
  assert.is(orch(["status"], { cwd: repo, env }).code, 0);
  // The master is up now (the binary's calls started it); from here on no ssh may be started.
  const noSsh = tempDir("orch-no-ssh-");
  fs.writeFileSync(path.join(noSsh, "ssh"), "#!/bin/sh\necho 'ssh was started' >&2\nexit 255\n", { mode: 0o755 });
  const muxOnly = { ...env, PATH: `${noSsh}:${process.env.PATH}` };
  for (const runtime of ["node", "deno", "bun"]) {
    const status = orch(["status", "--json"], { cwd: repo, env: muxOnly, runtime });
    assert.is(status.code, 0, `${runtime}: ${status.stderr}`);
    const there = status.json.workers.find((w: { worker_id: string }) => w.worker_id === "feat-there");
    assert.equal([there.host, there.status, there.error], ["alpha", "running", undefined], `${runtime}: ${JSON.stringify(there)}`);
    assert.not.match(status.stderr, /ssh was started/, runtime);

    orchOnHost(a!, spawned.json.worktree_path, ["notify", "--type", "progress", "--summary", `seen by ${runtime} ü`]);
    const polled = orch(["poll", "--json"], { cwd: repo, env: muxOnly, runtime });
    assert.is(polled.code, 0, `${runtime}: ${polled.stderr}`);
    assert.equal(polled.json.messages.map((m: { content: { summary: string } }) => m.content.summary), [`seen by ${runtime} ü`], runtime);
    const empty = orch(["poll", "--json"], { cwd: repo, env: muxOnly, runtime });
    assert.equal([empty.code, empty.json.messages], [0, []], `${runtime}: ${empty.stderr}`);
  }
});

test.run();
