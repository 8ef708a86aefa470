// orch mcp: the tmux-worktree plugin's MCP tools (plus mux-style await/apply/merge/clean) over stdio,
// each call running the same command module as the CLI; the MCP SDK is loaded only here.

import path from "node:path";
import process from "node:process";
import type { CallToolResult, JSONRPCMessage, RequestId, Tool } from "@modelcontextprotocol/sdk/types.js";
import { COMMANDS } from "../cli/spec.ts";
import type { CommandResult } from "../commands/types.ts";
import type { Context } from "../context.ts";
import { OrchError, fileErrorLine, shortenQuoted, usage } from "../errors.ts";
import type { Flags } from "../flags.ts";
import { ORCH_ID_PATTERN } from "../ids.ts";
import { WORKER_MESSAGE_TYPES } from "../store/messages.ts";
import { runningLong } from "../jit.ts";
import { serveSignals } from "../signal-guard.ts";
import { VERSION } from "../version.ts";
import {
  frameProblem, INVALID_REQUEST, readableSchemaError, schemaIssueLine, type SdkRefusal,
} from "./mcp-frames.ts";
import { BoundedLines, leadingRequestId, MAX_LINE_BYTES } from "./mcp-lines.ts";

/** The part of JSON Schema the tools use: listed to the client as is, and checked by checkArgument. */
export type ArgumentSchema =
  | { type: "string"; description?: string; enum?: readonly string[]; pattern?: string }
  | { type: "boolean"; description?: string }
  | { type: "number"; description?: string; minimum?: number }
  | { type: "array"; description?: string; items: { type: "string" } }
  | ObjectSchema;

export interface ObjectSchema {
  type: "object";
  description?: string;
  properties: Record<string, ArgumentSchema>;
  required?: string[];
  additionalProperties?: false;
}

type ToolArguments = Record<string, unknown>;

/** What one tool call runs: a command of cli/spec.ts with the arguments and flags the CLI would give it. */
interface Invocation {
  command: string;
  args: string[];
  flags: Flags;
  /** Extra environment for this call only (send_message's worker_id as ORCH_WORKER). */
  env?: Record<string, string>;
}

interface ToolSpec {
  name: string;
  description: string;
  inputSchema: ObjectSchema;
  /** A call that only waits and changes nothing: abandoned, not awaited, when the client goes away. */
  waitsOnly?: boolean;
  invocation: (args: ToolArguments) => Invocation;
  /**
   * The CLI flag (without its dashes), or the environment variable ($NAME), that each argument becomes,
   * where their names differ: errors name the argument.
   */
  flagArguments?: Record<string, string>;
}

const str = (description: string): ArgumentSchema => ({ type: "string", description });
const bool = (description: string): ArgumentSchema => ({ type: "boolean", description });
const object = (
  properties: Record<string, ArgumentSchema>, required: string[] = [], description?: string,
): ObjectSchema => ({
  type: "object",
  ...(description ? { description } : {}),
  properties,
  required,
  additionalProperties: false,
});

const orchestratorId = (description: string): ArgumentSchema => ({
  type: "string", pattern: ORCH_ID_PATTERN, description,
});
const ORCHESTRATOR_ID = orchestratorId(
  "The orchestrator session id (orch_ followed by 8 of [a-z0-9]) from create_orchestrator_session",
);
const WORKER = str("The worker: its id (the branch with / as -) or its branch");

const asString = (value: unknown): string | undefined => (value === undefined ? undefined : String(value));

