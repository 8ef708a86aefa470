// The worker lifecycle through real processes: spawn → question → reply → done → list/status/await →
// stop → rm; clean of locally merged and GitHub-merged branches; the git gtr backend when installed.

import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { OrchError } from "../src/errors.ts";
import { hostLacksFlag } from "../src/hosts/remote.ts";
import { baseEnv, commitFiles, ghStandIn, git, orch, privateTmux, sessionRepo, snapshot, tempDir, tmux } from "./helpers.ts";

function agentScript(body: string[]): string {
  const script = path.join(tempDir("orch-agent-"), "agent.sh");
  fs.writeFileSync(script, ["#!/bin/sh", "set -e", ...body, ""].join("\n"), { mode: 0o755 });
  return script;
}

test("full lifecycle: spawn, question, reply, done, status and list, await, stop, rm", async () => {
  const { repo, id } = sessionRepo();
  const env = privateTmux();
  tmux(["new-session", "-d", "-s", "user-session"], env);
  const agent = agentScript([
    'orch notify --type progress --summary "starting"',
    'orch notify --type question --summary "which colour?" --question "red or blue?"',
    "orch inbox --wait --timeout 60 > answer.txt",
    "git add answer.txt && git commit -qm answer",
    'orch notify --type task_complete --summary "answered" --pr-url https://github.com/o/r/pull/5',
    "exec sleep 300",
  ]);
  const spawned = orch(["spawn", "feat/life", "--agent", agent, "--prompt", "answer the question", "--json"], { cwd: repo, env });
  assert.is(spawned.code, 0, spawned.stderr);

  // Named by branch and by id: one worker, awaited and listed once.
  const asked = orch(["await", "feat/life", "feat-life", "--timeout", "30", "--json"], { cwd: repo, env });
  assert.is(asked.code, 0, asked.stderr);
  assert.is(asked.json.workers.length, 1);
  assert.is(asked.json.workers[0].status, "waiting");
  assert.is(asked.json.workers[0].final_message.content.question, "red or blue?");

  const polled = orch(["poll", "--json"], { cwd: repo, env });
  assert.equal(polled.json.messages.map((m: { message_type: string }) => m.message_type), ["progress", "question"]);
  const question = polled.json.messages[1];
  assert.is(question.worker_id, "feat-life");

  const waiting = orch(["status", "--json"], { cwd: repo, env });
  const listedFields = ["worker_id", "branch", "worktree_path", "status", "pr_url", "window_id", "alive"];
  assert.equal(Object.keys(waiting.json.workers[0]).filter((k) => listedFields.includes(k)).length, 7);
  assert.is(waiting.json.workers[0].status, "waiting");
  assert.is(waiting.json.workers[0].window_id, spawned.json.window_id);
  assert.is(waiting.json.workers[0].window_alive, true);
  assert.is(waiting.json.workers[0].alive, true);

  const replied = orch(["reply", question.id, "blue", "--json"], { cwd: repo, env });
  assert.is(replied.code, 0, replied.stderr);
  const done = orch(["await", "--timeout", "30", "--json"], { cwd: repo, env });
  assert.is(done.code, 0, done.stderr);
  assert.is(done.json.workers[0].status, "done");
  assert.is(done.json.workers[0].final_message.content.summary, "answered");
  assert.is(done.json.workers[0].pr_url, "https://github.com/o/r/pull/5");
  assert.match(fs.readFileSync(path.join(spawned.json.worktree_path, "answer.txt"), "utf8"), /reply to .*\nblue/);

  const list = orch(["list"], { cwd: repo, env });
  assert.match(list.stdout, /feat-life\s+done\s+@\d+\s+agent running\s+https:\/\/github.com\/o\/r\/pull\/5/);

  const stopped = orch(["stop", "feat/life", "--json"], { cwd: repo, env });
  assert.is(stopped.code, 0, stopped.stderr);
  assert.is(stopped.json.agent_stopped, true);
  assert.is(stopped.json.window_closed, true);
  const after = orch(["status", "--json"], { cwd: repo, env }).json.workers[0];
  assert.is(after.status, "stopped");
  assert.is(after.alive, false);
  assert.is(after.window_alive, false);
  assert.ok(fs.existsSync(spawned.json.worktree_path), "stop keeps the worktree");
  assert.not.match(tmux(["list-windows", "-a", "-F", "#{window_id}"], env), spawned.json.window_id);

  const removed = orch(["rm", "feat-life", "--json"], { cwd: repo, env });
  assert.is(removed.code, 0, removed.stderr);
  assert.not.ok(fs.existsSync(spawned.json.worktree_path));
  assert.is(git(["branch", "--list", "feat/life"], repo), "feat/life", "the branch stays without --delete-branch");
  assert.equal(orch(["status", "--json"], { cwd: repo, env }).json.workers, []);
  assert.is(orch(["rm", "feat-life"], { cwd: repo }).code, 1, "a removed worker is not found");
  assert.ok(id);
});

