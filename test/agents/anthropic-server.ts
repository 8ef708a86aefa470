// A scripted Anthropic Messages API on 127.0.0.1 for real Claude Code in tests: it answers each turn of a
// worker from that worker's script (streamed as server-sent events, as api.anthropic.com does), answers
// Claude Code's side requests (titles, small-model calls, token counts) without using the script, and
// records every request so a test can check what reached the model.

import http from "node:http";
import type { AddressInfo } from "node:net";

/** One tool call the model makes: Claude Code runs it and sends the result in the next request. */
export interface ToolCall {
  name: string;
  input: Record<string, unknown>;
}

/** One answer of the model: some text and/or tool calls. With tool calls the turn goes on; without, it ends. */
export interface Step {
  text?: string;
  tools?: ToolCall[];
  /**
   * The prompt's size the answer reports (usage.input_tokens; 10 by default): near the model's window, it makes
   * Claude Code compact the conversation before its next request.
   */
  inputTokens?: number;
}

/**
 * The API failing instead of answering, as api.anthropic.com does: an HTTP error with the API's error body
 * (429 rate limit, 500, 529 overloaded, 401, 400 for a prompt too long), a stream cut after its first event,
 * or a request never answered at all. Each one takes the place of one step: Claude Code's retry of the
 * same request gets the next step of the script.
 */
export type ApiFailure =
  | { status: number; errorType: string; message: string }
  | { cut: true }
  | { hang: true };

/** A step made from the request it answers: for what the model reads in its prompt (a plan file's path). */
export type ScriptStep = Step | ((body: MessagesBody) => Step) | { failure: ApiFailure };

/** Shorthands for the steps a script is made of. */
export const step = {
  bash: (command: string, description = "run a command"): Step => ({ tools: [{ name: "Bash", input: { command, description } }] }),
  tool: (name: string, input: Record<string, unknown>): Step => ({ tools: [{ name, input }] }),
  say: (text: string): Step => ({ text }),
  /**
   * Plan mode as Claude Code 2.1.328 runs it: the model writes its plan to the plan file the system
   * prompt names (ExitPlanMode takes no plan; it reads that file).
   */
  writePlan: (plan: string): ((body: MessagesBody) => Step) => (body) => {
    const request = JSON.stringify(body.system) + JSON.stringify(body.messages);
    const file = /create your plan at (\S+\.md)|plan file (?:exists )?at (\S+\.md)/.exec(request);
    const planFile = file?.[1] ?? file?.[2];
    if (!planFile) throw new Error("no plan file named in the request: is the session in plan mode?");
    return { tools: [{ name: "Write", input: { file_path: planFile, content: plan } }] };
  },
  /** An HTTP error with the Messages API's error body: fail(529, "overloaded_error", "Overloaded"). */
  fail: (status: number, errorType: string, message: string): { failure: ApiFailure } =>
    ({ failure: { status, errorType, message } }),
  /** A stream that starts (message_start) and is then cut: the connection closes mid-answer. */
  cut: (): { failure: ApiFailure } => ({ failure: { cut: true } }),
  /** A request that is never answered (until the server stops). */
  hang: (): { failure: ApiFailure } => ({ failure: { hang: true } }),
};

/** A request as it reached the server. */
export interface RecordedRequest {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  /** The parsed JSON body (undefined when there was none or it was not JSON). */
  body: MessagesBody | undefined;
  /** The body as received, for checks on exact bytes. */
  raw: string;
  /**
   * "turn" when a script answered it, "compact" for Claude Code's request to summarise the conversation (auto or
   * /compact), "side" for its other own requests, "other" for the rest.
   */
  kind: "turn" | "compact" | "side" | "other";
  /** The script that answered a turn (its key), if any. */
  script?: string;
  at: number;
}

export interface MessagesBody {
  model?: string;
  stream?: boolean;
  system?: unknown;
  messages?: { role: string; content: unknown }[];
  tools?: { name: string }[];
  [key: string]: unknown;
}

interface Script {
  key: string;
  steps: ScriptStep[];
  /** How many steps were answered so far. */
  used: number;
}

/** All the text a message content holds (strings and text/tool_result blocks, recursively). */
export function contentText(content: unknown): string {
  if (typeof content === "string") return content;
  if (Array.isArray(content)) return content.map(contentText).join("\n");
  if (content && typeof content === "object") {
    const block = content as Record<string, unknown>;
    if (typeof block.text === "string") return block.text;
    if (block.content !== undefined) return contentText(block.content);
  }
  return "";
}

/**
 * The text of every message the model did not write, joined: the prompt, tool results, and hook
 * context (Claude Code 2.1.328 sends a hook's additionalContext as a message of role "system").
 */
