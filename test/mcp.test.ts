// orch mcp: a real MCP client (the SDK's Client over stdio) talking to a real orch process.

import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { baseEnv, commitFiles, git, orch, orchAsync, orchCommand, scratchRepo, sessionRepo, waitUntil } from "./helpers.ts";

const TOOL_NAMES = [
  "create_orchestrator_session",
  "start_worktree_session",
  "send_message",
  "poll_messages",
  "get_orchestrator_status",
  "await_workers",
  "apply_worker_patch",
  "merge_worker",
  "clean_workers",
  "send_to_worker",
  "reply_to_question",
  "approve_request",
  "deny_request",
  "land_workers",
  "sync_workers",
  "resume_worker",
  "stop_worker",
  "remove_worker",
  "get_worker_diff",
];

interface Server {
  client: Client;
  /** Everything the server wrote to stderr so far. */
  stderr: () => string;
  /** Errors the client saw on the transport, e.g. a stdout line that is not a protocol frame. */
  transportErrors: Error[];
  close: () => Promise<void>;
}

async function startServer(cwd: string, runtime?: string): Promise<Server> {
  const [command, ...pre] = orchCommand(runtime);
  // The transport passes only HOME, PATH and a few more unless told: give it the tests' clean environment.
  const env = Object.fromEntries(Object.entries(baseEnv()).filter((e): e is [string, string] => e[1] !== undefined));
  const transport = new StdioClientTransport({ command: command!, args: [...pre, "mcp"], cwd, env, stderr: "pipe" });
  let stderr = "";
  transport.stderr?.on("data", (chunk: Buffer) => (stderr += chunk.toString("utf8")));
  const client = new Client({ name: "orch-test", version: "0.0.0" });
  const transportErrors: Error[] = [];
  client.onerror = (error) => transportErrors.push(error);
  await client.connect(transport);
  return { client, stderr: () => stderr, transportErrors, close: () => client.close() };
}

interface ToolAnswer {
  isError: boolean;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  json: any;
  text: string;
}

async function call(server: Server, name: string, args: Record<string, unknown>): Promise<ToolAnswer> {
  const result = await server.client.callTool({ name, arguments: args });
  const content = result.content as { type: string; text: string }[];
  assert.is(content.length, 1, "one text item");
  assert.is(content[0]!.type, "text");
  const text = content[0]!.text;
  return { isError: result.isError === true, json: JSON.parse(text), text };
}

test("lists the plugin's tools and orch's own with descriptions and JSON Schemas", async () => {
  const server = await startServer(scratchRepo());
  try {
    const { tools } = await server.client.listTools();
    assert.equal(tools.map((t) => t.name).sort(), [...TOOL_NAMES].sort());
    for (const tool of tools) {
      assert.ok((tool.description ?? "").length > 40, `${tool.name} has a description`);
      assert.is(tool.inputSchema.type, "object");
    }
    const spawn = tools.find((t) => t.name === "start_worktree_session")!;
    const spawnArguments = ["branch", "fromRef", "planMode", "prompt", "orchestratorId", "agent", "noWindow"];
    assert.equal(Object.keys(spawn.inputSchema.properties ?? {}), spawnArguments);
    assert.equal(spawn.inputSchema.required, ["branch"]);
    const send = tools.find((t) => t.name === "send_message")!;
    assert.equal(send.inputSchema.required, ["orchestrator_id", "message_type", "content"]);
  } finally {
    await server.close();
  }
});

test("the seed's loop: session, worker without a window, its message polled exactly once, status", async () => {
  const repo = scratchRepo();
  // A postCreate hook that prints on stdout: it must reach stderr, never the protocol stream.
  git(["config", "gtr.hook.postCreate", "echo hook-said-hello"], repo);
  const server = await startServer(repo);
  try {
    const init = await call(server, "create_orchestrator_session", {});
    assert.not.ok(init.isError, init.text);
    assert.equal(Object.keys(init.json).sort(), ["created_at", "message", "orchestrator_id", "project_dir", "success"]);
    assert.is(init.json.project_dir, repo);
    const id = init.json.orchestrator_id as string;
    assert.match(id, /^orch_[a-z0-9]{8}$/);
    assert.ok(fs.existsSync(path.join(repo, ".orch")), "the store is where orch init puts it");

    const spawn = await call(server, "start_worktree_session", { branch: "feat/mcp", orchestratorId: id, prompt: "do it", noWindow: true });
    assert.not.ok(spawn.isError, spawn.text);
    assert.is(spawn.json.worker_id, "feat-mcp");
    assert.is(spawn.json.window_id, null);
    assert.is(spawn.json.worktree_path, path.join(path.dirname(repo), "repo-worktrees", "feat-mcp"));
    assert.ok(fs.existsSync(spawn.json.worktree_path));
    assert.match(server.stderr(), /hook-said-hello/);

    const sent = await call(server, "send_message", {
      orchestrator_id: id,
      message_type: "task_complete",
      content: { summary: "Done", details: "All of it", pr_url: "https://github.com/o/r/pull/1" },
      worker_id: "feat-mcp",
    });
    assert.not.ok(sent.isError, sent.text);
    assert.is(sent.json.worker_id, "feat-mcp");
    assert.is(sent.json.status, "unread");

    const first = await call(server, "poll_messages", { orchestrator_id: id });
    assert.not.ok(first.isError, first.text);
    assert.is(first.json.message_count, 1);
    const [message] = first.json.messages;
    assert.equal(Object.keys(message).sort(), ["content", "created_at", "id", "message_type", "worker_id"]);
    assert.is(message.id, sent.json.message_id);
    assert.is(message.worker_id, "feat-mcp");
    assert.equal(message.content, { summary: "Done", details: "All of it", pr_url: "https://github.com/o/r/pull/1" });
    const second = await call(server, "poll_messages", { orchestrator_id: id });
    assert.is(second.json.message_count, 0, "each message is handed out once");

    const status = await call(server, "get_orchestrator_status", { orchestrator_id: id });
    assert.not.ok(status.isError, status.text);
    assert.is(status.json.orchestrator_id, id);
    assert.is(status.json.unread_count, 0);
    assert.is(status.json.total_messages, 1);
    assert.equal(status.json.workers.map((w: { worker_id: string }) => w.worker_id), ["feat-mcp"]);
    assert.is(status.json.workers[0].status, "done");
    assert.is(status.json.workers[0].pr_url, "https://github.com/o/r/pull/1");
    assert.equal(server.transportErrors, [], "stdout carried protocol frames only");
  } finally {
    await server.close();
  }
});

