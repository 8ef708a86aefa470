// The real Codex, offline: a scripted OpenAI Responses API server on 127.0.0.1 (streamed as server-sent
// events, every request recorded) and a scratch HOME/CODEX_HOME set up as a user who has used Codex once.

import { spawnSync } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";

/** The npm entry of the pinned Codex that .ci/install-agents caches, or undefined when it is not there. */
export function cachedCodex(): string | undefined {
  const cache = process.env.ORCH_AGENT_CACHE ?? path.join(os.homedir(), ".cache/orch-agents");
  const entry = path.join(cache, "node_modules/@openai/codex/bin/codex.js");
  return fs.existsSync(entry) ? entry : undefined;
}

/**
 * Scratch folders for these tests live outside /tmp (the tests make /tmp read-only to Codex's
 * commands): TMPDIR points at `<base>/tmp` for this process and everything it starts, and the
 * users' homes go to `<base>/users` (Codex refuses to put its helpers in a home under TMPDIR).
 */
export function scratchOutsideTmp(): { tmp: string; users: string } {
  const base = fs.mkdtempSync(path.join(process.env.ORCH_TEST_SCRATCH ?? "/var/tmp", "orch-codex-"));
  const tmp = path.join(base, "tmp");
  const users = path.join(base, "users");
  fs.mkdirSync(tmp);
  fs.mkdirSync(users);
  process.env.TMPDIR = tmp;
  if (!process.env.ORCH_TEST_KEEP) process.on("exit", () => fs.rmSync(base, { recursive: true, force: true }));
  return { tmp, users };
}

/**
 * One model turn: run a shell command through Codex's exec_command tool, or answer with text (ends the turn);
 * or the API failing instead, as api.openai.com does: an HTTP error with its error body (429, 500, 401),
 * or a stream cut after response.created. A failure takes one request: Codex's retry of it gets the same
 * step again (the step is the number of tool calls so far), so `times` says how many requests fail.
 */
export type Step =
  | { exec: string; login?: boolean; yieldMs?: number; escalate?: string; after?: Promise<unknown>; tokens?: number }
  | { say: string; after?: Promise<unknown>; tokens?: number }
  | { fail: number; code: string; message: string; times?: number }
  | { cut: true; times?: number }
  | { streamFail: string; message: string; times?: number };

/** The Responses API's words when the input is larger than the model's window (its code context_length_exceeded). */
export const CONTEXT_TOO_LONG =
  "Your input exceeds the context window of this model. Please adjust your input and try again.";

/** Codex's request to summarise the conversation when it compacts (its instructions, as the last user message). */
export const COMPACTION_PROMPT = "CONTEXT CHECKPOINT COMPACTION";

/** What the scripted model answers a compaction with; Codex keeps it in the conversation that goes on. */
export const COMPACTION_SUMMARY = "SUMMARY-OF-EARLIER-WORK: the script's steps so far.";

export interface RecordedRequest {
  at: number;
  /** The script named in the prompt (SCRIPT:<name>), for the main conversation's requests. */
  script: string | undefined;
  /** Which step of the script it asked for: the number of tool calls so far. */
  step: number;
  /** "user" for the conversation; Codex's side requests (a thread title) have their own. */
  threadSource: string;
  /** Whether it asked for a summary of the conversation (Codex compacting it), answered with COMPACTION_SUMMARY. */
  compaction: boolean;
  /** The Authorization header it came with: which credentials the Codex that asked was configured with. */
  authorization: string | undefined;
  body: ResponsesRequest;
}

interface InputItem {
  type?: string;
  role?: string;
  content?: { type?: string; text?: string }[];
  output?: string;
}

interface ResponsesRequest {
  input?: InputItem[];
}

export interface ResponsesServer {
  baseUrl: string;
  requests: RecordedRequest[];
  /** The text of every user message of a request. */
  userTexts(request: RecordedRequest): string[];
  /** The output of the last tool call a request reports back. */
  lastToolOutput(request: RecordedRequest): string | undefined;
  close(): Promise<void>;
}

function userTexts(body: ResponsesRequest): string[] {
  return (body.input ?? [])
    .filter((item) => item.type === "message" && item.role === "user")
    .flatMap((item) => (item.content ?? []).map((c) => c.text ?? ""));
}

function sse(res: http.ServerResponse, type: string, data: Record<string, unknown>): void {
  res.write(`event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`);
}

/** Answers a request with the failure its step asks for. */
export type Failure = Extract<Step, { fail: number } | { cut: true } | { streamFail: string }>;