export const TOOLS: ToolSpec[] = [
  {
    name: "create_orchestrator_session",
    description:
      "Creates a new orchestrator session for coordinating worker tasks. Returns an orchestrator_id to use with " +
      "start_worktree_session, poll_messages and the other tools. The session lives in .orch/ at the root of the " +
      "project's main worktree (or $ORCH_HOME).",
    inputSchema: object({ project_dir: str("Project directory (defaults to the server's working directory)") }),
    invocation: (a) => ({ command: "init", args: [], flags: { projectDir: a.project_dir } }),
    flagArguments: { "project-dir": "project_dir" },
  },
  {
    name: "start_worktree_session",
    description:
      "Creates a git worktree for a branch (git-gtr layout, beside the repository), records it as a worker of the " +
      "orchestrator session, and starts the agent (Claude Code by default) with the prompt in a new tmux window: in " +
      "the current tmux session when the server runs inside tmux, else in a detached session named orch-<repo>. The " +
      "agent is told how to report back with send_message / orch notify. With noWindow it only creates and records " +
      "the worktree.",
    inputSchema: object({
      branch: str("Branch name for the worktree (e.g. 'feat/add-feature'); created from fromRef if it does not exist"),
      fromRef: str("Base branch/ref for a new branch (default: HEAD of the main worktree)"),
      planMode: bool("Start Claude Code in plan mode (--permission-mode plan; default: false)"),
      prompt: str("The task for the agent"),
      orchestratorId: orchestratorId("The orchestrator session id (default: $ORCH_ID, else the newest session)"),
      agent: str("claude (default), codex, or any command line; the prompt is appended as its last argument"),
      noWindow: bool("Create and record the worker without tmux and without starting the agent (default: false)"),
    }, ["branch"]),
    invocation: (a) => ({
      command: "spawn",
      args: [String(a.branch)],
      flags: {
        orch: a.orchestratorId, from: a.fromRef, plan: a.planMode === true, prompt: a.prompt, agent: a.agent,
        window: a.noWindow !== true,
      },
    }),
    flagArguments: { orch: "orchestratorId", from: "fromRef", plan: "planMode", "no-window": "noWindow" },
  },
  {
    name: "send_message",
    description:
      "Sends a message from a worker to an orchestrator: task_complete, task_failed or question (and progress, " +
      "idle, blocked). Use this to notify completion, failure, or ask questions. Each message is delivered " +
      "exactly once by poll_messages.",
    inputSchema: object({
      orchestrator_id: orchestratorId("The orchestrator session ID to send the message to"),
      message_type: { type: "string", enum: WORKER_MESSAGE_TYPES, description: "Type of message being sent" },
      content: object({
        summary: str("Brief summary of the message"),
        details: str("Additional details"),
        pr_url: str("Pull request URL if applicable"),
        branch: str("Git branch name (default: the worker's)"),
        error: str("Error message if task_failed"),
        question: str("Question text if asking"),
      }, ["summary"], "Message content with summary, and optional details, pr_url, branch, error, question fields"),
      worker_id: str("The sending worker's id (default: $ORCH_WORKER or the worktree the server runs in)"),
    }, ["orchestrator_id", "message_type", "content"]),
    invocation: (a) => {
      const content = a.content as Record<string, unknown>;
      return {
        command: "notify",
        args: [],
        flags: {
          orch: a.orchestrator_id,
          type: a.message_type,
          summary: content.summary,
          details: content.details,
          prUrl: content.pr_url,
          branch: content.branch,
          error: content.error,
          question: content.question,
        },
        env: a.worker_id === undefined ? undefined : { ORCH_WORKER: String(a.worker_id) },
      };
    },
    flagArguments: {
      orch: "orchestrator_id", type: "message_type", summary: "content.summary", details: "content.details",
      "pr-url": "content.pr_url", branch: "content.branch", error: "content.error", question: "content.question",
      $ORCH_WORKER: "worker_id",
    },
  },
  {
    name: "poll_messages",
    description:
      "Polls for unread messages from workers, oldest first, and marks them as read: each message is handed out " +
      "once. Use in a background subagent to receive notifications (or await_workers to block until workers finish).",
    inputSchema: object(
      { orchestrator_id: orchestratorId("The orchestrator session ID to poll messages for") }, ["orchestrator_id"],
    ),
    invocation: (a) => ({ command: "poll", args: [], flags: { orch: a.orchestrator_id } }),
  },
  {
    name: "get_orchestrator_status",
    description:
      "Gets the status of an orchestrator session: unread and total message counts, and every worker with its " +
      "branch, worktree, status, PR URL, tmux window and whether its agent is alive.",
    inputSchema: object(
      { orchestrator_id: orchestratorId("The orchestrator session ID to check status for") }, ["orchestrator_id"],
    ),
    invocation: (a) => ({ command: "status", args: [], flags: { orch: a.orchestrator_id } }),
  },
  {
    name: "await_workers",
    description:
      "Blocks until the named workers (default: all that are not stopped) have finished with task_complete or " +
      "task_failed, or the first of them with any; a worker asking a question, blocked on a person, or idle after a " +
      "turn that ended without a report (see its needs) also ends the wait. Returns each " +
      "worker's status and final message. Give timeout_seconds below your client's request timeout; when it runs out " +
      "the result is an error with code timeout and what is known so far. What answers a worker: approve_request " +
      "or deny_request (with its request_id) for a blocked one, send_to_worker for an idle one, reply_to_question " +
      "for a question, land_workers for a pending one's prerequisites.",
    waitsOnly: true,
    inputSchema: object({
      orchestrator_id: ORCHESTRATOR_ID,
      workers: {
        type: "array", items: { type: "string" }, description: "Worker ids or branches (default: all active workers)",
      },
      any: bool("Return when the first of them finishes (default: false)"),
      timeout_seconds: { type: "number", minimum: 0, description: "Give up after this many seconds" },
    }, ["orchestrator_id"]),
    invocation: (a) => ({
      command: "await",
      args: (a.workers as string[] | undefined) ?? [],
      flags: { orch: a.orchestrator_id, any: a.any === true, timeout: asString(a.timeout_seconds) },
    }),
    flagArguments: { orch: "orchestrator_id", timeout: "timeout_seconds" },
  },
  {
    name: "apply_worker_patch",
    description:
      "Applies a worker's commits since its base, as a patch series (git am), to the checkout the server runs in. " +
      "dry_run tries it in a throw-away worktree and changes nothing. Conflicts are reported with their paths and " +
      "nothing is left applied; a series already applied is refused unless force.",
    inputSchema: object({
      orchestrator_id: ORCHESTRATOR_ID,
      worker: WORKER,
      dry_run: bool("Only check that it applies cleanly (default: false)"),
      three_way: bool("Fall back to a 3-way merge (git am --3way; default: true)"),
      force: bool("Apply a series that was already applied (default: false)"),
      expected_head: str("Refuse unless HEAD is this commit"),
    }, ["orchestrator_id", "worker"]),
    invocation: (a) => ({
      command: "apply",
      args: [String(a.worker)],
      flags: {
        orch: a.orchestrator_id, dryRun: a.dry_run === true, threeWay: a.three_way !== false, force: a.force === true,
        expectedHead: a.expected_head,
      },
    }),
    flagArguments: {
      orch: "orchestrator_id", "dry-run": "dry_run", "3way": "three_way", "no-3way": "three_way",
      "expected-head": "expected_head",
    },
  },
  {
    name: "merge_worker",
    description:
      "Merges a worker's pull request with gh (then fast-forwards the base), or its branch locally into the base " +
      "checked out in the main worktree when local is set or there is no PR. Conflicts are reported with their paths " +
      "and nothing is merged.",
    inputSchema: object({
      orchestrator_id: ORCHESTRATOR_ID,
      worker: WORKER,
      method: { type: "string", enum: ["squash", "rebase", "merge"], description: "squash (default), rebase or merge" },
      local: bool("Merge locally even when there is a PR (default: false)"),
      delete_branch: bool("Remove the worker, its worktree and its branch after merging (default: false)"),
    }, ["orchestrator_id", "worker"]),
    invocation: (a) => ({
      command: "merge",
      args: [String(a.worker)],
      flags: {
        orch: a.orchestrator_id, method: a.method, local: a.local === true, deleteBranch: a.delete_branch === true,
      },
    }),
    flagArguments: { orch: "orchestrator_id", "delete-branch": "delete_branch" },
  },
  {
    name: "clean_workers",
    description:
      "Removes the workers whose branch is merged into its base (with merged, also those whose PR GitHub reports " +
      "merged): their agent, window, worktree and branch. Workers with uncommitted changes or unmerged commits are " +
      "kept and listed with the reason. dry_run only says what would be removed.",
    inputSchema: object({
      orchestrator_id: ORCHESTRATOR_ID,
      merged: bool("Also ask GitHub which pull requests are merged (default: false)"),
      dry_run: bool("Only say what would be removed (default: false)"),
    }, ["orchestrator_id"]),
    // There is no terminal to ask: the call itself is the confirmation.
    invocation: (a) => ({
      command: "clean",
      args: [],
      flags: { orch: a.orchestrator_id, merged: a.merged === true, dryRun: a.dry_run === true, yes: true },
    }),
    flagArguments: { orch: "orchestrator_id", "dry-run": "dry_run" },
  },
  // Beyond the plugin's tools: what answers a worker and finishes the loop, so a client without a shell can too.
  {
    name: "send_to_worker",
    description:
      "Sends a message to a worker: it reaches the agent as its next prompt (an idle agent is woken to read it; one " +
      "in a turn gets it with its next prompt). Use it to give an idle worker its next step or more context.",
    inputSchema: object({
      orchestrator_id: ORCHESTRATOR_ID,
      worker: WORKER,
      text: str("The message, as the agent should read it"),
    }, ["orchestrator_id", "worker", "text"]),
    invocation: (a) => ({
      command: "send", args: [String(a.worker), String(a.text)], flags: { orch: a.orchestrator_id, literalText: true },
    }),
    flagArguments: { orch: "orchestrator_id" },
  },
  {
    name: "reply_to_question",
    description:
      "Answers a worker's question: message_id is the id of its question message (from poll_messages or " +
      "await_workers); the reply reaches the agent as its next prompt, with the question it answers.",
    inputSchema: object({
      orchestrator_id: ORCHESTRATOR_ID,
      message_id: str("The id of the worker's question message"),
      text: str("The answer"),
    }, ["orchestrator_id", "message_id", "text"]),
    invocation: (a) => ({
      command: "reply", args: [String(a.message_id), String(a.text)],
      flags: { orch: a.orchestrator_id, literalText: true },
    }),
    flagArguments: { orch: "orchestrator_id" },
  },
  {
    name: "approve_request",
    description:
      "Allows a blocked worker's pending request (a permission prompt or a plan; see its request_id in " +
      "await_workers or get_orchestrator_status). always also allows this kind of call for the rest of its session.",
    inputSchema: object({
      orchestrator_id: ORCHESTRATOR_ID,
      worker: WORKER,
      request_id: str("The request to answer (default: the worker's only pending one)"),
      always: bool("Also allow this kind of call for the rest of the worker's session (default: false)"),
    }, ["orchestrator_id", "worker"]),
    invocation: (a) => ({
      command: "approve",
      args: [String(a.worker), ...(a.request_id === undefined ? [] : [String(a.request_id)])],
      flags: { orch: a.orchestrator_id, always: a.always === true },
    }),
    flagArguments: { orch: "orchestrator_id" },
  },
  {
    name: "deny_request",
    description:
      "Refuses a blocked worker's pending request (a permission prompt or a plan); message is what the agent is " +
      "told (for a plan: what to change).",
    inputSchema: object({
      orchestrator_id: ORCHESTRATOR_ID,
      worker: WORKER,
      request_id: str("The request to answer (default: the worker's only pending one)"),
      message: str("What the agent is told"),
    }, ["orchestrator_id", "worker", "message"]),
    invocation: (a) => ({
      command: "deny",
      args: [String(a.worker), ...(a.request_id === undefined ? [] : [String(a.request_id)])],
      flags: { orch: a.orchestrator_id, message: a.message },
    }),
    flagArguments: { orch: "orchestrator_id" },
  },
  {
    name: "land_workers",
    description:
      "The merge queue: one worker at a time (default: every finished one), merges its branch onto its base in a " +
      "throw-away worktree, runs test there, and moves the base to exactly what passed; stops at the first conflict " +
      "or red test (on_conflict return hands a conflict back to its worker and goes on). sync brings the rest of " +
      "the queue onto each new base.",
    inputSchema: object({
      orchestrator_id: ORCHESTRATOR_ID,
      workers: {
        type: "array", items: { type: "string" }, description: "Worker ids or branches (default: all finished ones)",
      },
      test: str("Test command line, run by sh in the throw-away worktree"),
      method: { type: "string", enum: ["squash", "rebase", "merge"], description: "squash (default), rebase or merge" },
      on_conflict: { type: "string", enum: ["stop", "return"], description: "stop (default) or return" },
      sync: bool("After each landing, bring the rest of the queue onto the new base (default: false)"),
    }, ["orchestrator_id"]),
    invocation: (a) => ({
      command: "land",
      args: (a.workers as string[] | undefined) ?? [],
      flags: {
        orch: a.orchestrator_id, test: a.test, method: a.method, onConflict: a.on_conflict, sync: a.sync === true,
      },
    }),
    flagArguments: { orch: "orchestrator_id", "on-conflict": "on_conflict" },
  },
  {
    name: "sync_workers",
    description:
      "Brings workers (default: all) onto their base's current tip in their own worktrees: rebase (default) or " +
      "merge. A worker in a turn, with uncommitted changes, or whose branch would conflict is left as it was and told.",
    inputSchema: object({
      orchestrator_id: ORCHESTRATOR_ID,
      workers: { type: "array", items: { type: "string" }, description: "Worker ids or branches (default: all)" },
      method: { type: "string", enum: ["rebase", "merge"], description: "rebase (default) or merge" },
    }, ["orchestrator_id"]),
    invocation: (a) => ({
      command: "sync",
      args: (a.workers as string[] | undefined) ?? [],
      flags: { orch: a.orchestrator_id, rebase: a.method === "rebase", merge: a.method === "merge" },
    }),
    flagArguments: { orch: "orchestrator_id" },
  },
  {
    name: "resume_worker",
    description:
      "Starts the agent of a stopped, failed or dead worker again in its worktree, continuing its conversation; " +
      "prompt is its next user message (default: continue where it left off).",
    inputSchema: object({
      orchestrator_id: ORCHESTRATOR_ID,
      worker: WORKER,
      prompt: str("The next user message"),
    }, ["orchestrator_id", "worker"]),
    invocation: (a) => ({
      command: "resume", args: [String(a.worker)], flags: { orch: a.orchestrator_id, prompt: a.prompt },
    }),
    flagArguments: { orch: "orchestrator_id" },
  },
  {
    name: "stop_worker",
    description:
      "Ends a worker's agent and its tmux window; keeps its worktree and branch (resume_worker starts it again).",
    inputSchema: object({ orchestrator_id: ORCHESTRATOR_ID, worker: WORKER }, ["orchestrator_id", "worker"]),
    invocation: (a) => ({ command: "stop", args: [String(a.worker)], flags: { orch: a.orchestrator_id } }),
    flagArguments: { orch: "orchestrator_id" },
  },
  {
    name: "remove_worker",
    description:
      "Stops a worker, removes its worktree and forgets it. Refused when the worktree has uncommitted changes " +
      "unless force; delete_branch deletes its branch too (it must be merged, unless force).",
    inputSchema: object({
      orchestrator_id: ORCHESTRATOR_ID,
      worker: WORKER,
      force: bool("Remove even with uncommitted changes (default: false)"),
      delete_branch: bool("Delete the branch too (default: false)"),
    }, ["orchestrator_id", "worker"]),
    // There is no terminal to ask: the call itself is the confirmation.
    invocation: (a) => ({
      command: "rm",
      args: [String(a.worker)],
      flags: { orch: a.orchestrator_id, force: a.force === true, deleteBranch: a.delete_branch === true, yes: true },
    }),
    flagArguments: { orch: "orchestrator_id", "delete-branch": "delete_branch" },
  },
  {
    name: "get_worker_diff",
    description:
      "What a worker changed since its base commit: its commits, the files with their counts, and the patch " +
      "(stat: without the patch), for review before landing.",
    inputSchema: object({
      orchestrator_id: ORCHESTRATOR_ID,
      worker: WORKER,
      stat: bool("Only the commits and a summary of files (default: false)"),
    }, ["orchestrator_id", "worker"]),
    invocation: (a) => ({
      command: "diff", args: [String(a.worker)], flags: { orch: a.orchestrator_id, stat: a.stat === true },
    }),
    flagArguments: { orch: "orchestrator_id" },
  },
];

