// Upgrading orch under a live session: a store made by a newer orch (its store-version file says a format
// this orch does not read) is refused by every command in one line, with nothing in it changed; a worker
// spawned by an older orch (or one at another path) is resumed with this orch's hooks. And how resume builds a
// Claude Code worker's command when Claude Code saved nothing of its session.

import fs from "node:fs";
import path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { codexHookArguments } from "../src/agents/codex.ts";
import { profileFor } from "../src/agents/index.ts";
import type { LaunchSpec, ResumeSpec } from "../src/agents/profile.ts";
import { OrchError } from "../src/errors.ts";
import { hostLacksFlag, RemoteHost } from "../src/hosts/remote.ts";
import { git, orch, orchAsync, sessionRepo, snapshot, tempDir, waitUntil, watching } from "./helpers.ts";

/** A session with a worker (no window) and one unread message from it; the worker's worktree. */
function sessionWithWorker(): { repo: string; id: string; worktree: string } {
  const { repo, id } = sessionRepo();
  const spawned = orch(["spawn", "feat/a", "--no-window", "--json"], { cwd: repo });
  assert.is(spawned.code, 0, spawned.stderr);
  const worktree = spawned.json.worktree_path as string;
  const sent = orch(["notify", "--type", "progress", "--summary", "half way"], { cwd: worktree });
  assert.is(sent.code, 0, sent.stderr);
  return { repo, id, worktree };
}

const NEWER =
  /^orch: the store \S+ is of format 2, made by a newer orch; this orch reads format 1: .*nothing was changed\n$/;

test("a store of a newer format: every command refuses it in one line (exit 1) and changes nothing", () => {
  const { repo, worktree } = sessionWithWorker();
  const store = path.join(repo, ".orch");
  fs.writeFileSync(path.join(store, "store-version"), "2\n");
  const before = snapshot(store);
  const branches = git(["branch", "--list"], repo);
  const here = [
    ["status"], ["list"], ["poll"], ["poll", "--wait", "--timeout", "0"], ["watch", "--timeout", "0"],
    ["await", "--timeout", "0"], ["send", "feat/a", "hello"], ["stop", "feat/a"], ["resume", "feat/a"],
    ["rm", "feat/a", "--force", "--yes"], ["clean", "--yes"], ["land", "feat/a"], ["sync", "--all"],
    ["spawn", "feat/b", "--no-window"], ["init"],
  ];
  const inWorker = [["notify", "--type", "progress", "--summary", "more"], ["inbox"]];
  const runs = [
    ...here.map((args) => ({ args, cwd: repo })),
    ...inWorker.map((args) => ({ args, cwd: worktree })),
  ];
  for (const { args, cwd } of runs) {
    const r = orch(args, { cwd });
    assert.is(r.code, 1, `orch ${args.join(" ")}: ${r.stdout}${r.stderr}`);
    assert.match(r.stderr, NEWER, `orch ${args.join(" ")}`);
    assert.is(r.stderr.trim().split("\n").length, 1, r.stderr);
    const json = orch([...args, "--json"], { cwd });
    assert.is(json.json?.error?.code, "store", `orch ${args.join(" ")} --json: ${json.stdout}`);
  }
  // A hook never fails the agent it serves: it exits 0, says why on stderr (Claude Code's debug log), writes nothing.
  const payload = JSON.stringify({ hook_event_name: "Stop", stop_hook_active: false, session_id: "s", cwd: worktree });
  const hook = orch(["hook", "stop"], { cwd: worktree, input: payload });
  assert.is(hook.code, 0, hook.stderr);
  assert.match(hook.stderr, /made by a newer orch/);
  assert.equal(snapshot(store), before, "nothing in the store changed");
  assert.is(git(["branch", "--list"], repo), branches, "no branch made or deleted");
  assert.ok(fs.existsSync(worktree), "the worktree is still there");

  const doctor = orch(["doctor"], { cwd: repo });
  const failed = /FAIL store +the store \S+ is of format 2, made by a newer orch; this orch reads format 1/;
  assert.match(doctor.stdout, failed);
  assert.equal(snapshot(store), before, "doctor changed nothing either");

  // The newer orch's own format number back to this one's: the same store is read again, the message still unread.
  fs.writeFileSync(path.join(store, "store-version"), "1\n");
  const polled = orch(["poll", "--json"], { cwd: repo });
  assert.is(polled.code, 0, polled.stderr);
  assert.equal(polled.json.messages.map((m: { content: { summary: string } }) => m.content.summary), ["half way"]);
});

