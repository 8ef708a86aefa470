// The command line itself: --version, --help for every command, usage errors with exit 2 and one line.

import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { COMMANDS } from "../src/cli/spec.ts";
import { orch, orchCommand, ROOT, scratchRepo, sessionRepo, snapshot } from "./helpers.ts";

const cwd = scratchRepo();

test("--version prints the package version", () => {
  const version = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")).version;
  for (const flag of ["--version", "-v"]) {
    const r = orch([flag], { cwd });
    assert.is(r.code, 0);
    assert.is(r.stdout, `orch ${version}\n`);
  }
});

test("every command has --help naming each of its options", () => {
  for (const spec of COMMANDS.filter((s) => !s.hidden)) {
    const name = spec.usage.split(" ")[0]!;
    const r = orch([name, "--help"], { cwd });
    assert.is(r.code, 0, `${name} --help`);
    assert.ok(r.stdout.includes(`orch ${name}`), `${name} --help shows its usage`);
    for (const option of spec.options) assert.ok(r.stdout.includes(option.flags.split(" ")[0]!), `${name} --help lists ${option.flags}`);
  }
  const top = orch(["--help"], { cwd });
  assert.is(top.code, 0);
  for (const spec of COMMANDS.filter((s) => !s.hidden)) assert.ok(top.stdout.includes(spec.usage.split(" ")[0]!));
});

test("help with --json is one JSON document holding the same text", () => {
  for (const argv of [["--help"], ["help"], ["spawn", "--help"], ["help", "spawn"]]) {
    const text = orch(argv, { cwd });
    const r = orch([...argv, "--json"], { cwd });
    assert.is(r.code, 0, argv.join(" "));
    const doc = JSON.parse(r.stdout);
    assert.is(doc.success, true);
    assert.is(`${doc.help}\n`, text.stdout, `${argv.join(" ")} --json holds the help text`);
  }
});

test("--help says what a --no-… switch does, never that it is on by default", () => {
  for (const [name, flag] of [["spawn", "--no-window"], ["apply", "--no-3way"]] as const) {
    const line = orch([name, "--help"], { cwd }).stdout.split("\n").find((l) => l.trim().startsWith(flag));
    assert.ok(line, `${name} --help lists ${flag}`);
    assert.not.match(line!, /default/, `${name} --help: ${line}`);
  }
});

test("no command prints the help and exits 2", () => {
  const r = orch([], { cwd });
  assert.is(r.code, 2);
  assert.ok(r.stdout.includes("Usage"));
});

test("no command with --json: a JSON usage error, not the help", () => {
  const r = orch(["--json"], { cwd });
  assert.is(r.code, 2);
  assert.is(r.json.error.code, "usage", r.stdout);
  assert.is(r.stderr.trim().split("\n").length, 1, r.stderr);
});

test("orch help and orch help COMMAND print what --help prints; a topic that is no command is a usage error", () => {
  assert.equal(orch(["help"], { cwd }), orch(["--help"], { cwd }));
  for (const flag of ["-h", "--help"]) {
    assert.equal(orch(["help", flag], { cwd }), orch(["--help"], { cwd }), flag);
    assert.equal(orch(["help", "land", flag], { cwd }), orch(["land", "--help"], { cwd }), flag);
  }
  for (const name of ["spawn", "poll", "host"]) {
    const help = orch(["help", name], { cwd });
    assert.is(help.code, 0, help.stderr);
    assert.equal(help, orch([name, "--help"], { cwd }), name);
  }
  for (const args of [["help", "frobnicate"], ["help", "spawn", "poll"], ["help", "__agent"]]) {
    const r = orch([...args, "--json"], { cwd });
    assert.is(r.code, 2, args.join(" "));
    assert.is(r.json.error.code, "usage");
    assert.is(r.stderr.trim().split("\n").length, 1);
    assert.ok(r.json.error.message.startsWith(`no help for ${JSON.stringify(args.slice(1).join(" "))}:`), r.stdout);
  }
});

