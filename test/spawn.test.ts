// orch spawn: real worktrees, a real private tmux server, a scripted agent that reports what it got.

import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import {
  baseEnv, git, orch, orchAsync, orchCommand, privateTmux, scratchRepo, sessionRepo, snapshot, tempDir, tmux, waitUntil,
  type Result,
} from "./helpers.ts";

/** An agent script that writes the prompt it got (its last argument), its environment and its cwd. */
function recordingAgent(): { script: string; out: string } {
  const dir = tempDir("orch-agent-");
  const out = path.join(dir, "out");
  fs.mkdirSync(out);
  const script = path.join(dir, "agent.sh");
  fs.writeFileSync(script, [
    "#!/bin/sh",
    `out=${JSON.stringify(out)}/$ORCH_WORKER`,
    'for last; do :; done',
    'printf "%s" "$last" > "$out.prompt"',
    'printf "%s\\n%s\\n%s\\n%s\\n%s\\n" "$ORCH_ID" "$ORCH_WORKER" "$ORCH_HOME" "$ORCH_PROMPT_FILE" "$(command -v orch)" > "$out.env"',
    'pwd > "$out.cwd"',
    // Last, and whole at once: the tests wait for this file, then read the others and it.
    'printf "%s\\n" "$#" > "$out.argc.tmp" && mv "$out.argc.tmp" "$out.argc"',
    "",
  ].join("\n"), { mode: 0o755 });
  return { script, out };
}

test("the agent gets the prompt byte for byte, its environment, orch on PATH; the window keeps a shell", async () => {
  const { repo, id } = sessionRepo();
  // In the C locale (orch, and the tmux server it starts): text outside ASCII is still bytes to pass on.
  const env = { ...privateTmux(), LC_ALL: "C", LANG: undefined };
  const { script, out } = recordingAgent();
  // Emoji joined by ZWJs, a flag, an accent that combines, right-to-left script, and invisible format characters.
  const wide = "👩\u200d👩\u200d👧 🇯🇵 e\u0301 עברית العربية \u202eevil\u202c \u200b\u200c\u2066\u00ad\ufeff\u{E0041}";
  const prompt = `Quotes ' " and $(touch pwned) and \`touch pwned2\` and $HOME\n` +
    `new lines\n\ttabs, ünïcödé ✓ 日本 ${wide}\n${"x".repeat(90 * 1024)}\nend`;
  const r = orch(["spawn", "feat/bytes", "--agent", `${script} --flag`, "--prompt", prompt, "--json"], { cwd: repo, env });
  assert.is(r.code, 0, r.stderr);
  assert.equal(Object.keys(r.json).sort(), [
    "agent",
    "base_commit",
    "branch",
    "host",
    "orchestrator_id",
    "status",
    "success",
    "tmux_session",
    "window_id",
    "worker_id",
    "worktree_path",
  ]);
  assert.is(r.json.worker_id, "feat-bytes");
  assert.is(r.json.worktree_path, path.join(path.dirname(repo), "repo-worktrees", "feat-bytes"));
  assert.match(r.json.window_id, /^@\d+$/);
  await waitUntil(() => fs.existsSync(path.join(out, "feat-bytes.argc")), 15_000, "the agent to run");
  const received = fs.readFileSync(path.join(out, "feat-bytes.prompt"), "utf8");
  assert.ok(received.startsWith(`${prompt}\n\n`), "the user's prompt arrives unchanged, first");
  assert.match(received.slice(prompt.length), /orch notify --type task_complete/);
  const argc = fs.readFileSync(path.join(out, "feat-bytes.argc"), "utf8").trim();
  assert.is(argc, "2", "the template's own argument, then the prompt as one argument");
  const [envId, envWorker, envHome, envPromptFile, orchOnPath] = fs.readFileSync(path.join(out, "feat-bytes.env"), "utf8").split("\n");
  assert.is(envId, id);
  assert.is(envWorker, "feat-bytes");
  assert.is(envHome, path.join(repo, ".orch"));
  assert.is(fs.readFileSync(envPromptFile!, "utf8"), received, "ORCH_PROMPT_FILE holds the same prompt");
  assert.ok(orchOnPath && orchOnPath.endsWith("/orch"), "orch is on the agent's PATH");
  assert.is(fs.readFileSync(path.join(out, "feat-bytes.cwd"), "utf8").trim(), r.json.worktree_path);
  for (const where of [repo, r.json.worktree_path, path.dirname(script)]) {
    assert.not.ok(fs.existsSync(path.join(where, "pwned")) || fs.existsSync(path.join(where, "pwned2")), "nothing in the prompt ran");
  }
  await waitUntil(
    () => tmux(["list-panes", "-t", r.json.window_id, "-F", "#{pane_current_command}"], env) !== "sh",
    10_000,
    "the shell after the agent",
  );
  const pane = tmux(["list-panes", "-t", r.json.window_id, "-F", "#{pane_dead} #{pane_current_path}"], env);
  assert.is(pane, `0 ${r.json.worktree_path}`, "a live shell in the worktree after the agent exited");
  const marker = JSON.parse(fs.readFileSync(path.join(repo, ".git/worktrees/feat-bytes/orch-worker.json"), "utf8"));
  assert.equal(marker, {
    orchestrator_id: id,
    worker_id: "feat-bytes",
    branch: "feat/bytes",
    base_commit: git(["rev-parse", "HEAD"], repo),
    store: path.join(repo, ".orch"),
  });
  assert.is(git(["status", "--porcelain"], r.json.worktree_path), "", "nothing of orch's is in the worktree");
});