test("await reports a question once it is in the mailbox: a poll right after it hands the question out", async () => {
  const { repo, id } = sessionRepo();
  const env = privateTmux();
  const agent = agentScript([
    'orch notify --type question --summary "which colour?" --question "red or blue?"',
    "exec sleep 300",
  ]);
  assert.is(orch(["spawn", "feat/ask", "--agent", agent, "--json"], { cwd: repo, env }).code, 0);
  const mail = path.join(repo, ".orch", "sessions", id, "mail");
  const delivered = () => fs.readdirSync(path.join(mail, "new"));
  for (const until = Date.now() + 20_000; delivered().length === 0 && Date.now() < until;) {
    await new Promise((r) => setTimeout(r, 50));
  }
  // Where a notify stands between its two steps: linked into the worker's event log, not yet moved into new/.
  const [name] = delivered();
  assert.ok(name, "the question was delivered");
  fs.renameSync(path.join(mail, "new", name), path.join(mail, "tmp", name));
  const moves = spawnSync("sh", ["-c", '(sleep 0.3; mv "$0/tmp/$1" "$0/new/$1") >/dev/null 2>&1 &', mail, name]);
  assert.is(moves.status, 0);
  const asked = orch(["await", "--timeout", "30", "--json"], { cwd: repo, env });
  assert.is(asked.json.workers[0].status, "waiting");
  const polled = orch(["poll", "--json"], { cwd: repo, env });
  const types = polled.json.messages.map((m: { message_type: string }) => m.message_type);
  assert.equal(types, ["question"], "before, await answered at once and this poll found nothing yet");
  assert.is(polled.json.messages[0].id, asked.json.workers[0].final_message.id);
});

test("send reaches the worker's inbox once; inbox outside a worker is refused", () => {
  const { repo } = sessionRepo();
  const wt = orch(["spawn", "feat/inbox", "--no-window", "--json"], { cwd: repo }).json.worktree_path;
  assert.is(orch(["send", "feat/inbox", "first"], { cwd: repo }).code, 0);
  assert.is(orch(["send", "feat-inbox", "-"], { cwd: repo, input: "second\nwith two lines" }).code, 0);
  const empty = orch(["send", "feat-inbox", "-"], { cwd: repo, input: "" });
  assert.is(empty.code, 2, "an empty standard input is a missing text, as an empty argument is");
  assert.match(empty.stderr, /missing text/);
  for (const [text, input] of [["  \t", undefined], ["-", " \n\n"]] as const) {
    const blank = orch(["send", "feat-inbox", text, "--json"], { cwd: repo, input });
    assert.is(blank.code, 2, `a blank text is a missing one too: ${JSON.stringify(blank.stdout)}`);
    assert.match(blank.json.error.message, /missing text: (it is|standard input was) blank/);
  }
  const inbox = orch(["inbox", "--json"], { cwd: wt });
  assert.is(inbox.code, 0, inbox.stderr);
  assert.equal(inbox.json.messages.map((m: { content: { text: string } }) => m.content.text), ["first", "second\nwith two lines"]);
  assert.is(orch(["inbox", "--json"], { cwd: wt }).json.message_count, 0);
  assert.is(orch(["inbox"], { cwd: repo }).code, 1, "the main worktree is no worker");
  assert.is(orch(["send", "nobody", "x"], { cwd: repo }).code, 1);
  assert.is(orch(["send", "../x", "x"], { cwd: repo }).code, 2);
  // An id with ".." anywhere is refused as the contract says (no branch, so no worker id, has one).
  for (const name of ["w1..", "a..b"]) {
    for (const args of [["send", name, "x"], ["diff", name], ["stop", name]]) {
      const refused = orch([...args, "--json"], { cwd: repo });
      assert.is(refused.code, 2, `${args.join(" ")}: ${refused.stderr}`);
      assert.is(refused.json.error.code, "invalid");
    }
  }
  assert.is(orch(["reply", "msg_bad", "x"], { cwd: repo }).code, 2);
  assert.is(orch(["reply", "msg_0000000000000000000", "x"], { cwd: repo }).code, 1);
});

