// orch mcp with the real Claude Code as its client (pinned, offline, scripted model): the drop-in for the
// tmux-worktree plugin. Claude Code starts `orch mcp` from its --mcp-config, finds orch's tools through
// ToolSearch, and the model drives the whole loop with them: session, worker, await, land, clean.

import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { AnthropicServer, contentText, step, type MessagesBody, type Step } from "./agents/anthropic-server.ts";
import { claudeUser, endUserProcesses, type ClaudeUser } from "./agents/harness.ts";
import { baseEnv, commitFiles, git, orch, orchCommand, scratchRepo, tempDir, waitUntil } from "./helpers.ts";

const server = await new AnthropicServer().start();
const users: ClaudeUser[] = [];
test.after(async () => {
  for (const user of users) endUserProcesses(user);
  await server.stop();
});

const TOOLS = ["create_orchestrator_session", "start_worktree_session", "await_workers", "land_workers", "clean_workers"];
const mcpName = (tool: string) => `mcp__orch__${tool}`;

/** The JSON document of the last tool result the model was sent (Claude Code may send a reminder after it). */
function lastToolResult(body: MessagesBody): Record<string, unknown> {
  const blocks = (body.messages ?? []).flatMap((m) => (Array.isArray(m.content) ? (m.content as { type?: string }[]) : []));
  const result = blocks.reverse().find((block) => block.type === "tool_result");
  const text = contentText(result).trim();
  if (!text.startsWith("{")) throw new Error(`the last tool result is no JSON document: ${text.slice(0, 300)}`);
  return JSON.parse(text) as Record<string, unknown>;
}

/** The model's calls, each made from what the previous tool answered (the session id it was given). */
function script(repo: string, results: Record<string, unknown>[]): Array<Step | ((body: MessagesBody) => Step)> {
  let id = "";
  const keep = (body: MessagesBody) => results.push(lastToolResult(body));
  return [
    step.tool("ToolSearch", { query: `select:${TOOLS.map(mcpName).join(",")}`, max_results: TOOLS.length }),
    step.tool(mcpName("create_orchestrator_session"), { project_dir: repo }),
    (body) => {
      keep(body);
      id = String(results.at(-1)!.orchestrator_id);
      return step.tool(mcpName("start_worktree_session"), {
        branch: "feat/mcp", orchestratorId: id, prompt: "Add mcp.txt", noWindow: true,
      });
    },
    (body) => {
      keep(body);
      return step.tool(mcpName("await_workers"), { orchestrator_id: id, timeout_seconds: 90 });
    },
    (body) => {
      keep(body);
      return step.tool(mcpName("land_workers"), { orchestrator_id: id, test: "test -f mcp.txt" });
    },
    (body) => {
      keep(body);
      return step.tool(mcpName("clean_workers"), { orchestrator_id: id });
    },
    (body) => {
      keep(body);
      return step.say("Landed and cleaned up.");
    },
  ];
}

test("the real Claude Code drives the loop through orch mcp: session, worker, await, land with a test, clean", async () => {
  const repo = scratchRepo();
  const user = claudeUser();
  users.push(user);
  const [command, ...pre] = orchCommand();
  const config = path.join(tempDir("orch-mcp-config-"), "mcp.json");
  fs.writeFileSync(config, JSON.stringify({ mcpServers: { orch: { command, args: [...pre, "mcp"] } } }));
  const results: Record<string, unknown>[] = [];
  const key = "drive-orch-over-mcp";
  server.script(key, script(repo, results));

  const claude = spawn("claude", [
    "-p", `${key}: add mcp.txt through a worker`, "--mcp-config", config, "--strict-mcp-config",
    "--allowedTools", "mcp__orch",
  ], { cwd: repo, env: baseEnv({ ...user.env, ...server.env }), stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  claude.stdout.on("data", (chunk: Buffer) => (output += chunk.toString("utf8")));
  claude.stderr.on("data", (chunk: Buffer) => (output += chunk.toString("utf8")));
  const ended = new Promise<number | null>((resolve) => claude.on("exit", resolve));

  // The worker's side, as an agent in it would do it: commit, then report.
  const worktree = path.join(path.dirname(repo), "repo-worktrees", "feat-mcp");
  // Once the model has the spawn's answer: the worktree is made and orch's git is done with it.
  await waitUntil(() => results.length >= 2, 90_000, `the worker's spawn:\n${output}\n${server.describe()}`);
  commitFiles(worktree, { "mcp.txt": "made by the worker\n" }, "Add mcp.txt");
  const notified = orch(["notify", "--type", "task_complete", "--summary", "mcp.txt added"], { cwd: worktree });
  assert.is(notified.code, 0, notified.stderr);

  let timer: NodeJS.Timeout | undefined;
  const code = await Promise.race([ended, new Promise<string>((r) => (timer = setTimeout(() => r("timeout"), 120_000)))]);
  clearTimeout(timer);
  if (code === "timeout") claude.kill("SIGKILL");
  assert.is(code, 0, `claude -p:\n${output}\nrequests:\n${server.describe()}`);
  assert.match(output, /Landed and cleaned up\./, `claude -p:\n${output}\nrequests:\n${server.describe()}`);
  const [session, spawned, awaited, landed, cleaned] = results;
  assert.match(String(session!.orchestrator_id), /^orch_[a-z0-9]{8}$/);
  assert.is(spawned!.worker_id, "feat-mcp");
  assert.equal((awaited!.workers as { status: string }[]).map((w) => w.status), ["done"]);
  assert.equal([landed!.success, landed!.landed], [true, 1], JSON.stringify(landed));
  assert.equal((cleaned!.removed as { worker_id: string }[]).map((w) => w.worker_id), ["feat-mcp"]);
  assert.is(git(["show", "main:mcp.txt"], repo), "made by the worker");
  assert.not.ok(fs.existsSync(worktree), "clean removed the worktree");
});

test.run();
