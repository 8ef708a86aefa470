// OpenSSH's client, the one way orch reaches a host: BatchMode (never a password prompt), one shared
// connection per host (ControlMaster in a socket folder of orch's own, reached through its socket
// without starting ssh when it is up: ssh-mux.ts), the remote command line made by shell-quote.ts only.

import type { ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { HostError, OrchError } from "../errors.ts";
import { holdExitUntil } from "../exit-hold.ts";
import { commandLine, quoteForShell, type RemoteCommand } from "../hosts/shell-quote.ts";
import { sha256Hex } from "../sha256.ts";
import type { RunResult } from "./exec.ts";
import { LATE, settledWithin } from "../within.ts";
import { collectOutput, masterAnswers, runThroughMaster, runToEnd, type MuxSession } from "./ssh-mux.ts";

/** A program running on a host (a lifeline): its output as it comes, its input, its exit. */
export interface RemoteProcess {
  onStdout(listener: (text: string) => void): void;
  onStderr(listener: (text: string) => void): void;
  /** Bytes for its standard input. */
  write(data: string | Uint8Array): void;
  /** Closes its standard input once what was written has gone. */
  end(): void;
  /**
   * Ends it: its input closes, and the connection (a lifeline ends when its input does). orch exits only
   * once it is gone (exit-hold.ts: a channel through the master is closed both ways, an ssh has ended).
   */
  kill(): void;
  /** Started behind ANNOUNCE and announced itself: the host's login shell ran it (see whenStarted). */
  announced?: boolean;
  /** Its exit code; SSH_CONNECTION_FAILED when the connection failed or broke. Rejects if ssh cannot start. */
  readonly exit: Promise<number>;
}

/** ssh's own exit code for "could not connect, or the connection broke". */
export const SSH_CONNECTION_FAILED = 255;

/** A host could not be reached: its workers are `unreachable`, the other hosts go on. */
export class HostUnreachable extends HostError {
  /**
   * The connection broke after the host's login shell had started the command (it announced itself): the
   * command may have done its work there, its answer lost.
   */
  commandStarted = false;
  constructor(host: string, readonly sshError: string, message = `host ${host} is unreachable: ${sshError}`) {
    super("failed", host, message);
  }
}

/**
 * git over ssh failed to reach the host (ssh's own complaint, or the end of the connection before git
 * spoke), as against git refusing something there (a missing ref, a rejected push).
 */
export function gitCouldNotConnect(stderr: string): boolean {
  // git says "Could not read from remote repository" after the host's own refusal too.
  const hostAnswered = /does not appear to be a git repository|git-(upload|receive)-pack: (command )?not found/;
  if (hostAnswered.test(stderr)) return false;
  return /^ssh: |Could not read from remote repository|Connection closed by|kex_exchange_identification/m.test(stderr);
}

/**
 * What git over ssh said went wrong: its first line that is not git's generic advice nor ssh's note that it
 * goes on without the shared connection (the error follows it), without "fatal: ".
 */
export function gitComplaint(stderr: string): string {
  const advice =
    /^(fatal: )?Could not read from remote repository\.$|^Please make sure|^and the repository exists|^To \S+$/;
  const sshNote = /^ControlSocket .* already exists, disabling multiplexing$/;
  const lines = stderr.split("\n").map((line) => line.trim()).filter((line) => line !== "");
  const said = lines.filter((line) => !advice.test(line) && !sshNote.test(line));
  if (said[0] !== undefined) return said[0].replace(/^(fatal|error): /, "") || "git failed";
  // git's advice alone: ssh said nothing, its connection ended under git (the host dropped it mid-transfer).
  if (lines.some((line) => /Could not read from remote repository/.test(line))) {
    return "the connection to the host ended while git was using it";
  }
  return (lines.pop() ?? "").replace(/^(fatal|error): /, "") || "git failed";
}

/**
 * The longest folder a control socket fits in: a socket's path holds at most 104 bytes on macOS (108 on
 * Linux), and ssh binds the master's socket as "<folder>/<%C: 40 hex digits>.<16 random characters>".
 */
export const MAX_CONTROL_DIR_BYTES = 103 - 1 - 40 - 17;

/** Whether ssh's control sockets fit in this folder (see MAX_CONTROL_DIR_BYTES). */
export function controlSocketsFit(dir: string): boolean {
  return Buffer.byteLength(dir) <= MAX_CONTROL_DIR_BYTES;
}

/**
 * The folder of orch's control sockets: $ORCH_SSH_CONTROL_DIR, else orch-ssh-<uid> in $XDG_RUNTIME_DIR,
 * the temp folder or /tmp, the first one short enough for a socket path. Made 0700; refused when it is a
 * link or someone else's.
 */
export function controlDir(env: NodeJS.ProcessEnv): string {
  const uid = process.getuid?.() ?? 0;
  const candidates = [env.XDG_RUNTIME_DIR, env.TMPDIR, os.tmpdir(), "/tmp"].filter((d): d is string => Boolean(d));
  const dir = env.ORCH_SSH_CONTROL_DIR ||
    candidates.map((base) => path.join(base, `orch-ssh-${uid}`)).find(controlSocketsFit) ||
    path.join("/tmp", `orch-ssh-${uid}`);
  if (!path.isAbsolute(dir)) {
    // A relative one would be another folder in every working folder (and no shared connection).
    throw new OrchError("invalid", `ORCH_SSH_CONTROL_DIR ${dir} is not an absolute path: give one that is`);
  }
  if (!controlSocketsFit(dir)) {
    const why = `is over ${MAX_CONTROL_DIR_BYTES} bytes, too long for ssh's control socket paths`;
    throw new OrchError("invalid", `ORCH_SSH_CONTROL_DIR ${dir} ${why}: give a shorter folder`);
  }
  try {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (error) {
    throw new OrchError("failed", `cannot create ssh's control socket folder ${dir}: ${(error as Error).message}`);
  }
  const stat = fs.lstatSync(dir);
  if (!stat.isDirectory() || stat.uid !== uid || (stat.mode & 0o077) !== 0) {
    const must = "must be a folder of yours with mode 0700 (it holds live connections)";
    // Another user's folder in /tmp (made first, on a machine without $XDG_RUNTIME_DIR) is not yours to remove.
    const way = env.ORCH_SSH_CONTROL_DIR ? "" : ": fix it, or set ORCH_SSH_CONTROL_DIR to another folder for them";
    throw new OrchError("refused", `ssh's control socket folder ${dir} ${must}${way}`);
  }
  return dir;
}

/**
 * orch's own ssh setup (its control socket folder), checked before a command reaches its hosts: a setup
 * that no host can be reached with is the command's error, where each host's own failure is a warning
 * (its workers `unreachable`) and the command goes on.
 */
export function checkSshSetup(env: NodeJS.ProcessEnv): void {
  controlDir(env);
}

/**
 * The control socket for `dest`: named by orch (a hash of the destination and the client config), not by
 * ssh's %C, which hashes what ssh resolves from its config — orch has to find the socket without ssh.
 */
export function controlPath(dest: string, env: NodeJS.ProcessEnv): string {
  return path.join(controlDir(env), sha256Hex(`${env.ORCH_SSH_CONFIG ?? ""}\n${dest}`).slice(0, 40));
}

/** ssh with orch's options for `dest`, before the destination. $ORCH_SSH_CONFIG is passed as -F. */
export function sshOptions(dest: string, env: NodeJS.ProcessEnv): string[] {
  const options = [
    "-o", "BatchMode=yes",
    "-o", "ControlMaster=auto",
    "-o", `ControlPath=${controlPath(dest, env)}`,
    "-o", "ControlPersist=300",
    "-o", "ConnectTimeout=5",
    "-o", "ServerAliveInterval=10",
    "-o", "ServerAliveCountMax=3",
    // A user's ssh config is kept (aliases, ports, keys, jumps), but what would turn orch's calls into a session
    // of theirs is not: a RemoteCommand (ssh refuses a command line beside it), a forced terminal (which mangles
    // git's pack stream and never ends stdin), forwards (a taken port, fatal under ExitOnForwardFailure) and a
    // LocalCommand (its output would be read as the host's answer).
    "-o", "RemoteCommand=none",
    "-o", "RequestTTY=no",
    "-o", "ClearAllForwardings=yes",
    "-o", "PermitLocalCommand=no",
  ];
  if (env.ORCH_SSH_CONFIG) options.push("-F", env.ORCH_SSH_CONFIG);
  return options;
}

/** The full ssh argv that runs `command` on `dest`: its words quoted once for the remote shell, or its ShellLine. */
export function sshArgv(dest: string, command: RemoteCommand, env: NodeJS.ProcessEnv): string[] {
  return ["ssh", ...sshOptions(dest, env), dest, "--", commandLine(command)];
}

/**
 * GIT_SSH_COMMAND for git's ssh to `dest` over the same options (and so the same shared connection).
 * git runs it with sh.
 */
export function gitSshCommand(dest: string, env: NodeJS.ProcessEnv): string {
  return quoteForShell(["ssh", ...sshOptions(dest, env)]);
}

export function sshError(result: RunResult): string {
  return sshSaid(result.stderr) || `ssh exited ${result.code}`;
}

/**
 * ssh's last two lines of stderr, as one. Some of its lines end in "\r\n" (Load key "…": bad permissions), whose
 * CR would otherwise reach the user as \x0d.
 */
export function sshSaid(stderr: string): string {
  return stderr.split(/\r?\n|\r/).map((line) => line.trim()).filter(Boolean).slice(-2).join(" | ");
}

export interface RemoteRunOptions {
  input?: string | Buffer;
  /**
   * A command that answers at once (status): through the shared connection, one that has not ended within
   * this time (an orch there that hangs) is given up, and the host counts as unreachable meanwhile.
   */
  answerWithinMs?: number;
}

/** How long a host's orch may take over a command that answers at once: $ORCH_SSH_ANSWER_TIMEOUT s, else 30. */
export function answerTimeoutMs(env: NodeJS.ProcessEnv): number {
  const seconds = Number(env.ORCH_SSH_ANSWER_TIMEOUT);
  return Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 : 30_000;
}

/**
 * The most of a host's answer (its standard output, in characters) that orch reads: far more than any orch
 * answer, far less than the memory (and than the longest string Node holds, 512 MiB).
 */
export const MAX_ANSWER_CHARS = 256 * 1024 * 1024;

/** A host's program printed more than MAX_ANSWER_CHARS: not orch's answer, and not read further. */
export function answerTooLong(host: string, what = "orch"): HostError {
  const most = `${MAX_ANSWER_CHARS / 1024 / 1024} MiB`;
  return new HostError("failed", host, `on host ${host}: ${what} there printed more than ${most}, which no ` +
    "answer of orch's is (a broken or foreign program?): its connection was closed and nothing of it taken");
}

/** The session's output and exit code, or undefined (the channel closed) when it has not ended within `limitMs`. */
async function runToEndWithin(
  session: MuxSession, limitMs: number | undefined,
): Promise<RunResult | undefined> {
  if (limitMs === undefined) return runToEnd(session, undefined, MAX_ANSWER_CHARS);
  const result = await settledWithin(runToEnd(session, undefined, MAX_ANSWER_CHARS), limitMs);
  if (result !== LATE) return result;
  session.close();
  return undefined;
}

/** The master's socket for `dest` when orch's own ssh options name it (not with ORCH_SSH_NO_MUX=1). */
function masterSocket(dest: string, env: NodeJS.ProcessEnv): string | undefined {
  if (env.ORCH_SSH_NO_MUX === "1") return undefined;
  const socket = controlPath(dest, env);
  return fs.existsSync(socket) ? socket : undefined;
}

/**
 * What orch's own channel sends of `env` for the host's environment: LANG and every LC_* variable, as the
 * `SendEnv LANG LC_*` of Debian's, Fedora's and macOS's default ssh_config has ssh send them (orch reads no
 * ssh config). An empty value is left out (ssh would send it): to setlocale an empty one is an unset one.
 */
export function sentEnvironment(env: NodeJS.ProcessEnv): [string, string][] {
  const sent: [string, string][] = [];
  for (const [name, value] of Object.entries(env)) {
    if ((name !== "LANG" && !name.startsWith("LC_")) || name.includes("=")) continue;
    // An SSH string could carry a NUL, but no environment can: the host would cut the value there.
    if (typeof value === "string" && value !== "" && !value.includes("\0")) sent.push([name, value]);
  }
  return sent;
}

/**
 * Takes away the socket of a master that does not answer (stopped, wedged), if it is still the one that was
 * asked (`asked`: its identity then), so that the next ssh starts a new master instead of waiting on it for
 * ever (ssh's wait for the master's hello has no time limit). The silent master itself is left as it is.
 */
function setAsideSilentMaster(socket: string, asked: fs.Stats): void {
  try {
    const now = fs.lstatSync(socket);
    if (now.ino === asked.ino && now.dev === asked.dev) fs.unlinkSync(socket);
  } catch {
    // gone already, or replaced by a new master meanwhile: nothing to set aside
  }
}

/** `command` through the shared connection's socket, when its master is up; undefined when it is not. */
async function startThroughMaster(
  dest: string,
  command: RemoteCommand,
  env: NodeJS.ProcessEnv,
): Promise<MuxSession | undefined> {
  const socket = masterSocket(dest, env);
  if (socket === undefined) return undefined;
  const asked = fs.lstatSync(socket, { throwIfNoEntry: false });
  const onSilent = () => asked && setAsideSilentMaster(socket, asked);
  return runThroughMaster(socket, commandLine(command), { environment: sentEnvironment(env), onSilent });
}

/**
 * Before ssh itself talks to `dest` (git over ssh, ssh -O): a master on orch's socket that does not answer
 * its hello within 5 s is set aside, so that ssh does not hang on it. About a millisecond when it answers.
 */
export async function setAsideSilentMasterOf(dest: string, env: NodeJS.ProcessEnv): Promise<void> {
  const socket = controlPath(dest, env);
  const asked = fs.lstatSync(socket, { throwIfNoEntry: false });
  if (asked && (await masterAnswers(socket)) === "silent") setAsideSilentMaster(socket, asked);
}

/**
 * What a command that reads its standard input prints on stderr first, from the shell that runs it: the
 * login shell has read its rc files by then. Only then does orch write the input: an rc file that reads
 * (a `read`, a prompt) would take it instead, and orch's text would be lost there without a word.
 */
export const ANNOUNCE = "command echo orch-ready >&2 || exit 1";
export const READY = "orch-ready";
const READY_LINE = `${READY}\n`;

/** The host's login shell did not start `what` (behind ANNOUNCE) within `limitMs`. */
export function notStarted(host: string, what: string, limitMs: number): HostUnreachable {
  const why = `its login shell did not start ${what} within ${limitMs / 1000} s: the host does not answer, ` +
    "or an rc file waits for input (a read, a prompt) or hangs? Commands run over ssh must not ask for anything";
  return new HostUnreachable(host, why);
}

/**
 * `command` behind ANNOUNCE. (A closed channel makes that echo fail, so the command never runs without its
 * input.) A ShellLine is for a POSIX login shell (scriptLine), which runs the echo itself.
 */
export function announced(command: RemoteCommand): RemoteCommand {
  if ("line" in command) return { line: `${ANNOUNCE}\n${command.line}` };
  return ["sh", "-c", `${ANNOUNCE}; exec "$@"`, "orch-ready", ...command];
}

/** How long a host's login shell may take to start a command: $ORCH_SSH_START_TIMEOUT seconds, else 15. */
export function startTimeoutMs(env: NodeJS.ProcessEnv): number {
  const seconds = Number(env.ORCH_SSH_START_TIMEOUT);
  return Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 : 15_000;
}

/** Output kept until someone listens, then passed on as it comes. */
function relay(): { push(text: string): void; listen(listener: (text: string) => void): void } {
  let kept = "";
  const listeners: ((text: string) => void)[] = [];
  return {
    push(text) {
      if (text === "") return;
      if (listeners.length === 0) kept += text;
      for (const listener of listeners) listener(text);
    },
    listen(listener) {
      listeners.push(listener);
      if (kept !== "") listener(kept);
      kept = "";
    },
  };
}

/**
 * `started` (a command behind ANNOUNCE) once it has announced itself, or has ended before that; a login
 * shell that has not started it within the time limit (one that waits for input never does) makes the host
 * unreachable, in one line that says why.
 */
function whenStarted(host: string, started: RemoteProcess, env: NodeJS.ProcessEnv): Promise<RemoteProcess> {
  const stdout = relay();
  const stderr = relay();
  started.onStdout((text) => stdout.push(text));
  const held: RemoteProcess = {
    ...started,
    onStdout: (listener) => stdout.listen(listener),
    onStderr: (listener) => stderr.listen(listener),
  };
  return new Promise((resolve, reject) => {
    let ready = false;
    let early = "";
    const limit = startTimeoutMs(env);
    const timer = setTimeout(() => {
      started.kill();
      reject(notStarted(host, "orch's command", limit));
    }, limit);
    started.onStderr((text) => {
      if (ready) return stderr.push(text);
      early += text;
      const at = early.indexOf(READY_LINE);
      if (at < 0) return;
      ready = true;
      clearTimeout(timer);
      stderr.push(early.slice(0, at) + early.slice(at + READY_LINE.length));
      resolve({ ...held, announced: true });
    });
    started.exit.then(() => {
      if (ready) return;
      clearTimeout(timer);
      stderr.push(early);
      resolve(held);
    }, (error: unknown) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}

/**
 * Runs `command` on the host; a connection failure is HostUnreachable, the program's own exit is returned.
 * (Programs are started only when ssh is: node:child_process costs ~1.5 ms to load in a compiled binary.)
 * With `input`, the input goes once the command has started (see ANNOUNCE).
 */
export async function runOnHost(
  host: string,
  dest: string,
  command: RemoteCommand,
  env: NodeJS.ProcessEnv,
  options: RemoteRunOptions = {},
): Promise<RunResult> {
  if (options.input !== undefined) return runWithInput(host, dest, command, env, options.input);
  const session = await startThroughMaster(dest, command, env);
  const withSsh = async () => (await import("./exec.ts"))
    .run(sshArgv(dest, command, env), { env, allowFailure: true, maxStdoutBytes: MAX_ANSWER_CHARS });
  const result = session ? await runToEndWithin(session, options.answerWithinMs) : await withSsh();
  if (result === undefined) {
    const limit = (options.answerWithinMs ?? 0) / 1000;
    throw new HostUnreachable(host, `orch there did not answer within ${limit} s (does it hang?)`);
  }
  if (result.tooLong) throw answerTooLong(host);
  if (result.code === SSH_CONNECTION_FAILED) throw new HostUnreachable(host, sshError(result));
  return result;
}

async function runWithInput(
  host: string,
  dest: string,
  command: RemoteCommand,
  env: NodeJS.ProcessEnv,
  input: string | Buffer,
): Promise<RunResult> {
  const running = await startOnHost(host, dest, announced(command), env);
  const out = collectOutput(running, MAX_ANSWER_CHARS, () => running.kill());
  running.write(input);
  running.end();
  const code = await running.exit;
  if (out.tooLong) throw answerTooLong(host);
  const result = { code, stdout: out.stdout, stderr: out.stderr };
  if (result.code !== SSH_CONNECTION_FAILED) return result;
  const unreachable = new HostUnreachable(host, sshError(result));
  unreachable.commandStarted = running.announced === true;
  throw unreachable;
}

function asRemoteProcess(child: ChildProcess): RemoteProcess {
  child.stdin!.on("error", () => undefined);
  const exit = new Promise<number>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code) => resolve(code ?? SSH_CONNECTION_FAILED));
  });
  return {
    onStdout: (listener) => void child.stdout!.setEncoding("utf8").on("data", listener),
    onStderr: (listener) => void child.stderr!.setEncoding("utf8").on("data", listener),
    write: (data) => void child.stdin!.write(data),
    end: () => void child.stdin!.end(),
    kill: () => {
      child.stdin!.end();
      child.kill("SIGTERM");
      holdExitUntil(exit);
    },
    exit,
  };
}

function sessionAsRemoteProcess(session: MuxSession): RemoteProcess {
  return {
    onStdout: (listener) => session.onStdout(listener),
    onStderr: (listener) => session.onStderr(listener),
    write: (data) => session.write(data),
    end: () => session.end(),
    kill: () => session.close(),
    exit: session.exit,
  };
}

/**
 * A long-lived remote command with its input open (the waits of poll --wait and await), once it has
 * started: `command` must print ANNOUNCE's line on stderr first (see announced()).
 */
export async function startOnHost(
  host: string,
  dest: string,
  command: RemoteCommand,
  env: NodeJS.ProcessEnv,
): Promise<RemoteProcess> {
  const session = await startThroughMaster(dest, command, env);
  if (session) return whenStarted(host, sessionAsRemoteProcess(session), env);
  const { spawn } = await import("node:child_process");
  const child = spawn("ssh", sshArgv(dest, command, env).slice(1), { env, stdio: ["pipe", "pipe", "pipe"] });
  return whenStarted(host, asRemoteProcess(child), env);
}

/**
 * Ends the shared connection to `dest`, if there is one. `gently` (orch host rm): it takes no new command
 * and ends once those it carries have (ssh -O stop): another repository's commands on the same host (one
 * master per destination, whoever added it) go on, not broken under them, and the next one starts a new one.
 */
export async function closeConnection(
  dest: string, env: NodeJS.ProcessEnv, options: { gently?: boolean } = {},
): Promise<void> {
  await setAsideSilentMasterOf(dest, env);
  const { run } = await import("./exec.ts");
  const request = options.gently ? "stop" : "exit";
  await run(["ssh", ...sshOptions(dest, env), "-O", request, dest], { env, allowFailure: true });
}