test("--json given twice is still --json; --version --json is one JSON document", () => {
  const id = orch(["init", "--json", "--json"], { cwd }).json.orchestrator_id;
  assert.type(id, "string");
  for (const command of ["poll", "status", "list"]) {
    const r = orch([command, "--json", "--json"], { cwd, env: { ORCH_ID: id } });
    assert.is(r.code, 0, r.stderr);
    assert.is(r.json.success, true, `${command}: ${r.stdout}`);
  }
  const version = orch(["--version", "--json"], { cwd });
  assert.is(version.code, 0);
  const { version: expected } = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8"));
  const { build, ...rest } = version.json;
  assert.equal(rest, { success: true, version: expected });
  // The binary build.ts made knows its build (host add tells builds apart by it); run from source, orch has none.
  const iso = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
  assert.match(build.built_at, iso);
  assert.match(build.committed_at, iso);
  const fromSource = orch(["--version", "--json"], { cwd, runtime: "node" });
  assert.equal(fromSource.json, { success: true, version: expected });
});

test("an unknown command or flag is a usage error: exit 2, one line on stderr, JSON error with --json", () => {
  for (const args of [["frobnicate"], ["notify", "--bogus"], ["poll", "-x"], ["status", "extra-arg"]]) {
    const r = orch(args, { cwd });
    assert.is(r.code, 2, args.join(" "));
    assert.is(r.stdout, "", `${args.join(" ")}: nothing on stdout`);
    assert.is(r.stderr.trim().split("\n").length, 1, `${args.join(" ")}: one line: ${r.stderr}`);
    assert.ok(r.stderr.startsWith("orch: "));
    const j = orch([...args, "--json"], { cwd });
    assert.is(j.code, 2);
    assert.is(j.json.success, false);
    assert.is(j.json.error.code, "usage");
    assert.type(j.json.error.message, "string");
  }
});

test("an argument too many is named as typed, with no control character of orch's parser in the message", () => {
  for (const args of [["status", "extra-arg"], ["send", "w", "text", "extra-arg"], ["spawn", "feat/a", "b", "extra-arg"]]) {
    const r = orch(args, { cwd });
    assert.is(r.code, 2, args.join(" "));
    assert.match(r.stderr, /^orch: unexpected argument `extra-arg` \(see orch \w+ --help\)\n$/, JSON.stringify(r.stderr));
    const j = orch([...args, "--json"], { cwd });
    assert.match(j.json.error.message, /^unexpected argument `extra-arg`/, JSON.stringify(j.json.error.message));
  }
});

test("a value with a newline or a terminal escape is named whole, on one line, its control characters shown", () => {
  const { repo } = sessionRepo();
  const hostile = "x\x1b]0;title\x07\ny";
  const cases: [string[], number, RegExp][] = [
    [["status", hostile], 2, /^orch: unexpected argument `x\\x1b\]0;title\\x07\\x0ay` \(see orch status --help\)$/],
    [["init", "--project-dir", hostile], 2, /^orch: --project-dir "x\\u001b.*\\ny" does not exist$/],
    [["spawn", "feat/h", "--prompt-file", hostile], 2, /^orch: --prompt-file "x.*\\ny": no such readable file$/],
    [["spawn", "feat/h", "--after", hostile], 2, /^orch: --after "x.*\\ny": no worker .*; nothing was created$/],
    [["spawn", "feat/h", "--from", hostile], 1, /^orch: --from "x.*\\ny" is not a commit in /],
    [["apply", "feat/h", "--expected-head", hostile], 2, /^orch: --expected-head "x.*\\ny" names no commit/],
  ];
  orch(["spawn", "feat/h", "--no-window"], { cwd: repo });
  for (const [args, code, said] of cases) {
    const spawned = args[0] === "spawn" ? ["spawn", "feat/other", ...args.slice(2)] : args;
    const r = orch(spawned, { cwd: repo });
    assert.is(r.code, code, `${args[0]}: ${r.stderr}`);
    assert.not.ok(/[\x00-\x08\x0b-\x1f\x7f]/.test(r.stderr), `no control character: ${JSON.stringify(r.stderr)}`);
    assert.is(r.stderr.split("\n").length, 2, `one line: ${JSON.stringify(r.stderr)}`);
    assert.match(r.stderr.trimEnd(), said);
  }
});

