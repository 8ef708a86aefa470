// Real OpenSSH servers for the hosts tests: the product's throw-away local hosts (src/adapters/local-hosts.ts,
// also behind orch demo --hosts: an sshd on 127.0.0.1 and a user account of its own per host), plus what only
// the tests need: a look at a host's side as its user, and accounts that go even when a test file dies.

import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import {
  endProcessesOf, localHostsProblem, removeFilesOf, SHARED_TEMP_DIRS, startLocalHosts, type LocalHost,
} from "../src/adapters/local-hosts.ts";
import { tempDir } from "./helpers.ts";

export interface SshHost extends LocalHost {
  /** A command run as the host's user (to look at its side: files, processes). */
  runAs(argv: string[]): { code: number; stdout: string; stderr: string };
}

export interface SshWorld {
  hosts: SshHost[];
  /** What orch needs to reach them: the client config (-F) and a private control socket folder. */
  env: Record<string, string>;
  close(): Promise<void>;
}

/** Why the hosts tests cannot run here, or undefined when they can. */
export function sshSkipReason(): string | undefined {
  return localHostsProblem(process.env);
}

/**
 * Exit handlers cannot wait for a promise: the synchronous last resort, for a test file that dies before
 * its after hook, so that no account outlives the tests.
 */
function removeAccountsNow(hosts: LocalHost[]): void {
  for (const host of hosts) {
    host.stop();
    for (let attempt = 0; attempt < 40; attempt++) {
      endProcessesOf(host.uid);
      removeFilesOf(host.uid);
      if (spawnSync("userdel", [host.user], { stdio: "ignore" }).status === 0) break;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50);
    }
  }
}

/** Where a world lives: its sshds' files and the accounts' homes. */
export interface SshWorldOptions {
  /** The folder to make it in, instead of the temp folder (Codex will not run from a HOME under /tmp). */
  parent?: string;
  /** The accounts' login shell (bash by default, as on most machines people ssh to). */
  shell?: string;
}

