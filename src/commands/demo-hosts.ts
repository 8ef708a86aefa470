// orch demo --hosts: the demo's loop with workers on two throw-away "hosts" on this machine (an sshd and
// a user account each, reached only over ssh and git): host add, spawn --host, await across hosts,
// approve on a host, status, land, clean; then the hosts are taken down again.

import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import * as gitAdapter from "../adapters/git.ts";
import { localHostsProblem, startLocalHosts, type LocalHosts } from "../adapters/local-hosts.ts";
import { killServer } from "../adapters/tmux.ts";
import type { Context } from "../context.ts";
import { OrchError } from "../errors.ts";
import { booleanFlag, type Flags } from "../flags.ts";
import { REMOTE_ORCH_PATH } from "../hosts/store.ts";
import { colorsFor, writeErr, writeOut, type Colors } from "../output.ts";
import { selfCommand } from "../runtime.ts";
import { approveMain } from "./approve.ts";
import { runAwait } from "./await.ts";
import { main as cleanMain } from "./clean.ts";
import { FILES, TASKS } from "./demo.ts";
import { main as hostMain } from "./host.ts";
import { runInit } from "./init.ts";
import { runLand, type LandEntry } from "./land.ts";
import { main as rmMain } from "./rm.ts";
import { runSpawn } from "./spawn.ts";
import { renderWorkers, runStatus } from "./status.ts";
import type { CommandResult } from "./types.ts";

const HOST_NAMES = ["north", "south"];
/**
 * Where each task runs: three on the hosts (the one that asks for permission on south, and there too the
 * one whose conflict the queue hands back, to its inbox on south), and one here.
 */
const PLACES: Record<string, string | undefined> = {
  "feat/usage-doc": "north",
  "feat/greeting-en": undefined,
  "feat/price-list": "south",
  "feat/greeting-fr": "south",
};

