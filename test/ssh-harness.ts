// Real OpenSSH servers for the hosts tests: each "host" is an sshd on 127.0.0.1 at a free port with its
// own generated host key, serving one user account of its own (own HOME, own tmux server), so nothing
// is shared with the orchestrator but what goes over ssh. Needs root (useradd) and Debian's sshd.

import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { tempDir, waitUntil } from "./helpers.ts";

const SSHD = "/usr/sbin/sshd";

export interface SshHost {
  /** The Host alias in the client's ssh config (what `orch host add NAME DEST` gets as DEST). */
  alias: string;
  user: string;
  home: string;
  port: number;
  /** Kills this host's sshd and every connection it serves: the host is gone. */
  stop(): void;
  /** Starts its sshd again, same port, same keys. */
  start(): Promise<void>;
  /** A command run as the host's user (to look at its side: files, processes). */
  runAs(argv: string[]): { code: number; stdout: string; stderr: string };
}

export interface SshWorld {
  hosts: SshHost[];
  /** What orch needs to reach them: the client config (-F) and a private control socket folder. */
  env: Record<string, string>;
  close(): void;
}

/** Why the hosts tests cannot run here, or undefined when they can. */
export function sshSkipReason(): string | undefined {
  if (process.getuid?.() !== 0) return "the hosts tests need root (useradd for one account per host)";
  if (!fs.existsSync(SSHD)) return `${SSHD} is missing (apt-get install openssh-server)`;
  if (spawnSync("sh", ["-c", "command -v ssh && command -v ssh-keygen && command -v useradd"]).status !== 0) return "ssh, ssh-keygen or useradd is missing";
  return undefined;
}

function must(argv: string[], what: string): string {
  const result = spawnSync(argv[0]!, argv.slice(1), { encoding: "utf8" });
  if (result.status !== 0) throw new Error(`${what} failed: ${result.stderr || result.error?.message}`);
  return result.stdout;
}

async function freePort(): Promise<number> {
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

/** The pids of `pid`'s descendants (read from /proc), deepest last. */
function descendants(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const name of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${name}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(name)]);
    } catch {
      // gone meanwhile
    }
  }
  const out: number[] = [];
  const walk = (p: number) => {
    for (const child of children.get(p) ?? []) {
      out.push(child);
      walk(child);
    }
  };
  walk(pid);
  return out;
}

function killQuietly(pid: number, signal: NodeJS.Signals = "SIGKILL"): void {
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}