test("a store upgraded by a newer orch under running listeners: each ends, refusing it in one line", async () => {
  const { repo } = sessionRepo();
  const spawned = orch(["spawn", "feat/a", "--no-window", "--json"], { cwd: repo });
  assert.is(spawned.code, 0, spawned.stderr);
  const worktree = spawned.json.worktree_path as string;
  const listeners = [
    { args: ["poll", "--wait"], cwd: repo }, { args: ["watch"], cwd: repo },
    { args: ["await", "feat/a"], cwd: repo }, { args: ["inbox", "--wait"], cwd: worktree },
  ].map(({ args, cwd }) => ({ args, run: orchAsync([...args, "--timeout", "30", "--json"], { cwd }) }));
  await waitUntil(() => listeners.every((l) => watching(l.run.child.pid!)), 30_000, "the listeners to wait");
  const store = path.join(repo, ".orch");
  fs.writeFileSync(path.join(store, "store-version"), "2\n");
  const before = snapshot(store);
  // Before, each went on reading the store as format 1 until its --timeout (exit 124).
  for (const { args, run } of listeners) {
    const r = await run.done;
    assert.is(r.code, 1, `orch ${args.join(" ")}: ${r.stdout}${r.stderr}`);
    assert.is(r.json?.error?.code, "store", `orch ${args.join(" ")}: ${r.stdout}`);
    assert.match(r.json.error.message, /is of format 2, made by a newer orch; this orch reads format 1: /);
  }
  assert.equal(snapshot(store), before, "nothing in the store changed");
});

test("a store-version that is not a number is refused in one line, as a store orch cannot tell it can read", () => {
  const { repo } = sessionWithWorker();
  const store = path.join(repo, ".orch");
  fs.writeFileSync(path.join(store, "store-version"), "two\n");
  const before = snapshot(store);
  const r = orch(["poll"], { cwd: repo });
  assert.is(r.code, 1, r.stderr);
  assert.match(r.stderr, /^orch: \S+store-version holds "two\\n", not a store format number: .*changed nothing\n$/);
  assert.equal(snapshot(store), before);
});

/** A launch as spawn gives it, by the orch whose shim is `orchProgram`. */
function launch(orchProgram: string): LaunchSpec {
  const root = tempDir("orch-upgrade-");
  const worktree = path.join(root, "wt");
  const common = path.join(root, "repo.git");
  fs.mkdirSync(path.join(common, "worktrees", "wt"), { recursive: true });
  fs.mkdirSync(worktree);
  fs.writeFileSync(path.join(worktree, ".git"), `gitdir: ${path.join(common, "worktrees", "wt")}\n`);
  const home = path.join(root, "home");
  // The rollout a Codex worker of this session saved: `codex resume` (and orch's resume) need it.
  const day = path.join(home, ".codex", "sessions", "2026", "01", "02");
  fs.mkdirSync(day, { recursive: true });
  fs.writeFileSync(path.join(day, "rollout-2026-01-02T03-04-05-11111111-2222-4333-8444-555555555555.jsonl"), "");
  return {
    mainRoot: root, worktreePath: worktree, commonGitDir: common, storeRoot: path.join(root, "store"),
    orchestratorId: "orch_abcdefgh", workerId: "w", plan: false, sessionId: "11111111-2222-4333-8444-555555555555",
    env: { HOME: home, CODEX_HOME: path.join(home, ".codex") }, orchProgram, warn: () => {},
  };
}

function resumeOf(spec: LaunchSpec, recorded: string[], orchProgram: string): ResumeSpec {
  return {
    mainRoot: spec.mainRoot, sessionId: spec.sessionId, recorded: { argv: recorded, promptPlacement: "after-dashdash" },
    worktreePath: spec.worktreePath, orchProgram, env: spec.env, warn: () => {},
  };
}