export async function main(_args: string[], flags: Flags, parent: Context): Promise<CommandResult> {
  const problem = localHostsProblem(parent.env);
  if (problem) throw new OrchError("refused", `orch demo --hosts: ${problem}`);
  if (selfCommand().length !== 1) {
    throw new OrchError("refused", "orch demo --hosts copies this orch to its hosts: run the compiled binary (dist/orch), not orch from source");
  }
  const keep = booleanFlag(flags, "keep");
  const json = booleanFlag(flags, "json");
  const c: Colors = json ? (await import("../output.ts")).NO_COLORS : await colorsFor(1, parent.env);
  const say = (line: string) => (json ? writeErr : writeOut)(`${line}\n`);
  const started = Date.now();
  const scratch = fs.mkdtempSync(path.join(fs.realpathSync(os.tmpdir()), "orch-demo-"));
  const repo = path.join(scratch, "shop");
  const env: NodeJS.ProcessEnv = {
    ...parent.env,
    TMUX_TMPDIR: path.join(scratch, "tmux"),
    GIT_AUTHOR_NAME: parent.env.GIT_AUTHOR_NAME ?? "orch demo",
    GIT_AUTHOR_EMAIL: parent.env.GIT_AUTHOR_EMAIL ?? "demo@orch.invalid",
    GIT_COMMITTER_NAME: parent.env.GIT_COMMITTER_NAME ?? "orch demo",
    GIT_COMMITTER_EMAIL: parent.env.GIT_COMMITTER_EMAIL ?? "demo@orch.invalid",
  };
  for (const key of ["TMUX", "TMUX_PANE", "ORCH_ID", "ORCH_WORKER", "ORCH_HOME"]) delete env[key];
  fs.mkdirSync(env.TMUX_TMPDIR!, { mode: 0o700 });
  const step = (command: string, result = "") => say(`${c.dim("$")} ${c.bold(command)}${result ? `  ${c.dim("→")} ${result}` : ""}`);
  let hosts: LocalHosts | undefined;
  try {
    say(`${c.bold("orch demo --hosts")}: the demo's loop with workers on two hosts reached over ssh and git`);
    hosts = await startLocalHosts(HOST_NAMES, scratch, env);
    Object.assign(env, hosts.env);
    for (const h of hosts.hosts) say(`  host ${h.alias.padEnd(6)} an sshd on 127.0.0.1:${h.port} serving a new user ${h.user} (HOME ${h.home})`);
    // The narrative says what happens; orch's own progress lines would only repeat it.
    const ctx: Context = { cwd: repo, env, warn: (line) => (line.startsWith("land: testing") ? undefined : parent.warn(line)) };
    fs.mkdirSync(repo);
    for (const [name, content] of Object.entries(FILES)) {
      fs.mkdirSync(path.dirname(path.join(repo, name)), { recursive: true });
      fs.writeFileSync(path.join(repo, name), content);
    }
    await gitAdapter.git(["init", "--quiet", "-b", "main"], repo, { env });
    await gitAdapter.git(["add", "-A"], repo, { env });
    await gitAdapter.git(["commit", "--quiet", "-m", "The shop"], repo, { env });
    say(`  repository  ${repo}\n`);

    const session = await runInit({ projectDir: repo }, ctx);
    step("orch init", session.orchestrator_id);
    const homes = new Map(hosts.hosts.map((h) => [h.alias, h.home]));
    for (const name of HOST_NAMES) {
      const added = await hostMain(["add", name, name], {}, ctx);
      step(`orch host add ${name} ${name}`, `orch ${String(added.json.orch_version)} installed there, clone at ~/${String(added.json.path)}`);
    }
    const localAgent = [...selfCommand(), "__demo-agent"];
    for (const task of TASKS) {
      const host = PLACES[task.branch];
      const base = {
        orch: session.orchestrator_id, branch: task.branch, from: undefined, plan: false, prompt: task.prompt,
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
    let awaited = await runAwait([], false, 120_000, session.orchestrator_id, ctx);
    const approved: string[] = [];
    const blockedOne = () => awaited.workers.find((w) => w.status === "blocked");
    for (let blocked = blockedOne(); blocked; blocked = blockedOne()) {
      const m = blocked.final_message as { content?: { waiting_for?: string } } | null;
      step("orch await", `${blocked.worker_id} is blocked on its host: it waits for approval of ${m?.content?.waiting_for ?? "a request"}`);
      const answer = await approveMain([blocked.worker_id], { orch: session.orchestrator_id }, ctx);
      approved.push(blocked.worker_id);
      step(`orch approve ${blocked.worker_id}`, `${String(answer.json.request_id)} allowed by the host's orch, through the worker's hook there`);
      awaited = await runAwait([], false, 120_000, session.orchestrator_id, ctx);
    }
    step("orch await", `${awaited.workers.length} workers finished after ${((Date.now() - started) / 1000).toFixed(1)} s`);
    const status = await runStatus(session.orchestrator_id, ctx);
    step("orch status", `${status.workers.length} workers, ${status.unread_count} unread messages (here and on the hosts)`);
    say(renderWorkers(status.workers, c).trimEnd().replace(/^/gm, "    "));

    const testCommand = "test -f README.md";
    const land = (names: string[]) =>
      runLand({ names, testCommand, method: "squash", onConflict: "return", sync: false, orch: session.orchestrator_id }, ctx);
    const showLand = (results: LandEntry[]) => {
      for (const r of results) {
        const paint = r.status === "landed" ? c.green : r.status === "skipped" ? c.dim : c.yellow;
        say(`    ${paint(r.status.padEnd(11))} ${r.worker_id.padEnd(18)} ${r.reason}`);
      }
    };
    const queue = TASKS.map((t) => t.branch).sort((a, b) => Number(a.includes("greeting")) - Number(b.includes("greeting")));
    const landed: LandEntry[] = (await land(queue)).results;
    step(`orch land ${queue.join(" ")} --test "${testCommand}" --on-conflict return`, "branches fetched from their hosts over ssh, then the queue");
    showLand(landed);
    const returned = landed.filter((r) => r.status === "returned").map((r) => r.worker_id);
    let relanded: LandEntry[] = [];
    if (returned.length) {
      await runAwait(returned, false, 120_000, session.orchestrator_id, ctx);
      step(`orch await ${returned.join(" ")}`, "the worker on south got its conflict there, rebased onto orch/base/main and reported again");
      relanded = (await land(returned)).results;
      step(`orch land ${returned.join(" ")} --test "${testCommand}"`);
      showLand(relanded);
    }
    const cleaned = await cleanMain([], { yes: true, orch: session.orchestrator_id }, ctx);
    const removed = (cleaned.json.removed as { worker_id: string }[]).map((r) => r.worker_id);
    step("orch clean --yes", `removed ${removed.join(", ") || "nothing"} (here and on the hosts)`);
    for (const r of [...landed, ...relanded].filter((x) => x.status === "conflict")) {
      await rmMain([r.worker_id], { force: true, deleteBranch: true, yes: true, orch: session.orchestrator_id }, ctx);
      step(`orch rm ${r.worker_id} --force --delete-branch --yes`, "it does not land: dropped");
    }
    const log = await gitAdapter.gitOut(["log", "--format=%h %s", "-5"], repo);
    say(`\nmain now:\n${log.replace(/^/gm, "    ")}`);
    say(`\n${c.green("done")} in ${((Date.now() - started) / 1000).toFixed(1)} s. The hosts' accounts and sshds are removed` +
      `${keep ? `; kept ${scratch}.` : ", and the scratch repository (--keep keeps it)."}`);
    return {
      json: {
        success: true,
        repository: repo,
        orchestrator_id: session.orchestrator_id,
        hosts: hosts.hosts.map((h) => ({ name: h.alias, user: h.user, port: h.port })),
        workers: awaited.workers,
        approved,
        land: landed,
        relanded,
        cleaned: removed,
        seconds: (Date.now() - started) / 1000,
        kept: keep,
      },
      human: () => "",
    };
  } finally {
    await hosts?.close();
    await killServer(env);
    if (!keep) fs.rmSync(scratch, { recursive: true, force: true });
  }
}
