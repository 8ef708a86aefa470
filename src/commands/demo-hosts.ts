// orch demo --hosts: the demo's loop with workers on two throw-away "hosts" on this machine (an sshd and
// a user account each, reached only over ssh and git): host add, spawn --host, await across hosts,
// approve on a host, status, land, clean; then the hosts are taken down again.

import { localHostsProblem, startLocalHosts, type LocalHosts } from "../adapters/local-hosts.ts";
import type { Context } from "../context.ts";
import { OrchError } from "../errors.ts";
import type { Flags } from "../flags.ts";
import { REMOTE_ORCH_PATH } from "../hosts/store.ts";
import { selfCommand } from "../runtime.ts";
import {
  awaitApproving, closeStage, elapsed, landAndClean, loopResult, makeShop, runDemo, showStatus, TASKS,
} from "./demo-loop.ts";
import { main as hostMain, NO_CLAUDE_THERE } from "./host.ts";
import { runInit } from "./init.ts";
import { runSpawn } from "./spawn.ts";
import type { StatusView } from "./status.ts";
import type { CommandResult } from "./types.ts";

const HOST_NAMES = ["north", "south"];
/**
 * Where each task runs: one on each host (the one that asks for permission on north, the one whose
 * conflict the queue hands back, to its inbox, on south), and one here.
 */
const PLACES: Record<string, string | undefined> = {
  "feat/usage-doc": "north",
  "feat/greeting-en": undefined,
  "feat/greeting-fr": "south",
};

export async function main(_args: string[], flags: Flags, parent: Context): Promise<CommandResult> {
  const problem = localHostsProblem(parent.env);
  if (problem) throw new OrchError("refused", `orch demo --hosts: ${problem}`);
  if (selfCommand().length !== 1) {
    throw new OrchError("refused", "orch demo --hosts copies this orch to its hosts: " +
      "run the compiled binary (dist/orch), not orch from source");
  }
  let hosts: LocalHosts | undefined;
  return runDemo(flags, parent, async (stage) => {
    const { repo, env, ctx, c, say, step } = stage;
    say(`${c.bold("orch demo --hosts")}: the demo's loop with workers on two hosts reached over ssh and git`);
    hosts = await startLocalHosts(HOST_NAMES, stage.scratch, env);
    Object.assign(env, hosts.env);
    for (const h of hosts.hosts) {
      say(`  host ${h.alias.padEnd(6)} an sshd on 127.0.0.1:${h.port} serving a new user ${h.user} (HOME ${h.home})`);
    }
    await makeShop(stage);
    say(`  repository  ${repo}\n`);

    const session = await runInit({ projectDir: repo }, ctx);
    const orch = session.orchestrator_id;
    step("orch init", orch);
    const homes = new Map(hosts.hosts.map((h) => [h.alias, h.home]));
    for (const name of HOST_NAMES) {
      // Its hosts run the scripted agent: that they have no claude is no news here.
      const warn = (line: string) => (line.includes(NO_CLAUDE_THERE) ? undefined : ctx.warn(line));
      const quiet = { ...ctx, warn };
      const added = await hostMain(["add", name, name], {}, quiet);
      const version = String(added.json.orch_version);
      const installed = `orch ${version} installed there, clone at ~/${String(added.json.path)}`;
      step(`orch host add ${name} ${name}`, installed);
    }
    const localAgent = [...selfCommand(), "__demo-agent"];
    for (const task of TASKS) {
      const host = PLACES[task.branch];
      const base = {
        orch, branch: task.branch, from: undefined, plan: false, prompt: task.prompt,
        window: true, backend: undefined, after: [],
      };
      // On a host, the agent is the orch that host add installed there (an absolute path: no shell expands ~).
      const options = host === undefined
        ? { ...base, agent: "demo", agentArgv: localAgent }
        : { ...base, agent: `${homes.get(host)}/${REMOTE_ORCH_PATH} __demo-agent`, host };
      const { record } = await runSpawn(options, ctx);
      const where = `window ${record.window_id} ${host ? `on ${host}` : "here"}`;
      step(`orch spawn ${task.branch}${host ? ` --host ${host}` : ""} --agent <scripted>`, where);
    }

    // await holds one connection per host on the host's own await; a worker blocked there ends it too.
    const awaited = await awaitApproving(stage, orch, {
      awaitMs: 120_000,
      blocked: "is blocked on its host",
      approved: "allowed by the host's orch, through the worker's hook there",
    });
    const unread = (s: StatusView) =>
      `${s.workers.length} workers, ${s.unread_count} unread messages (here and on the hosts)`;
    await showStatus(stage, orch, unread);

    const landings = await landAndClean(stage, orch, {
      awaitMs: 120_000,
      queue: "branches fetched from their hosts over ssh, then the queue",
      fixed: "the worker on south got its conflict there, rebased onto orch's ref of main there and reported again",
      cleaned: "here and on the hosts",
    });
    say(`\n${c.green("done")} in ${elapsed(stage)} s. The hosts' accounts and sshds are removed` +
      `${stage.keep ? `; kept ${stage.scratch}.` : ", and the scratch repository (--keep keeps it)."}`);
    const hostsJson = hosts.hosts.map((h) => ({ name: h.alias, user: h.user, port: h.port }));
    return { json: loopResult(stage, orch, awaited, landings, { hosts: hostsJson }), human: () => "" };
  }, async (stage) => {
    await hosts?.close();
    // Kept or not, the tmux server goes: here --keep keeps only the scratch folder (the done line says so).
    await closeStage(stage, false);
  });
}