export function userText(body: MessagesBody | undefined): string {
  return (body?.messages ?? []).filter((m) => m.role !== "assistant").map((m) => contentText(m.content)).join("\n");
}

/** The text of the first user message: the prompt the session started with. */
export function firstUserText(body: MessagesBody | undefined): string {
  const first = (body?.messages ?? []).find((m) => m.role === "user");
  return first ? contentText(first.content) : "";
}

let idCounter = 0;
const newId = (prefix: string) => `${prefix}_${Date.now().toString(36)}${(++idCounter).toString(36).padStart(6, "0")}`;

function sse(res: http.ServerResponse, event: string, data: unknown): void {
  res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
}

/** The content blocks of a step, as the non-streaming API returns them. */
function blocksOf(answer: Step): Record<string, unknown>[] {
  const blocks: Record<string, unknown>[] = [];
  if (answer.text !== undefined) blocks.push({ type: "text", text: answer.text });
  for (const call of answer.tools ?? []) blocks.push({ type: "tool_use", id: newId("toolu"), name: call.name, input: call.input });
  return blocks;
}

/** Streams a step the way the Messages API does: message_start, one block at a time, message_delta, message_stop. */
function streamStep(res: http.ServerResponse, model: string, answer: Step): void {
  res.writeHead(200, {
    "content-type": "text/event-stream",
    "cache-control": "no-cache",
    connection: "keep-alive",
    "request-id": newId("req"),
  });
  const inputTokens = answer.inputTokens ?? 10;
  const usage = {
    input_tokens: inputTokens, output_tokens: 1, cache_creation_input_tokens: 0, cache_read_input_tokens: 0,
  };
  sse(res, "message_start", {
    type: "message_start",
    message: { id: newId("msg"), type: "message", role: "assistant", model, content: [], stop_reason: null, stop_sequence: null, usage },
  });
  blocksOf(answer).forEach((block, index) => {
    if (block.type === "text") {
      sse(res, "content_block_start", { type: "content_block_start", index, content_block: { type: "text", text: "" } });
      sse(res, "content_block_delta", { type: "content_block_delta", index, delta: { type: "text_delta", text: block.text } });
    } else {
      const start = { type: "tool_use", id: block.id, name: block.name, input: {} };
      sse(res, "content_block_start", { type: "content_block_start", index, content_block: start });
      const json = JSON.stringify(block.input);
      // Split in two, as a real stream sends partial JSON in pieces.
      const half = Math.floor(json.length / 2);
      for (const piece of [json.slice(0, half), json.slice(half)]) {
        sse(res, "content_block_delta", { type: "content_block_delta", index, delta: { type: "input_json_delta", partial_json: piece } });
      }
    }
    sse(res, "content_block_stop", { type: "content_block_stop", index });
  });
  const stopReason = answer.tools?.length ? "tool_use" : "end_turn";
  sse(res, "message_delta", {
    type: "message_delta",
    delta: { stop_reason: stopReason, stop_sequence: null },
    usage: { output_tokens: 5 },
  });
  sse(res, "message_stop", { type: "message_stop" });
  res.end();
}

/** Answers with the failure instead of a step. */
function replyFailure(res: http.ServerResponse, body: MessagesBody, failure: ApiFailure): void {
  if ("hang" in failure) return;
  if ("cut" in failure) {
    const headers = { "content-type": "text/event-stream", "cache-control": "no-cache", "request-id": newId("req") };
    res.writeHead(200, headers);
    const usage = { input_tokens: 10, output_tokens: 1 };
    const message = { id: newId("msg"), type: "message", role: "assistant", model: body.model, content: [], usage };
    sse(res, "message_start", { type: "message_start", message });
    const block = { type: "text", text: "" };
    sse(res, "content_block_start", { type: "content_block_start", index: 0, content_block: block });
    const delta = { type: "text_delta", text: "Wor" };
    sse(res, "content_block_delta", { type: "content_block_delta", index: 0, delta });
    // Flushed, then the connection goes: the client sees a stream that ends without message_stop.
    setTimeout(() => res.destroy(), 50);
    return;
  }
  res.writeHead(failure.status, { "content-type": "application/json", "request-id": newId("req") });
  res.end(JSON.stringify({ type: "error", error: { type: failure.errorType, message: failure.message } }));
}

function replyStep(res: http.ServerResponse, body: MessagesBody, answer: Step): void {
  const model = body.model ?? "claude-test";
  if (body.stream) return streamStep(res, model, answer);
  res.writeHead(200, { "content-type": "application/json" });
  res.end(JSON.stringify({
    id: newId("msg"), type: "message", role: "assistant", model, content: blocksOf(answer),
    stop_reason: answer.tools?.length ? "tool_use" : "end_turn", stop_sequence: null,
    usage: { input_tokens: answer.inputTokens ?? 10, output_tokens: 5 },
  }));
}

