// Throw-away ssh "hosts" on this machine, for orch demo --hosts and the hosts tests: each an sshd on
// 127.0.0.1 at a free port with keys made for it, serving one new user account (its own HOME, its own tmux
// server), so nothing is shared with the orchestrator but what goes over ssh. Needs root (useradd, sshd), OpenSSH.

import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { OrchError } from "../errors.ts";
import { throwIfInterrupted } from "../interrupt.ts";
import { allPids, processStat } from "../proc.ts";
import { run } from "./exec.ts";
import { closeConnection, controlSocketsFit } from "./ssh.ts";

const SSHD = "/usr/sbin/sshd";
const TOOLS = ["ssh", "ssh-keygen", "useradd", "userdel"];

export interface LocalHost {
  /** Its Host alias in the generated ssh config: what `orch host add NAME DEST` takes as DEST. */
  alias: string;
  user: string;
  uid: number;
  home: string;
  port: number;
  /** Starts its sshd (again after stop: same port, same keys) and waits until it accepts connections. */
  start(): Promise<void>;
  /** Kills its sshd and every connection it serves: the host is gone until start. */
  stop(): void;
}

export interface LocalHostOptions {
  /** Account names are this, a random tag and the host's index. */
  userPrefix?: string;
  /** The accounts' login shell, which runs what comes over ssh. */
  shell?: string;
}

export interface LocalHosts {
  hosts: LocalHost[];
  /** What orch needs to reach them: the ssh config (-F) and a control socket folder of their own. */
  env: { ORCH_SSH_CONFIG: string; ORCH_SSH_CONTROL_DIR: string };
  /** Ends the connections, the sshds and every process of the accounts, and deletes the accounts. */
  close(): Promise<void>;
}

function onPath(program: string, env: NodeJS.ProcessEnv): boolean {
  return (env.PATH ?? "").split(path.delimiter).some((dir) => dir !== "" && fs.existsSync(path.join(dir, program)));
}

/** Why local hosts cannot be made here (one line), or undefined when they can. */
export function localHostsProblem(env: NodeJS.ProcessEnv): string | undefined {
  if (process.getuid?.() !== 0) {
    return "it makes a user account and an sshd per host, which needs root (run it as root, in a container or VM)";
  }
  if (!fs.existsSync(SSHD)) return `${SSHD} is missing (Debian: apt-get install openssh-server)`;
  const missing = TOOLS.filter((tool) => !onPath(tool, env));
  if (missing.length) {
    return `${missing.join(", ")} ${missing.length === 1 ? "is" : "are"} not on PATH (Debian: openssh-client, passwd)`;
  }
  return undefined;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as net.AddressInfo).port;
      server.close(() => resolve(port));
    });
  });
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, "127.0.0.1");
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

/** The pids of processes running as `uid` (read from /proc): an account's shells, orch, tmux and agents. */
function processesOf(uid: number): number[] {
  const pids: number[] = [];
  for (const pid of allPids()) {
    try {
      if (/^Uid:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] === String(uid)) pids.push(pid);
    } catch {
      // ended meanwhile
    }
  }
  return pids;
}

/** The pids of `pid`'s descendants (read from /proc): the sessions an sshd serves. */
function descendants(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const child of allPids()) {
    const stat = processStat(child);
    if (stat) children.set(stat.ppid, [...(children.get(stat.ppid) ?? []), child]);
  }
  const found: number[] = [];
  const walk = (parent: number) => {
    for (const child of children.get(parent) ?? []) {
      found.push(child);
      walk(child);
    }
  };
  walk(pid);
  return found;
}

function kill(pid: number): void {
  try {
    process.kill(pid, "SIGKILL");
  } catch {
    // already gone
  }
}

/** Kills every process of the account: one with a process left cannot be deleted. */
export function endProcessesOf(uid: number): void {
  for (const pid of processesOf(uid)) kill(pid);
}