test("send and reply - refuse a text on standard input that is not UTF-8 or holds a NUL (exit 2, nothing sent), " +
  "never store it as U+FFFD", () => {
  const { repo, id } = sessionRepo();
  const wt = orch(["spawn", "feat/bytes", "--no-window", "--json"], { cwd: repo }).json.worktree_path;
  orch(["notify", "--type", "question", "--summary", "which?", "--question", "which?"], { cwd: wt });
  const question = orch(["poll", "--json"], { cwd: repo }).json.messages[0].id as string;
  const before = snapshot(path.join(repo, ".orch", "sessions", id));
  for (const args of [["send", "feat-bytes", "-"], ["reply", question, "-"]]) {
    const r = orch([...args, "--json"], { cwd: repo, input: Buffer.from([0x63, 0x61, 0x66, 0xe9]) });
    assert.is(r.code, 2, `${args[0]}: ${r.stderr}`);
    assert.is(r.json.error.code, "invalid", args[0]);
    assert.match(r.stderr, /^orch: the text on standard input is not valid UTF-8 text\n$/, args[0]);
    const nul = orch([...args, "--json"], { cwd: repo, input: "before\0after" });
    assert.is(nul.code, 2, `${args[0]}: ${nul.stderr}`);
    assert.match(nul.stderr, /^orch: the text on standard input holds a NUL byte\n$/, args[0]);
  }
  assert.equal(snapshot(path.join(repo, ".orch", "sessions", id)), before);
  assert.is(orch(["inbox", "--json"], { cwd: wt }).json.message_count, 0);
});

test("--stdin-bytes (from the orch that drives a host): a text on standard input of any other length is refused " +
  "by each command that takes one (exit 1, nothing made or sent); of that length, taken", () => {
  const { repo, id } = sessionRepo();
  const wt = orch(["spawn", "feat/count", "--no-window", "--json"], { cwd: repo }).json.worktree_path;
  orch(["notify", "--type", "question", "--summary", "which?", "--question", "which?"], { cwd: wt });
  const question = orch(["poll", "--json"], { cwd: repo }).json.messages[0].id as string;
  const before = snapshot(path.join(repo, ".orch", "sessions", id));
  const commands = [
    ["send", "feat-count", "-"], ["reply", question, "-"], ["spawn", "feat/other", "--no-window", "-"],
    ["resume", "feat-count", "--text-on-stdin"], ["deny", "feat-count", "--text-on-stdin"], ["__coherence", "-"],
  ];
  for (const args of commands) {
    for (const [input, count] of [["half a te", "15"], ["a text, and more", "15"]] as const) {
      const r = orch([...args, "--stdin-bytes", count, "--json"], { cwd: repo, input });
      assert.is(r.code, 1, `${args[0]}: ${r.stderr}`);
      assert.match(r.stderr, new RegExp(`^orch: .*: ${Buffer.byteLength(input)} of 15 bytes came \\(.*\\): ` +
        "nothing was done\n$"), args[0]);
    }
  }
  assert.equal(snapshot(path.join(repo, ".orch", "sessions", id)), before);
  const bad = orch(["send", "feat-count", "-", "--stdin-bytes", "x"], { cwd: repo, input: "x" });
  assert.equal([bad.code, bad.stderr], [2, 'orch: bad --stdin-bytes "x": a count of bytes\n']);
  const whole = orch(["send", "feat-count", "-", "--stdin-bytes", "8", "--json"], { cwd: repo, input: "\u00e9 whole" });
  assert.is(whole.code, 0, whole.stderr);
  const inbox = orch(["inbox", "--json"], { cwd: wt }).json.messages;
  assert.equal(inbox.map((m: { content: { text: string } }) => m.content.text), ["\u00e9 whole"]);
});