test("inside tmux ($TMUX set) the window opens in the current session; outside, in a detached orch-<repo>", () => {
  const { repo } = sessionRepo();
  const env = privateTmux();
  tmux(["new-session", "-d", "-s", "mine"], env);
  // What tmux itself puts in $TMUX for a pane of session "mine": socket path, server pid, session id.
  const [socket, pid, session] = tmux(["display-message", "-p", "-t", "mine", "#{socket_path}\t#{pid}\t#{session_id}"], env).split("\t");
  const inside = orch(["spawn", "feat/inside", "--agent", "true", "--json"], {
    cwd: repo,
    env: { ...env, TMUX: `${socket},${pid},${session!.slice(1)}` },
  });
  assert.is(inside.code, 0, inside.stderr);
  assert.is(inside.json.tmux_session, "mine");
  const outside = orch(["spawn", "feat/outside", "--agent", "true", "--json"], { cwd: repo, env });
  assert.is(outside.code, 0, outside.stderr);
  assert.is(outside.json.tmux_session, "orch-repo");
  assert.equal(tmux(["list-sessions", "-F", "#{session_name}"], env).split("\n").sort(), ["mine", "orch-repo"]);
});

/**
 * Every window of the server as "session window_id": which windows there are, not what they look like. A
 * window's name follows what runs in it (tmux's automatic-rename): a shell just started is named "tmux" or
 * "mesg" (its profile's) for a moment under load, then "dash".
 */
function windowsOf(env: Record<string, string | undefined>): string[] {
  return tmux(["list-windows", "-a", "-F", "#{session_name} #{window_id}"], env).split("\n").sort();
}

test("hostile branch names are refused before anything is created", () => {
  const { repo } = sessionRepo();
  const env = privateTmux();
  tmux(["new-session", "-d", "-s", "keep"], env);
  const everything = () => ({
    branches: git(["branch", "--list"], repo),
    worktrees: git(["worktree", "list"], repo),
    windows: windowsOf(env),
    store: snapshot(path.join(repo, ".orch")),
    parent: fs.readdirSync(path.dirname(repo)),
  });
  const before = everything();
  for (const name of ["$(touch pwned)", "a;rm -rf x", "-x", "--help-me", "a..b", "a b", "feat/.hidden", "a.lock", "@", "HEAD"]) {
    const r = orch(["spawn", name, "--agent", "true", "--json"], { cwd: repo, env });
    assert.is(r.code, 2, `${name}: ${r.stderr}`);
    assert.is(r.json?.success, false, name);
  }
  const after = everything();
  assert.equal(after, before);
  assert.not.ok(fs.existsSync(path.join(repo, "pwned")));
});

test("a branch name and a prompt that a shell would run are only data: one window, nothing runs", async () => {
  const { repo } = sessionRepo();
  const env = privateTmux();
  tmux(["new-session", "-d", "-s", "keep"], env);
  const before = windowsOf(env);
  const { script, out } = recordingAgent();
  const name = "x;touch${IFS}pwned;`touch${IFS}pwned2`$(touch${IFS}pwned3)";
  const prompt = "$(touch pwned4) `touch pwned5`; touch pwned6 && echo ${IFS} '\" | touch pwned7";
  const r = orch(["spawn", name, "--agent", script, "--prompt", prompt, "--json"], { cwd: repo, env });
  assert.is(r.code, 0, r.stderr);
  const id = r.json.worker_id as string;
  assert.is(id, name.replace(/[^A-Za-z0-9._-]/g, "-"), "each character outside [A-Za-z0-9._-] made a -");
  assert.is(git(["rev-parse", "--abbrev-ref", "HEAD"], r.json.worktree_path), name);
  // Exactly one window more, orch's, named after the worker (a name given is never renamed by tmux).
  assert.equal(windowsOf(env), [...before, `orch-repo ${r.json.window_id}`].sort());
  assert.is(tmux(["display-message", "-p", "-t", r.json.window_id, "#{window_name}"], env), id);
  // The agent ran with both as given, then the shell the window keeps took over: whatever the name or the
  // prompt could have run has run by then.
  await waitUntil(() => fs.existsSync(path.join(out, `${id}.argc`)), 15_000, "the agent to run");
  assert.ok(fs.readFileSync(path.join(out, `${id}.prompt`), "utf8").startsWith(`${prompt}\n\n`), "the prompt as given");
  assert.is(fs.readFileSync(path.join(out, `${id}.env`), "utf8").split("\n")[1], id, "ORCH_WORKER");
  const shell = path.basename(baseEnv().SHELL ?? "sh");
  await waitUntil(
    () => tmux(["list-panes", "-t", r.json.window_id, "-F", "#{pane_current_command}"], env) === shell,
    10_000,
    "the shell after the agent",
  );
  const dirs = [repo, r.json.worktree_path, path.dirname(repo), path.dirname(script), out, process.cwd()];
  for (const dir of dirs) {
    for (let n = 1; n <= 7; n++) {
      const file = `pwned${n === 1 ? "" : n}`;
      assert.not.ok(fs.existsSync(path.join(dir, file)), `${file} in ${dir}`);
    }
  }
  assert.equal(windowsOf(env), [...before, `orch-repo ${r.json.window_id}`].sort(), "still that one window");
});