function describeValue(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  // JSON reads 1e400 as Infinity, which JSON.stringify would print as null.
  if (typeof value === "number" && !Number.isFinite(value)) return `number ${String(value)}`;
  return typeof value === "object" ? "an object" : `${typeof value} ${JSON.stringify(value)}`;
}

function wrongType(where: string, expected: string, value: unknown): OrchError {
  return usage(`argument ${where} must be ${expected}, not ${describeValue(value)}`);
}

/** Checks a tool's arguments against its schema; null counts as absent (some clients send it for "not given"). */
export function checkArgument(schema: ArgumentSchema, value: unknown, where: string): void {
  switch (schema.type) {
    case "string":
      if (typeof value !== "string") throw wrongType(where, "a string", value);
      // JSON's "\ud800" escape makes a string no UTF-8 can hold: a prompt would reach the agent with U+FFFD for it,
      // a message would hand the escape on. Refused, as invalid UTF-8 on the command line is.
      if (/\p{Cs}/u.test(value)) {
        throw new OrchError("invalid", `argument ${where} holds half of a surrogate pair, which is not text: ` +
          "orch takes text in UTF-8 only");
      }
      if (schema.pattern !== undefined && !new RegExp(schema.pattern).test(value)) {
        throw new OrchError("invalid", `argument ${where} must match ${schema.pattern}, not ${JSON.stringify(value)}`);
      }
      if (schema.enum && !schema.enum.includes(value)) {
        const allowed = schema.enum.join(", ");
        throw new OrchError("invalid", `argument ${where} must be one of ${allowed}, not ${JSON.stringify(value)}`);
      }
      return;
    case "boolean":
      if (typeof value !== "boolean") throw wrongType(where, "true or false", value);
      return;
    case "number":
      if (typeof value !== "number" || !Number.isFinite(value)) throw wrongType(where, "a number", value);
      if (schema.minimum !== undefined && value < schema.minimum) {
        throw usage(`argument ${where} must be at least ${schema.minimum}, not ${value}`);
      }
      return;
    case "array":
      if (!Array.isArray(value)) throw wrongType(where, "an array", value);
      value.forEach((item, i) => checkArgument(schema.items, item, `${where}[${i}]`));
      return;
    case "object": {
      if (typeof value !== "object" || value === null || Array.isArray(value)) {
        throw wrongType(where || "arguments", "an object", value);
      }
      const record = value as Record<string, unknown>;
      const prefix = where ? `${where}.` : "";
      for (const key of schema.required ?? []) {
        if (record[key] === undefined || record[key] === null) throw usage(`argument ${prefix}${key} is required`);
      }
      for (const [key, item] of Object.entries(record)) {
        // Own properties only: "constructor" or "__proto__" is no argument, though every object has one.
        const property = Object.hasOwn(schema.properties, key) ? schema.properties[key] : undefined;
        if (!property) {
          throw usage(`unknown argument ${prefix}${key} (expected ${Object.keys(schema.properties).join(", ")})`);
        }
        if (item !== null && item !== undefined) checkArgument(property, item, `${prefix}${key}`);
      }
      return;
    }
  }
}