test("a worker's agent running the orchestrator's commands (poll, watch, land, clean, spawn) is refused, takes " +
  "nothing; its inbox, notify and status work; --orch still runs them", async () => {
  const { repo, id } = sessionRepo();
  const env = privateTmux();
  const out = tempDir("orch-worker-out-");
  // What an agent that mistook orch poll for its own inbox does, in the environment orch gives it.
  const agent = agentScript([
    `out=${JSON.stringify(out)}`,
    'orch notify --type progress --summary "before"',
    "for c in poll land clean spawn; do orch $c --json > \"$out/$c.json\" 2> \"$out/$c.err\" || echo $? > \"$out/$c.rc\"; done",
    'orch watch --timeout 1 --json > "$out/watch.json" 2> "$out/watch.err" || echo $? > "$out/watch.rc"',
    'orch inbox > "$out/inbox" 2>&1',
    'orch status --json > "$out/status.json"',
    'orch notify --type task_complete --summary "after"',
    "exec sleep 60",
  ]);
  const spawned = orch(["spawn", "feat/mistaken", "--agent", agent, "--json"], { cwd: repo, env });
  assert.is(spawned.code, 0, spawned.stderr);
  const done = path.join(out, "status.json");
  const until = Date.now() + 20_000;
  while (!fs.existsSync(done) || fs.readFileSync(done, "utf8") === "") {
    if (Date.now() > until) throw new Error("the agent did not get through its commands");
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  for (const command of ["poll", "watch", "land", "clean", "spawn"]) {
    const rc = fs.readFileSync(path.join(out, `${command}.rc`), "utf8").trim();
    assert.is(rc, "1", `orch ${command} from the worker exits 1`);
    const answer = JSON.parse(fs.readFileSync(path.join(out, `${command}.json`), "utf8"));
    assert.is(answer.error.code, "refused", command);
    assert.is(answer.error.message, `orch ${command} is the orchestrator's, and this is worker feat-mistaken's ` +
      "environment ($ORCH_WORKER): your own messages come with orch inbox, and you report with orch notify (a " +
      "person who means it gives --orch ID)");
  }
  assert.match(fs.readFileSync(path.join(out, "inbox"), "utf8"), "no messages from the orchestrator");
  assert.is(JSON.parse(fs.readFileSync(done, "utf8")).orchestrator_id, id, "status answers the worker");
  // The orchestrator gets both of the worker's messages: its poll took none of them.
  const until2 = Date.now() + 20_000;
  let summaries: string[] = [];
  while (!summaries.includes("after") && Date.now() < until2) {
    const polled = orch(["poll", "--json"], { cwd: repo, env });
    summaries = [...summaries, ...polled.json.messages.map((m: { content: { summary: string } }) => m.content.summary)];
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  assert.equal(summaries, ["before", "after"]);
  // A person in that environment who means it names the session.
  const meant = orch(["poll", "--orch", id, "--json"], { cwd: repo, env: { ...env, ORCH_WORKER: "feat-mistaken" } });
  assert.is(meant.code, 0, meant.stderr);
  assert.is(orch(["stop", "feat/mistaken"], { cwd: repo, env }).code, 0);
});

test("an orch that lacks an internal flag is told by its own refusal, whatever the flag's name", () => {
  const { repo } = sessionRepo();
  // What an orch on a host older than a flag answers: orch's own refusal of an option it does not know.
  const refused = orch(["send", "w", "-", "--delivery-token", "1", "--json"], { cwd: repo, input: "x" });
  assert.is(refused.code, 2, refused.stderr);
  const error = new OrchError(refused.json.error.code, refused.json.error.message);
  assert.ok(hostLacksFlag(error, "--delivery-token"), error.message);
  for (const other of ["--message-id", "--stdin-bytes", "--text-on-stdin", "--delivery"]) {
    assert.not.ok(hostLacksFlag(error, other), other);
  }
  assert.not.ok(hostLacksFlag(new OrchError("failed", error.message), "--delivery-token"), "only a usage error");
  // An orch before round 27 named an unknown flag of two words as cac does, in camelCase.
  const older = new OrchError("usage", "unknown option `--deliveryToken` (see orch send --help)");
  assert.ok(hostLacksFlag(older, "--delivery-token"), older.message);
  assert.not.ok(hostLacksFlag(older, "--delivery"), "--delivery");
});

test("await: --timeout exits 124 with what is known, --any returns on the first finished worker", () => {
  const { repo } = sessionRepo();
  const a = orch(["spawn", "feat/a", "--no-window", "--json"], { cwd: repo }).json.worktree_path;
  orch(["spawn", "feat/b", "--no-window"], { cwd: repo });
  const timedOut = orch(["await", "--timeout", "0.3", "--json"], { cwd: repo });
  assert.is(timedOut.code, 124);
  assert.is(timedOut.json.error.code, "timeout");
  assert.equal(timedOut.json.workers.map((w: { status: string }) => w.status), ["running", "running"]);
  orch(["notify", "--type", "task_failed", "--summary", "broke", "--error", "boom"], { cwd: a });
  const any = orch(["await", "--any", "--timeout", "10", "--json"], { cwd: repo });
  assert.is(any.code, 0, any.stderr);
  assert.equal(any.json.workers.map((w: { status: string }) => w.status), ["failed", "running"]);
  const all = orch(["await", "--timeout", "0.3", "--json"], { cwd: repo });
  assert.is(all.code, 124, "without --any, the running one is still awaited");
  assert.is(any.json.workers[0].final_message.content.error, "boom");
  assert.is(orch(["await", "no-such-worker"], { cwd: repo }).code, 1);
});

test("await returns on a worker idle without a report, unless a send or reply waits to start its next turn", () => {
  const { repo } = sessionRepo();
  const wt = orch(["spawn", "feat/quiet", "--no-window", "--json"], { cwd: repo }).json.worktree_path;
  orch(["spawn", "feat/busy", "--no-window"], { cwd: repo });
  // What a Stop hook reports when the agent ends its turn without having said done or failed.
  assert.is(orch(["notify", "--type", "idle", "--summary", "turn ended", "--details", "All set, I think."], { cwd: wt }).code, 0);
  const idle = orch(["await", "--timeout", "10", "--json"], { cwd: repo });
  assert.is(idle.code, 0, idle.stderr);
  const quiet = idle.json.workers.find((w: { worker_id: string }) => w.worker_id === "feat-quiet");
  assert.is(quiet.status, "idle");
  assert.match(quiet.needs, /turn ended without a report/);
  assert.is(quiet.final_message.content.details, "All set, I think.");
  const said = orch(["await", "feat-quiet", "--timeout", "10"], { cwd: repo }).stdout;
  assert.match(said, /^feat-quiet idle: turn ended - needs: its turn ended without a report: orch send it what to do next$/m);
  const sent = orch(["send", "feat-quiet", "Also add the tests.", "--json"], { cwd: repo });
  assert.is(sent.code, 0, sent.stderr);
  const waking = orch(["await", "feat-quiet", "--timeout", "0.5", "--json"], { cwd: repo });
  assert.is(waking.code, 124, "the send starts its next turn: nothing to act on yet");
  assert.is(waking.json.workers[0].needs, undefined);
  // Its hook takes the message as the turn starts; a turn that ends again without a report settles the wait.
  assert.is(orch(["inbox", "--json"], { cwd: wt }).json.message_count, 1);
  assert.is(orch(["await", "feat-quiet", "--timeout", "0.5"], { cwd: repo }).code, 124, "at work again");
  assert.is(orch(["notify", "--type", "idle", "--summary", "turn ended"], { cwd: wt }).code, 0);
  assert.is(orch(["await", "feat-quiet", "--timeout", "10"], { cwd: repo }).code, 0);
});

test("rm refuses a dirty worktree or a failing preRemove hook, changing nothing; --force removes", () => {
  const { repo } = sessionRepo();
  const wt = orch(["spawn", "feat/dirty", "--no-window", "--json"], { cwd: repo }).json.worktree_path;
  fs.writeFileSync(path.join(wt, "scratch.txt"), "unsaved");
  const before = { store: snapshot(path.join(repo, ".orch")), wt: snapshot(wt) };
  const refused = orch(["rm", "feat/dirty", "--json"], { cwd: repo });
  assert.is(refused.code, 1);
  assert.is(refused.json.error.code, "refused");
  assert.match(refused.json.error.message, /scratch\.txt/);
  const unmerged = orch(["rm", "feat/dirty", "--delete-branch", "--yes"], { cwd: repo });
  assert.is(unmerged.code, 1);
  git(["config", "gtr.hook.preRemove", "exit 4"], repo);
  fs.rmSync(path.join(wt, "scratch.txt"));
  const hooked = orch(["rm", "feat/dirty", "--json"], { cwd: repo });
  assert.is(hooked.code, 1);
  assert.match(hooked.json.error.message, /preRemove hook/);
  fs.writeFileSync(path.join(wt, "scratch.txt"), "unsaved");
  assert.equal({ store: snapshot(path.join(repo, ".orch")), wt: snapshot(wt) }, before);
  git(["config", "gtr.hook.postRemove", 'echo "$BRANCH" > "$REPO_ROOT/../post-removed"'], repo);
  const forced = orch(["rm", "feat/dirty", "--force", "--delete-branch", "--yes", "--json"], { cwd: repo });
  assert.is(forced.code, 0, forced.stderr);
  assert.is(forced.json.branch_deleted, true);
  assert.not.ok(fs.existsSync(wt));
  assert.is(git(["branch", "--list", "feat/dirty"], repo), "");
  assert.is(fs.readFileSync(path.join(path.dirname(repo), "post-removed"), "utf8"), "feat/dirty\n");
});

test("clean removes workers merged into the base locally (squash merge too) and keeps the rest", () => {
  const { repo } = sessionRepo();
  const merged = orch(["spawn", "feat/merged", "--no-window", "--json"], { cwd: repo }).json.worktree_path;
  const open = orch(["spawn", "feat/open", "--no-window", "--json"], { cwd: repo }).json.worktree_path;
  commitFiles(merged, { "m.txt": "merged\n" }, "merged work");
  commitFiles(open, { "o.txt": "open\n" }, "open work");
  git(["merge", "--squash", "feat/merged"], repo);
  git(["commit", "-qm", "squash feat/merged"], repo);
  orch(["spawn", "feat/fresh", "--no-window"], { cwd: repo });
  // status notices the squash in the base (and records it for the workers waiting on it): still not orch's landing.
  assert.is(orch(["status"], { cwd: repo }).code, 0);
  const dry = orch(["clean", "--dry-run", "--json"], { cwd: repo });
  assert.is(dry.code, 0, dry.stderr);
  assert.is(dry.json.dry_run, true);
  assert.equal(dry.json.removed.map((r: { worker_id: string }) => r.worker_id), ["feat-merged"]);
  assert.ok(fs.existsSync(merged), "a dry run removes nothing");
  assert.is(orch(["clean"], { cwd: repo }).code, 1, "without a terminal to ask, clean needs --yes");
  assert.ok(fs.existsSync(merged));
  const r = orch(["clean", "--yes", "--json"], { cwd: repo });
  assert.is(r.code, 0, r.stderr);
  assert.equal(r.json.removed.map((x: { worker_id: string }) => x.worker_id), ["feat-merged"]);
  assert.is(r.json.removed[0].reason, "merged into main locally", "merged by hand, not landed by orch");
  const skipped = r.json.skipped.map((x: { worker_id: string; reason: string }) => [x.worker_id, x.reason]);
  assert.equal(skipped.sort(), [["feat-fresh", "no commits yet"], ["feat-open", "not merged"]]);
  assert.not.ok(fs.existsSync(merged));
  assert.is(git(["branch", "--list", "feat/merged"], repo), "");
  assert.ok(fs.existsSync(open));
});

test("clean: a landing the user undid with git reset is not merged; one hidden by later edits still is", () => {
  const { repo } = sessionRepo({ "shared.txt": "one\n" });
  const kept = orch(["spawn", "feat/kept", "--no-window", "--json"], { cwd: repo }).json.worktree_path;
  const undone = orch(["spawn", "feat/undone", "--no-window", "--json"], { cwd: repo }).json.worktree_path;
  commitFiles(kept, { "shared.txt": "ONE\n" }, "kept work");
  commitFiles(undone, { "u.txt": "work that must not be lost\n" }, "undone work");
  assert.is(orch(["land", "feat/kept", "--json"], { cwd: repo }).code, 0);
  commitFiles(repo, { "shared.txt": "uno\n" }, "the user edits the same line: git alone no longer sees the squash");
  const before = git(["rev-parse", "HEAD"], repo);
  assert.is(orch(["land", "feat/undone", "--json"], { cwd: repo }).code, 0);
  git(["reset", "-q", "--hard", before], repo);
  const r = orch(["clean", "--yes", "--json"], { cwd: repo });
  assert.is(r.code, 0, r.stderr);
  assert.equal(r.json.removed.map((x: { worker_id: string }) => x.worker_id), ["feat-kept"]);
  assert.equal(r.json.skipped.map((x: { worker_id: string; reason: string }) => [x.worker_id, x.reason]), [["feat-undone", "not merged"]]);
  assert.ok(fs.existsSync(undone));
  assert.is(git(["log", "-1", "--format=%s", "feat/undone"], repo), "undone work");
});

test("clean and rm --delete-branch keep a worker whose branch the user checked out in another worktree, whole", () => {
  const { repo } = sessionRepo();
  const worktree = orch(["spawn", "feat/done", "--no-window", "--json"], { cwd: repo }).json.worktree_path;
  commitFiles(worktree, { "d.txt": "done\n" }, "done work");
  assert.is(orch(["land", "feat/done", "--json"], { cwd: repo }).code, 0);
  // The worker moved on to another branch; the user looks at its branch in a worktree of their own.
  git(["switch", "-q", "-c", "feat/next"], worktree);
  // A newline in its path: git's listing is read NUL-separated, so the path is named as it is.
  const mine = `${tempDir()}/my\nown`;
  git(["worktree", "add", "-q", mine, "feat/done"], repo);
  const cleaned = orch(["clean", "--yes", "--json"], { cwd: repo });
  assert.is(cleaned.code, 1, "a merged worker it could not remove: exit 1, as git branch -d says it");
  assert.equal([cleaned.json.removed, cleaned.json.skipped[0].failed], [[], true]);
  assert.ok(cleaned.json.skipped[0].reason.includes(`branch feat/done is checked out at ${mine}, so`), cleaned.json.skipped[0].reason);
  const rm = orch(["rm", "feat/done", "--delete-branch", "--json"], { cwd: repo });
  assert.is(rm.code, 1, rm.stderr);
  assert.ok(fs.existsSync(worktree), "the worker's worktree is kept");
  assert.is(orch(["status", "--json"], { cwd: repo }).json.workers.length, 1, "and so is its record");
  git(["worktree", "remove", mine], repo);
  assert.is(orch(["clean", "--yes", "--json"], { cwd: repo }).json.removed.length, 1, "once it is not checked out there");
});

test("rm of a worktree the user locked (git worktree lock): git's reason and orch's ways out, nothing removed", () => {
  const { repo } = sessionRepo();
  const wt = orch(["spawn", "feat/locked", "--no-window", "--json"], { cwd: repo }).json.worktree_path as string;
  git(["worktree", "lock", "--reason", "on a usb disk", wt], repo);
  const r = orch(["rm", "feat/locked", "--json"], { cwd: repo });
  assert.is(r.code, 1, r.stderr);
  assert.is(r.json.error.message, `git worktree remove refuses ${wt}: it is locked (on a usb disk); ` +
    `git worktree unlock ${wt} first, or orch rm feat-locked --force removes it anyway`);
  assert.not.match(r.json.error.message, /remove -f -f/, "git's flags are not orch's");
  assert.ok(fs.existsSync(wt));
  assert.is(orch(["rm", "feat/locked", "--force"], { cwd: repo }).code, 0);
  assert.not.ok(fs.existsSync(wt));
});

test("clean --merged in a repository with no remote: GitHub is not asked, nothing fails, local merges still count", () => {
  const { repo } = sessionRepo();
  const open = orch(["spawn", "feat/open", "--no-window", "--json"], { cwd: repo }).json.worktree_path;
  const merged = orch(["spawn", "feat/merged", "--no-window", "--json"], { cwd: repo }).json.worktree_path;
  commitFiles(open, { "o.txt": "open\n" }, "open work");
  commitFiles(merged, { "m.txt": "merged\n" }, "merged work");
  git(["merge", "-q", "feat/merged"], repo);
  const gh = ghStandIn(["echo 'gh: no git remotes found' >&2", "exit 1"]);
  const r = orch(["clean", "--merged", "--yes", "--json"], { cwd: repo, env: gh.env });
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stderr, /^orch: this repository has no remote, so --merged has no pull request to ask GitHub about/m);
  assert.equal(gh.calls(), [], "gh is not asked");
  assert.equal(r.json.removed.map((x: { worker_id: string }) => x.worker_id), ["feat-merged"]);
  assert.equal(r.json.skipped, [{ worker_id: "feat-open", branch: "feat/open", reason: "not merged" }]);
  assert.ok(fs.existsSync(open));
});

test("clean --merged with only a non-GitHub remote (file://, GitLab): GitHub is not asked, nothing fails", () => {
  const { repo } = sessionRepo();
  const open = orch(["spawn", "feat/open", "--no-window", "--json"], { cwd: repo }).json.worktree_path;
  commitFiles(open, { "o.txt": "open\n" }, "open work");
  git(["remote", "add", "origin", `file://${repo}`], repo);
  git(["remote", "add", "mirror", "git@gitlab.com:o/r.git"], repo);
  const ghSays = "none of the git remotes configured for this repository point to a known GitHub host";
  const gh = ghStandIn([`echo '${ghSays}' >&2`, "exit 1"]);
  const r = orch(["clean", "--merged", "--yes", "--json"], { cwd: repo, env: gh.env });
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stderr, /^orch: no remote of this repository is on GitHub, so --merged has no pull request/m);
  assert.equal(gh.calls(), [], "gh is not asked");
  assert.equal(r.json.skipped, [{ worker_id: "feat-open", branch: "feat/open", reason: "not merged" }]);
  assert.ok(fs.existsSync(open));
});