test("bad arguments give an isError result naming the argument, and the server keeps answering", async () => {
  const { repo, id } = sessionRepo();
  const server = await startServer(repo);
  try {
    const cases: [string, Record<string, unknown>, string, RegExp][] = [
      ["start_worktree_session", { noWindow: true }, "usage", /argument branch is required/],
      [
        "start_worktree_session",
        { branch: "feat/x", planMode: "yes" },
        "usage",
        /argument planMode must be true or false/,
      ],
      ["start_worktree_session", { branch: "-x", noWindow: true }, "invalid", /bad branch name/],
      [
        "send_message",
        { orchestrator_id: id, message_type: "shout", content: { summary: "hi" } },
        "invalid",
        /argument message_type must be one of task_complete/,
      ],
      [
        "send_message",
        { orchestrator_id: id, message_type: "question", content: {} },
        "usage",
        /argument content\.summary is required/,
      ],
      [
        "send_message",
        { orchestrator_id: id, message_type: "question", content: { summary: "hi", colour: "red" } },
        "usage",
        /unknown argument content\.colour/,
      ],
      // Refused by the command itself, whose error names the tool's argument, not the CLI flag it became.
      [
        "send_message",
        { orchestrator_id: id, message_type: "question", content: { summary: "" } },
        "usage",
        /^argument content\.summary must not be empty$/,
      ],
      [
        "send_message",
        { orchestrator_id: id, message_type: "task_complete", content: { summary: "x", pr_url: "nope" } },
        "invalid",
        /^argument content\.pr_url must be the pull request's http\(s\) URL/,
      ],
      [
        "start_worktree_session",
        { branch: "feat/y", fromRef: "no-such-ref", noWindow: true },
        "not_found",
        /^argument fromRef no-such-ref is not a commit/,
      ],
      [
        "send_message",
        { orchestrator_id: id, message_type: "progress", content: { summary: "x" }, worker_id: "../x" },
        "invalid",
        /^bad argument worker_id "\.\.\/x"/,
      ],
      // Half of a surrogate pair ("\ud800" in the request's JSON) is no text: refused as invalid UTF-8 in argv is.
      [
        "start_worktree_session",
        { branch: "feat/z", prompt: "caf\u00e9 \ud800 and 😀", noWindow: true },
        "invalid",
        /^argument prompt holds half of a surrogate pair, which is not text/,
      ],
      [
        "send_message",
        { orchestrator_id: id, message_type: "progress", content: { summary: "cut \ud83d" }, worker_id: "w" },
        "invalid",
        /^argument content\.summary holds half of a surrogate pair/,
      ],
      ["poll_messages", { orchestrator_id: "../x" }, "invalid", /argument orchestrator_id must match/],
      ["poll_messages", {}, "usage", /argument orchestrator_id is required/],
      ["get_orchestrator_status", { orchestrator_id: 42 }, "usage", /argument orchestrator_id must be a string/],
      [
        "await_workers",
        { orchestrator_id: id, timeout_seconds: -1 },
        "usage",
        /argument timeout_seconds must be at least 0/,
      ],
      ["await_workers", { orchestrator_id: id, workers: ["ok", 3] }, "usage", /argument workers\[1\] must be a string/],
      ["get_orchestrator_status", { orchestrator_id: "orch_00000000" }, "not_found", /orch_00000000/],
      // Longer than a file name can be: no worker has it (before, ENAMETOOLONG came back as an internal error).
      ["stop_worker", { orchestrator_id: id, worker: "x".repeat(300) }, "not_found", /^no worker "x{300}" in session/],
      ["get_worker_diff", { orchestrator_id: id, worker: "y".repeat(256) }, "not_found", /^no worker "y{256}"/],
      ["no_such_tool", {}, "usage", /unknown tool "no_such_tool"/],
      // Names every object has are no arguments either (they passed as known ones).
      ["get_orchestrator_status", { orchestrator_id: id, constructor: 1 }, "usage", /^unknown argument constructor /],
      [
        "send_message",
        { orchestrator_id: id, message_type: "progress", content: { summary: "s", toString: "x" } },
        "usage",
        /^unknown argument content\.toString /,
      ],
      // A huge value comes back cut to its start and length, not whole into the model's context.
      [
        "send_to_worker",
        { orchestrator_id: id, worker: "w".repeat(200_000), text: "x" },
        "not_found",
        /^no worker "w{100}…" \(200000 characters\) in session orch_/,
      ],
      [
        "create_orchestrator_session",
        { project_dir: "p".repeat(5000) },
        "invalid",
        /^argument project_dir p{100}… \(5000 characters\) does not exist$/,
      ],
      [
        "get_orchestrator_status",
        { orchestrator_id: "o".repeat(5000) },
        "invalid",
        /^argument orchestrator_id must match \S+, not "o{100}…" \(5000 characters\)$/,
      ],
    ];
    for (const [tool, args, code, message] of cases) {
      const answer = await call(server, tool, args);
      assert.ok(answer.isError, `${tool} ${JSON.stringify(args)} is an error: ${answer.text}`);
      assert.is(answer.json.success, false);
      assert.is(answer.json.error.code, code, answer.text);
      assert.match(answer.json.error.message, message);
      assert.ok(answer.text.length < 2000, `${tool}: a short answer (${answer.text.length} characters)`);
    }
    assert.not.ok(fs.existsSync(path.join(path.dirname(repo), "repo-worktrees")), "no worktree was made by a refused call");
    const status = await call(server, "get_orchestrator_status", { orchestrator_id: id });
    assert.not.ok(status.isError, status.text);
    assert.is(status.json.total_messages, 0, "no message was sent by a refused call");
    assert.equal(server.transportErrors, []);
  } finally {
    await server.close();
  }
});

