// The shared connection's socket in proxy mode (ssh-mux.ts) against a real OpenSSH master and sshd: what a
// command prints, reads and exits with comes back as through ssh itself; anything short of a master that
// runs the command is "no master" (ssh is used instead), and a master that dies mid-command is a failed
// connection, never a hang. Runs under Node here (node:net); the hosts tests run it in the binary (Bun).

import { spawnSync } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { announced, controlPath, HostUnreachable, runOnHost, sentEnvironment, sshOptions, startOnHost } from "../src/adapters/ssh.ts";
import { requestsSent, runThroughMaster, runToEnd, type MuxSession } from "../src/adapters/ssh-mux.ts";
import { endAll } from "../src/exit-hold.ts";
import { quoteForShell } from "../src/hosts/shell-quote.ts";
import { tempDir } from "./helpers.ts";
import { sshSkipReason, startSshWorld, type SshWorld } from "./ssh-harness.ts";

const skip = sshSkipReason();
let world: SshWorld | undefined;
let env: NodeJS.ProcessEnv = {};
let dest = "";

/** Starts the master as orch does (the first ssh call), and returns its socket. */
function startMaster(): string {
  const r = spawnSync("ssh", [...sshOptions(dest, env), dest, "true"], { env, encoding: "utf8" });
  assert.is(r.status, 0, r.stderr);
  const socket = controlPath(dest, env);
  assert.ok(fs.existsSync(socket), "ssh made the control socket orch names");
  return socket;
}