/**
 * Whether a /v1/messages request is one of the worker's turns (the main loop: it offers the Bash
 * tool) rather than one of Claude Code's side requests (a session title, a summary, a quota probe),
 * which offer no tools or only a structured-output one.
 */
export function isTurn(body: MessagesBody | undefined): boolean {
  return Boolean(body?.tools?.some((t) => t.name === "Bash"));
}

/**
 * Claude Code's request to summarise the conversation when it compacts (its auto-compact near the model's window,
 * or /compact): the worker's tools are offered, but the last message asks for text only, a summary.
 */
export function isCompaction(body: MessagesBody | undefined): boolean {
  const last = body?.messages?.at(-1);
  if (last?.role !== "user") return false;
  const text = contentText(last.content);
  return text.includes("CRITICAL: Respond with TEXT ONLY") && text.includes("summary");
}

/** What the model answers a compaction with: a summary in the tags Claude Code reads it from. */
export const COMPACT_SUMMARY = "<analysis>The conversation so far.</analysis>\n<summary>1. Primary Request: the task " +
  "in the prompt.\n2. Current work: the script's steps.</summary>";

export interface AnthropicServerOptions {
  /** The answer to a turn that no script matches, or whose script has run out: a short text that ends the turn. */
  fallback?: Step;
  /** What the auto-mode security monitor answers about each tool call: "allow" (default) or "block". */
  monitor?: "allow" | "block";
}

/** Auto mode's security monitor: a side request that must answer "<block>no" (allow) or "<block>yes…". */
export function isSecurityMonitor(body: MessagesBody | undefined): boolean {
  return Array.isArray(body?.stop_sequences) && (body.stop_sequences as unknown[]).includes("</block>");
}

/** A side request's answer: JSON that fits its output schema (a session title) when it asks for one. */
function sideAnswer(body: MessagesBody): string {
  type OutputFormat = { type?: string; schema?: { properties?: Record<string, { type?: string }> } };
  const format = (body.output_config as { format?: OutputFormat } | undefined)?.format;
  if (format?.type !== "json_schema") return "Side answer";
  const properties = format.schema?.properties ?? {};
  const fields = Object.entries(properties).map(([key, prop]) => [key, prop.type === "string" ? "Test session" : null]);
  return JSON.stringify(Object.fromEntries(fields));
}

export class AnthropicServer {
  readonly requests: RecordedRequest[] = [];
  private readonly scripts: Script[] = [];
  private readonly waiters = new Set<() => void>();
  private server: http.Server | undefined;
  private port = 0;
  private compactionsHeld: Promise<void> | undefined;
  /** How every compaction request is answered instead of with a summary, when set (failCompactions). */
  private compactionFailure: ApiFailure | undefined;

  constructor(private readonly options: AnthropicServerOptions = {}) {}

  /** The value for ANTHROPIC_BASE_URL. */
  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** The environment that points Claude Code here. */
  get env(): Record<string, string> {
    return { ANTHROPIC_BASE_URL: this.url, ANTHROPIC_API_KEY: API_KEY };
  }

  async start(): Promise<this> {
    this.server = http.createServer((req, res) => this.handle(req, res));
    await new Promise<void>((resolve) => this.server!.listen(0, "127.0.0.1", resolve));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  async stop(): Promise<void> {
    if (!this.server) return;
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server!.close(() => resolve()));
  }

  /**
   * Answers the turns whose request holds `key` in its first user message (the worker's prompt: a
   * worker id or a word of the task) with `steps`, one per request, in order.
   */
  script(key: string, steps: ScriptStep[]): void {
    this.scripts.push({ key, steps, used: 0 });
  }

  /**
   * Compactions are answered only when the function returned is called: a test sees the worker while its agent
   * waits for the summary.
   */
  holdCompactions(): () => void {
    let release = () => {};
    this.compactionsHeld = new Promise<void>((resolve) => (release = resolve));
    return () => {
      this.compactionsHeld = undefined;
      release();
    };
  }

  /** Every compaction from now on fails so (a prompt too long for the summary, say). */
  failCompactions(failure: { failure: ApiFailure }): void {
    this.compactionFailure = failure.failure;
  }

  /** The compaction requests of a script's conversation, oldest first. */
  compactions(key: string): RecordedRequest[] {
    return this.requests.filter((r) => r.kind === "compact" && r.script === key);
  }