/** A folder of its own under `parent`, removed when this process exits. */
function worldDir(parent: string): string {
  const dir = fs.realpathSync(fs.mkdtempSync(path.join(parent, "orch-ssh-")));
  if (!process.env.ORCH_TEST_KEEP) process.on("exit", () => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** `count` hosts named hosta, hostb, …; each account's login shell is bash, as on most machines people ssh to. */
export async function startSshWorld(count: number, worldOptions: SshWorldOptions = {}): Promise<SshWorld> {
  const aliases = Array.from({ length: count }, (_, i) => `host${String.fromCharCode(97 + i)}`);
  const options = { userPrefix: "orcht", shell: worldOptions.shell ?? "/bin/bash" };
  const dir = worldOptions.parent ? worldDir(worldOptions.parent) : tempDir("orch-ssh-");
  const local = await startLocalHosts(aliases, dir, process.env, options);
  const lastResort = () => removeAccountsNow(local.hosts);
  process.on("exit", lastResort);
  const hosts = local.hosts.map((host): SshHost => Object.assign(host, {
    runAs(argv: string[]) {
      const env = { PATH: process.env.PATH, HOME: host.home };
      const result = spawnSync("runuser", ["-u", host.user, "--", ...argv], { encoding: "utf8", cwd: host.home, env });
      return { code: result.status ?? -1, stdout: result.stdout, stderr: result.stderr };
    },
  }));
  const close = async () => {
    process.off("exit", lastResort);
    await local.close();
  };
  return { hosts, env: local.env, close };
}

/** What of the account is left on this machine: its files in the shared temp folders, its processes. */
export function leftoversOf(uid: number): string[] {
  const files = SHARED_TEMP_DIRS.flatMap((dir) => {
    try {
      return fs.readdirSync(dir).map((name) => path.join(dir, name));
    } catch {
      return [];
    }
  }).filter((entry) => {
    try {
      return fs.lstatSync(entry).uid === uid;
    } catch {
      return false;
    }
  });
  return [...files, ...accountCommands(uid).map((command) => `process: ${command}`)];
}

/** Runs the host's orch as the host's own user inside a folder there (a worker's report, made on the host). */
export function orchOnHost(host: SshHost, cwd: string, args: string[]): string {
  const r = host.runAs(["sh", "-c", 'cd "$1" && shift && exec "$@"', "orch-test", cwd, `${host.home}/.local/bin/orch`, ...args]);
  if (r.code !== 0) throw new Error(`orch ${args.join(" ")} on ${host.alias} exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}

/** git in a worktree on the host, as the host's user; its output, trimmed (throws when git fails). */
export function gitOnHost(host: SshHost, worktree: string, args: string[]): string {
  const r = host.runAs(["git", "-C", worktree, ...args]);
  if (r.code !== 0) throw new Error(`git ${args.join(" ")} on ${host.alias}: ${r.stderr}`);
  return r.stdout.trim();
}

/** A worker's commit on the host, as the host's user: `file` in `worktree` with `text`, all of it committed. */
export function commitOnHost(host: SshHost, worktree: string, file: string, text: string, message = `Change ${file}`): void {
  host.runAs(["sh", "-c", 'printf "%s" "$2" > "$1/$3"', "w", worktree, text, file]);
  gitOnHost(host, worktree, ["add", "-A"]);
  gitOnHost(host, worktree, ["-c", "user.name=w", "-c", "user.email=w@w", "commit", "--quiet", "-m", message]);
}

/** The command lines of the account's live processes (from /proc; zombies have ended): what runs as its user. */
export function accountCommands(uid: number): string[] {
  const commands: string[] = [];
  for (const pid of fs.readdirSync("/proc").filter((name) => /^\d+$/.test(name))) {
    try {
      const status = fs.readFileSync(`/proc/${pid}/status`, "utf8");
      if (/^Uid:\s+(\d+)/m.exec(status)?.[1] !== String(uid) || /^State:\s+Z/m.test(status)) continue;
      commands.push(fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter(Boolean).join(" "));
    } catch {
      // ended meanwhile
    }
  }
  return commands;
}

/** Writes a file in the host's HOME as its user would have it: owned by the account, folders too. */
export function writeAsUser(host: SshHost, relative: string, content: string, mode = 0o644): void {
  const file = path.join(host.home, relative);
  // The folders up to HOME become the account's: a path that leaves HOME would climb to / and give it away.
  if (path.relative(host.home, file).startsWith("..") || path.isAbsolute(path.relative(host.home, file))) {
    throw new Error(`writeAsUser: ${relative} is outside ${host.home}`);
  }
  const gid = fs.statSync(host.home).gid;
  for (let dir = path.dirname(file); dir !== host.home && !fs.existsSync(dir); dir = path.dirname(dir)) {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  }
  for (let dir = path.dirname(file); dir !== host.home; dir = path.dirname(dir)) fs.chownSync(dir, host.uid, gid);
  // Written beside it and renamed over it, as an installer does: a program there may be running (ETXTBSY).
  const written = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(written, content, { mode });
  fs.chmodSync(written, mode);
  fs.chownSync(written, host.uid, gid);
  fs.renameSync(written, file);
}

/**
 * An agent's native binary as `~/.local/bin/NAME` of the host's account: a hard link to the cached one when
 * it is on the same file system (they are hundreds of MB), else a copy.
 */
export function installOnHost(host: SshHost, binary: string, name: string): string {
  writeAsUser(host, ".local/bin/.keep", "");
  const installed = path.join(host.home, ".local/bin", name);
  try {
    fs.linkSync(binary, installed);
  } catch {
    fs.copyFileSync(binary, installed);
    fs.chmodSync(installed, 0o755);
  }
  return installed;
}

/**
 * What puts ~/.local/bin on the PATH of the host's ssh commands: a line at the top of Debian's ~/.bashrc,
 * above its "not interactive: return" (Debian's bash reads ~/.bashrc for a command sshd runs).
 */
export function putLocalBinOnPath(host: SshHost): void {
  const bashrc = path.join(host.home, ".bashrc");
  const rest = fs.existsSync(bashrc) ? fs.readFileSync(bashrc, "utf8") : "";
  if (!/not running interactively/.test(rest)) {
    throw new Error(`${bashrc} is not Debian's, which returns at once when not interactive: the premise of this setup`);
  }
  writeAsUser(host, ".bashrc", `export PATH="$HOME/.local/bin:$PATH"\n${rest}`);
}