/** `promise`, or a failure after `ms` (a stalled window would otherwise hang until the runner's kill). */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: no end within ${ms} ms`)), ms)));
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

function outcome(session: MuxSession | undefined, input?: string | Uint8Array) {
  assert.ok(session, "the master ran the command");
  return runToEnd(session, input);
}

test.before(async () => {
  if (skip) return;
  world = await startSshWorld(1);
  env = { ...process.env, ...world.env };
  dest = world.hosts[0]!.alias;
});
test.after(() => world?.close());

test("a command's stdout, stderr and exit code come back apart, its arguments as given", async () => {
  if (skip) return console.log(`  skipped: ${skip}`);
  const socket = startMaster();
  const words = ["it's", "$(touch pwned)", "two  spaces", "ünï ☃", "line\nbreak", ""];
  const command = quoteForShell(["sh", "-c", 'printf "%s|" "$@"; echo oops >&2; exit 7', "sh", ...words]);
  const result = await outcome(await runThroughMaster(socket, command));
  assert.is(result.code, 7);
  assert.is(result.stdout, `${words.join("|")}|`);
  assert.is(result.stderr, "oops\n");
  const home = world!.hosts[0]!.home;
  assert.not.ok(world!.hosts[0]!.runAs(["test", "-e", path.join(home, "pwned")]).code === 0, "nothing ran from an argument");
});

test("megabytes both ways: the windows of both sides are honoured", async () => {
  if (skip) return console.log(`  skipped: ${skip}`);
  const socket = startMaster();
  // 5 MiB in (more than the host's window), 5 MiB out (more than ours), checked byte for byte.
  const input = new Uint8Array(5 * 1024 * 1024).map((_, i) => (i * 7 + (i >> 12)) & 0xff);
  let received = 0;
  const echoBack = "cat > in.bin && wc -c < in.bin && cksum < in.bin && head -c 5242880 /dev/zero | tr '\\0' x";
  const session = await runThroughMaster(socket, quoteForShell(["sh", "-c", echoBack]));
  assert.ok(session);
  let stdout = "";
  session.onStdout((text) => {
    received += text.length;
    if (stdout.length < 200) stdout += text.slice(0, 200);
  });
  session.write(input);
  session.end();
  assert.is(await within(session.exit, 30_000, "5 MiB each way"), 0);
  const local = spawnSync("cksum", { input }).stdout.toString();
  const [count, sum] = stdout.split("\n");
  assert.is(Number(count), input.length);
  assert.is(sum, local.trim());
  assert.is(received, `${count}\n${sum}\n`.length + 5 * 1024 * 1024);
});

test("a command killed by a signal exits 128 + its number, as a shell reports it", async () => {
  if (skip) return console.log(`  skipped: ${skip}`);
  const socket = startMaster();
  const result = await outcome(await runThroughMaster(socket, quoteForShell(["sh", "-c", "kill -TERM $$"])));
  assert.is(result.code, 143);
  assert.match(result.stderr, /SIGTERM/);
});

test("no master, a stale socket, or a socket that never answers: undefined (ssh is used), nothing waits long", async () => {
  if (skip) return console.log(`  skipped: ${skip}`);
  const dir = tempDir("orch-mux-");
  assert.is(await runThroughMaster(path.join(dir, "none"), "true"), undefined);
  const stale = path.join(dir, "stale");
  const server = net.createServer().listen(stale);
  await new Promise((resolve) => server.once("listening", resolve));
  server.close(); // a socket file left by a master that was killed
  fs.writeFileSync(path.join(dir, "file"), "");
  assert.is(await runThroughMaster(path.join(dir, "file"), "true"), undefined);
  const mute = net.createServer((conn) => conn.on("data", () => undefined)).listen(path.join(dir, "mute"));
  await new Promise((resolve) => mute.once("listening", resolve));
  const started = Date.now();
  assert.is(await runThroughMaster(path.join(dir, "mute"), "true", { startTimeoutMs: 300 }), undefined);
  assert.ok(Date.now() - started < 3000);
  // Something that speaks, but not the mux protocol.
  const liar = net.createServer((conn) => conn.end("SSH-2.0-not-a-master\r\n")).listen(path.join(dir, "liar"));
  await new Promise((resolve) => liar.once("listening", resolve));
  assert.is(await runThroughMaster(path.join(dir, "liar"), "true"), undefined);
  mute.close();
  liar.close();
});

test("requestsSent: settles once every channel's command has gone (or it gave up), before any has ended", async () => {
  if (skip) return console.log(`  skipped: ${skip}`);
  await within(requestsSent(), 100, "requestsSent with no channel");
  const socket = startMaster();
  const dir = tempDir("orch-mux-sent-");
  // Three commands that wait for their input, and one that cannot start (no master there).
  const sessions: (MuxSession | undefined)[] = [];
  const starting = [0, 1, 2].map(() => runThroughMaster(socket, "cat").then((s) => void sessions.push(s)));
  const missing = runThroughMaster(path.join(dir, "none"), "true").then((s) => void sessions.push(s));
  assert.is(sessions.length, 0, "nothing was sent before the event loop ran");
  await within(requestsSent(), 5000, "requestsSent");
  assert.is(sessions.length, 4, "every opening had settled when requestsSent did");
  assert.is(sessions.filter((s) => s !== undefined).length, 3);
  await Promise.all([...starting, missing]);
  // The three are running on the host: each waits for its input, and ends with it.
  const results = await Promise.all(sessions.filter((s) => s !== undefined).map((s, i) => runToEnd(s!, `in ${i}\n`)));
  assert.equal(results.map((r) => [r.code, r.stdout]), [[0, "in 0\n"], [0, "in 1\n"], [0, "in 2\n"]]);
  await within(requestsSent(), 100, "requestsSent once all are over");
});

/** A folder for PATH holding only sh and env: no ssh, so only the master's socket can run anything. */
function pathWithoutSsh(): string {
  const bin = tempDir("orch-nossh-");
  for (const tool of ["sh", "env"]) {
    fs.symlinkSync(spawnSync("sh", ["-c", `command -v ${tool}`]).stdout.toString().trim(), path.join(bin, tool));
  }
  return bin;
}

/** The environment `env -0` printed on the host, as name → value. */
function parseEnv(output: string): Map<string, string> {
  const vars = new Map<string, string>();
  for (const entry of output.split("\0").filter(Boolean)) {
    const at = entry.indexOf("=");
    vars.set(entry.slice(0, at), entry.slice(at + 1));
  }
  return vars;
}

test("what orch's channel sends: LANG and LC_* that an environment can hold, in the caller's order", () => {
  const env = {
    LC_TIME: "C", lang: "x", LANGUAGE: "de", LCX: "x", LANG: "C.UTF-8", LC_EMPTY: "", LC_NUL: "a\0b",
    "LC_A=B": "x", LC_UNSET: undefined, LC_ORCH_NOTE: "ünï ☃ 'q'",
  };
  assert.equal(sentEnvironment(env), [["LC_TIME", "C"], ["LANG", "C.UTF-8"], ["LC_ORCH_NOTE", "ünï ☃ 'q'"]]);
  assert.equal(sentEnvironment({ PATH: "/bin" }), []);
});

test("the caller's LANG and LC_* reach the host's command as ssh's SendEnv sends them, as data; nothing else does", async () => {
  if (skip) return console.log(`  skipped: ${skip}`);
  const socket = startMaster();
  const note = `it's "ünï ☃" $(touch pwned) \`touch pwned2\` two  spaces; \\ end`;
  const caller = {
    ...env, LANG: "C.UTF-8", LC_MESSAGES: "C.UTF-8", LC_ORCH_NOTE: note, LC_EMPTY: "",
    LANGUAGE: "de:en", ORCH_NOT_SENT: "kept here", TERM: "xterm-orch",
  };
  const sent = ["LANG", "LC_MESSAGES", "LC_ORCH_NOTE"];
  const unsent = ["LC_EMPTY", "LANGUAGE", "ORCH_NOT_SENT", "TERM"];

  // Without them, the host's command has none of them (sshd starts it with an environment of its own).
  const bare = parseEnv((await outcome(await runThroughMaster(socket, quoteForShell(["env", "-0"])))).stdout);
  for (const name of [...sent, ...unsent]) assert.not.ok(bare.has(name), `${name} is not on the host by itself`);

  const viaMaster = await runOnHost("h", dest, ["env", "-0"], { ...caller, PATH: pathWithoutSsh() });
  assert.is(viaMaster.code, 0, viaMaster.stderr);
  const seen = parseEnv(viaMaster.stdout);
  for (const name of sent) assert.is(seen.get(name), caller[name as keyof typeof caller], name);
  for (const name of unsent) assert.not.ok(seen.has(name), `${name} was not sent`);
  const home = world!.hosts[0]!.home;
  for (const file of ["pwned", "pwned2"]) assert.is(world!.hosts[0]!.runAs(["test", "-e", path.join(home, file)]).code, 1);

  // A lifeline (poll --wait, await) gets them too.
  const noting = announced(["sh", "-c", 'printf "%s" "$LC_ORCH_NOTE"; read line']);
  const lifeline = await startOnHost("h", dest, noting, { ...caller, PATH: pathWithoutSsh() });
  let printed = "";
  lifeline.onStdout((text) => (printed += text));
  lifeline.write("done\n");
  assert.is(await within(lifeline.exit, 30_000, "the lifeline"), 0);
  assert.is(printed, note);

  // ssh itself (the tests' config says SendEnv LANG LC_*, as Debian's and macOS's do) sends the same ones,
  // except that ssh sends an empty value too.
  const viaSsh = await runOnHost("h", dest, ["env", "-0"], { ...caller, ORCH_SSH_NO_MUX: "1" });
  const sshSeen = parseEnv(viaSsh.stdout);
  for (const name of sent) assert.is(sshSeen.get(name), caller[name as keyof typeof caller], `${name} through ssh`);
  assert.is(sshSeen.get("LC_EMPTY"), "");
  for (const name of unsent.filter((n) => n !== "LC_EMPTY")) assert.not.ok(sshSeen.has(name), `${name} not sent by ssh`);
});

