// Coherence for workers on hosts, against a real OpenSSH server (test/ssh-harness.ts): a landing tells
// the remote workers once (in their inboxes on the host), sync rebases a clean one in its worktree there
// and leaves a conflicting one as it was, and land --on-conflict return hands a remote worker its conflict.

import fs from "node:fs";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { git, orch, orchAsync, privateTmux, sessionRepo, tempDir, waitUntil } from "./helpers.ts";
import {
  accountCommands, commitOnHost, gitOnHost, orchOnHost, sshSkipReason, startSshWorld, writeAsUser, type SshHost,
  type SshWorld,
} from "./ssh-harness.ts";

const skip = sshSkipReason();
let world: SshWorld;

test.before(async () => {
  if (!skip) world = await startSshWorld(1);
});
test.after(() => world?.close());

interface BaseMoved {
  worker_id: string;
  message_type: string;
  content: {
    base_commit: string;
    merges_cleanly: boolean;
    conflict_paths: string[];
    rebase_onto: string;
    synced?: boolean;
    returned?: boolean;
    files: string[];
  };
}

/** Reads (and takes) the worker's inbox on the host, as its agent would there. */
function inboxOnHost(host: SshHost, worktree: string): BaseMoved[] {
  return (JSON.parse(orchOnHost(host, worktree, ["inbox", "--json"])) as { messages: BaseMoved[] }).messages;
}

/** The id of this repository's session on the host (its link, .orch/sessions/<id>/hosts/<host>.json). */
function remoteSessionIn(repo: string, host: string): string {
  const [session] = fs.readdirSync(`${repo}/.orch/sessions`);
  const link = JSON.parse(fs.readFileSync(`${repo}/.orch/sessions/${session}/hosts/${host}.json`, "utf8"));
  return link.remote_orchestrator_id as string;
}