/** Drops null values, so that the command modules see them as not given. */
function withoutNulls(record: Record<string, unknown>): ToolArguments {
  return Object.fromEntries(
    Object.entries(record)
      .filter(([, v]) => v !== null && v !== undefined)
      .map(([k, v]) => {
        const nested = v && typeof v === "object" && !Array.isArray(v);
        return [k, nested ? withoutNulls(v as Record<string, unknown>) : v];
      }),
  );
}

/**
 * The command's error as the tool's caller should read it: a CLI flag it names (`--summary`) is the tool's
 * argument (`content.summary`) that became it; flags the tool has no argument for stay as they are.
 */
function inToolTerms(error: unknown, tool: ToolSpec | undefined): unknown {
  const names = tool?.flagArguments;
  if (!(error instanceof OrchError) || !names) return error;
  // A command line it suggests (`orch rm W --force`) is left whole: it is for a shell, not for the tool.
  const suggestion = error.message.search(/\borch [a-z]/);
  const own = suggestion < 0 ? error.message : error.message.slice(0, suggestion);
  const renamed = own.replace(/(?<![\w-])(?:--([a-z0-9][a-z0-9-]*)|\$[A-Z_]+)/g, (flag, name?: string) => {
    const sameName = name !== undefined && Object.hasOwn(tool.inputSchema.properties, name) ? name : undefined;
    const argument = names[name ?? flag] ?? sameName;
    return argument === undefined ? flag : `argument ${argument}`;
  });
  const message = renamed + error.message.slice(own.length);
  if (message === error.message) return error;
  return new OrchError(error.kind, message, error.details);
}