test("await, apply (dry run), merge and clean through the tools; a timeout is an error with what is known", async () => {
  const { repo, id } = sessionRepo();
  const server = await startServer(repo);
  try {
    const spawn = await call(server, "start_worktree_session", { branch: "feat/done", orchestratorId: id, noWindow: true });
    assert.not.ok(spawn.isError, spawn.text);
    commitFiles(spawn.json.worktree_path, { "feature.txt": "new\n" }, "Add the feature");

    const waited = await call(server, "await_workers", { orchestrator_id: id, timeout_seconds: 0.2 });
    assert.ok(waited.isError);
    assert.is(waited.json.error.code, "timeout");
    assert.equal(waited.json.workers.map((w: { worker_id: string }) => w.worker_id), ["feat-done"]);

    const pending = call(server, "await_workers", { orchestrator_id: id, workers: ["feat/done"], timeout_seconds: 30 });
    const sent = await call(server, "send_message", {
      orchestrator_id: id,
      message_type: "task_complete",
      content: { summary: "Feature added" },
      worker_id: "feat-done",
    });
    assert.not.ok(sent.isError, sent.text);
    const done = await pending;
    assert.not.ok(done.isError, done.text);
    assert.is(done.json.workers[0].status, "done");
    assert.is(done.json.workers[0].final_message.content.summary, "Feature added");

    const head = git(["rev-parse", "HEAD"], repo);
    const dry = await call(server, "apply_worker_patch", { orchestrator_id: id, worker: "feat-done", dry_run: true });
    assert.not.ok(dry.isError, dry.text);
    assert.is(dry.json.applies_cleanly, true);
    assert.is(git(["rev-parse", "HEAD"], repo), head, "a dry run changes nothing");

    const merged = await call(server, "merge_worker", { orchestrator_id: id, worker: "feat-done", method: "squash", local: true });
    assert.not.ok(merged.isError, merged.text);
    assert.is(merged.json.via, "local");
    assert.is(fs.readFileSync(path.join(repo, "feature.txt"), "utf8"), "new\n");
    const again = await call(server, "merge_worker", { orchestrator_id: id, worker: "feat-done", local: true });
    assert.ok(again.isError);
    assert.is(again.json.error.code, "refused");

    const preview = await call(server, "clean_workers", { orchestrator_id: id, dry_run: true });
    assert.not.ok(preview.isError, preview.text);
    assert.is(preview.json.removed.length, 1);
    assert.ok(fs.existsSync(spawn.json.worktree_path), "a dry run removes nothing");
    const cleaned = await call(server, "clean_workers", { orchestrator_id: id });
    assert.not.ok(cleaned.isError, cleaned.text);
    assert.equal(cleaned.json.removed.map((w: { worker_id: string }) => w.worker_id), ["feat-done"]);
    assert.not.ok(fs.existsSync(spawn.json.worktree_path));
    assert.equal(server.transportErrors, []);
  } finally {
    await server.close();
  }
});

/** A worker's permission prompt raised through its PermissionRequest hook, as Claude Code runs it; ends when answered. */
function raisePermission(worktree: string, command: string) {
  const payload = {
    cwd: worktree, hook_event_name: "PermissionRequest", tool_name: "Bash", tool_input: { command }, permission_mode: "default",
  };
  return orchAsync(["hook", "permission-request"], {
    cwd: worktree, input: JSON.stringify(payload), env: { ORCH_APPROVAL_WAIT: "60" },
  }).done;
}