test("clean --merged on GitHub Enterprise: a remote on gh's GH_HOST, or on a reported pull request's server, is asked", () => {
  const { repo } = sessionRepo();
  const wt = orch(["spawn", "feat/ghe", "--no-window", "--json"], { cwd: repo }).json.worktree_path;
  const tip = commitFiles(wt, { "ghe.txt": "ghe\n" }, "ghe work");
  const answer = `[{"number":4,"url":"https://github.acme.com/o/r/pull/4","headRefOid":"${tip}","state":"MERGED"}]`;
  git(["remote", "add", "origin", "git@github.acme.com:o/r.git"], repo);
  const asked = "pr list --head feat/ghe --state merged --json number,url,headRefOid,state --limit 100";
  // Not github.com, and nothing says it is GitHub: not asked (as for GitLab).
  const unknown = ghStandIn([`echo '${answer}'`]);
  const notAsked = orch(["clean", "--merged", "--yes", "--json"], { cwd: repo, env: unknown.env });
  assert.equal([notAsked.code, unknown.calls(), notAsked.json.removed], [0, [], []], notAsked.stderr);
  // gh's own GH_HOST names the server: asked, and the merged worker is removed.
  const byEnv = ghStandIn([`echo '${answer}'`]);
  const dry = orch(["clean", "--merged", "--dry-run", "--json"], { cwd: repo, env: { ...byEnv.env, GH_HOST: "GitHub.acme.com" } });
  assert.is(dry.code, 0, dry.stderr);
  assert.equal(byEnv.calls(), [asked]);
  assert.equal(dry.json.removed.map((x: { worker_id: string }) => x.worker_id), ["feat-ghe"], "(dry run)");
  // A pull request the worker reported on that server names it too.
  orch(["notify", "--type", "task_complete", "--summary", "PR", "--pr-url", "https://github.acme.com/o/r/pull/4"], { cwd: wt });
  const byPr = ghStandIn([`echo '${answer}'`]);
  const r = orch(["clean", "--merged", "--yes", "--json"], { cwd: repo, env: byPr.env });
  assert.is(r.code, 0, r.stderr);
  assert.equal(byPr.calls(), [asked]);
  assert.equal(r.json.removed, [{ worker_id: "feat-ghe", branch: "feat/ghe", reason: "pull request #4 merged on GitHub" }]);
  assert.not.ok(fs.existsSync(wt));
});

