// orch host add|list|rm and workers on hosts, against real OpenSSH servers (test/ssh-harness.ts): each
// host its own sshd and user account, reached only over ssh and git. The agent is orch's scripted one.

import fs from "node:fs";
import path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { git, orch, orchAsync, orchCommand, privateTmux, sessionRepo } from "./helpers.ts";
import { sshSkipReason, startSshWorld, type SshHost, type SshWorld } from "./ssh-harness.ts";

const skip = sshSkipReason();
let world: SshWorld;

test.before(async () => {
  if (!skip) world = await startSshWorld(2);
});
test.after(() => world?.close());

/** The scripted agent: here the binary under test, on a host the orch that host add installed. */
const localAgent = () => `${orchCommand("binary")[0]} __demo-agent`;
const hostAgent = (host: SshHost) => `${host.home}/.local/bin/orch __demo-agent`;

interface Msg {
  id: string;
  worker_id: string;
  message_type: string;
  content: { summary?: string };
}

/** poll --wait until `count` messages came; every message id must come once. */
async function pollUntil(repo: string, env: Record<string, string | undefined>, count: number): Promise<Msg[]> {
  const got: Msg[] = [];
  const deadline = Date.now() + 120_000;
  while (got.length < count && Date.now() < deadline) {
    const r = await orchAsync(["poll", "--wait", "--timeout", "60", "--json"], { cwd: repo, env }).done;
    assert.ok(r.code === 0 || r.code === 124, r.stderr);
    if (r.code === 0) got.push(...(r.json.messages as Msg[]));
  }
  assert.is(new Set(got.map((m) => m.id)).size, got.length, "no message twice");
  return got;
}

test("host add installs orch and makes the clone; list reports it; bad input is refused; rm forgets it", () => {
  if (skip) return console.log(`SKIP: ${skip}`);
  const [a] = world.hosts;
  const { repo } = sessionRepo();
  const env = world.env;
  const added = orch(["host", "add", "alpha", a!.alias, "--path", "~/clones/repo", "--json"], { cwd: repo, env });
  assert.is(added.code, 0, added.stderr);
  assert.is(added.json.installed, true);
  assert.is(added.json.path, "clones/repo");
  assert.is(a!.runAs([".local/bin/orch", "--version"]).stdout.trim(), orch(["--version"], { cwd: repo }).stdout.trim());
  assert.is(a!.runAs(["git", "-C", "clones/repo", "rev-parse", "HEAD"]).stdout.trim(), git(["rev-parse", "HEAD"], repo));
  const again = orch(["host", "add", "alpha", a!.alias, "--json"], { cwd: repo, env });
  assert.is(again.code, 1);
  assert.is(again.json.error.code, "exists");
  const list = orch(["host", "list", "--json"], { cwd: repo, env });
  assert.is(list.code, 0, list.stderr);
  assert.equal(list.json.hosts.map((h: { name: string; reachable: boolean; orch_version: string }) => [h.name, h.reachable, h.orch_version]), [["alpha", true, added.json.orch_version]]);

  for (const bad of [["host", "add", "-x", a!.alias], ["host", "add", "x", "-oProxyCommand=touch /tmp/pwned"], ["host", "add", "x", "a b"], ["host", "frob"]]) {
    const r = orch([...bad, "--json"], { cwd: repo, env });
    assert.is(r.code, 2, `${bad.join(" ")}: ${r.stderr}`);
  }
  const unknown = orch(["spawn", "feat/x", "--host", "nowhere", "--no-window", "--json"], { cwd: repo, env });
  assert.is(unknown.code, 2, unknown.stderr);
  assert.match(unknown.json.error.message, /unknown host/);
  const unreachable = orch(["host", "add", "gamma", "ssh://nobody@127.0.0.1:1", "--json"], { cwd: repo, env });
  assert.is(unreachable.code, 1);
  assert.match(unreachable.json.error.message, /unreachable/);
  const removed = orch(["host", "rm", "alpha", "--json"], { cwd: repo, env });
  assert.is(removed.code, 0, removed.stderr);
  assert.equal(orch(["host", "list", "--json"], { cwd: repo, env }).json.hosts, []);
});