test("spawns of different branches at once all succeed: none dies on another's worktree being made", async () => {
  const { repo } = sessionRepo();
  // git lists the worktrees in a worktree add, and died on one that another add was making (about 1 in 12 of
  // these spawns did): 6 rounds of 8 at once.
  for (let round = 0; round < 6; round++) {
    const spawns = Array.from({ length: 8 }, (_, i) => orchAsync(
      ["spawn", `par/r${round}-${i}`, "--no-window", "--agent", "true", "--json"], { cwd: repo },
    ).done);
    for (const r of await Promise.all(spawns)) assert.is(r.code, 0, r.stderr);
  }
  const workers = orch(["status", "--json"], { cwd: repo }).json.workers as { branch: string }[];
  assert.is(workers.length, 48);
  const branches = git(["for-each-ref", "--format=%(refname:short)", "refs/heads/par/"], repo).split("\n");
  assert.equal(branches.sort(), workers.map((w) => w.branch).sort());
  assert.is(git(["worktree", "list"], repo).split("\n").length, 49);
});

test("the same branch twice: the second spawn exits 1 and changes nothing", () => {
  const { repo } = sessionRepo();
  assert.is(orch(["spawn", "feat/ok", "--no-window"], { cwd: repo }).code, 0);
  const before = { worktrees: git(["worktree", "list"], repo), store: snapshot(path.join(repo, ".orch")) };
  const again = orch(["spawn", "feat/ok", "--no-window", "--json"], { cwd: repo });
  assert.is(again.code, 1, again.stderr);
  assert.is(again.json.error.code, "exists");
  const sameId = orch(["spawn", "feat-ok", "--no-window"], { cwd: repo });
  assert.is(sameId.code, 1, "feat-ok has the same worker id as feat/ok");
  assert.equal({ worktrees: git(["worktree", "list"], repo), store: snapshot(path.join(repo, ".orch")) }, before);
});

test("spawn input errors exit 2: missing prompt file, two prompt sources, bad backend; stdin works", () => {
  const { repo } = sessionRepo();
  assert.is(orch(["spawn", "feat/a", "--prompt-file", "/nonexistent/file", "--no-window"], { cwd: repo }).code, 2);
  assert.is(orch(["spawn", "feat/a", "--prompt", "x", "--prompt-file", "/etc/hostname", "--no-window"], { cwd: repo }).code, 2);
  assert.is(orch(["spawn", "feat/a", "--backend", "svn", "--no-window"], { cwd: repo }).code, 2);
  // A config value orch does not know is refused as git refuses one, not taken as the git backend.
  git(["config", "orch.backend", "gtrr"], repo);
  const configured = orch(["spawn", "feat/a", "--no-window"], { cwd: repo });
  assert.equal([configured.code, configured.stderr.trim()], [2, 'orch: bad git config orch.backend "gtrr": it must be git or gtr']);
  assert.is(orch(["spawn", "feat/c", "--backend", "git", "--no-window"], { cwd: repo }).code, 0, "--backend decides over it");
  git(["config", "--unset", "orch.backend"], repo);
  assert.equal(git(["branch", "--list", "feat/a"], repo), "");
  const r = orch(["spawn", "feat/stdin", "-", "--no-window", "--json"], { cwd: repo, input: "from stdin ✓\n" });
  assert.is(r.code, 0, r.stderr);
  const promptFile = path.join(repo, ".orch/sessions", r.json.orchestrator_id, "workers/feat-stdin/prompt.txt");
  assert.ok(fs.readFileSync(promptFile, "utf8").startsWith("from stdin ✓\n\n"));
  const missingFrom = orch(["spawn", "feat/b", "--from", "no-such-ref", "--no-window"], { cwd: repo });
  assert.is(missingFrom.code, 1);
  assert.equal(git(["branch", "--list", "feat/b"], repo), "");
});

test("a repository with no commit yet: spawn says so (not a --from nobody gave), exit 1, nothing made", () => {
  const repo = path.join(tempDir(), "empty");
  fs.mkdirSync(repo);
  git(["init", "-q", "-b", "main"], repo);
  assert.is(orch(["init"], { cwd: repo }).code, 0);
  const r = orch(["spawn", "feat/first", "--no-window", "--json"], { cwd: repo });
  assert.is(r.code, 1, r.stdout);
  assert.is(r.json.error.code, "not_found");
  assert.match(r.json.error.message, /has no commit yet to start a worker from/);
  assert.not.match(r.json.error.message, /--from HEAD/);
  assert.equal(git(["branch", "--list"], repo), "");
  assert.not.ok(fs.existsSync(path.join(path.dirname(repo), "empty-worktrees")));
});