const settingsOf = (argv: string[]) => JSON.parse(argv[argv.lastIndexOf("--settings") + 1]!);

test("claude: a worker spawned before orch had all its hooks resumes with them, its own settings kept", async () => {
  const profile = await profileFor("claude");
  const spec = launch("/state/orch/bin/k/orch");
  const now = profile.start(spec).argv;
  const settings = settingsOf(now);
  const allEvents = Object.keys(settings.hooks).sort();
  // What an orch of the first round recorded: PostToolUse and Stop only, beside a hook of the user's own.
  const older = { ...settings, hooks: { PostToolUse: settings.hooks.PostToolUse, Stop: settings.hooks.Stop } };
  const own = { matcher: "Edit", hooks: [{ type: "command", command: "./lint.sh" }] };
  older.hooks.PostToolUse = [...older.hooks.PostToolUse, own];
  const recorded = now.map((word, i) => (now[i - 1] === "--settings" ? JSON.stringify(older) : word));

  const resumed = profile.resume!(resumeOf(spec, recorded, spec.orchProgram))!.argv;
  const after = settingsOf(resumed);
  assert.equal(Object.keys(after.hooks).sort(), allEvents, "every hook of this orch");
  assert.equal(after.hooks.PostToolUse, [...settings.hooks.PostToolUse, own], "the user's hook stays, once");
  assert.equal(after.permissions, settings.permissions);
  assert.equal(resumed.slice(0, 3), ["claude", "--resume", spec.sessionId]);
  // A worker this orch spawned resumes with its command as recorded.
  assert.equal(profile.resume!(resumeOf(spec, now, spec.orchProgram))!.argv.slice(3), now.slice(1).filter(
    (word, i, rest) => word !== "--session-id" && rest[i - 1] !== "--session-id"));
});