test("two hosts and a local worker: spawn, poll --wait across hosts, await, status, diff, land --test, clean", async () => {
  if (skip) return console.log(`SKIP: ${skip}`);
  const [a, b] = world.hosts;
  const { repo } = sessionRepo({ "README.md": "# shop\n" });
  const env = { ...world.env, ...privateTmux() };
  for (const [name, host] of [["alpha", a!], ["beta", b!]] as const) {
    const r = orch(["host", "add", name, host.alias, "--json"], { cwd: repo, env });
    assert.is(r.code, 0, r.stderr);
  }
  const work = (file: string, text: string) => `Do the work.\nsleep 800\nwrite ${file} ${text}\ncommit Add ${file}`;
  const spawned = [
    orch(["spawn", "feat/here", "--agent", localAgent(), "--prompt", work("here.txt", "made here"), "--json"], { cwd: repo, env }),
    orch(["spawn", "feat/alpha", "--host", "alpha", "--agent", hostAgent(a!), "--prompt", work("alpha.txt", "made on alpha"), "--json"], { cwd: repo, env }),
    orch(["spawn", "feat/beta", "--host", "beta", "--agent", hostAgent(b!), "--prompt", work("beta.txt", "made on beta"), "--json"], { cwd: repo, env }),
  ];
  for (const r of spawned) assert.is(r.code, 0, r.stderr);
  assert.equal(spawned.map((r) => r.json.host), [null, "alpha", "beta"]);
  assert.ok(spawned[1]!.json.worktree_path.startsWith(a!.home), spawned[1]!.json.worktree_path);

  const messages = await pollUntil(repo, env, 3);
  assert.equal(messages.map((m) => `${m.worker_id} ${m.message_type}`).sort(), ["feat-alpha task_complete", "feat-beta task_complete", "feat-here task_complete"]);

  const awaited = orch(["await", "--timeout", "60", "--json"], { cwd: repo, env });
  assert.is(awaited.code, 0, awaited.stderr);
  assert.equal(awaited.json.workers.map((w: { worker_id: string; status: string }) => `${w.worker_id} ${w.status}`).sort(), ["feat-alpha done", "feat-beta done", "feat-here done"]);

  const status = orch(["status", "--json"], { cwd: repo, env });
  assert.is(status.code, 0, status.stderr);
  const byId = Object.fromEntries(status.json.workers.map((w: { worker_id: string }) => [w.worker_id, w]));
  assert.is(byId["feat-alpha"].host, "alpha");
  assert.is(byId["feat-beta"].status, "done");
  assert.is(byId["feat-here"].host, null);

  const diff = orch(["diff", "feat/alpha", "--json"], { cwd: repo, env });
  assert.is(diff.code, 0, diff.stderr);
  assert.equal(diff.json.files.map((f: { path: string }) => f.path), ["alpha.txt"]);
  assert.match(diff.json.diff, /\+made on alpha/);

  const landed = orch(["land", "--test", "test -f README.md", "--json"], { cwd: repo, env });
  assert.is(landed.code, 0, landed.stderr);
  assert.equal(landed.json.results.map((r: { status: string }) => r.status), ["landed", "landed", "landed"]);
  for (const file of ["here.txt", "alpha.txt", "beta.txt"]) assert.ok(fs.existsSync(path.join(repo, file)), file);

  const cleaned = orch(["clean", "--yes", "--json"], { cwd: repo, env });
  assert.is(cleaned.code, 0, cleaned.stderr);
  assert.equal(cleaned.json.removed.map((r: { worker_id: string }) => r.worker_id).sort(), ["feat-alpha", "feat-beta", "feat-here"]);
  assert.equal(orch(["list", "--json"], { cwd: repo, env }).json.workers, []);
  assert.not.ok(fs.existsSync(spawned[1]!.json.worktree_path), "the worktree on alpha is gone");
  assert.is(a!.runAs(["git", "-C", "orch/repo", "branch", "--list", "feat/alpha"]).stdout.trim(), "");
});

test.run();