/**
 * The error with the arguments it echoes shortened: a client's 200 KB string came back whole in the
 * error's text, into the model's context, where its start and its length say what went wrong.
 */
function withValuesShortened(error: unknown): unknown {
  if (!(error instanceof OrchError)) return error;
  const message = shortenQuoted(error.message);
  return message === error.message ? error : new OrchError(error.kind, message, error.details);
}

export function errorResult(error: unknown): CallToolResult {
  // A file-system error a user's machine causes (a read-only or full disk) is said as the command line says it.
  const failure = error instanceof OrchError
    ? error
    : new OrchError("failed", fileErrorLine(error) ?? `internal error: ${(error as Error)?.message ?? String(error)}`);
  const document = { success: false, error: { code: failure.kind, message: failure.message }, ...failure.details };
  return { isError: true, content: [{ type: "text", text: JSON.stringify(document, null, 2) }] };
}

export interface McpServerOptions {
  cwd: string;
  env: NodeJS.ProcessEnv;
  warn: (line: string) => void;
}

/** A tool call's answer, and for a poll what to do once the answer was written to the client, or could not be. */
export interface ToolOutcome {
  result: CallToolResult;
  delivered?: (sent: boolean) => void;
}

/** Runs the tools' command modules; remembers where each session created here lives. */
export class ToolRunner {
  /** orchestrator_id → project_dir of sessions created through this server, so later calls find their store. */
  private readonly projects = new Map<string, string>();