/** Processes running as `uid`: the host user's shells, orch, tmux server and agents. */
function processesOf(uid: number): number[] {
  return fs.readdirSync("/proc").filter((n) => /^\d+$/.test(n)).filter((n) => {
    try {
      return /^Uid:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${n}/status`, "utf8"))?.[1] === String(uid);
    } catch {
      return false;
    }
  }).map(Number);
}

export async function startSshWorld(count: number): Promise<SshWorld> {
  const dir = tempDir("orch-ssh-");
  fs.chmodSync(dir, 0o755); // the host users reach their homes through it
  fs.mkdirSync("/run/sshd", { recursive: true, mode: 0o755 });
  const clientKey = path.join(dir, "client_key");
  must(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "orch-test-client", "-f", clientKey], "ssh-keygen (client)");
  const clientPub = fs.readFileSync(`${clientKey}.pub`, "utf8");
  const knownHosts = path.join(dir, "known_hosts");
  const config = path.join(dir, "ssh_config");
  const controlDir = path.join(dir, "ctl");
  fs.mkdirSync(controlDir, { mode: 0o700 });
  const tag = Math.random().toString(36).slice(2, 7);
  const hosts: SshHost[] = [];
  const users: { user: string; uid: number }[] = [];
  const configLines: string[] = [];
  const knownLines: string[] = [];

  for (let i = 0; i < count; i++) {
    const alias = `host${String.fromCharCode(97 + i)}`;
    const user = `orcht${tag}${i}`;
    const hostDir = path.join(dir, alias);
    const home = path.join(dir, `home-${alias}`);
    fs.mkdirSync(hostDir, { mode: 0o755 });
    must(["useradd", "-m", "-d", home, "-s", "/bin/bash", "-p", "*", "-K", "UMASK=022", user], "useradd");
    const uid = Number(must(["id", "-u", user], "id").trim());
    users.push({ user, uid });
    fs.writeFileSync(path.join(home, ".gitconfig"), "[user]\n\tname = orch host test\n\temail = host@orch.invalid\n");
    must(["chown", `${user}:`, path.join(home, ".gitconfig")], "chown");
    const hostKey = path.join(hostDir, "host_key");
    must(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", hostKey], "ssh-keygen (host)");
    fs.writeFileSync(path.join(hostDir, "authorized_keys"), clientPub, { mode: 0o644 });
    const port = await freePort();
    const sshdConfig = path.join(hostDir, "sshd_config");
    fs.writeFileSync(sshdConfig, [
      `Port ${port}`, "ListenAddress 127.0.0.1", `HostKey ${hostKey}`, `PidFile ${path.join(hostDir, "sshd.pid")}`,
      `AuthorizedKeysFile ${path.join(hostDir, "authorized_keys")}`, `AllowUsers ${user}`,
      "PasswordAuthentication no", "KbdInteractiveAuthentication no", "PubkeyAuthentication yes", "UsePAM no",
      "StrictModes no", "PermitRootLogin no", "LogLevel ERROR", "MaxSessions 100", "MaxStartups 100:30:200", "",
    ].join("\n"));
    configLines.push(`Host ${alias}`, "  HostName 127.0.0.1", `  Port ${port}`, `  User ${user}`, `  IdentityFile ${clientKey}`,
      "  IdentitiesOnly yes", `  UserKnownHostsFile ${knownHosts}`, "  StrictHostKeyChecking yes", "  LogLevel ERROR", "");
    knownLines.push(`[127.0.0.1]:${port} ${fs.readFileSync(`${hostKey}.pub`, "utf8").trim().split(" ").slice(0, 2).join(" ")}`);

    let sshd: ChildProcess | undefined;
    const log = path.join(hostDir, "sshd.log");
    const host: SshHost = {
      alias, user, home, port,
      stop() {
        if (!sshd?.pid) return;
        const pids = [sshd.pid, ...descendants(sshd.pid)];
        for (const pid of pids) killQuietly(pid);
        sshd = undefined;
      },
      async start() {
        const out = fs.openSync(log, "a");
        sshd = spawn(SSHD, ["-D", "-e", "-f", sshdConfig], { stdio: ["ignore", out, out] });
        fs.closeSync(out);
        await waitUntil(() => sshd?.exitCode === null && portReady.get(port) === true, 10_000, `sshd of ${alias} on port ${port}`).catch((error) => {
          throw new Error(`${(error as Error).message}: ${fs.existsSync(log) ? fs.readFileSync(log, "utf8") : ""}`);
        });
      },
      runAs(argv) {
        const result = spawnSync("runuser", ["-u", user, "--", ...argv], { encoding: "utf8", cwd: home, env: { PATH: process.env.PATH, HOME: home } });
        return { code: result.status ?? -1, stdout: result.stdout, stderr: result.stderr };
      },
    };
    hosts.push(host);
  }
  fs.writeFileSync(config, configLines.join("\n"));
  fs.writeFileSync(knownHosts, `${knownLines.join("\n")}\n`);

  // waitUntil is synchronous in its check: keep a live map of which ports accept connections.
  const portReady = new Map<number, boolean>();
  const prober = setInterval(() => {
    for (const host of hosts) void portOpen(host.port).then((open) => portReady.set(host.port, open));
  }, 50);
  try {
    await Promise.all(hosts.map((h) => h.start()));
  } finally {
    clearInterval(prober);
  }
  const startAgain = hosts.map((h) => h.start);
  for (const [i, host] of hosts.entries()) {
    host.start = async () => {
      const again = setInterval(() => void portOpen(host.port).then((open) => portReady.set(host.port, open)), 50);
      portReady.set(host.port, false);
      try {
        await startAgain[i]!.call(host);
      } finally {
        clearInterval(again);
      }
    };
  }

  const env = { ORCH_SSH_CONFIG: config, ORCH_SSH_CONTROL_DIR: controlDir };
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    for (const host of hosts) spawnSync("ssh", ["-F", config, "-o", `ControlPath=${controlDir}/%C`, "-O", "exit", host.alias], { stdio: "ignore" });
    for (const host of hosts) host.stop();
    for (const { user, uid } of users) {
      for (let attempt = 0; attempt < 40; attempt++) {
        for (const pid of processesOf(uid)) killQuietly(pid);
        if (spawnSync("userdel", [user], { stdio: "ignore" }).status === 0) break;
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50);
      }
    }
  };
  process.on("exit", close);
  return { hosts, env, close };
}

/** Runs the host's orch as the host's own user inside a folder there (a worker's report, made on the host). */
export function orchOnHost(host: SshHost, cwd: string, args: string[]): string {
  const r = host.runAs(["sh", "-c", 'cd "$1" && shift && exec "$@"', "orch-test", cwd, `${host.home}/.local/bin/orch`, ...args]);
  if (r.code !== 0) throw new Error(`orch ${args.join(" ")} on ${host.alias} exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}