test("a landing tells remote workers once, on the host; sync rebases the clean one there and leaves the others", async () => {
  if (skip) return console.log(`SKIP: ${skip}`);
  const [a] = world.hosts;
  const { repo } = sessionRepo({ "README.md": "# shop\n", "prices.txt": "apple 1\npear 2\n" });
  const env = { ...world.env };
  const added = orch(["host", "add", "alpha", a!.alias, "--path", "told/repo"], { cwd: repo, env });
  assert.is(added.code, 0, added.stderr);
  const spawnThere = (branch: string) => {
    const r = orch(["spawn", branch, "--host", "alpha", "--no-window", "--json"], { cwd: repo, env });
    assert.is(r.code, 0, r.stderr);
    return r.json.worktree_path as string;
  };
  const clean = spawnThere("feat/clean");
  const clash = spawnThere("feat/clash");
  const dirty = spawnThere("feat/dirty");
  commitOnHost(a!, clean, "notes.txt", "remember the pears\n");
  commitOnHost(a!, clash, "prices.txt", "apple 3\npear 2\n");
  const cleanBefore = gitOnHost(a!, clean, ["rev-parse", "HEAD"]);
  commitOnHost(a!, dirty, "todo.txt", "buy pears\n");
  a!.runAs(["sh", "-c", 'echo draft > "$1/draft.txt"', "w", dirty]);
  const clashBefore = gitOnHost(a!, clash, ["rev-parse", "HEAD"]);
  const dirtyBefore = gitOnHost(a!, dirty, ["rev-parse", "HEAD"]);

  // A local worker lands and moves main under the remote ones.
  const here = orch(["spawn", "feat/here", "--no-window", "--json"], { cwd: repo, env });
  assert.is(here.code, 0, here.stderr);
  const local = here.json.worktree_path as string;
  fs.writeFileSync(`${local}/prices.txt`, "apple 5\npear 2\n");
  git(["-c", "user.name=t", "-c", "user.email=t@t", "commit", "--quiet", "-am", "Dearer apples"], local);
  const landed = orch(["land", "feat/here", "--json"], { cwd: repo, env });
  assert.is(landed.code, 0, landed.stderr);
  const tip = git(["rev-parse", "HEAD"], repo);
  assert.equal([...landed.json.told].sort(), ["feat-clash", "feat-clean", "feat-dirty"]);
  for (const again of [["status"], ["poll"], ["sync", "feat/here"]]) {
    const r = orch([...again, "--json"], { cwd: repo, env });
    assert.is(r.code, 0, r.stderr);
  }

  const toldClean = inboxOnHost(a!, clean);
  const toldClash = inboxOnHost(a!, clash);
  assert.equal(toldClean.map((m) => m.message_type), ["base_moved"], "told once");
  assert.equal(toldClash.map((m) => m.message_type), ["base_moved"], "told once");
  assert.is(toldClean[0]!.content.merges_cleanly, true);
  assert.equal(toldClean[0]!.content.conflict_paths, []);
  assert.is(toldClash[0]!.content.merges_cleanly, false);
  assert.equal(toldClash[0]!.content.conflict_paths, ["prices.txt"]);
  const remoteSession = remoteSessionIn(repo, "alpha");
  for (const m of [...toldClean, ...toldClash]) {
    assert.is(m.content.base_commit, tip);
    assert.equal(m.content.files, ["prices.txt"]);
    assert.is(m.content.rebase_onto, `orch/${remoteSession}/base/main`);
  }
  // The new tip is on the host under orch's ref, and the worker can rebase onto it by that name;
  // the branch checked out in the host's clone is left alone.
  assert.is(gitOnHost(a!, clash, ["rev-parse", toldClash[0]!.content.rebase_onto]), tip);
  assert.is.not(gitOnHost(a!, "told/repo", ["rev-parse", "main"]), tip);

  const synced = orch(["sync", "--json"], { cwd: repo, env });
  assert.is(synced.code, 0, synced.stderr);
  assert.equal(synced.json.synced, ["feat-clean"]);
  assert.equal(synced.json.conflicted, [{ worker_id: "feat-clash", conflict_paths: ["prices.txt"] }]);
  const skipped = synced.json.skipped.filter((s: { worker_id: string }) => s.worker_id !== "feat-here");
  assert.equal(skipped.map((s: { worker_id: string }) => s.worker_id), ["feat-dirty"]);
  assert.match(skipped[0].reason, /uncommitted changes in draft\.txt/);

  // On the host: the clean worker's commit now sits on the new tip, its worktree clean; the other as it was.
  assert.is(gitOnHost(a!, clean, ["rev-parse", "HEAD~1"]), tip);
  assert.is.not(gitOnHost(a!, clean, ["rev-parse", "HEAD"]), cleanBefore);
  assert.is(gitOnHost(a!, clean, ["status", "--porcelain"]), "");
  assert.is(gitOnHost(a!, clash, ["rev-parse", "HEAD"]), clashBefore);
  assert.is(gitOnHost(a!, clash, ["status", "--porcelain"]), "");
  assert.is(a!.runAs(["cat", `${clash}/prices.txt`]).stdout, "apple 3\npear 2\n");
  assert.is(gitOnHost(a!, dirty, ["rev-parse", "HEAD"]), dirtyBefore);
  assert.is(gitOnHost(a!, dirty, ["status", "--porcelain"]), "?? draft.txt");
  const afterSync = inboxOnHost(a!, clean);
  assert.equal(afterSync.map((m) => [m.message_type, m.content.synced]), [["base_moved", true]]);
  assert.equal(inboxOnHost(a!, clash), [], "told of this move already");

  // Both sides count the synced worker from the new base.
  const diff = orch(["diff", "feat/clean", "--json"], { cwd: repo, env });
  assert.is(diff.code, 0, diff.stderr);
  assert.equal(diff.json.files.map((f: { path: string }) => f.path), ["notes.txt"]);
  const thereStatus = JSON.parse(orchOnHost(a!, clean, ["diff", "feat/clean", "--json"])) as { files: { path: string }[] };
  assert.equal(thereStatus.files.map((f) => f.path), ["notes.txt"]);

  // A move while the host is away: noticed, a warning, nothing lost; told once the host is back.
  inboxOnHost(a!, dirty);
  a!.stop();
  fs.writeFileSync(`${repo}/README.md`, "# shop\n\nOpen on Sundays.\n");
  git(["-c", "user.name=t", "-c", "user.email=t@t", "commit", "--quiet", "-am", "Sunday hours"], repo);
  const away = orch(["status", "--json"], { cwd: repo, env });
  assert.is(away.code, 0, away.stderr);
  assert.match(away.stderr, /host alpha is unreachable: .*Connection refused: its workers' branches are left out/);
  // clean cannot tell whether the host's workers are merged: it keeps them and says so by its exit code, so that
  // `orch clean --yes && …` does not go on as if all merged work had been cleaned up.
  // The landed local worker is removed all the same.
  const cleaned = orch(["clean", "--yes", "--json"], { cwd: repo, env });
  assert.is(cleaned.code, 1, cleaned.stderr);
  assert.equal([cleaned.json.success, cleaned.json.error.code], [false, "failed"]);
  assert.equal(cleaned.json.removed.map((r: { worker_id: string }) => r.worker_id), ["feat-here"]);
  const keptEntries = cleaned.json.skipped as { worker_id: string; failed?: boolean }[];
  assert.equal(keptEntries.map((s) => [s.worker_id, s.failed]).sort(),
    [["feat-clash", true], ["feat-clean", true], ["feat-dirty", true]]);
  assert.match(cleaned.json.error.message, /^could not check or remove 3 worker\(s\), kept: feat-\w+ \(could not fetch .* from host alpha/,
    cleaned.stdout);
  assert.is(cleaned.stderr.split("could not check or remove").length, 2, cleaned.stderr);
  const human = orch(["clean", "--yes"], { cwd: repo, env });
  assert.is(human.code, 1, human.stderr);
  assert.match(human.stdout, /^failed feat-clash \(could not fetch feat\/clash from host alpha/m);
  await a!.start();
  const back = orch(["poll", "--json"], { cwd: repo, env });
  assert.is(back.code, 0, back.stderr);
  const sunday = git(["rev-parse", "HEAD"], repo);
  for (const worktree of [clean, clash, dirty]) {
    const told = inboxOnHost(a!, worktree);
    assert.equal(told.map((m) => [m.message_type, m.content.base_commit, m.content.files]), [["base_moved", sunday, ["README.md"]]]);
  }
});

test("sync --merge of a remote worker tells it, on the host, that its branch was merged into, not replayed", () => {
  if (skip) return console.log(`SKIP: ${skip}`);
  const [a] = world.hosts;
  const { repo } = sessionRepo({ "README.md": "# shop\n" });
  const env = { ...world.env };
  assert.is(orch(["host", "add", "alpha", a!.alias, "--path", "merged/repo"], { cwd: repo, env }).code, 0);
  const spawned = orch(["spawn", "feat/kept", "--host", "alpha", "--no-window", "--json"], { cwd: repo, env });
  assert.is(spawned.code, 0, spawned.stderr);
  const worktree = spawned.json.worktree_path as string;
  commitOnHost(a!, worktree, "kept.txt", "kept\n", "Kept");
  const own = gitOnHost(a!, worktree, ["rev-parse", "HEAD"]);
  fs.writeFileSync(`${repo}/README.md`, "# shop\n\nOpen late.\n");
  git(["-c", "user.name=t", "-c", "user.email=t@t", "commit", "--quiet", "-am", "Late hours"], repo);

  const synced = orch(["sync", "--merge", "--json"], { cwd: repo, env });
  assert.is(synced.code, 0, synced.stderr);
  assert.equal(synced.json.synced, ["feat-kept"]);
  assert.is(gitOnHost(a!, worktree, ["rev-parse", "HEAD^1"]), own, "its commit is kept under the merge");
  const told = inboxOnHost(a!, worktree).filter((m) => m.content.synced);
  assert.is(told.length, 1);
  const text = (told[0]!.content as { text?: string }).text ?? "";
  assert.match(text, /orch sync merged main \([0-9a-f]{12}\) into your branch: a merge commit on top of yours/);
  assert.not.match(text, /replayed|new ids/);
});

test("land --on-conflict return hands a remote worker its conflict; it rebases there, reports again and lands", async () => {
  if (skip) return console.log(`SKIP: ${skip}`);
  const [a] = world.hosts;
  const { repo } = sessionRepo({ "README.md": "# shop\n", "greeting.txt": "Hello\n" });
  const env = { ...world.env, ...privateTmux() };
  const added = orch(["host", "add", "alpha", a!.alias, "--path", "returned/repo"], { cwd: repo, env });
  assert.is(added.code, 0, added.stderr);
  const prompt = "Greet in French.\nwrite greeting.txt Bonjour\ncommit French greeting\non-conflict write farewell.txt Au revoir";
  const agent = `${a!.home}/.local/bin/orch __demo-agent`;
  const fr = orch(["spawn", "feat/fr", "--host", "alpha", "--agent", agent, "--prompt", prompt, "--json"], { cwd: repo, env });
  assert.is(fr.code, 0, fr.stderr);
  const first = orch(["await", "feat/fr", "--timeout", "60", "--json"], { cwd: repo, env });
  assert.is(first.json.workers[0].status, "done", first.stderr);

  const en = orch(["spawn", "feat/en", "--no-window", "--json"], { cwd: repo, env });
  assert.is(en.code, 0, en.stderr);
  fs.writeFileSync(`${en.json.worktree_path}/greeting.txt`, "Hello there\n");
  git(["-c", "user.name=t", "-c", "user.email=t@t", "commit", "--quiet", "-am", "Friendlier greeting"], en.json.worktree_path);

  const landed = orch(["land", "feat/en", "feat/fr", "--on-conflict", "return", "--json"], { cwd: repo, env });
  assert.is(landed.code, 0, landed.stderr);
  assert.equal(landed.json.results.map((r: { status: string }) => r.status), ["landed", "returned"]);
  assert.equal(landed.json.returned, ["feat-fr"]);
  assert.equal(landed.json.results[1].conflict_paths, ["greeting.txt"]);

  // The scripted agent waited in its inbox on the host: it got the conflict, rebased onto orch's ref
  // of main there, and reported again.
  const again = orch(["await", "feat/fr", "--timeout", "90", "--json"], { cwd: repo, env });
  assert.is(again.code, 0, again.stderr);
  assert.is(again.json.workers[0].status, "done");
  const onto = `orch/${remoteSessionIn(repo, "alpha")}/base/main`;
  assert.match(again.json.workers[0].final_message.content.summary, new RegExp(`Rebased onto ${onto}`));
  const second = orch(["land", "feat/fr", "--json"], { cwd: repo, env });
  assert.is(second.code, 0, second.stderr);
  assert.equal(second.json.results.map((r: { status: string }) => r.status), ["landed"]);
  // main's side of the conflict, then the fix the prompt asked for, on top of what landed first.
  assert.is(fs.readFileSync(`${repo}/greeting.txt`, "utf8"), "Hello there\n");
  assert.is(fs.readFileSync(`${repo}/farewell.txt`, "utf8"), "Au revoir\n");
});

test("two checkouts sharing one clone on the host each keep their own base there", async () => {
  if (skip) return console.log(`SKIP: ${skip}`);
  const [a] = world.hosts;
  const { repo: first } = sessionRepo({ "README.md": "# shop\n", "prices.txt": "apple 1\npear 2\n" });
  const second = `${tempDir()}/repo`;
  git(["clone", "--quiet", first, second], tempDir());
  assert.is(orch(["init", "--json"], { cwd: second }).code, 0);
  const env = { ...world.env };
  const workers = new Map<string, string>();
  for (const [repo, branch] of [[first, "feat/one"], [second, "feat/two"]] as const) {
    const added = orch(["host", "add", "alpha", a!.alias, "--path", "shared/repo"], { cwd: repo, env });
    assert.is(added.code, 0, added.stderr);
    const r = orch(["spawn", branch, "--host", "alpha", "--no-window", "--json"], { cwd: repo, env });
    assert.is(r.code, 0, r.stderr);
    workers.set(repo, r.json.worktree_path as string);
  }
  // Each checkout moves its own main (a local worker lands a different change), telling its remote worker.
  const tips = new Map<string, string>();
  for (const [repo, price] of [[first, "apple 5"], [second, "apple 7"]] as const) {
    const here = orch(["spawn", "feat/here", "--no-window", "--json"], { cwd: repo, env });
    assert.is(here.code, 0, here.stderr);
    fs.writeFileSync(`${here.json.worktree_path}/prices.txt`, `${price}\npear 2\n`);
    git(["-c", "user.name=t", "-c", "user.email=t@t", "commit", "--quiet", "-am", price], here.json.worktree_path);
    const landed = orch(["land", "feat/here", "--json"], { cwd: repo, env });
    assert.is(landed.code, 0, landed.stderr);
    assert.equal(landed.json.told, [repo === first ? "feat-one" : "feat-two"]);
    tips.set(repo, git(["rev-parse", "HEAD"], repo));
  }
  assert.is.not(tips.get(first), tips.get(second));
  // Each worker's message names a ref that still holds its own checkout's main, after the other's push.
  for (const repo of [first, second]) {
    const [told] = inboxOnHost(a!, workers.get(repo)!);
    assert.is(told!.content.base_commit, tips.get(repo));
    assert.is(gitOnHost(a!, workers.get(repo)!, ["rev-parse", told!.content.rebase_onto]), tips.get(repo));
  }
});

test("sync whose host drops after rebasing a worker there: the sync run again tells it, from the new base", async () => {
  if (skip) return console.log(`SKIP: ${skip}`);
  const [a] = world.hosts;
  const { repo, id } = sessionRepo({ "README.md": "# shop\n" });
  const env = { ...world.env };
  assert.is(orch(["host", "add", "alpha", a!.alias, "--path", "dropped/repo"], { cwd: repo, env }).code, 0);
  const spawned = orch(["spawn", "feat/moved", "--host", "alpha", "--no-window", "--json"], { cwd: repo, env });
  assert.is(spawned.code, 0, spawned.stderr);
  const worktree = spawned.json.worktree_path as string;
  commitOnHost(a!, worktree, "moved.txt", "moved\n", "Moved");
  // git runs post-rewrite once the rebase has moved the branch: the host's orch is held there, then the host drops.
  const hold = '#!/bin/sh\nwhile [ -e "$HOME/hold-sync" ]; do sleep 0.1; done\n';
  writeAsUser(a!, "dropped/repo/.git/hooks/post-rewrite", hold, 0o755);
  writeAsUser(a!, "hold-sync", "");
  fs.writeFileSync(`${repo}/README.md`, "# shop\n\nOpen late.\n");
  git(["-c", "user.name=t", "-c", "user.email=t@t", "commit", "--quiet", "-am", "Late hours"], repo);
  const tip = git(["rev-parse", "HEAD"], repo);
  const sync = orchAsync(["sync", "--json"], { cwd: repo, env });
  try {
    await waitUntil(() => accountCommands(a!.uid).some((c) => c.includes("post-rewrite")), 90_000, "the rebase there");
  } finally {
    a!.stop();
    fs.rmSync(`${a!.home}/hold-sync`, { force: true });
  }
  const first = await sync.done;
  await a!.start();
  assert.is(first.code, 0, first.stderr);
  assert.equal(JSON.parse(first.stdout).synced, []);
  assert.is(gitOnHost(a!, worktree, ["rev-parse", "HEAD^"]), tip, "the host rebased it before it dropped");

  const again = orch(["sync", "--json"], { cwd: repo, env });
  assert.is(again.code, 0, again.stderr);
  assert.equal(again.json.synced, ["feat-moved"], "rebased there: synced, not current");
  const told = inboxOnHost(a!, worktree).filter((m) => m.message_type === "base_moved" && m.content.synced);
  assert.is(told.length, 1, "told once that its branch was rebased");
  const record = JSON.parse(fs.readFileSync(`${repo}/.orch/sessions/${id}/workers/feat-moved/worker.json`, "utf8"));
  assert.is(record.base_commit, tip, "counted from the new base here too");
  const third = orch(["sync", "--json"], { cwd: repo, env });
  assert.equal(third.json.up_to_date, ["feat-moved"]);
  assert.equal(inboxOnHost(a!, worktree), [], "told once");
});

test.run();