  constructor(private readonly options: McpServerOptions) {}

  private contextFor(
    orchestratorId: unknown, env: Record<string, string> | undefined, signal: AbortSignal | undefined,
  ): Context {
    const cwd = (typeof orchestratorId === "string" && this.projects.get(orchestratorId)) || this.options.cwd;
    return { cwd, env: { ...this.options.env, ...env }, warn: this.options.warn, ...(signal ? { signal } : {}) };
  }

  /** `signal`: the client cancelled the call; a wait ends on it, a call that changes things is finished. */
  async call(name: string, rawArguments: unknown, signal?: AbortSignal): Promise<ToolOutcome> {
    const tool = TOOLS.find((t) => t.name === name);
    try {
      if (!tool) throw usage(`unknown tool ${JSON.stringify(name)} (tools: ${TOOLS.map((t) => t.name).join(", ")})`);
      checkArgument(tool.inputSchema, rawArguments ?? {}, "");
      const args = withoutNulls(rawArguments as Record<string, unknown> ?? {});
      const invocation = tool.invocation(args);
      const spec = COMMANDS.find((s) => s.usage.split(" ")[0] === invocation.command);
      if (!spec) throw new OrchError("failed", `internal error: no command ${invocation.command}`);
      const main = await spec.load();
      const ctx = this.contextFor(invocation.flags.orch, invocation.env, signal);
      const result: CommandResult = await main(invocation.args, invocation.flags, ctx);
      const text = JSON.stringify(result.json, null, 2);
      const { orchestrator_id: created, project_dir: projectDir } = result.json;
      if (invocation.command === "init" && typeof created === "string" && typeof projectDir === "string") {
        this.projects.set(created, path.resolve(projectDir));
      }
      const failed = result.exitCode ? { isError: true } : {};
      const answer: CallToolResult = { content: [{ type: "text", text }], ...failed };
      const { afterOutput, notOutput } = result;
      if (!afterOutput && !notOutput) return { result: answer };
      // A poll marks its messages read only once its answer was written, like the CLI's poll.
      return { result: answer, delivered: (sent) => (sent ? afterOutput : notOutput)?.() };
    } catch (error) {
      const detail = error instanceof OrchError
        ? shortenQuoted(error.message.split("\n")[0]!)
        : (error as Error)?.stack ?? String(error);
      this.options.warn(`mcp: ${name}: ${detail}`);
      return { result: errorResult(withValuesShortened(inToolTerms(error, tool))) };
    }
  }
}