/** The pid of the master behind `dest`'s socket (ssh -O check says it). */
function masterPid(): number {
  const check = spawnSync("ssh", [...sshOptions(dest, env), "-O", "check", dest], { env, encoding: "utf8" }).stderr;
  const pid = Number(/pid=(\d+)/.exec(check)?.[1]);
  assert.ok(pid > 0, check);
  return pid;
}

test("sessions closed early, as an empty poll closes its lifeline, leave the master up and serving", async () => {
  if (skip) return console.log(`  skipped: ${skip}`);
  const socket = startMaster();
  const pid = masterPid();
  // The command ends on its own as orch's empty poll does, and the session is closed at its first output:
  // its CLOSE crosses the host's. Leaving the socket before the host's CLOSE came made the master refuse
  // new channels within ~100 of these, or die of SIGSEGV with its socket left behind.
  for (let i = 0; i < 300; i++) {
    const session = await runThroughMaster(socket, "echo hi");
    assert.ok(session, `the master ran session ${i + 1}`);
    session.onStdout(() => session.close());
    await within(session.exit, 10_000, `session ${i + 1}`);
  }
  assert.not.throws(() => process.kill(pid, 0), "the master is still running");
  assert.is((await outcome(await runThroughMaster(socket, "echo still"))).stdout, "still\n");
});