/** The folders shared by every account, where its programs leave files of their own. */
export const SHARED_TEMP_DIRS = ["/tmp", "/var/tmp", "/dev/shm"];

/**
 * What the account's programs left in the shared temp folders (ssh passes no TMPDIR): its tmux server's
 * socket folder (/tmp/tmux-<uid>), fish's /tmp/fish.<user>, claude's and codex's folders, orch's own on the
 * host. Each that is the account's own is removed with the account, so no file of a deleted user (whose uid
 * the next new account gets) is left behind.
 */
export function removeFilesOf(uid: number): void {
  for (const dir of SHARED_TEMP_DIRS) {
    let names: string[];
    try {
      names = fs.readdirSync(dir);
    } catch {
      continue; // no such folder here
    }
    for (const name of names) {
      const entry = path.join(dir, name);
      try {
        if (fs.lstatSync(entry).uid === uid) fs.rmSync(entry, { recursive: true, force: true });
      } catch {
        // gone meanwhile
      }
    }
  }
}

async function startSshd(config: string, port: number, log: string): Promise<ChildProcess> {
  const out = fs.openSync(log, "a");
  const sshd = spawn(SSHD, ["-D", "-e", "-f", config], { stdio: ["ignore", out, out] });
  fs.closeSync(out);
  for (const deadline = Date.now() + 10_000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 50))) {
    if (sshd.exitCode !== null) break;
    if (await portOpen(port)) return sshd;
    try {
      throwIfInterrupted();
    } catch (error) {
      kill(sshd.pid ?? -1);
      throw error;
    }
  }
  kill(sshd.pid ?? -1);
  const why = fs.readFileSync(log, "utf8").trim().split("\n").pop() ?? "";
  throw new OrchError("failed", `the sshd for a local host did not start on port ${port}${why ? `: ${why}` : ""}`);
}

/** The host's sshd as start and stop: stop ends the sessions it serves too. */
function sshdControl(config: string, port: number, log: string): Pick<LocalHost, "start" | "stop"> {
  let sshd: ChildProcess | undefined;
  return {
    async start() {
      sshd = await startSshd(config, port, log);
    },
    stop() {
      if (sshd?.pid === undefined) return;
      for (const pid of [sshd.pid, ...descendants(sshd.pid)]) kill(pid);
      sshd = undefined;
    },
  };
}

/**
 * Makes one host per name under `dir` (which must be reachable by other users: its homes live there).
 * On failure, whatever was made is taken down again before the error is thrown.
 */