const INSTRUCTIONS =
  "orch coordinates AI coding workers in git worktrees and tmux windows through a file mailbox. Orchestrator: " +
  "create_orchestrator_session, then start_worktree_session per task (with orchestratorId and a prompt), then " +
  "poll_messages or await_workers for their reports (answer them with send_to_worker, reply_to_question, " +
  "approve_request or deny_request), review with get_worker_diff, then land_workers (the tested merge queue), " +
  "apply_worker_patch or merge_worker, and clean_workers. Workers report with send_message.";

const ENDING_SIGNALS = ["SIGINT", "SIGTERM", "SIGHUP"] as const;

/**
 * An error the SDK reports, in one line: a schema's issue list, alone or after the SDK's words (a
 * notifications/cancelled without its params: "Uncaught error in notification handler: [" and the
 * list), says its first issue; before, the line ended at "[".
 */
function sdkErrorLine(message: string): string {
  const list = message.indexOf("[");
  const issue = list < 0 ? undefined : schemaIssueLine(message.slice(list));
  if (issue === undefined) return message.split("\n")[0]!;
  const before = message.slice(0, list).trim();
  return before ? `${before} ${issue}` : issue;
}

/**
 * Serves the tools on stdin/stdout until stdin closes (or a signal comes), then waits for the calls that
 * change things to finish. Only protocol frames go to stdout: console output is sent to stderr for the
 * whole time. Resolves to the signal that ended the server, if one did.
 */