test("prompts orch cannot pass are refused at spawn with exit 2, nothing created: NUL, invalid UTF-8, devices, FIFOs", () => {
  const { repo } = sessionRepo();
  const dir = tempDir();
  fs.writeFileSync(path.join(dir, "nul.txt"), "before\0after");
  fs.writeFileSync(path.join(dir, "latin1.txt"), Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x0a]));
  spawnSync("mkfifo", [path.join(dir, "fifo")]);
  const before = { branches: git(["branch", "--list"], repo), store: snapshot(path.join(repo, ".orch")) };
  const cases: [string, string[], Buffer?][] = [
    ["NUL in a file", ["--prompt-file", path.join(dir, "nul.txt")]],
    ["invalid UTF-8 in a file", ["--prompt-file", path.join(dir, "latin1.txt")]],
    ["NUL on stdin", ["-"], Buffer.from("a\0b")],
    ["invalid UTF-8 on stdin", ["-"], Buffer.from([0xff, 0xfe])],
    ["a device that never ends", ["--prompt-file", "/dev/zero"]],
    ["a folder", ["--prompt-file", dir]],
    ["a FIFO", ["--prompt-file", path.join(dir, "fifo")]],
  ];
  for (const [what, args, input] of cases) {
    const r = orch(["spawn", "feat/refused", ...args, "--no-window", "--json"], { cwd: repo, ...(input ? { input } : {}) });
    assert.is(r.code, 2, `${what}: ${r.stderr}`);
    assert.is(r.stderr.trim().split("\n").length, 1, `${what}: one line`);
  }
  assert.equal({ branches: git(["branch", "--list"], repo), store: snapshot(path.join(repo, ".orch")) }, before);
  const fromStdin = orch(["spawn", "feat/stdin-file", "--prompt-file", "-", "--no-window", "--json"], { cwd: repo, input: "-x via stdin" });
  assert.is(fromStdin.code, 0, fromStdin.stderr);
});