test("orch's own tools answer and finish: approve, deny, send, reply, diff, land, sync, stop, resume, remove", async () => {
  const { repo, id } = sessionRepo();
  const server = await startServer(repo);
  const requestOf = async (worker: string): Promise<string> => {
    const workers = (): { worker_id: string; request_id?: string }[] => orch(["status", "--json"], { cwd: repo }).json.workers;
    const request = () => workers().find((w) => w.worker_id === worker)?.request_id;
    await waitUntil(() => request() !== undefined, 15_000, `${worker} to be blocked`);
    return request()!;
  };
  try {
    const a = await call(server, "start_worktree_session", { branch: "feat/a", orchestratorId: id, noWindow: true });
    const b = await call(server, "start_worktree_session", { branch: "feat/b", orchestratorId: id, noWindow: true });
    assert.not.ok(a.isError || b.isError, a.text + b.text);
    const [worktreeA, worktreeB] = [a.json.worktree_path as string, b.json.worktree_path as string];

    const allowed = raisePermission(worktreeA, "make deploy");
    const approved = await call(server, "approve_request", {
      orchestrator_id: id, worker: "feat-a", request_id: await requestOf("feat-a"),
    });
    assert.not.ok(approved.isError, approved.text);
    assert.is(JSON.parse((await allowed).stdout).hookSpecificOutput.decision.behavior, "allow");
    const refused = raisePermission(worktreeA, "rm -rf build");
    await requestOf("feat-a"); // deny_request names none: the worker's only pending one
    const denied = await call(server, "deny_request", { orchestrator_id: id, worker: "feat/a", message: "not the build" });
    assert.not.ok(denied.isError, denied.text);
    const decision = JSON.parse((await refused).stdout).hookSpecificOutput.decision;
    assert.equal([decision.behavior, decision.message], ["deny", "not the build"]);
    const none = await call(server, "deny_request", { orchestrator_id: id, worker: "feat-a", message: "again" });
    assert.ok(none.isError, "nothing is pending any more");

    // "-" is text here: the server's standard input is the protocol's, never read as a message.
    const sent = await call(server, "send_to_worker", { orchestrator_id: id, worker: "feat-b", text: "-" });
    assert.not.ok(sent.isError, sent.text);
    const asked = await call(server, "send_message", {
      orchestrator_id: id, message_type: "question", content: { summary: "Which port?", question: "Which port?" }, worker_id: "feat-b",
    });
    assert.not.ok(asked.isError, asked.text);
    const replied = await call(server, "reply_to_question", {
      orchestrator_id: id, message_id: asked.json.message_id, text: "8080",
    });
    assert.not.ok(replied.isError, replied.text);
    const inbox = orch(["inbox", "--json"], { cwd: worktreeB }).json.messages;
    assert.equal(inbox.map((m: { content: { text: string } }) => m.content.text), ["-", "8080"]);
    assert.is(inbox[1].content.in_reply_to, asked.json.message_id);
    const blank = await call(server, "send_to_worker", { orchestrator_id: id, worker: "feat-b", text: " " });
    assert.is(blank.json.error.code, "usage", "a blank text is refused as on the command line");

    commitFiles(worktreeA, { "a.txt": "a\n" }, "Add a");
    commitFiles(worktreeB, { "b.txt": "b\n" }, "Add b");
    const diff = await call(server, "get_worker_diff", { orchestrator_id: id, worker: "feat-a", stat: true });
    assert.not.ok(diff.isError, diff.text);
    assert.equal(diff.json.files.map((f: { path: string }) => f.path), ["a.txt"]);
    assert.is(diff.json.diff, undefined, "stat: no patch");

    await call(server, "send_message", {
      orchestrator_id: id, message_type: "task_complete", content: { summary: "a" }, worker_id: "feat-a",
    });
    const landing = { orchestrator_id: id, test: "echo tested && test -f a.txt", on_conflict: "return" };
    const landed = await call(server, "land_workers", landing);
    assert.not.ok(landed.isError, landed.text);
    assert.equal([landed.json.landed, landed.json.on_conflict], [1, "return"]);
    assert.is(git(["show", "main:a.txt"], repo), "a");
    const synced = await call(server, "sync_workers", { orchestrator_id: id, workers: ["feat-b"], method: "merge" });
    assert.not.ok(synced.isError, synced.text);
    assert.equal(synced.json.synced, ["feat-b"]);
    assert.is(git(["log", "-1", "--format=%P", "feat/b"], repo).split(" ").length, 2, "merged, as method asked");

    const stopped = await call(server, "stop_worker", { orchestrator_id: id, worker: "feat-b" });
    assert.not.ok(stopped.isError, stopped.text);
    const resumed = await call(server, "resume_worker", { orchestrator_id: id, worker: "feat-nobody" });
    assert.is(resumed.json.error.code, "not_found");
    const kept = await call(server, "remove_worker", { orchestrator_id: id, worker: "feat-b", delete_branch: true });
    assert.ok(kept.isError, "its branch is not merged: refused without force");
    assert.ok(fs.existsSync(worktreeB));
    const removed = await call(server, "remove_worker", {
      orchestrator_id: id, worker: "feat-b", delete_branch: true, force: true,
    });
    assert.not.ok(removed.isError, removed.text);
    assert.not.ok(fs.existsSync(worktreeB));
    assert.is(git(["branch", "--list", "feat/b"], repo), "");
    assert.equal(server.transportErrors, [], "stdout carried protocol frames only (land's test output went to stderr)");
  } finally {
    await server.close();
  }
});

test("a session created for another project_dir is found by the later calls", async () => {
  const here = scratchRepo("here");
  const there = scratchRepo("there");
  const server = await startServer(here);
  try {
    const init = await call(server, "create_orchestrator_session", { project_dir: there });
    assert.not.ok(init.isError, init.text);
    assert.ok(fs.existsSync(path.join(there, ".orch")));
    assert.not.ok(fs.existsSync(path.join(here, ".orch")));
    const spawn = await call(server, "start_worktree_session", { branch: "w", orchestratorId: init.json.orchestrator_id, noWindow: true });
    assert.not.ok(spawn.isError, spawn.text);
    assert.is(spawn.json.worktree_path, path.join(path.dirname(there), "there-worktrees", "w"));
    const status = await call(server, "get_orchestrator_status", { orchestrator_id: init.json.orchestrator_id });
    assert.is(status.json.workers.length, 1);
  } finally {
    await server.close();
  }
});

/** An orch mcp process spoken to line by line over raw pipes, as a client that sends anything would. */
function rawServer(cwd: string) {
  const [command, ...pre] = orchCommand();
  const child = spawn(command!, [...pre, "mcp"], { cwd, env: baseEnv(), stdio: ["pipe", "pipe", "pipe"] });
  const answers: Record<string, unknown>[] = [];
  let pending = "";
  let stderr = "";
  child.stdout!.setEncoding("utf8").on("data", (chunk: string) => {
    pending += chunk;
    for (let nl = pending.indexOf("\n"); nl !== -1; nl = pending.indexOf("\n")) {
      answers.push(JSON.parse(pending.slice(0, nl)) as Record<string, unknown>);
      pending = pending.slice(nl + 1);
    }
  });
  child.stderr!.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
  const exited = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)));
  const send = (line: string) =>
    new Promise<void>((resolve) => (child.stdin!.write(line) ? resolve() : child.stdin!.once("drain", resolve)));
  const answerTo = async (id: number) => {
    await waitUntil(() => answers.some((a) => a.id === id), 30_000, `the answer to request ${id}`);
    return answers.find((a) => a.id === id)!;
  };
  /** Peak and current resident memory of the server, in KiB (/proc/<pid>/status). */
  const memory = () => {
    const status = fs.readFileSync(`/proc/${child.pid}/status`, "utf8");
    const kib = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(status)![1]);
    return { peak: kib("VmHWM"), now: kib("VmRSS") };
  };
  return { child, answers, send, answerTo, memory, exited, stderr: () => stderr };
}