export async function serveMcp(options: McpServerOptions): Promise<NodeJS.Signals | undefined> {
  const [{ Server }, { StdioServerTransport }, schemas] = await Promise.all([
    import("@modelcontextprotocol/sdk/server/index.js"),
    import("@modelcontextprotocol/sdk/server/stdio.js"),
    import("@modelcontextprotocol/sdk/types.js"),
  ]);
  const { CallToolRequestSchema, ListToolsRequestSchema, JSONRPCNotificationSchema, JSONRPCRequestSchema } = schemas;
  const { ErrorCode, McpError } = schemas;
  const sdkRefusal: SdkRefusal = (message, kind) => {
    const checked = (kind === "request" ? JSONRPCRequestSchema : JSONRPCNotificationSchema).safeParse(message);
    return checked.success ? undefined : schemaIssueLine(checked.error.message) ?? "not a message MCP can read";
  };
  const toStderr = (...items: unknown[]) => options.warn(items.map(String).join(" "));
  console.log = console.info = console.debug = toStderr;

  runningLong();
  const runner = new ToolRunner(options);
  const changing = new Set<Promise<unknown>>();
  const tools: Tool[] = TOOLS.map((t) => ({
    name: t.name, description: t.description, inputSchema: t.inputSchema as Tool["inputSchema"],
  }));
  // The low-level Server: plain JSON Schemas (no zod in orch), and bad arguments answered in orch's own error document.
  const server = new Server(
    { name: "orch", version: VERSION }, { capabilities: { tools: {} }, instructions: INSTRUCTIONS },
  );
  server.setRequestHandler(ListToolsRequestSchema, async () => ({ tools }));
  // The answers of calls that change things, until each is written or cannot be: the server exits only
  // then, and a poll marks its messages read only once its answer reached stdout. Keyed by request id.
  const answering = new Map<RequestId, (sent: boolean) => void>();
  const track = (work: Promise<unknown>) => {
    changing.add(work);
    void work.finally(() => changing.delete(work));
  };
  /** Whether the answer to request `id` was written: false when the write failed or the call was cancelled. */
  const answerWritten = (id: RequestId, signal: AbortSignal) =>
    new Promise<boolean>((resolve) => {
      const settle = (sent: boolean) => {
        if (answering.get(id) !== settle) return;
        answering.delete(id);
        resolve(sent);
      };
      answering.set(id, settle);
      // The SDK writes no answer for a cancelled request.
      if (signal.aborted) settle(false);
      else signal.addEventListener("abort", () => settle(false), { once: true });
    });
  /** The ids of the tool calls under way, until each has its answer. */
  const underWay = new Set<RequestId>();
  server.setRequestHandler(CallToolRequestSchema, async (request, extra) => {
    // JSON-RPC ids are unique among the requests under way. A call that reuses one is refused, not run:
    // its answer could not be told from the other's, and, untracked, a poll's messages stayed claimed
    // (not marked read) once handed out, for the next server to hand out again.
    if (underWay.has(extra.requestId)) {
      const why = `request id ${JSON.stringify(extra.requestId)} is that of a call still under way: not run`;
      throw new McpError(ErrorCode.InvalidRequest, why);
    }
    underWay.add(extra.requestId);
    try {
      const call = runner.call(request.params.name, request.params.arguments, extra.signal);
      if (TOOLS.find((t) => t.name === request.params.name)?.waitsOnly !== true) {
        track(answerWritten(extra.requestId, extra.signal).then(async (sent) => {
          const { delivered } = await call;
          try {
            delivered?.(sent);
          } catch (error) {
            options.warn(`mcp: after the answer to request ${JSON.stringify(extra.requestId)}: ${String(error)}`);
          }
        }));
      }
      return (await call).result;
    } finally {
      underWay.delete(extra.requestId);
    }
  });
  server.onerror = (error) => options.warn(`mcp: ${sdkErrorLine(error.message)}`);

  // The transport reads stdin through a bound on each line: a huge request is refused, not buffered whole.
  const lines = new BoundedLines(MAX_LINE_BYTES, (line) => {
    options.warn(`mcp: refused a request line of more than ${MAX_LINE_BYTES} bytes (${line.bytesSeen} so far)`);
    const id = leadingRequestId(line.head);
    const error = { code: INVALID_REQUEST, message: `request line longer than ${MAX_LINE_BYTES} bytes: not read` };
    // Without an id (MCP lets an error response omit it) the client still learns why it got no answer.
    void transport.send({ jsonrpc: "2.0", ...(id === undefined ? {} : { id }), error }).catch(() => undefined);
  }, (line) => {
    const text = line.toString("utf8");
    if (text.trim() === "") return false; // a blank line is no message: nothing to answer
    const problem = frameProblem(text, sdkRefusal);
    if (problem === undefined) return true;
    const { id, quiet, ...error } = problem;
    options.warn(`mcp: ${error.message}`);
    if (quiet) return false;
    void transport.send({ jsonrpc: "2.0", ...(id === undefined ? {} : { id }), error }).catch(() => undefined);
    return false;
  });
  process.stdin.pipe(lines);
  let endReading!: () => void;
  const closed = new Promise<void>((resolve) => {
    endReading = resolve;
    // After the reader's end: the last line, written without its newline, has reached the server by then.
    lines.once("end", resolve);
    process.stdin.once("close", resolve);
    // A client that went away: EPIPE on stdout must not crash the server mid-call.
    process.stdout.on("error", (error) => {
      options.warn(`mcp: stdout: ${error.message}`);
      resolve();
    });
  });
  class ReadableErrorsTransport extends StdioServerTransport {
    override send(message: JSONRPCMessage): Promise<void> {
      const readable = readableSchemaError(message);
      // Only a result answers a tool call (its failures are results too): an error with the same id refuses
      // another request that reused it, and must not count as the call's answer written.
      const answerTo = "id" in readable && "result" in readable ? readable.id : undefined;
      const settle = answerTo === undefined ? undefined : answering.get(answerTo);
      if (!settle) return super.send(readable);
      // The SDK's send does not say whether the write failed: written here to learn it.
      return new Promise((resolve) => {
        process.stdout.write(`${JSON.stringify(readable)}\n`, (error) => {
          settle(!error);
          resolve();
        });
      });
    }
  }
  const transport = new ReadableErrorsTransport(lines, process.stdout);
  // SIGTERM (a client ending its server), SIGINT or SIGHUP ends the server as stdin's close does: nothing
  // more is read, and the calls under way are answered first. Those that undo their steps on a signal
  // (spawn, land, apply's dry run, …) are interrupted by it (interrupt.ts) and say so. Before, the server
  // went on serving after such a call had caught the signal, and every later one was "interrupted".
  let endedBy: NodeJS.Signals | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    if (endedBy !== undefined) return;
    endedBy = signal;
    options.warn(`mcp: ${signal}: ending once the calls under way are answered`);
    process.stdin.unpipe(lines);
    endReading();
  };
  for (const signal of ENDING_SIGNALS) process.on(signal, onSignal);
  // The handlers of an await (SIGHUP) and of hosts' connections (ssh-mux.ts) leave the ending to this one.
  serveSignals(true);
  await server.connect(transport);
  await closed;
  // The requests of the last lines start their calls (tracked in changing) on later ticks of the loop.
  await new Promise((resolve) => setImmediate(resolve));
  await Promise.allSettled([...changing]);
  await server.close();
  for (const signal of ENDING_SIGNALS) process.off(signal, onSignal);
  serveSignals(false);
  return endedBy;
}