test("claude: resume of a session Claude Code saved no message of starts a new one, the spawn's own over", async () => {
  const profile = await profileFor("claude");
  const spec = launch("/state/orch/bin/k/orch");
  const recorded = profile.start(spec).argv;
  const cleared = "99999999-8888-4777-8666-555555555555";
  const resume = (id: string) => profile.resume!({ ...resumeOf(spec, recorded, spec.orchProgram), sessionId: id })!;
  const session = (argv: string[]) => argv.slice(1, 3);
  // No projects folder: orch cannot tell, so --resume as always (Claude Code says it if it cannot).
  assert.equal(session(resume(cleared).argv), ["--resume", cleared]);
  assert.is(resume(cleared).sessionId, undefined);

  const folder = path.join(spec.env.HOME!, ".claude", "projects", spec.worktreePath.replace(/[^a-zA-Z0-9]/g, "-"));
  fs.mkdirSync(folder, { recursive: true });
  const save = (id: string, ...types: string[]) => fs.writeFileSync(path.join(folder, `${id}.jsonl`),
    types.map((type) => `${JSON.stringify({ type, sessionId: id })}\n`).join(""));
  save(spec.sessionId!, "mode", "user", "assistant");
  save(cleared, "mode", "user");
  for (const id of [spec.sessionId!, cleared]) {
    assert.equal(session(resume(id).argv), ["--resume", id], "a saved message: continued");
    assert.not.ok(resume(id).startsOver);
  }
  const newSession = (id: string, over: boolean) => {
    const start = resume(id);
    assert.match(start.sessionId!, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.not.ok([spec.sessionId, id].includes(start.sessionId!), "a new session");
    assert.equal(session(start.argv), ["--session-id", start.sessionId!], `${id}: started in it`);
    assert.not.ok(start.argv.includes("--resume"));
    assert.is(start.argv.filter((word) => word === "--session-id").length, 1);
    assert.is(Boolean(start.startsOver), over, over ? "the task was never saved" : "only --prompt");
  };
  // A /clear's session with only its mode line, and one with no record: the task was saved before, in the spawn's.
  save(cleared, "mode");
  const unknown = "12121212-3434-4565-8787-909090909090";
  newSession(cleared, false);
  newSession(unknown, false);
  // The spawn's own saved nothing: started over, and again from a session that resume began and that saved
  // nothing either (stopped again as it began).
  save(spec.sessionId!, "mode");
  newSession(spec.sessionId!, true);
  newSession(unknown, true);

  // A long conversation's file, over what one read can hold (sparse here: 2 GiB of nothing after its lines):
  // continued, not taken for one with nothing saved and started over.
  save(spec.sessionId!, "mode", "user", "assistant");
  fs.truncateSync(path.join(folder, `${spec.sessionId!}.jsonl`), 2 ** 31 + 1);
  assert.equal(session(resume(spec.sessionId!).argv), ["--resume", spec.sessionId!], "a huge session: continued");
  assert.not.ok(resume(spec.sessionId!).startsOver);
});

test("codex: a worker spawned by an orch at another path resumes with hooks that run this orch", async () => {
  const profile = await profileFor("codex -m o3");
  const spec = launch("/old/state/orch/bin/a/orch");
  const recorded = profile.start(spec).argv;
  const resumed = profile.resume!(resumeOf(spec, recorded, "/new/state/orch/bin/b/orch"))!.argv;
  assert.not.ok(resumed.some((word) => word.includes("/old/")), resumed.join(" "));
  const hooks = codexHookArguments("/new/state/orch/bin/b/orch");
  const at = resumed.indexOf(hooks[1]!) - 1;
  assert.equal(resumed.slice(at, at + hooks.length), hooks, "this orch's hooks, trusted by their own hashes");
  const isHook = (word: string | undefined) => /^hooks\./.test(word ?? "");
  const withoutHooks = (argv: string[]) =>
    argv.filter((word, i) => !(word === "-c" && isHook(argv[i + 1])) && !(argv[i - 1] === "-c" && isHook(word)));
  assert.equal(withoutHooks(resumed), ["codex", "resume", ...withoutHooks(recorded).slice(1), spec.sessionId]);
  assert.ok(resumed.includes("o3"), "the user's options stay");
});

test("a host whose orch is older than a command or flag this orch asks of it: one line that says so, exit 1", () => {
  const record = {
    name: "alpha", destination: "u@alpha", path: "orch/repo", orch_path: ".local/bin/orch", os: "linux",
    arch: "x64", orch_version: "0.1.0", added_at: "2026-01-01T00:00:00.000Z",
  };
  const host = new RemoteHost(record, {});
  const { repo } = sessionRepo();
  // How an orch refuses a flag and a command it does not know: what an older orch on the host answers.
  const unknownFlag = orch(["send", "w", "-", "--delivery-token", "1", "--json"], { cwd: repo, input: "x" });
  const unknownCommand = orch(["__not-yet", "--json"], { cwd: repo });
  for (const [answer, what] of [[unknownFlag, "send"], [unknownCommand, "__not-yet"]] as const) {
    assert.is(answer.code, 2, answer.stderr);
    let error: unknown;
    try {
      host.documentOf(answer, what);
    } catch (thrown) {
      error = thrown;
    }
    assert.instance(error, OrchError);
    const { kind, message } = error as OrchError;
    assert.is(kind, "failed", "exit 1: nothing the user gave was bad");
    assert.match(message, new RegExp(`^on host alpha: its orch is older than this one \\(orch ${what} there: ` +
      "([Uu]nknown option|unknown command) .*\\): orch host add alpha u@alpha --path orch/repo upgrades it$"));
    assert.not.match(message, /\n/);
    assert.is(hostLacksFlag(error, "--delivery-token"), what === "send", "an older host is still told by the flag");
  }
  // A usage error of the host's orch that is not about what it lacks stays the user's (exit 2).
  const badValue = orch(["send", "w", "-", "--stdin-bytes", "x", "--json"], { cwd: repo, input: "x" });
  assert.throws(() => host.documentOf(badValue, "send"), (e: unknown) => e instanceof OrchError && e.kind === "usage");
});

test.run();