test("a 100 KB value echoed by an error is cut to its start and its length, on stderr and in the JSON", () => {
  const long = "a".repeat(100_000);
  const echoing = [["poll", "--timeout", long], ["status", long], ["init", "--project-dir", long], ["completion", long]];
  for (const args of echoing) {
    const r = orch([args[0]!, "--json", ...args.slice(1)], { cwd });
    assert.is(r.code, 2, `${args[0]}: ${r.stderr.slice(0, 200)}`);
    assert.ok(r.stderr.length < 1000, `${args[0]}: a short line (${r.stderr.length} characters)`);
    assert.match(r.stderr, /a{99}…"? \(10000[02] characters\)/);
    assert.ok(r.json.error.message.length < 1000, `${args[0]}: a short message in the JSON`);
  }
});

test("the parser's usage errors are said in orch's words: what is unexpected, unknown or missing", () => {
  const said: [string[], string][] = [
    [["status", "a", "b"], "unexpected arguments `a`, `b` (see orch status --help)"],
    [["poll", "--bogus"], "unknown option `--bogus` (see orch poll --help)"],
    // Before the command: mri took "status" as --bogus's value, and orch said "no command given".
    [["--bogus", "status"], "unknown option `--bogus` (see orch --help)"],
    [["spawn"], "missing <branch> (see orch spawn --help)"],
    [["send"], "missing <worker> <text> (see orch send --help)"],
    [["send", "w"], "missing <text> (see orch send --help)"],
    [["notify", "--type"], "option `--type <type>` needs a value (see orch notify --help)"],
  ];
  for (const [args, message] of said) {
    const r = orch(args, { cwd });
    assert.is(r.code, 2, args.join(" "));
    assert.is(r.stderr, `orch: ${message}\n`, args.join(" "));
    const json = [args[0]!, "--json", ...args.slice(1)]; // before a trailing --type, which would take it as its value
    assert.is(orch(json, { cwd }).json.error.message, message, json.join(" "));
  }
});

test("a switch given a value (--sync=x) is a usage error, never an argument: land and await act on nothing", () => {
  const repo = scratchRepo();
  const id = orch(["init", "--json"], { cwd: repo }).json.orchestrator_id;
  orch(["spawn", "feat/one", "--no-window", "--json"], { cwd: repo, env: { ORCH_ID: id } });
  const before = snapshot(repo);
  const cases = [["land", "--sync=feat-one"], ["await", "--any=feat-one"], ["poll", "--wait=1"], ["--json=1", "status"]];
  for (const args of cases) {
    const r = orch(args, { cwd: repo, env: { ORCH_ID: id } });
    assert.is(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    const name = args.find((a) => a.includes("="))!.split("=")[0]!;
    assert.match(r.stderr, new RegExp(`^orch: ${name} takes no value \\(see orch [a-z ]*--help\\)\n$`), r.stderr);
  }
  assert.equal(snapshot(repo), before, "nothing landed, nothing changed");
});

test("a switch of two words before the worker (apply --dry-run W, rm --delete-branch W) is a switch, not W's flag", () => {
  const { repo, id } = sessionRepo();
  const env = { ORCH_ID: id };
  const spawned = orch(["spawn", "feat/two", "--no-window", "--json"], { cwd: repo, env });
  assert.is(spawned.code, 0, spawned.stderr);
  const worktree = spawned.json.worktree_path;
  fs.writeFileSync(path.join(worktree, "two.txt"), "two\n");
  spawnSync("git", ["add", "two.txt"], { cwd: worktree });
  spawnSync("git", ["commit", "-qm", "two"], { cwd: worktree });
  const main = () => spawnSync("git", ["rev-parse", "HEAD"], { cwd: repo, encoding: "utf8" }).stdout;
  const before = main();
  for (const args of [["apply", "--dry-run", "feat-two"], ["apply", "--leave-conflict", "--dry-run", "feat-two"]]) {
    const r = orch([...args, "--json"], { cwd: repo, env });
    assert.is(r.code, 0, `${args.join(" ")}: ${r.stderr}`);
    assert.is(r.json.dry_run, true);
  }
  assert.is(main(), before, "a dry run changes nothing");
  // An unknown one is named as typed, not as cac's key (--dryRun).
  const unknown = orch(["rm", "--dry-run", "feat-two"], { cwd: repo, env });
  assert.is(unknown.code, 2);
  assert.is(unknown.stderr, "orch: unknown option `--dry-run` (see orch rm --help)\n");
  const removed = orch(["rm", "--delete-branch", "feat/two", "--force", "--yes", "--json"], { cwd: repo, env });
  assert.is(removed.code, 0, removed.stderr);
  const branch = spawnSync("git", ["rev-parse", "--verify", "-q", "refs/heads/feat/two"], { cwd: repo });
  assert.is(branch.status, 1, "the branch is deleted");
});

test("a malformed --orch is refused with exit 2 by every command, before anything is written (init, install too)", () => {
  const repo = scratchRepo();
  const before = snapshot(repo);
  const commands = [["init"], ["install", "claude"], ["doctor"], ["completion", "bash"], ["host", "list"], ["status"]];
  for (const args of commands) {
    const r = orch([...args, "--orch", "orch_BAD", "--json"], { cwd: repo });
    assert.is(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.is(r.json.error.code, "invalid", args.join(" "));
    assert.match(r.stderr, /^orch: bad --orch id "orch_BAD": expected orch_ followed by 8 of \[a-z0-9\]\n$/, args.join(" "));
  }
  assert.equal(snapshot(repo), before);
});

test("values reach commands exactly as typed: numbers, leading dashes with =, unicode", () => {
  const id = orch(["init", "--json"], { cwd }).json.orchestrator_id;
  for (const summary of ["007", "1e3", "0x10", "-starts-with-dash", "ünï $(x) `y` 'q' \"d\""]) {
    const sent = orch(["notify", "--type", "progress", `--summary=${summary}`, "--json"], { cwd, env: { ORCH_ID: id } });
    assert.is(sent.code, 0, sent.stderr);
    const got = orch(["poll", "--json"], { cwd, env: { ORCH_ID: id } });
    assert.is(got.json.messages[0].content.summary, summary);
  }
});

test("a flag that takes text takes the next argument whatever it looks like; -- ends the flags", () => {
  const repo = scratchRepo();
  const id = orch(["init", "--json"], { cwd: repo }).json.orchestrator_id;
  const env = { ORCH_ID: id };
  const summaries = ["-5 tests failing", "--not-a-flag", "-", "--", "-h", "--json"];
  for (const summary of summaries) {
    const sent = orch(["notify", "--type", "progress", "--summary", summary], { cwd: repo, env });
    assert.is(sent.code, 0, `${summary}: ${sent.stderr}`);
    assert.is(sent.stdout.trim().startsWith("{"), false, `${summary}: not taken as --json`);
  }
  // Through cac too (a short flag elsewhere on the line makes the fast parser hand over).
  const viaCac = orch(["notify", "--type", "progress", "--summary", "-x y", "--details", "-d"], { cwd: repo, env });
  assert.is(viaCac.code, 0, viaCac.stderr);
  const got = orch(["poll", "--json"], { cwd: repo, env });
  assert.equal(got.json.messages.map((m: { content: { summary: string } }) => m.content.summary), [...summaries, "-x y"]);
  assert.is(got.json.messages.at(-1).content.details, "-d");

  const spawned = orch(["spawn", "feat/dash", "--prompt", "-fix it", "--no-window", "--json"], { cwd: repo, env });
  assert.is(spawned.code, 0, spawned.stderr);
  const prompt = fs.readFileSync(path.join(repo, ".orch/sessions", id, "workers/feat-dash/prompt.txt"), "utf8");
  assert.ok(prompt.startsWith("-fix it\n\n"), prompt.slice(0, 40));

  for (const text of ["-n is the flag", "--also text"]) {
    const sent = orch(["send", "feat-dash", text, "--json"], { cwd: repo, env });
    assert.is(sent.code, 0, `${text}: ${sent.stderr}`);
  }
  const afterDashDash = orch(["send", "feat-dash", "--", "-n"], { cwd: repo, env });
  assert.is(afterDashDash.code, 0, afterDashDash.stderr);
  const inbox = orch(["inbox", "--json"], { cwd: repo, env: { ...env, ORCH_WORKER: "feat-dash" } });
  assert.is(inbox.code, 0, inbox.stderr);
  const texts = JSON.stringify(inbox.json);
  for (const text of ["-n is the flag", "--also text", '"-n"']) assert.ok(texts.includes(text), `${text} in ${texts}`);
});

test("a reader that has gone before the output (orch help | head -0): exit 1 and nothing said, as git", async () => {
  const [program, ...args] = orchCommand();
  // The human help too: cac printed it with console.info, which dropped the EPIPE, and orch exited 0.
  // orch's stdout is a FIFO whose only reader closed before orch started: its one write meets no reader. (A pipe
  // whose end this process destroys is closed later, by the event loop: under load orch could write first.)
  const noReader = 'f=$(mktemp -u) && mkfifo "$f" && exec 3<>"$f" 4>"$f" && rm "$f" && exec 3<&- && exec "$@" >&4';
  for (const asked of [["help", "--json"], ["help"], ["help", "status"], ["--help"], ["status", "--help"], ["-v"]]) {
    const child = spawn("sh", ["-c", noReader, "sh", program!, ...args, ...asked], { cwd, stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
    assert.is(stderr, "", asked.join(" "));
    assert.is(code, 1, asked.join(" "));
  }
});

test.run();