  /** The turns a script answered (or that carried its key), oldest first. */
  turns(key?: string): RecordedRequest[] {
    return this.requests.filter((r) => r.kind === "turn" && (key === undefined || r.script === key));
  }

  /** How many steps of the script `key` have been answered. */
  used(key: string): number {
    return this.scripts.find((s) => s.key === key)?.used ?? 0;
  }

  /** Resolves when `check` holds (re-checked after every request); rejects after `timeoutMs`. */
  waitFor(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
    if (check()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const waiter = () => {
        if (!check()) return;
        this.waiters.delete(waiter);
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; requests so far:\n${this.describe()}`));
      }, timeoutMs);
      this.waiters.add(waiter);
    });
  }

  /** One line per request: what a failing test prints to show what happened. */
  describe(): string {
    return this.requests.map((r) => {
      const last = r.body?.messages?.at(-1);
      const tail = last ? contentText(last.content).replace(/\s+/g, " ").slice(0, 160) : "";
      return `  ${r.kind.padEnd(5)} ${r.method} ${r.path} ${r.body?.model ?? ""} ${r.script ?? ""} ${tail}`;
    }).join("\n");
  }

  private notify(): void {
    for (const waiter of [...this.waiters]) waiter();
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const raw = Buffer.concat(chunks).toString("utf8");
      let body: MessagesBody | undefined;
      try {
        body = raw ? (JSON.parse(raw) as MessagesBody) : undefined;
      } catch {
        body = undefined;
      }
      const url = new URL(req.url ?? "/", this.url);
      const record: RecordedRequest = {
        method: req.method ?? "",
        path: url.pathname,
        headers: req.headers,
        body,
        raw,
        kind: "other",
        at: Date.now(),
      };
      this.requests.push(record);
      try {
        this.answer(record, res);
      } catch (error) {
        // A script step that cannot be made: the test sees it in describe(), Claude Code as an API error.
        record.kind = "other";
        record.script = `error: ${(error as Error).message}`;
        if (!res.headersSent) res.writeHead(500, { "content-type": "application/json" });
        res.end(JSON.stringify({ type: "error", error: { type: "api_error", message: (error as Error).message } }));
      } finally {
        this.notify();
      }
    });
  }

  private answer(record: RecordedRequest, res: http.ServerResponse): void {
    const { path, body } = record;
    if (path === "/v1/messages/count_tokens") {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ input_tokens: Math.ceil(record.raw.length / 4) }));
      return;
    }
    if (path !== "/v1/messages" || !body) {
      res.writeHead(404, { "content-type": "application/json" });
      res.end(JSON.stringify({ type: "error", error: { type: "not_found_error", message: `no ${path} here` } }));
      return;
    }
    if (isSecurityMonitor(body)) {
      record.kind = "side";
      const verdict = this.options.monitor === "block"
        ? "<block>yes</block><category>Test</category><reason>[Test] blocked by the test"
        : "<block>no";
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({
        id: newId("msg"), type: "message", role: "assistant", model: body.model, content: [{ type: "text", text: verdict }],
        stop_reason: "stop_sequence", stop_sequence: "</block>", usage: { input_tokens: 10, output_tokens: 3 },
      }));
      return;
    }
    if (isCompaction(body)) {
      record.kind = "compact";
      // Its first message may be past the prompt (a conversation compacted before): the key is looked for in all.
      const text = userText(body);
      record.script = this.scripts.find((s) => text.includes(s.key))?.key;
      if (this.compactionFailure) return replyFailure(res, body, this.compactionFailure);
      const held = this.compactionsHeld;
      if (held) void held.then(() => replyStep(res, body, { text: COMPACT_SUMMARY }));
      else replyStep(res, body, { text: COMPACT_SUMMARY });
      return;
    }
    if (!isTurn(body)) {
      record.kind = "side";
      replyStep(res, body, { text: sideAnswer(body) });
      return;
    }
    record.kind = "turn";
    const first = firstUserText(body);
    const script = this.scripts.find((s) => first.includes(s.key));
    if (script) record.script = script.key;
    const scripted = script && script.used < script.steps.length ? script.steps[script.used++] : undefined;
    if (scripted && "failure" in scripted) return replyFailure(res, body, scripted.failure);
    const next = typeof scripted === "function" ? scripted(body) : scripted;
    replyStep(res, body, next ?? this.options.fallback ?? { text: "Nothing more to do." });
  }
}

/** The API key the scratch HOME has approved (harness.ts writes its last 20 characters as approved). */
export const API_KEY = "sk-ant-api03-orch-test-key-0123456789abcdefghijklmnopqrstuvwxyz-AAAAAAAA";