/** orch with its last argument made of raw bytes (Node encodes every string argument it passes as UTF-8). */
function orchWithRawLastArgument(args: string[], printfBytes: string, cwd: string): Omit<Result, "json"> {
  const script = `exec "$@" "$(printf -- '${printfBytes}')"`;
  const options = { cwd, env: baseEnv(), encoding: "utf8" } as const;
  const r = spawnSync("bash", ["-c", script, "bash", ...orchCommand(), ...args], options);
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

test("an argument that is not UTF-8 (a prompt, a branch) is refused with exit 2, never stored as U+FFFD", () => {
  const { repo } = sessionRepo();
  const before = { branches: git(["branch", "--list"], repo), store: snapshot(path.join(repo, ".orch")) };
  const cases: [string, string[], string][] = [
    ["a Latin-1 prompt", ["spawn", "feat/latin1", "--no-window", "--json", "--prompt"], "caf\\351"],
    ["a prompt given with =", ["spawn", "feat/latin1", "--no-window", "--json"], "--prompt=caf\\351"],
    ["a branch", ["spawn", "--no-window", "--json"], "feat/\\377"],
    ["a message", ["send", "--json", "no-such-worker"], "\\200"],
  ];
  for (const [what, args, bytes] of cases) {
    const r = orchWithRawLastArgument(args, bytes, repo);
    assert.is(r.code, 2, `${what}: ${r.stderr}`);
    assert.match(r.stderr, /is not valid UTF-8/, what);
    assert.is(r.stderr.trim().split("\n").length, 1, `${what}: one line`);
    assert.is(JSON.parse(r.stdout).error.code, "invalid", what);
  }
  assert.equal({ branches: git(["branch", "--list"], repo), store: snapshot(path.join(repo, ".orch")) }, before);
  // U+FFFD typed as such is valid UTF-8 text like any other.
  const typedArgs = ["spawn", "feat/typed", "--no-window", "--json", "--prompt"];
  const typed = orchWithRawLastArgument(typedArgs, "\\357\\277\\275 ok", repo);
  assert.is(typed.code, 0, typed.stderr);
  const session = JSON.parse(typed.stdout).orchestrator_id;
  const promptFile = path.join(repo, ".orch/sessions", session, "workers/feat-typed/prompt.txt");
  assert.ok(fs.readFileSync(promptFile, "utf8").startsWith("\uFFFD ok\n"));
});

test("a prompt too large for one argument reaches the agent as a one-line pointer to ORCH_PROMPT_FILE", async () => {
  const { repo } = sessionRepo();
  const env = privateTmux();
  const { script, out } = recordingAgent();
  const big = `-starts with a dash\n${"y".repeat(300 * 1024)}\nend`;
  const file = path.join(tempDir(), "task.md");
  fs.writeFileSync(file, big);
  const r = orch(["spawn", "feat/big", "--agent", `${script} --`, "--prompt-file", file, "--json"], { cwd: repo, env });
  assert.is(r.code, 0, r.stderr);
  await waitUntil(() => fs.existsSync(path.join(out, "feat-big.argc")), 15_000, "the agent to run");
  const argument = fs.readFileSync(path.join(out, "feat-big.prompt"), "utf8");
  const promptFile = fs.readFileSync(path.join(out, "feat-big.env"), "utf8").split("\n")[3]!;
  assert.not.match(argument, /\n/, "one line");
  assert.ok(argument.includes(promptFile), argument);
  assert.ok(fs.readFileSync(promptFile, "utf8").startsWith(`${big}\n\n`), "the file holds the whole prompt");
  assert.is(fs.readFileSync(path.join(out, "feat-big.argc"), "utf8").trim(), "2", "--, then the pointer");
});

test("an agent that cannot be started is reported as task_failed with the reason", async () => {
  const { repo, id } = sessionRepo();
  const env = privateTmux();
  const notExecutable = path.join(tempDir(), "agent.sh");
  fs.writeFileSync(notExecutable, "#!/bin/sh\n", { mode: 0o644 });
  const cases = [
    ["feat/noexec", notExecutable, /EACCES|permission denied/i],
    ["feat/missing", "no-such-agent-xyz", /not found/],
  ] as const;
  for (const [branch, agent, reason] of cases) {
    const r = orch(["spawn", branch, "--agent", agent, "--json"], { cwd: repo, env });
    assert.is(r.code, 0, r.stderr);
    let messages: { worker_id: string; message_type: string; content: { error: string } }[] = [];
    await waitUntil(() => {
      messages = messages.concat(orch(["poll", "--json"], { cwd: repo, env: { ...env, ORCH_ID: id } }).json.messages);
      return messages.length > 0;
    }, 15_000, `task_failed for ${branch}`);
    assert.is(messages[0]!.message_type, "task_failed");
    assert.match(messages[0]!.content.error, reason);
  }
});

test("the agent and its window's shell never see another repository's GIT_DIR, GIT_INDEX_FILE, …", async () => {
  const { repo } = sessionRepo();
  const env = privateTmux();
  const elsewhere = tempDir();
  // A tmux server started from a git hook carries these into every window it opens later. Started with the
  // tests' own environment otherwise: with the runner's SHELL, the window's shell would be a bash whose rc
  // files can stall it (a pyenv rehash waiting on a lock a killed bash left), and it never answered.
  spawnSync("tmux", ["new-session", "-d", "-s", "keep"], {
    env: {
      ...baseEnv(env),
      TMUX: "",
      GIT_DIR: path.join(elsewhere, ".git"),
      GIT_INDEX_FILE: path.join(elsewhere, "index"),
      GIT_WORK_TREE: elsewhere,
      GIT_CONFIG_COUNT: "1",
      GIT_CONFIG_KEY_0: "user.name",
      GIT_CONFIG_VALUE_0: "x",
    },
  });
  const out = path.join(tempDir(), "env");
  const agent = path.join(tempDir(), "agent.sh");
  const agentScript = `#!/bin/sh\nenv | grep -E '^GIT_(DIR|INDEX_FILE|WORK_TREE|CONFIG)' > ${out}.tmp; ` +
    `git rev-parse --show-toplevel >> ${out}.tmp; mv ${out}.tmp ${out}\n`;
  fs.writeFileSync(agent, agentScript, { mode: 0o755 });
  const r = orch(["spawn", "feat/env", "--agent", agent, "--json"], { cwd: repo, env });
  assert.is(r.code, 0, r.stderr);
  await waitUntil(() => fs.existsSync(out), 15_000, "the agent to run");
  assert.is(fs.readFileSync(out, "utf8").trim(), r.json.worktree_path, "no GIT_ variable; git finds the worker's worktree");
  const window = r.json.window_id as string;
  await waitUntil(
    () => !["sh", "orch"].includes(tmux(["list-panes", "-t", window, "-F", "#{pane_current_command}"], env)),
    15_000,
    "the shell after the agent",
  );
  // GIT_CONFIG_KEY_n/VALUE_n may stay in the shell: without GIT_CONFIG_COUNT git ignores them.
  const shellLine = `{ env | grep -E '^GIT_(DIR|INDEX_FILE|WORK_TREE|CONFIG_COUNT)='; echo end; } > ${out}.shell`;
  tmux(["send-keys", "-t", window, shellLine, "Enter"], env);
  await waitUntil(
    () => fs.existsSync(`${out}.shell`) && fs.readFileSync(`${out}.shell`, "utf8").endsWith("end\n"),
    15_000,
    "the shell to answer",
  );
  assert.is(fs.readFileSync(`${out}.shell`, "utf8"), "end\n", "the shell left in the window has none either");
});

test("an existing branch is checked out as it is; a new one starts from --from", () => {
  const { repo } = sessionRepo();
  const first = git(["rev-parse", "HEAD"], repo);
  fs.writeFileSync(path.join(repo, "two.txt"), "2");
  git(["add", "."], repo);
  git(["commit", "-qm", "two"], repo);
  git(["branch", "existing"], repo);
  const existing = orch(["spawn", "existing", "--no-window", "--json"], { cwd: repo });
  assert.is(existing.code, 0, existing.stderr);
  assert.is(git(["rev-parse", "HEAD"], existing.json.worktree_path), git(["rev-parse", "existing"], repo));
  const fromFirst = orch(["spawn", "feat/old", "--from", first, "--no-window", "--json"], { cwd: repo });
  assert.is(fromFirst.json.base_commit, first);
  assert.is(git(["rev-parse", "HEAD"], fromFirst.json.worktree_path), first);
});

test("a branch only a remote has (origin/feat/x): refused without --from, nothing made; tracked, then as it is", () => {
  const upstream = scratchRepo("upstream");
  git(["checkout", "-q", "-b", "feat/theirs"], upstream);
  fs.writeFileSync(path.join(upstream, "theirs.txt"), "a colleague's work\n");
  git(["add", "theirs.txt"], upstream);
  git(["commit", "-q", "-m", "their work"], upstream);
  git(["checkout", "-q", "main"], upstream);
  const repo = path.join(tempDir(), "clone");
  git(["clone", "-q", upstream, repo], upstream);
  assert.is(orch(["init"], { cwd: repo }).code, 0);
  const before = snapshot(path.join(repo, ".orch"));
  const r = orch(["spawn", "feat/theirs", "--no-window", "--json"], { cwd: repo });
  assert.is(r.code, 1, r.stderr);
  assert.is(r.json.error.code, "refused");
  assert.is(r.json.error.message, "feat/theirs is no branch here, but origin/feat/theirs is: git branch --track " +
    "feat/theirs origin/feat/theirs makes it (spawn then checks it out as it is), or --from HEAD starts a new " +
    "feat/theirs; nothing was made");
  assert.is(git(["branch", "--list", "feat/theirs"], repo), "");
  assert.is(git(["worktree", "list"], repo).split("\n").length, 1);
  assert.equal(snapshot(path.join(repo, ".orch")), before);
  // Waiting for another worker (--after): refused when it is recorded, not when it would start.
  assert.is(orch(["spawn", "feat/first", "--no-window"], { cwd: repo }).code, 0);
  const workers = () => orch(["status", "--json"], { cwd: repo }).json.workers.map((w: { branch: string }) => w.branch);
  const pending = orch(["spawn", "feat/theirs", "--after", "feat-first", "--no-window", "--json"], { cwd: repo });
  assert.equal([pending.code, pending.json.error.code], [1, "refused"], pending.stderr);
  assert.match(pending.json.error.message, /^feat\/theirs is no branch here, but origin\/feat\/theirs is: /);
  assert.equal(workers(), ["feat/first"], "no pending worker recorded");
  git(["branch", "-q", "--track", "feat/theirs", "origin/feat/theirs"], repo);
  const tracked = orch(["spawn", "feat/theirs", "--no-window", "--json"], { cwd: repo });
  assert.is(tracked.code, 0, tracked.stderr);
  assert.ok(fs.existsSync(path.join(tracked.json.worktree_path, "theirs.txt")), "the remote's work is there");
  const fresh = orch(["spawn", "feat/new", "--no-window", "--json"], { cwd: repo });
  assert.is(fresh.code, 0, "a branch no remote has starts from HEAD as before");
});

test("a full commit id is checked by the add: one naming no commit is refused as a bad --from, nothing left", () => {
  const { repo, id } = sessionRepo();
  const head = git(["rev-parse", "HEAD"], repo);
  git(["tag", "-a", "-m", "release", "v1"], repo);
  const tag = git(["rev-parse", "v1"], repo);
  assert.is.not(tag, head);
  const hashed = spawnSync("git", ["hash-object", "-w", "--stdin"], { cwd: repo, input: "a blob\n", encoding: "utf8" });
  const blob = hashed.stdout.trim();
  git(["branch", "kept"], repo);
  const missing = "0123456789abcdef0123456789abcdef01234567";
  const worktrees = () =>
    git(["worktree", "list", "--porcelain"], repo).split("\n").filter((l) => l.startsWith("worktree ")).length;
  const beside = () => fs.readdirSync(path.dirname(repo)).sort();
  const before = { branches: git(["branch", "--list"], repo), worktrees: worktrees(), beside: beside() };
  for (const [branch, from] of [["feat/missing", missing], ["feat/blob", blob], ["kept", missing]] as const) {
    const r = orch(["spawn", branch, "--from", from, "--no-window", "--json"], { cwd: repo });
    assert.is(r.code, 1, `${branch}: ${r.stderr}`);
    assert.is(r.json.error.code, "not_found");
    assert.ok(r.json.error.message.includes(`--from ${from} is not a commit`), r.json.error.message);
    assert.is(r.stderr.split("\n").filter(Boolean).length, 1, r.stderr);
  }
  assert.equal({ branches: git(["branch", "--list"], repo), worktrees: worktrees(), beside: beside() }, before);
  const session = path.join(repo, ".orch/sessions", id);
  const entries = (dir: string) => (fs.existsSync(dir) ? fs.readdirSync(dir).filter((n) => !n.startsWith(".")) : []);
  assert.equal(entries(path.join(session, "workers")), []);
  assert.equal(entries(path.join(session, "spawning")), []);
  // An annotated tag's id (full, so not looked at before the add): the worker starts at its commit.
  const tagged = orch(["spawn", "feat/tagged", "--from", tag, "--no-window", "--json"], { cwd: repo });
  assert.is(tagged.code, 0, tagged.stderr);
  assert.is(tagged.json.base_commit, head);
  assert.is(git(["rev-parse", "HEAD"], tagged.json.worktree_path), head);
});

test("git-gtr settings: worktrees.dir (relative to the repository), prefix, copy include/exclude, postCreate hook", () => {
  const { repo } = sessionRepo({ "README.md": "r", ".gitignore": ".env*\nconfig/local.json\n" });
  fs.writeFileSync(path.join(repo, ".env"), "SECRET=1");
  fs.writeFileSync(path.join(repo, ".env.example"), "X=");
  fs.mkdirSync(path.join(repo, "config"));
  fs.writeFileSync(path.join(repo, "config/local.json"), "{}");
  git(["config", "gtr.worktrees.dir", "../trees"], repo);
  git(["config", "gtr.worktrees.prefix", "wt-"], repo);
  git(["config", "--add", "gtr.copy.include", ".env*"], repo);
  git(["config", "--add", "gtr.copy.include", "config/*.json"], repo);
  git(["config", "gtr.copy.exclude", "*.example"], repo);
  git(["config", "gtr.hook.postCreate", 'printf "%s|%s|%s" "$REPO_ROOT" "$WORKTREE_PATH" "$BRANCH" > hook.out'], repo);
  const r = orch(["spawn", "feat/cfg", "--no-window", "--json"], { cwd: repo });
  assert.is(r.code, 0, r.stderr);
  const wt = path.join(path.dirname(repo), "trees", "wt-feat-cfg");
  assert.is(r.json.worktree_path, wt);
  assert.is(fs.readFileSync(path.join(wt, ".env"), "utf8"), "SECRET=1");
  assert.ok(fs.existsSync(path.join(wt, "config/local.json")));
  assert.not.ok(fs.existsSync(path.join(wt, ".env.example")), "excluded");
  assert.is(fs.readFileSync(path.join(wt, "hook.out"), "utf8"), `${repo}|${wt}|feat/cfg`);
});

test("a failing postCreate hook: exit 1, and the worktree, branch and worker are gone again", () => {
  const { repo } = sessionRepo();
  git(["config", "gtr.hook.postCreate", "echo setting up; exit 3"], repo);
  const before = snapshot(path.join(repo, ".orch"));
  const r = orch(["spawn", "feat/hook", "--no-window", "--json"], { cwd: repo });
  assert.is(r.code, 1);
  assert.match(r.json.error.message, /postCreate hook .* exited 3/);
  assert.equal(git(["branch", "--list", "feat/hook"], repo), "");
  assert.is(git(["worktree", "list"], repo).split("\n").length, 1);
  assert.equal(snapshot(path.join(repo, ".orch")), before);
});

test("a failing post-checkout hook only warns (git's checkout is whole); lfs.required without git-lfs fails", () => {
  const { repo } = sessionRepo();
  const hooks = tempDir("orch-hooks-");
  const hook = "#!/bin/sh\necho lint setup broke >&2\nexit 1\n";
  fs.writeFileSync(path.join(hooks, "post-checkout"), hook, { mode: 0o755 });
  git(["config", "core.hooksPath", hooks], repo);
  const hooked = orch(["spawn", "feat/hooked", "--no-window", "--json"], { cwd: repo });
  assert.is(hooked.code, 0, hooked.stderr);
  const warned = "orch: your post-checkout hook failed in the new worktree (git's checkout is whole): " +
    "lint setup broke";
  assert.ok(hooked.stderr.split("\n").includes(warned), hooked.stderr);
  assert.is(git(["status", "--porcelain"], hooked.json.worktree_path), "", "the worktree is whole and clean");
  assert.is(git(["branch", "--show-current"], hooked.json.worktree_path), "feat/hooked");
  // As git-lfs's own install writes it, with a program that is not there (git-lfs not installed).
  const attributes = "*.bin filter=lfs diff=lfs merge=lfs -text\n";
  const lfsRepo = sessionRepo({ ".gitattributes": attributes, "data.bin": "data\n" });
  git(["config", "filter.lfs.required", "true"], lfsRepo.repo);
  git(["config", "filter.lfs.process", "git-lfs-not-installed filter-process"], lfsRepo.repo);
  const before = snapshot(path.join(lfsRepo.repo, ".orch"));
  const lfs = orch(["spawn", "feat/lfs", "--no-window", "--json"], { cwd: lfsRepo.repo });
  assert.is(lfs.code, 1, lfs.stderr);
  // git's words depend on when it finds the filter gone ("…: not found; fatal: the remote end hung up", or under
  // load "initialization for subprocess 'git-lfs-not-installed filter-process' failed; fatal: …"): both name it.
  assert.match(lfs.json.error.message, /^git worktree add failed: .*git-lfs-not-installed/);
  assert.equal(git(["branch", "--list", "feat/lfs"], lfsRepo.repo), "");
  assert.is(git(["worktree", "list"], lfsRepo.repo).split("\n").length, 1);
  assert.equal(snapshot(path.join(lfsRepo.repo, ".orch")), before);
});

test("branches one character apart outside ASCII: the first has the contract id, the next its digest id", () => {
  const { repo } = sessionRepo();
  const env = privateTmux();
  const branches = ["feat/é", "feat/è", "功能/登录", "功能/注册"];
  const spawned = branches.map((branch) => {
    const r = orch(["spawn", branch, "--agent", "true", "--prompt", "p", "--json"], { cwd: repo, env });
    assert.is(r.code, 0, `${branch}: ${r.stderr}`);
    return r.json as { worker_id: string; worktree_path: string; window_id: string };
  });
  const ids = spawned.map((w) => w.worker_id);
  // The contract's id for the first; the second's is taken by it, so it gets its digest id.
  assert.equal(ids, ["feat--", "feat---mmyj8wzk", "_____", "_____-42kk36nk"]);
  for (const [i, w] of spawned.entries()) {
    assert.is(tmux(["display-message", "-p", "-t", w.window_id, "#{window_name}"], env), w.worker_id, "its window's name");
    assert.is(path.basename(w.worktree_path), branches[i]!.replace("/", "-"), "git-gtr's folder name");
    assert.is(git(["rev-parse", "--abbrev-ref", "HEAD"], w.worktree_path), branches[i]);
    const sent = orch(["notify", "--type", "progress", "--summary", `from ${branches[i]}`], { cwd: w.worktree_path });
    assert.is(sent.code, 0, sent.stderr);
  }
  const polled = orch(["poll", "--json"], { cwd: repo });
  // The agent (true) exits at once: its task_failed may be there too.
  const mail = (polled.json.messages as { worker_id: string; message_type: string; content: { summary: string } }[])
    .filter((m) => m.message_type === "progress").map((m) => `${m.worker_id} ${m.content.summary}`).sort();
  assert.equal(mail, branches.map((b, i) => `${ids[i]} from ${b}`).sort(), "each message under its own worker's id");
  const status = orch(["status", "--json"], { cwd: repo }).json.workers as { worker_id: string; branch: string }[];
  assert.equal(status.map((w) => `${w.worker_id} ${w.branch}`).sort(), branches.map((b, i) => `${ids[i]} ${b}`).sort());
  // By its branch, each command finds that branch's worker, whichever id it has.
  for (const [i, branch] of branches.entries()) {
    const sent = orch(["send", branch, `to ${branch}`, "--json"], { cwd: repo, env });
    assert.is(sent.code, 0, sent.stderr);
    assert.is(sent.json.worker_id, ids[i], `send ${branch}`);
    const inbox = orch(["inbox", "--json"], { cwd: spawned[i]!.worktree_path });
    assert.is(inbox.json.message_count, 1, JSON.stringify(inbox.json));
    assert.ok(JSON.stringify(inbox.json.messages).includes(`to ${branch}`), JSON.stringify(inbox.json));
  }
  // A spawn again of each is refused, naming its own worker; a third accented branch gets its digest id.
  for (const [i, branch] of branches.entries()) {
    const again = orch(["spawn", branch, "--no-window", "--json"], { cwd: repo });
    assert.is(again.code, 1, again.stderr);
    assert.match(again.json.error.message, new RegExp(`^worker ${ids[i]} already exists`));
  }
  const third = orch(["spawn", "feat/ê", "--no-window", "--json"], { cwd: repo });
  assert.is(third.json.worker_id, "feat---kz2ctne9", third.stderr);
  for (const [i, branch] of branches.entries()) {
    const removed = orch(["rm", branch, "--yes", "--json"], { cwd: repo, env });
    assert.is(removed.code, 0, removed.stderr);
    assert.is(removed.json.worker_id, ids[i], `rm ${branch}`);
  }
  assert.equal((orch(["status", "--json"], { cwd: repo }).json.workers as { worker_id: string }[])
    .map((w) => w.worker_id), ["feat---kz2ctne9"]);
  // feat-- is free again: the next accented branch has the contract id.
  assert.is(orch(["spawn", "feat/ë", "--no-window", "--json"], { cwd: repo }).json.worker_id, "feat--");
});

test("rm by a branch whose id is another branch's worker: not_found, nothing removed (feat/è, feat@a)", () => {
  const { repo } = sessionRepo();
  for (const branch of ["feat/é", "feat/a"]) {
    assert.is(orch(["spawn", branch, "--no-window", "--json"], { cwd: repo }).code, 0);
  }
  const before = [snapshot(path.join(repo, ".orch")), git(["worktree", "list"], repo), git(["branch"], repo)];
  for (const other of ["feat/è", "feat@a"]) {
    for (const command of [["rm", other, "--force", "--yes"], ["stop", other], ["diff", other]]) {
      const r = orch([...command, "--json"], { cwd: repo });
      assert.is(r.code, 1, `${command.join(" ")}: ${r.stderr}`);
      assert.is(r.json.error.code, "not_found", command.join(" "));
    }
  }
  assert.equal([snapshot(path.join(repo, ".orch")), git(["worktree", "list"], repo), git(["branch"], repo)], before);
  // An all-ASCII branch with another's id is refused, as before; its id stays the contract's.
  const ascii = orch(["spawn", "feat@a", "--no-window", "--json"], { cwd: repo });
  assert.is(ascii.code, 1, ascii.stderr);
  assert.match(ascii.json.error.message, /^worker feat-a already exists/);
  assert.equal(snapshot(path.join(repo, ".orch")), before[0]);
});

test("rm --force by a branch leaves another branch's unreadable record under its id; by the id it goes", () => {
  const { repo, id } = sessionRepo();
  assert.is(orch(["spawn", "feat/é", "--no-window", "--json"], { cwd: repo }).code, 0);
  const folder = path.join(repo, ".orch", "sessions", id, "workers", "feat--");
  fs.writeFileSync(path.join(folder, "worker.json"), "{ truncated");
  const before = snapshot(path.join(repo, ".orch"));
  const other = orch(["rm", "feat/è", "--force", "--yes", "--json"], { cwd: repo });
  assert.is.not(other.code, 0, other.stderr);
  assert.match(other.json.error.message, /orch rm feat-- --force removes the worker/);
  assert.equal(snapshot(path.join(repo, ".orch")), before, "feat/é's record is left");
  const byId = orch(["rm", "feat--", "--force", "--yes", "--json"], { cwd: repo });
  assert.is(byId.code, 0, byId.stderr);
  assert.not.ok(fs.existsSync(folder));
});

test("spawn --worker-id (internal, from the orch that drives a host): only the branch's contract or digest id", () => {
  const { repo } = sessionRepo();
  const before = snapshot(path.join(repo, ".orch"));
  for (const [branch, id] of [["feat/è", "feat-x"], ["feat/è", "feat---pemli9x3"], ["feat/a", "feat-a-x"]]) {
    const r = orch(["spawn", branch!, "--worker-id", id!, "--no-window", "--json"], { cwd: repo });
    assert.is(r.code, 2, r.stderr);
    assert.match(r.json.error.message, /--worker-id .* is not an id of branch/);
  }
  assert.equal(snapshot(path.join(repo, ".orch")), before, "nothing made");
  const given = orch(["spawn", "feat/è", "--worker-id", "feat---mmyj8wzk", "--no-window", "--json"], { cwd: repo });
  assert.is(given.json.worker_id, "feat---mmyj8wzk", given.stderr);
  assert.is(orch(["spawn", "feat/é", "--worker-id", "feat--", "--no-window", "--json"], { cwd: repo }).code, 0);
  // Taken by another branch: refused, the given id is not replaced by another.
  const taken = orch(["spawn", "feat/ê", "--worker-id", "feat--", "--no-window", "--json"], { cwd: repo });
  assert.is(taken.code, 1, taken.stderr);
  assert.match(taken.json.error.message, /^worker feat-- already exists/);
});

test.run();