const request = (id: number, method: string, params?: Record<string, unknown>) =>
  `${JSON.stringify({ jsonrpc: "2.0", id, method, ...(params ? { params } : {}) })}\n`;
const INITIALIZE = { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "raw", version: "0" } };

test("a request line over 1 MiB is refused with -32600, memory stays bounded, and the next request is answered", async () => {
  const server = rawServer(scratchRepo());
  try {
    await server.send(request(1, "initialize", INITIALIZE));
    await server.answerTo(1);
    await server.send(`${JSON.stringify({ jsonrpc: "2.0", method: "notifications/initialized" })}\n`);
    await server.send(request(2, "tools/list"));
    assert.is(((await server.answerTo(2)).result as { tools: unknown[] }).tools.length, TOOL_NAMES.length);
    const before = server.memory();

    // 5 MB in one line, its id first: the error names it.
    const huge = "x".repeat(5 * 1024 * 1024);
    await server.send(request(3, "tools/list", { padding: huge }));
    const refused = await server.answerTo(3);
    assert.is((refused.error as { code: number }).code, -32600);
    assert.match((refused.error as { message: string }).message, /longer than 1048576 bytes/);
    // The same with its id last: it cannot be told without reading the line, so the error has none.
    await server.send(`{"jsonrpc":"2.0","method":"tools/list","params":{"padding":"${huge}"},"id":4}\n`);
    await server.send(request(5, "tools/list"));
    const next = await server.answerTo(5);
    assert.is((next.result as { tools: unknown[] }).tools.length, TOOL_NAMES.length, "the next line is served");
    const anonymous = server.answers.filter((a) => a.id === undefined && a.error !== undefined);
    assert.is(anonymous.length, 1, "one error without an id for the line whose id came last");
    assert.not.ok(server.answers.some((a) => a.id === 4), "the refused line was not read");

    // Buffering the two lines whole grows a server by far more than their 10 MB (measured: 40-75 MB).
    const after = server.memory();
    const grownKiB = after.peak - before.peak;
    assert.ok(grownKiB < 15 * 1024, `peak memory grew by ${grownKiB} KiB while 10 MB of refused lines went through`);

    // A line of exactly the limit is read.
    const shell = request(6, "tools/list", { padding: "" });
    const fits = request(6, "tools/list", { padding: "y".repeat(1024 * 1024 - (shell.length - 1)) });
    assert.is(Buffer.byteLength(fits) - 1, 1024 * 1024);
    await server.send(fits);
    const answered = await server.answerTo(6);
    assert.ok(answered.result, JSON.stringify(answered).slice(0, 200));
    assert.match(server.stderr(), /refused a request line of more than 1048576 bytes/);

    server.child.stdin!.end();
    assert.is(await server.exited, 0, server.stderr());
  } finally {
    server.child.kill();
  }
});