test("endAll, which orch runs before it exits, waits for what a command ended: a closing channel, an ssh", async () => {
  if (skip) return console.log(`  skipped: ${skip}`);
  const socket = startMaster();
  for (let i = 0; i < 3; i++) {
    // Closed at its first output, as an empty poll's is: the host answers CLOSE once its command has ended.
    const session = await runThroughMaster(socket, "echo hi; sleep 0.3");
    assert.ok(session, "the master ran the command");
    let closed = false;
    void session.exit.then(() => (closed = true));
    await within(new Promise<void>((resolve) => session.onStdout(() => resolve())), 10_000, "its output");
    session.close();
    await Promise.resolve();
    assert.not.ok(closed, "the host has not closed its side yet");
    await within(endAll(), 10_000, "endAll");
    assert.ok(closed, "endAll waited for the host's close");
  }
  // Without the master (ssh started instead): a killed command's ssh is waited for too.
  const withSsh = { ...env, ORCH_SSH_NO_MUX: "1" };
  const started = await startOnHost("h", dest, announced(["sh", "-c", "echo hi; sleep 5"]), withSsh);
  let ended = false;
  void started.exit.then(() => (ended = true));
  await within(new Promise<void>((resolve) => started.onStdout(() => resolve())), 10_000, "its output");
  started.kill();
  await within(endAll(), 10_000, "endAll");
  assert.ok(ended, "endAll waited for the ssh it ended");
});

test("runOnHost goes through the master without starting ssh; the master killed mid-command is HostUnreachable", async () => {
  if (skip) return console.log(`  skipped: ${skip}`);
  const socket = startMaster();
  const noSsh = { ...env, PATH: pathWithoutSsh() };
  const echoed = await runOnHost("h", dest, ["printf", "%s", "via the master"], noSsh);
  assert.is(echoed.stdout, "via the master");
  const refused = await runOnHost("h", dest, ["true"], { ...noSsh, ORCH_SSH_NO_MUX: "1" }).then(
    () => "ran",
    (error: Error) => error.message,
  );
  assert.match(refused, /ssh is not installed/);

  const long = runOnHost("h", dest, ["sleep", "30"], noSsh);
  await new Promise((resolve) => setTimeout(resolve, 300));
  const master = spawnSync("ssh", [...sshOptions(dest, env), "-O", "check", dest], { env, encoding: "utf8" }).stderr;
  const pid = Number(/pid=(\d+)/.exec(master)?.[1]);
  assert.ok(pid > 0, master);
  process.kill(pid, "SIGKILL");
  const error = await long.then(() => undefined, (e: unknown) => e);
  assert.instance(error, HostUnreachable);
  assert.match((error as HostUnreachable).sshError, /shared ssh connection closed/);
  // The socket file stays behind: the next call goes to ssh, which starts a new master.
  assert.ok(fs.existsSync(socket));
  assert.is((await runOnHost("h", dest, ["echo", "again"], env)).stdout, "again\n");
});

test.run();