export async function startLocalHosts(
  names: string[], dir: string, env: NodeJS.ProcessEnv, options: LocalHostOptions = {},
): Promise<LocalHosts> {
  const { userPrefix = "orchdemo", shell = "/bin/sh" } = options;
  fs.chmodSync(dir, 0o755);
  fs.mkdirSync("/run/sshd", { recursive: true, mode: 0o755 });
  // Each step ends the making of hosts once Ctrl-C or SIGTERM arrived (in a demo): what was made is undone.
  const must = async (argv: string[]) => {
    throwIfInterrupted();
    const result = await run(argv, { env });
    throwIfInterrupted();
    return result;
  };
  const clientKey = path.join(dir, "client_key");
  await must(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "orch-demo", "-f", clientKey]);
  const knownHosts = path.join(dir, "known_hosts");
  const config = path.join(dir, "ssh_config");
  // Under dir when the sockets' paths fit there (a long $TMPDIR), else a folder of its own in /tmp.
  const ownControlDir = !controlSocketsFit(path.join(dir, "ssh-control"));
  const controlDir = ownControlDir ? fs.mkdtempSync("/tmp/orch-ssh-") : path.join(dir, "ssh-control");
  if (!ownControlDir) fs.mkdirSync(controlDir, { mode: 0o700 });
  const tag = Math.random().toString(36).slice(2, 7);
  const hosts: LocalHost[] = [];
  const accounts: { user: string; uid: number }[] = [];
  const configLines: string[] = [];
  const knownLines: string[] = [];
  const sshEnv = { ORCH_SSH_CONFIG: config, ORCH_SSH_CONTROL_DIR: controlDir };

  const close = async () => {
    for (const host of hosts) await closeConnection(host.alias, { ...env, ...sshEnv }).catch(() => undefined);
    for (const host of hosts) host.stop();
    if (ownControlDir) fs.rmSync(controlDir, { recursive: true, force: true });
    for (const { user, uid } of accounts) {
      for (let attempt = 0; attempt < 40; attempt++) {
        endProcessesOf(uid);
        // While the account exists, so that its uid cannot be another new account's yet.
        removeFilesOf(uid);
        if ((await run(["userdel", user], { env, allowFailure: true })).code === 0) break;
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  };

  try {
    for (const [i, alias] of names.entries()) {
      const user = `${userPrefix}${tag}${i}`;
      const hostDir = path.join(dir, `sshd-${alias}`);
      const home = path.join(dir, `home-${alias}`);
      fs.mkdirSync(hostDir, { mode: 0o755 });
      await must(["useradd", "-m", "-d", home, "-s", shell, "-p", "*", "-K", "UMASK=022", user]);
      const uid = Number((await must(["id", "-u", user])).stdout.trim());
      accounts.push({ user, uid });
      const gitConfig = path.join(home, ".gitconfig");
      fs.writeFileSync(gitConfig, `[user]\n\tname = orch demo (${alias})\n\temail = ${alias}@orch.invalid\n`);
      fs.chownSync(gitConfig, uid, fs.statSync(home).gid);
      const hostKey = path.join(hostDir, "host_key");
      await must(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", hostKey]);
      const authorized = path.join(hostDir, "authorized_keys");
      fs.copyFileSync(`${clientKey}.pub`, authorized);
      fs.chmodSync(authorized, 0o644);
      const port = await freePort();
      const sshdConfig = path.join(hostDir, "sshd_config");
      fs.writeFileSync(sshdConfig, [
        `Port ${port}`, "ListenAddress 127.0.0.1", `HostKey ${hostKey}`, `PidFile ${path.join(hostDir, "sshd.pid")}`,
        `AuthorizedKeysFile ${authorized}`, `AllowUsers ${user}`, "PasswordAuthentication no",
        "KbdInteractiveAuthentication no", "PubkeyAuthentication yes", "UsePAM no", "StrictModes no",
        "PermitRootLogin no", "LogLevel ERROR", "MaxSessions 100", "MaxStartups 100:30:200",
        // As Debian's sshd_config: the caller's locale reaches the host (ssh's SendEnv, orch's own channel).
        "AcceptEnv LANG LC_*", "",
      ].join("\n"));
      configLines.push(
        `Host ${alias}`, "  HostName 127.0.0.1", `  Port ${port}`, `  User ${user}`, `  IdentityFile ${clientKey}`,
        "  IdentitiesOnly yes", `  UserKnownHostsFile ${knownHosts}`, "  StrictHostKeyChecking yes", "  LogLevel ERROR",
        // -F leaves out /etc/ssh/ssh_config, whose SendEnv this is on Debian and macOS: ssh sends what orch's
        // own channel sends.
        "  SendEnv LANG LC_*", "",
      );
      const hostPub = fs.readFileSync(`${hostKey}.pub`, "utf8").trim().split(" ").slice(0, 2).join(" ");
      knownLines.push(`[127.0.0.1]:${port} ${hostPub}`);
      const sshd = sshdControl(sshdConfig, port, path.join(hostDir, "sshd.log"));
      const host: LocalHost = { alias, user, uid, home, port, ...sshd };
      hosts.push(host);
      await host.start();
    }
    fs.writeFileSync(config, configLines.join("\n"));
    fs.writeFileSync(knownHosts, `${knownLines.join("\n")}\n`);
  } catch (error) {
    await close();
    throw error;
  }
  return { hosts, env: sshEnv, close };
}