test("clean --merged asks gh (a recording stand-in) with the documented arguments and removes PR-merged workers", () => {
  const { repo } = sessionRepo();
  const wt = orch(["spawn", "feat/pr", "--no-window", "--json"], { cwd: repo }).json.worktree_path;
  const other = orch(["spawn", "feat/nopr", "--no-window", "--json"], { cwd: repo }).json.worktree_path;
  commitFiles(other, { "other.txt": "other\n" }, "other work");
  const tip = commitFiles(wt, { "pr.txt": "pr\n" }, "pr work");
  const gh = ghStandIn([
    'case "$*" in',
    `  *"--head feat/pr "*) echo '[{"number":7,"url":"https://github.com/o/r/pull/7","headRefOid":"${tip}","state":"MERGED"}]' ;;`,
    "  *) echo '[]' ;;",
    "esac",
  ]);
  const env = gh.env;
  git(["remote", "add", "origin", "https://github.com/o/r.git"], repo);
  const plain = orch(["clean", "--yes", "--json"], { cwd: repo, env });
  assert.equal(plain.json.removed, [], "without --merged, GitHub is not asked");
  assert.equal(gh.calls(), []);
  const r = orch(["clean", "--merged", "--yes", "--json"], { cwd: repo, env });
  assert.is(r.code, 0, r.stderr);
  assert.equal(r.json.removed, [{ worker_id: "feat-pr", branch: "feat/pr", reason: "pull request #7 merged on GitHub" }]);
  assert.equal(gh.calls().sort(), [
    "pr list --head feat/nopr --state merged --json number,url,headRefOid,state --limit 100",
    "pr list --head feat/pr --state merged --json number,url,headRefOid,state --limit 100",
  ]);
  assert.not.ok(fs.existsSync(wt));
  assert.is(git(["branch", "--list", "feat/pr"], repo), "");
});

