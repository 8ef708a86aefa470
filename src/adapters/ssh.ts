// OpenSSH's client, the one way orch reaches a host: BatchMode (never a password prompt), one shared
// connection per host (ControlMaster in a socket folder of orch's own), the remote command line made
// by quoteForShell only.

import { spawn, type ChildProcess } from "node:child_process";

/** A program running on a host through ssh (a lifeline): its stdio and exit, as a Node child process. */
export type RemoteProcess = ChildProcess;
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { OrchError } from "../errors.ts";
import { quoteForShell } from "../hosts/shell-quote.ts";
import { run, type RunResult } from "./exec.ts";

/** ssh's own exit code for "could not connect, or the connection broke". */
export const SSH_CONNECTION_FAILED = 255;

/** A host could not be reached: its workers are `unreachable`, the other hosts go on. */
export class HostUnreachable extends OrchError {
  constructor(readonly host: string, readonly sshError: string, message = `host ${host} is unreachable: ${sshError}`) {
    super("failed", message);
  }
}

/**
 * git over ssh failed to reach the host (ssh's own complaint, or the end of the connection before git
 * spoke), as against git refusing something there (a missing ref, a rejected push).
 */
export function gitCouldNotConnect(stderr: string): boolean {
  return /^ssh: |Could not read from remote repository|Connection closed by|kex_exchange_identification/m.test(stderr);
}

/**
 * The folder of orch's control sockets: $ORCH_SSH_CONTROL_DIR, else orch-ssh-<uid> in
 * $XDG_RUNTIME_DIR or the temp folder. Made 0700; refused when it is a link or someone else's.
 */
export function controlDir(env: NodeJS.ProcessEnv): string {
  const uid = process.getuid?.() ?? 0;
  const dir = env.ORCH_SSH_CONTROL_DIR || path.join(env.XDG_RUNTIME_DIR || os.tmpdir(), `orch-ssh-${uid}`);
  try {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (error) {
    throw new OrchError("failed", `cannot create ssh's control socket folder ${dir}: ${(error as Error).message}`);
  }
  const stat = fs.lstatSync(dir);
  if (!stat.isDirectory() || stat.uid !== uid || (stat.mode & 0o077) !== 0) {
    throw new OrchError("refused", `ssh's control socket folder ${dir} must be a folder of yours with mode 0700 (it holds live connections)`);
  }
  return dir;
}

/** ssh with orch's options, before the destination. $ORCH_SSH_CONFIG is passed as -F. */
export function sshOptions(env: NodeJS.ProcessEnv): string[] {
  const options = [
    "-o", "BatchMode=yes",
    "-o", "ControlMaster=auto",
    "-o", `ControlPath=${path.join(controlDir(env), "%C")}`,
    "-o", "ControlPersist=300",
    "-o", "ConnectTimeout=5",
    "-o", "ServerAliveInterval=10",
    "-o", "ServerAliveCountMax=3",
  ];
  if (env.ORCH_SSH_CONFIG) options.push("-F", env.ORCH_SSH_CONFIG);
  return options;
}

/** The full ssh argv that runs `argv` on `dest`, its words quoted once for the remote shell. */
export function sshArgv(dest: string, argv: readonly string[], env: NodeJS.ProcessEnv): string[] {
  return ["ssh", ...sshOptions(env), dest, "--", quoteForShell(argv)];
}

/** GIT_SSH_COMMAND for git over the same options (and so the same shared connection). git runs it with sh. */
export function gitSshCommand(env: NodeJS.ProcessEnv): string {
  return quoteForShell(["ssh", ...sshOptions(env)]);
}

export function sshError(result: RunResult): string {
  return result.stderr.trim().split("\n").filter(Boolean).slice(-2).join(" | ") || `ssh exited ${result.code}`;
}

export interface RemoteRunOptions {
  input?: string | Buffer;
}

/** Runs `argv` on the host; a connection failure is HostUnreachable, the program's own exit is returned. */
export async function runOnHost(
  host: string,
  dest: string,
  argv: readonly string[],
  env: NodeJS.ProcessEnv,
  options: RemoteRunOptions = {},
): Promise<RunResult> {
  const result = await run(sshArgv(dest, argv, env), { env, input: options.input, allowFailure: true });
  if (result.code === SSH_CONNECTION_FAILED) throw new HostUnreachable(host, sshError(result));
  return result;
}

/** A long-lived remote command with pipes (the waits of poll --wait and await). */
export function spawnOnHost(dest: string, argv: readonly string[], env: NodeJS.ProcessEnv): ChildProcess {
  return spawn("ssh", sshArgv(dest, argv, env).slice(1), { env, stdio: ["pipe", "pipe", "pipe"] });
}

/** Ends the shared connection to `dest` (orch host rm), if there is one. */
export async function closeConnection(dest: string, env: NodeJS.ProcessEnv): Promise<void> {
  await run(["ssh", ...sshOptions(env), "-O", "exit", dest], { env, allowFailure: true });
}