test("lines that are no JSON-RPC request get JSON-RPC's error, one stderr line each; the server goes on", async () => {
  const repo = scratchRepo();
  const server = rawServer(repo);
  try {
    await server.send(request(1, "initialize", INITIALIZE));
    await server.answerTo(1);
    const anonymous: [string, number][] = [
      ["not json\n", -32700],
      ['{"jsonrpc":"2.0"}\n', -32600],
      ["[]\n", -32600],
      ['[{"jsonrpc":"2.0","id":99,"method":"tools/list"}]\n', -32600],
      ["5\n", -32600],
      ['{"jsonrpc":"2.0","id":{"a":1},"method":"tools/list"}\n', -32600],
      // Numbers JSON-RPC allows but the SDK cannot answer to: before, no answer at all.
      ['{"jsonrpc":"2.0","id":1.5,"method":"ping"}\n', -32600],
    ];
    for (const [line] of anonymous) await server.send(line);
    await server.send("\n");
    const withId: [number, string, number][] = [
      [10, '{"jsonrpc":"1.0","id":10,"method":"tools/list"}\n', -32600],
      [11, '{"jsonrpc":"2.0","id":11,"method":5}\n', -32600],
      [12, request(12, "tools/call", { name: "poll_messages", arguments: [] }), -32602],
      [13, request(13, "tools/call", { arguments: {} }), -32602],
      [14, request(14, "tools/call"), -32602],
      [15, request(15, "initialize", {}), -32602],
      // What the SDK's schema refuses it used to drop unanswered, with "Invalid input" on stderr.
      [16, '{"jsonrpc":"2.0","id":16,"method":"ping","extra":1}\n', -32600],
      [17, '{"jsonrpc":"2.0","id":17,"method":"ping","params":5}\n', -32600],
    ];
    for (const [, line] of withId) await server.send(line);
    // A notification the SDK's own handler refuses: said on stderr in one line (it was cut at "[").
    await server.send('{"jsonrpc":"2.0","method":"notifications/cancelled"}\n');
    // A tools/call without an id is a notification: never answered nor run, but said on stderr.
    const orphan = { name: "create_orchestrator_session", arguments: {} };
    await server.send(`${JSON.stringify({ jsonrpc: "2.0", method: "tools/call", params: orphan })}\n`);
    await server.send(request(20, "tools/list"));
    const next = await server.answerTo(20);
    assert.is((next.result as { tools: unknown[] }).tools.length, TOOL_NAMES.length, "the server still answers");
    for (const [id, , code] of withId) {
      const error = (await server.answerTo(id)).error as { code: number; message: string };
      assert.is(error.code, code, `request ${id}: ${error.message}`);
      assert.not.match(error.message, /\n/, `request ${id}: one line`);
    }
    const errors = server.answers.filter((a) => a.id === undefined).map((a) => (a.error as { code: number }).code);
    assert.equal(errors, anonymous.map(([, code]) => code), "one error without an id for each of those lines");
    assert.match(JSON.stringify(server.answers.find((a) => a.id === 15)), /protocolVersion/);
    assert.match(JSON.stringify(server.answers.find((a) => a.id === 16)), /Unrecognized key: \\"extra\\"/);
    assert.match(server.stderr(), /tools\/call without an id is a notification: not run/);
    assert.not.ok(fs.existsSync(path.join(repo, ".orch")), "the notification created no session");
    const stderrLines = server.stderr().trim().split("\n");
    assert.ok(stderrLines.length >= anonymous.length, server.stderr());
    assert.ok(stderrLines.every((l) => l.startsWith("orch: mcp: ")), server.stderr());
    assert.match(server.stderr(), /^orch: mcp: Uncaught error in notification handler: params: .+$/m);
    assert.not.match(server.stderr(), /\[$/m, "no line cut at its issue list");
    server.child.stdin!.end();
    assert.is(await server.exited, 0, server.stderr());
  } finally {
    server.child.kill();
  }
});

test("stdin closed while calls run: each is finished and answered before the server exits", async () => {
  const { repo, id } = sessionRepo();
  const server = rawServer(repo);
  try {
    await server.send(request(1, "initialize", INITIALIZE));
    await server.answerTo(1);
    const branches = ["feat/a", "feat/b", "feat/c"];
    for (const [i, branch] of branches.entries()) {
      const args = { branch, orchestratorId: id, noWindow: true };
      await server.send(request(10 + i, "tools/call", { name: "start_worktree_session", arguments: args }));
    }
    server.child.stdin!.end();
    assert.is(await server.exited, 0, server.stderr());
    for (const i of branches.keys()) {
      const answer = server.answers.find((a) => a.id === 10 + i);
      assert.ok(answer, `request ${10 + i} (${branches[i]}) was answered: ${JSON.stringify(server.answers.map((a) => a.id))}`);
      assert.not.ok((answer!.result as { isError?: boolean }).isError, JSON.stringify(answer));
    }
  } finally {
    server.child.kill();
  }
  const list = orch(["list", "--json"], { cwd: repo });
  assert.equal(list.json.workers.map((w: { branch: string }) => w.branch).sort(), ["feat/a", "feat/b", "feat/c"]);
});

test("a cancelled await_workers stops waiting (it went on for ever); the server serves the next call", async () => {
  const { repo, id } = sessionRepo();
  const server = rawServer(repo);
  try {
    await server.send(request(1, "initialize", INITIALIZE));
    await server.answerTo(1);
    const args = { branch: "feat/a", orchestratorId: id, noWindow: true };
    await server.send(request(2, "tools/call", { name: "start_worktree_session", arguments: args }));
    await server.answerTo(2);
    // No timeout: as a client calls it, then gives up on it (its own request timeout) and cancels.
    await server.send(request(3, "tools/call", { name: "await_workers", arguments: { orchestrator_id: id } }));
    await waitUntil(() => watchCount(server.child.pid!) > 0, 15_000, "the await to watch the worker");
    const cancel = { jsonrpc: "2.0", method: "notifications/cancelled", params: { requestId: 3, reason: "timeout" } };
    await server.send(`${JSON.stringify(cancel)}\n`);
    const ended = () => /await_workers: await: cancelled by the client/.test(server.stderr());
    await waitUntil(ended, 15_000, "the await to end");
    await waitUntil(() => watchCount(server.child.pid!) === 0, 15_000, "the await's watch to be closed");
    const status = { name: "get_orchestrator_status", arguments: { orchestrator_id: id } };
    await server.send(request(4, "tools/call", status));
    assert.ok((await server.answerTo(4)).result, "the next call is answered");
    assert.not.ok(server.answers.some((a) => a.id === 3), "a cancelled call is not answered (MCP)");
    server.child.stdin!.end();
    assert.is(await server.exited, 0, server.stderr());
  } finally {
    server.child.kill();
  }
});

/** The inotify watches a process holds (an await's fs.watch of its workers' event folders). */
function watchCount(pid: number): number {
  let count = 0;
  for (const fd of fs.readdirSync(`/proc/${pid}/fdinfo`)) {
    try {
      const lines = fs.readFileSync(`/proc/${pid}/fdinfo/${fd}`, "utf8").split("\n");
      count += lines.filter((l) => l.startsWith("inotify wd:")).length;
    } catch {
      // closed meanwhile
    }
  }
  return count;
}

test("a last request line without its newline (stdin closed after it) is run and answered", async () => {
  const { repo, id } = sessionRepo();
  const server = rawServer(repo);
  try {
    await server.send(request(1, "initialize", INITIALIZE));
    await server.answerTo(1);
    const args = { branch: "feat/last", orchestratorId: id, noWindow: true };
    await server.send(request(2, "tools/call", { name: "start_worktree_session", arguments: args }).trimEnd());
    server.child.stdin!.end();
    assert.is(await server.exited, 0, server.stderr());
    const answer = server.answers.find((a) => a.id === 2);
    assert.ok(answer, `answered: ${JSON.stringify(server.answers)}`);
    assert.not.ok((answer!.result as { isError?: boolean }).isError, JSON.stringify(answer));
  } finally {
    server.child.kill();
  }
  const list = orch(["list", "--json"], { cwd: repo });
  assert.equal(list.json.workers.map((w: { branch: string }) => w.branch), ["feat/last"]);
});

/** Requests 1 and 2: initialize, then start feat/a (no window), which gets a commit of its own. */
async function initializedWithWorkerA(server: ReturnType<typeof rawServer>, id: string): Promise<void> {
  await server.send(request(1, "initialize", INITIALIZE));
  await server.answerTo(1);
  const args = { branch: "feat/a", orchestratorId: id, noWindow: true };
  await server.send(request(2, "tools/call", { name: "start_worktree_session", arguments: args }));
  const spawned = (await server.answerTo(2)).result as { content: { text: string }[] };
  commitFiles(JSON.parse(spawned.content[0]!.text).worktree_path, { "a.txt": "a\n" }, "Add a");
}

for (const [signal, exitCode] of [["SIGTERM", 143], ["SIGHUP", 129]] as const) {
  const title = `${signal} while land_workers tests and await_workers waits: the land is undone and answered, ` +
    `exit ${exitCode}`;
  test(title, async () => {
    const { repo, id } = sessionRepo();
    const server = rawServer(repo);
    const pidFile = path.join(path.dirname(repo), "test.pid");
    try {
      await initializedWithWorkerA(server, id);
      const done = {
        orchestrator_id: id, message_type: "task_complete", content: { summary: "a" }, worker_id: "feat-a",
      };
      await server.send(request(3, "tools/call", { name: "send_message", arguments: done }));
      await server.answerTo(3);
      const landing = { orchestrator_id: id, test: `echo $$ > ${pidFile}; exec sleep 300` };
      await server.send(request(4, "tools/call", { name: "land_workers", arguments: landing }));
      const testStarted = () => fs.existsSync(pidFile) && fs.readFileSync(pidFile, "utf8").endsWith("\n");
      await waitUntil(testStarted, 30_000, "the land's test to start");
      const testPid = Number(fs.readFileSync(pidFile, "utf8"));
      // An await's own SIGHUP handler ended the process at once, the land half-done (its worktree left).
      const other = { branch: "feat/b", orchestratorId: id, noWindow: true };
      await server.send(request(5, "tools/call", { name: "start_worktree_session", arguments: other }));
      await server.answerTo(5);
      const awaiting = { orchestrator_id: id, workers: ["feat-b"] };
      await server.send(request(6, "tools/call", { name: "await_workers", arguments: awaiting }));
      await waitUntil(() => watchCount(server.child.pid!) > 0, 15_000, "the await to watch the worker");
      server.child.kill(signal);
      // Before, the land caught the signal and the server went on serving (every later land or spawn "interrupted").
      const ended = () => server.child.exitCode !== null || server.child.signalCode !== null;
      await waitUntil(ended, 30_000, "the server to exit");
      assert.is(await server.exited, exitCode, server.stderr());
      const land = (await server.answerTo(4)).result as { isError: boolean; content: { text: string }[] };
      assert.ok(land.isError);
      assert.is(JSON.parse(land.content[0]!.text).error.code, "interrupted");
      assert.match(server.stderr(), new RegExp(`mcp: ${signal}: ending once the calls under way are answered`));
      await waitUntil(() => !isRunning(testPid), 15_000, "the land's test to be ended");
    } finally {
      server.child.kill();
    }
    assert.is(git(["log", "-1", "--format=%s", "main"], repo), "initial", "nothing landed");
    assert.is(git(["worktree", "list"], repo).split("\n").length, 3, "no throw-away worktree is left");
    const again = orch(["land", "--json"], { cwd: repo });
    assert.is(again.code, 0, again.stderr);
    assert.is(again.json.landed, 1, "the next land is not held up by anything the first left");
  });
}

test("a tools/call reusing the id of a call under way is refused, not run: messages are handed out once", async () => {
  const { repo, id } = sessionRepo();
  const server = rawServer(repo);
  const go = path.join(path.dirname(repo), "go");
  try {
    await initializedWithWorkerA(server, id);
    for (const n of [1, 2, 3]) {
      const report = { orchestrator_id: id, message_type: "progress", content: { summary: `report ${n}` } };
      await server.send(request(2 + n, "tools/call", { name: "send_message", arguments: report }));
      await server.answerTo(2 + n);
    }
    const done = { orchestrator_id: id, message_type: "task_complete", content: { summary: "a" }, worker_id: "feat-a" };
    await server.send(request(6, "tools/call", { name: "send_message", arguments: done }));
    await server.answerTo(6);
    // Request 7 is a land whose test waits for the file go; a poll comes with the same id meanwhile.
    const landing = { orchestrator_id: id, test: `while [ ! -f ${go} ]; do sleep 0.1; done` };
    await server.send(request(7, "tools/call", { name: "land_workers", arguments: landing }));
    await waitUntil(() => /land: testing feat-a/.test(server.stderr()), 30_000, "the land's test to start");
    await server.send(request(7, "tools/call", { name: "poll_messages", arguments: { orchestrator_id: id } }));
    const refused = await server.answerTo(7);
    const error = refused.error as { code: number; message: string };
    assert.ok(error, `refused: ${JSON.stringify(refused).slice(0, 300)}`);
    assert.is(error.code, -32600);
    assert.match(error.message, /request id 7 is that of a call still under way: not run/);
    fs.writeFileSync(go, "");
    await waitUntil(() => server.answers.filter((a) => a.id === 7).length === 2, 30_000, "the land's answer");
    const land = server.answers.filter((a) => a.id === 7)[1]!.result as { content: { text: string }[] };
    assert.is(JSON.parse(land.content[0]!.text).landed, 1);
    await server.send(request(8, "tools/call", { name: "poll_messages", arguments: { orchestrator_id: id } }));
    const polled = (await server.answerTo(8)).result as { content: { text: string }[] };
    const messages: { content: { summary: string } }[] = JSON.parse(polled.content[0]!.text).messages;
    const summaries = messages.map((m) => m.content.summary);
    assert.equal(summaries, ["report 1", "report 2", "report 3", "a"], "the refused poll took none of them");
    server.child.stdin!.end();
    assert.is(await server.exited, 0, server.stderr());
  } finally {
    server.child.kill();
  }
  const after = orch(["poll", "--orch", id, "--json"], { cwd: repo });
  assert.equal(after.json.messages, [], "none is handed out a second time");
});

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

test("two servers on one session polling at once: each message is handed out exactly once", async () => {
  const { repo, id } = sessionRepo();
  for (let n = 0; n < 30; n++) {
    const sent = orch(["notify", "--orch", id, "--type", "progress", "--summary", `report ${n}`], { cwd: repo });
    assert.is(sent.code, 0, sent.stderr);
  }
  const servers = [rawServer(repo), rawServer(repo)];
  try {
    for (const server of servers) {
      await server.send(request(1, "initialize", INITIALIZE));
      await server.answerTo(1);
    }
    // Ten polls from each, all sent before any is answered.
    const poll = (n: number) => request(n, "tools/call", { name: "poll_messages", arguments: { orchestrator_id: id } });
    const ids = Array.from({ length: 10 }, (_, i) => 10 + i);
    await Promise.all(servers.map((server) => server.send(ids.map(poll).join(""))));
    const handed: string[] = [];
    for (const server of servers) {
      for (const n of ids) {
        const result = (await server.answerTo(n)).result as { content: { text: string }[] };
        const messages: { content: { summary: string } }[] = JSON.parse(result.content[0]!.text).messages;
        handed.push(...messages.map((m) => m.content.summary));
      }
      server.child.stdin!.end();
      assert.is(await server.exited, 0, server.stderr());
    }
    assert.is(handed.length, 30, handed.join(", "));
    assert.is(new Set(handed).size, 30, "none twice");
  } finally {
    for (const server of servers) server.child.kill();
  }
  assert.equal(orch(["poll", "--orch", id, "--json"], { cwd: repo }).json.messages, [], "none left unread");
});

test("a client gone during poll_messages (stdout closed): the messages stay unread for the next poll", async () => {
  const { repo, id } = sessionRepo();
  const sent = [1, 2, 3].map((n) => {
    const result = orch(["notify", "--orch", id, "--type", "progress", "--summary", `report ${n}`, "--json"], { cwd: repo });
    assert.is(result.code, 0, result.stderr);
    return result.json.message_id as string;
  });
  const server = rawServer(repo);
  try {
    await server.send(request(1, "initialize", INITIALIZE));
    await server.answerTo(1);
    await server.send(request(2, "tools/call", { name: "poll_messages", arguments: { orchestrator_id: id } }));
    // Gone before the poll can answer: its answer meets a closed pipe.
    server.child.stdout!.destroy();
    server.child.stdin!.end();
    assert.is(await server.exited, 0, server.stderr());
    assert.match(server.stderr(), /EPIPE/);
  } finally {
    server.child.kill();
  }
  const next = orch(["poll", "--orch", id, "--json"], { cwd: repo });
  assert.is(next.code, 0, next.stderr);
  assert.equal(next.json.messages.map((m: { id: string }) => m.id), sent, "nothing was marked read for nobody");
});

test("SIGTERM while requests keep pouring in ends the server (143), as when they pause", async () => {
  const { repo } = sessionRepo();
  const [command, ...pre] = orchCommand();
  const flood = spawn("yes", ["{}"], { stdio: ["ignore", "pipe", "ignore"] });
  const child = spawn(command!, [...pre, "mcp"], { cwd: repo, env: baseEnv(), stdio: [flood.stdout!, "ignore", "pipe"] });
  let tail = "";
  child.stderr!.setEncoding("utf8").on("data", (chunk: string) => (tail = (tail + chunk).slice(-65536)));
  const exited = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)));
  try {
    // Each line is refused on stderr: the server reads the flood before the signal comes.
    await waitUntil(() => tail.length > 0, 30_000, "the server to read the flood");
    child.kill("SIGTERM");
    // Before, under bun the handler never ran while lines kept coming: only SIGKILL ended the server.
    await waitUntil(() => child.exitCode !== null || child.signalCode !== null, 30_000, "the server to end");
    assert.is(await exited, 143);
    assert.match(tail, /mcp: SIGTERM: ending once the calls under way are answered/);
  } finally {
    child.kill("SIGKILL");
    flood.kill("SIGKILL");
  }
});

test("the server exits 0 with nothing on stdout when stdin closes; --json is refused", async () => {
  const repo = scratchRepo();
  const { done } = orchAsync(["mcp"], { cwd: repo, input: "" });
  const result = await done;
  assert.is(result.code, 0, result.stderr);
  assert.is(result.stdout, "");
  const refused = await orchAsync(["mcp", "--json"], { cwd: repo, input: "" }).done;
  assert.is(refused.code, 2);
  assert.is(refused.json.error.code, "usage");
});

test("under Deno: the same server lists its tools and answers", async () => {
  const { repo, id } = sessionRepo();
  const server = await startServer(repo, "deno");
  try {
    const { tools } = await server.client.listTools();
    assert.equal(tools.map((t) => t.name).sort(), [...TOOL_NAMES].sort());
    const status = await call(server, "get_orchestrator_status", { orchestrator_id: id });
    assert.not.ok(status.isError, status.text);
    assert.is(status.json.orchestrator_id, id);
  } finally {
    await server.close();
  }
});

test.run();