const gtrInstalled = spawnSync("git", ["gtr", "version"], { env: baseEnv() }).status === 0;
test("the git gtr backend: spawn, notify, status, rm through git gtr --porcelain", () => {
  if (!gtrInstalled) {
    console.log("SKIP: git gtr is not on PATH, so the gtr backend lifecycle was not run");
    return;
  }
  const { repo } = sessionRepo();
  git(["config", "orch.backend", "gtr"], repo);
  const r = orch(["spawn", "feat/viagtr", "--no-window", "--json"], { cwd: repo });
  assert.is(r.code, 0, r.stderr);
  assert.is(r.json.worktree_path, path.join(path.dirname(repo), "repo-worktrees", "feat-viagtr"));
  const gtrList = spawnSync("git", ["gtr", "list", "--porcelain"], { cwd: repo, env: baseEnv(), encoding: "utf8" }).stdout;
  assert.match(gtrList, /feat-viagtr\tfeat\/viagtr/);
  assert.is(orch(["notify", "--type", "task_complete", "--summary", "via gtr"], { cwd: r.json.worktree_path }).code, 0);
  assert.is(orch(["status", "--json"], { cwd: repo }).json.workers[0].status, "done");
  const removed = orch(["rm", "feat/viagtr", "--json"], { cwd: repo });
  assert.is(removed.code, 0, removed.stderr);
  assert.not.ok(fs.existsSync(r.json.worktree_path));
});

test.run();