function failRequest(res: http.ServerResponse, failure: Failure, n: number): void {
  if ("streamFail" in failure) {
    // The stream starts, then the response fails: response.failed with the error in the response.
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
    sse(res, "response.created", { response: { id: `resp_${n}` } });
    const error = { code: failure.streamFail, message: failure.message };
    sse(res, "response.failed", { response: { id: `resp_${n}`, object: "response", status: "failed", error } });
    res.end();
    return;
  }
  if ("cut" in failure) {
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
    sse(res, "response.created", { response: { id: `resp_${n}` } });
    setTimeout(() => res.destroy(), 50);
    return;
  }
  res.writeHead(failure.fail, { "content-type": "application/json" });
  res.end(JSON.stringify({ error: { message: failure.message, type: failure.code, param: null, code: failure.code } }));
}

/** How the server answers Codex's compactions: with this failure instead of a summary, or only once `held` resolves. */
export interface CompactionOptions {
  compaction?: Failure;
  held?: Promise<unknown>;
}

/** A Responses API that answers each conversation from the script its prompt names. */
export async function responsesServer(
  scripts: Record<string, Step[]>, options: CompactionOptions = {},
): Promise<ResponsesServer> {
  const requests: RecordedRequest[] = [];
  const callsBeforeCompaction = new Map<string, number>();
  let counter = 0;
  const server = http.createServer((req, res) => {
    let raw = "";
    req.setEncoding("utf8").on("data", (chunk: string) => (raw += chunk));
    req.on("end", async () => {
      if (req.method !== "POST" || !req.url?.endsWith("/responses")) {
        res.writeHead(404).end();
        return;
      }
      const body = JSON.parse(raw) as ResponsesRequest;
      let meta: { thread_source?: string } = {};
      try {
        meta = JSON.parse(String(req.headers["x-codex-turn-metadata"] ?? "{}"));
      } catch {
        // a request without Codex's metadata: treated as the conversation
      }
      const threadSource = meta.thread_source ?? "user";
      const texts = userTexts(body);
      const script = /SCRIPT:([A-Za-z0-9_-]+)/.exec(texts.join("\n"))?.[1];
      const calls = (body.input ?? []).filter((item) => item.type === "function_call").length;
      const compaction = texts.at(-1)?.includes(COMPACTION_PROMPT) ?? false;
      // A compacted conversation starts again from the summary: its tool calls count on from the compaction's.
      const compacted = texts.some((text) => text.includes(COMPACTION_SUMMARY));
      if (compaction && script) {
        const before = compacted ? callsBeforeCompaction.get(script) ?? 0 : 0;
        callsBeforeCompaction.set(script, before + calls);
      }
      const step = calls + (compacted && script ? callsBeforeCompaction.get(script) ?? 0 : 0);
      const authorization = req.headers.authorization;
      requests.push({ at: Date.now(), script, step, threadSource, compaction, authorization, body });
      const n = ++counter;
      const planned = threadSource === "user" && script && !compaction ? scripts[script]?.[step] : undefined;
      if (compaction && options.compaction) return failRequest(res, options.compaction, n);
      if (compaction && options.held) await options.held;
      if (planned && ("fail" in planned || "cut" in planned || "streamFail" in planned)) {
        const failedBefore = requests.filter((r) => r.script === script && r.step === step).length - 1;
        if (failedBefore < (planned.times ?? Infinity)) return failRequest(res, planned, n);
      }
      res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
      sse(res, "response.created", { response: { id: `resp_${n}` } });
      if (planned && "after" in planned && planned.after) await planned.after;
      let item: Record<string, unknown>;
      if (planned && "exec" in planned) {
        const args = {
          cmd: planned.exec,
          ...(planned.login === undefined ? {} : { login: planned.login }),
          ...(planned.yieldMs ? { yield_time_ms: planned.yieldMs } : {}),
          // Asks to run outside the sandbox: Codex asks a person first (approval policy on-request).
          ...(planned.escalate ? { sandbox_permissions: "require_escalated", justification: planned.escalate } : {}),
        };
        item = { type: "function_call", id: `fc_${n}`, call_id: `call_${n}`, name: "exec_command", arguments: JSON.stringify(args) };
      } else {
        // Side requests (a title) get a title; a conversation past its script ends its turn.
        const text = compaction ? COMPACTION_SUMMARY
          : threadSource === "user" ? (planned && "say" in planned ? planned.say : "done")
          : JSON.stringify({ title: "scripted task" });
        item = { type: "message", role: "assistant", id: `msg_${n}`, content: [{ type: "output_text", text, annotations: [] }] };
        sse(res, "response.output_item.added", { output_index: 0, item: { ...item, content: [] } });
        sse(res, "response.output_text.delta", { output_index: 0, content_index: 0, item_id: item.id, delta: text });
      }
      if (item.type === "function_call") sse(res, "response.output_item.added", { output_index: 0, item });
      sse(res, "response.output_item.done", { output_index: 0, item });
      // A step's tokens: the conversation's size the answer reports (near the window, Codex compacts it).
      const input = planned && "tokens" in planned && planned.tokens ? planned.tokens : 10;
      const usage = {
        input_tokens: input, input_tokens_details: null, output_tokens: 5, output_tokens_details: null,
        total_tokens: input + 5,
      };
      sse(res, "response.completed", { response: { id: `resp_${n}`, usage } });
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}/v1`,
    requests,
    userTexts: (request) => userTexts(request.body),
    lastToolOutput: (request) => (request.body.input ?? []).filter((item) => item.type === "function_call_output").pop()?.output,
    close: () => new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

/** How the scripted provider's key reaches Codex: an environment variable, or the token in config.toml itself. */
export type ProviderKey = { envKey: string } | { bearerToken: string };

/**
 * The config.toml of a user who has used Codex once with an API key: the scripted provider, no update
 * check, no analytics, and /tmp (and $TMPDIR) not writable to Codex's commands, so nothing can work by
 * writing there.
 */
export function codexConfigToml(server: ResponsesServer, key: ProviderKey, extra: string[] = []): string {
  return [
    'model = "scripted-model"',
    ...extra,
    'model_provider = "scripted"',
    "check_for_update_on_startup = false",
    "",
    "[model_providers.scripted]",
    'name = "scripted"',
    `base_url = ${JSON.stringify(server.baseUrl)}`,
    'wire_api = "responses"',
    "envKey" in key
      ? `env_key = ${JSON.stringify(key.envKey)}`
      : `experimental_bearer_token = ${JSON.stringify(key.bearerToken)}`,
    "request_max_retries = 0",
    "stream_max_retries = 0",
    "",
    "[analytics]",
    "enabled = false",
    "",
    "[sandbox_workspace_write]",
    "exclude_slash_tmp = true",
    "exclude_tmpdir_env_var = true",
    "",
  ].join("\n");
}

/**
 * A HOME whose ~/.codex/config.toml is that of a user who has used Codex once (codexConfigToml, the
 * key in the environment). `codex` (the npm entry) is on PATH.
 */
export function codexHome(
  dir: string, server: ResponsesServer, codexEntry: string, extra: string[] = [],
): Record<string, string> {
  const home = path.join(dir, "home");
  const codexDir = path.join(home, ".codex");
  const bin = path.join(dir, "bin");
  fs.mkdirSync(codexDir, { recursive: true });
  fs.mkdirSync(bin, { recursive: true });
  fs.symlinkSync(codexEntry, path.join(bin, "codex"));
  const config = codexConfigToml(server, { envKey: "ORCH_TEST_OPENAI_KEY" }, extra);
  fs.writeFileSync(path.join(codexDir, "config.toml"), config);
  return {
    HOME: home,
    CODEX_HOME: codexDir,
    ORCH_TEST_OPENAI_KEY: "sk-scripted",
    PATH: `${bin}${path.delimiter}${process.env.PATH ?? ""}`,
  };
}

/**
 * Starts Codex's shared background server for that user, as their own earlier `codex` left it
 * running; returns how to stop it and its updater again. Workers must not run in it.
 */
export function startSharedCodexServer(env: Record<string, string>): () => void {
  const codex = path.join(env.PATH!.split(path.delimiter)[0]!, "codex");
  const run = (args: string[]) => spawnSync(codex, args, { env: { ...process.env, ...env }, encoding: "utf8" });
  const started = run(["app-server", "daemon", "start"]);
  if (started.status !== 0) throw new Error(`codex app-server daemon start failed: ${started.stderr}`);
  return () => stopSharedCodexServer(env);
}

/** Stops the user's shared Codex server, if one runs, and its updater loop (which outlives `daemon stop`). */
export function stopSharedCodexServer(env: Record<string, string>): void {
  const codex = path.join(env.PATH!.split(path.delimiter)[0]!, "codex");
  spawnSync(codex, ["app-server", "daemon", "stop"], { env: { ...process.env, ...env }, encoding: "utf8" });
  try {
    const updater = JSON.parse(fs.readFileSync(path.join(env.CODEX_HOME!, "app-server-daemon/daemon-updater.pid"), "utf8"));
    process.kill(Number(updater.pid), "SIGTERM");
  } catch {
    // not running
  }
}
