// A host whose ssh user has another login shell than bash: dash (Debian's /bin/sh), zsh and fish. ssh hands
// the command line orch sends to that shell, so the loop and the quoting are proven with each: host add,
// a spawn whose branch name and prompt are full of shell syntax, the worker's report taken by poll, its
// standing in status, its branch fetched by diff, a resume whose prompt crosses as an argument full of
// backslashes, and rm; nothing of the syntax runs on the host. fish too, though it is not POSIX.

import fs from "node:fs";
import path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { orch, orchAsync, privateTmux, sessionRepo } from "./helpers.ts";
import { leftoversOf, sshSkipReason, startSshWorld, type SshWorld } from "./ssh-harness.ts";

const skip = sshSkipReason();
const SHELLS = ["/usr/bin/dash", "/usr/bin/zsh", "/usr/bin/fish"];

for (const shell of SHELLS) {
  test(`a host whose login shell is ${path.basename(shell)}: the loop, with shell syntax as data`, async () => {
    if (skip) return console.log(`SKIP: ${skip}`);
    if (!fs.existsSync(shell)) return console.log(`SKIP: ${shell} is not installed (.ci/run installs it)`);
    let world: SshWorld | undefined;
    let uid: number | undefined;
    let controlDir: string | undefined;
    try {
      world = await startSshWorld(1, { shell });
      const [a] = world.hosts;
      uid = a!.uid;
      controlDir = world.env.ORCH_SSH_CONTROL_DIR;
      assert.is(a!.runAs(["sh", "-c", `getent passwd "$(id -un)" | cut -d: -f7`]).stdout.trim(), shell);
      const { repo } = sessionRepo({ "README.md": "# shop\n" });
      const env = { ...world.env, ...privateTmux() };
      const added = orch(["host", "add", "alpha", a!.alias, "--path", "shells/repo", "--json"], { cwd: repo, env });
      assert.is(added.code, 0, added.stderr);
      assert.is(added.json.installed, true);
      // Only dash reads orch's scripts as they are: zsh and fish get them through sh -c.
      const record = JSON.parse(fs.readFileSync(path.join(repo, ".orch/hosts/alpha.json"), "utf8"));
      assert.is(record.posix_shell, shell === "/usr/bin/dash", "the login shell check");

      const branch = "x`touch${IFS}pwned1`;$(touch${IFS}pwned2)&|\"q'<>!=%{}#";
      const prompt = `'$(touch pwned3)' "\`touch pwned4\`" ; touch pwned5 && $HOME =ls !! %1\n` +
        "write made.txt made on a host";
      const agent = `${a!.home}/.local/bin/orch __demo-agent`;
      const spawned = orch(["spawn", branch, "--host", "alpha", "--agent", agent, `--prompt=${prompt}`, "--json"], { cwd: repo, env });
      assert.is(spawned.code, 0, spawned.stderr);
      const id = spawned.json.worker_id as string;
      const awaited = await orchAsync(["await", id, "--timeout", "60", "--json"], { cwd: repo, env }).done;
      assert.is(awaited.code, 0, awaited.stderr);
      assert.equal([awaited.json.workers[0].status, awaited.json.workers[0].host], ["done", "alpha"]);
      const polled = orch(["poll", "--json"], { cwd: repo, env });
      assert.is(polled.code, 0, polled.stderr);
      assert.equal(polled.json.messages.map((m: { message_type: string }) => m.message_type), ["task_complete"]);
      assert.equal(orch(["poll", "--json"], { cwd: repo, env }).json.messages, [], "an empty poll through the host's check");

      // Committed on the host as its user would (the scripted agent, run again by resume below, only writes).
      const worktree = spawned.json.worktree_path as string;
      for (const args of [["add", "-A"], ["-c", "user.name=u", "-c", "user.email=u@h", "commit", "-q", "-m", "Add made.txt"]]) {
        const r = a!.runAs(["git", "-C", worktree, ...args]);
        assert.is(r.code, 0, r.stderr);
      }
      const view = orch(["status", "--json"], { cwd: repo, env }).json.workers[0];
      assert.equal([view.host, view.status, view.ahead, view.behind, view.merges_cleanly], ["alpha", "done", 1, 0, true]);
      const diff = orch(["diff", id, "--json"], { cwd: repo, env });
      assert.is(diff.code, 0, diff.stderr);
      assert.equal(diff.json.files.map((f: { path: string }) => f.path), ["made.txt"]);

      // Backslashes cross ssh as arguments too (resume --prompt): fish reads them even inside single quotes.
      const slashes = "a\\b\\\\c\\ '\\'";
      const resumed = orch(["resume", id, "--prompt", `write back.txt ${slashes}`, "--json"], { cwd: repo, env });
      assert.is(resumed.code, 0, resumed.stderr);
      const again = await orchAsync(["await", id, "--timeout", "60", "--json"], { cwd: repo, env }).done;
      assert.is(again.code, 0, again.stderr);
      const back = a!.runAs(["cat", path.join(worktree, "back.txt")]);
      assert.is(back.stdout.replace(/\n$/, ""), slashes, back.stderr);

      const found = a!.runAs(["find", a!.home, "/tmp", "-name", "pwned*"]).stdout.trim();
      assert.is(found, "", "nothing of the syntax ran on the host");
      assert.not.ok(fs.readdirSync(repo).some((n) => n.startsWith("pwned")), "nor here");
      const removed = orch(["rm", id, "--force", "--yes", "--json"], { cwd: repo, env });
      assert.is(removed.code, 0, removed.stderr);
      assert.not.ok(a!.runAs(["test", "-e", worktree]).code === 0, "its worktree on the host is gone");
    } finally {
      await world?.close();
    }
    // Closed, the host leaves nothing of its account here (fish's /tmp/fish.<user>, tmux's socket folder,
    // a process) and no socket of orch's shared connection.
    assert.equal(leftoversOf(uid!), [], "nothing of the account is left");
    const sockets = fs.existsSync(controlDir!) ? fs.readdirSync(controlDir!) : [];
    assert.equal(sockets, [], "no control socket is left");
  });
}

test.run();
