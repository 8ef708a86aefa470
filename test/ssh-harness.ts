// Real OpenSSH servers for the hosts tests: the product's throw-away local hosts (src/adapters/local-hosts.ts,
// also behind orch demo --hosts: an sshd on 127.0.0.1 and a user account of its own per host), plus what only
// the tests need: a look at a host's side as its user, and accounts that go even when a test file dies.

import { spawnSync } from "node:child_process";
import { endProcessesOf, localHostsProblem, startLocalHosts, type LocalHost } from "../src/adapters/local-hosts.ts";
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
      if (spawnSync("userdel", [host.user], { stdio: "ignore" }).status === 0) break;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50);
    }
  }
}

/** `count` hosts named hosta, hostb, …; each account's login shell is bash, as on most machines people ssh to. */
export async function startSshWorld(count: number): Promise<SshWorld> {
  const aliases = Array.from({ length: count }, (_, i) => `host${String.fromCharCode(97 + i)}`);
  const options = { userPrefix: "orcht", shell: "/bin/bash" };
  const local = await startLocalHosts(aliases, tempDir("orch-ssh-"), process.env, options);
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

/** Runs the host's orch as the host's own user inside a folder there (a worker's report, made on the host). */
export function orchOnHost(host: SshHost, cwd: string, args: string[]): string {
  const r = host.runAs(["sh", "-c", 'cd "$1" && shift && exec "$@"', "orch-test", cwd, `${host.home}/.local/bin/orch`, ...args]);
  if (r.code !== 0) throw new Error(`orch ${args.join(" ")} on ${host.alias} exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}
