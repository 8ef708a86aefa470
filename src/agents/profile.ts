// What orch needs to know about an agent program: one profile per known agent (claude.ts, codex.ts)
// plus command templates (command.ts), behind this one interface. Nothing outside src/agents/ may
// ask "is this codex?": spawn, the runner, stop, resume, status and doctor ask the profile.

import type { PassedEnv } from "./caller-env.ts";

export interface LaunchSpec {
  /** The main worktree's root (the repository a trust record names). */
  mainRoot: string;
  /** The worker's worktree, where the agent runs. */
  worktreePath: string;
  /** The repository's common git dir (objects, refs, worktrees/<id>/: the agent commits into it). */
  commonGitDir: string;
  /** The orch store: the agent's reports are written there. */
  storeRoot: string;
  orchestratorId: string;
  workerId: string;
  /** --plan: the agent starts by proposing a plan for approval. */
  plan: boolean;
  /** A session id orch chose for this worker (a UUID), for agents that accept one: resume uses it. */
  sessionId: string;
  /** The environment orch runs in (HOME, CODEX_HOME, …). */
  env: NodeJS.ProcessEnv;
  /**
   * An absolute path that runs this orch (its shim), for hook commands the agent runs through a
   * login shell, whose PATH may no longer hold orch's folder.
   */
  orchProgram: string;
  warn: (line: string) => void;
}

export interface AgentStart {
  /** The program and its arguments, without the prompt. */
  argv: string[];
  /**
   * Where the prompt goes: appended last ("last"), or after a "--" that ends the agent's options
   * ("after-dashdash"). Either way the prompt is one argv element that no shell ever sees.
   */
  promptPlacement: "last" | "after-dashdash";
  /** Extra environment for the agent (beyond ORCH_*, PATH). */
  env: Record<string, string>;
  /**
   * The questions the agent will ask in its window as it starts, before it takes up its prompt, which orch leaves to
   * a person: the worker shows blocked on them from its start (its first turn makes it running).
   */
  questions?: StartQuestion[];
}

/** A question an agent asks as it starts, which orch does not answer for the user. */
export interface StartQuestion {
  /** What the agent asks, short, in its own words: what the worker waits for. */
  asks: string;
  /** Why it asks here, and how to settle it. */
  advice: string;
}

/** How resume starts the agent again (AgentStart), and what about its session changes. */
export interface ResumeStart extends AgentStart {
  /** The session the agent starts in, when not the recorded one (that one had nothing saved to continue). */
  sessionId?: string;
  /** The agent never saved its task (stopped as it began): it starts over, as an agent with no resume does. */
  startsOver?: boolean;
}

export interface ResumeSpec {
  /** The main worktree's root (LaunchSpec.mainRoot). */
  mainRoot: string;
  /** The session id recorded at spawn (LaunchSpec.sessionId), if the agent was given one. */
  sessionId: string | undefined;
  /** What start() returned at spawn, as recorded with the worker (the settings it passed stay). */
  recorded: Omit<AgentStart, "env">;
  /** The worker's worktree. */
  worktreePath: string;
  /** The shim of the orch that resumes (LaunchSpec.orchProgram): hooks recorded by another orch are pointed at it. */
  orchProgram: string;
  env: NodeJS.ProcessEnv;
  warn: (line: string) => void;
}

/** Where and when an agent was started, for finding the session id it chose itself. */
export interface SessionLookup {
  worktreePath: string;
  /** The agent's environment (HOME, CODEX_HOME, …). */
  env: NodeJS.ProcessEnv;
  startedAtMs: number;
}

/** orch approve/deny's answer to a permission request, before the agent's own wire shape. */
export type PermissionAnswer = { behavior: "allow"; always: boolean } | { behavior: "deny"; message: string };

/** The permission request as the agent's PermissionRequest hook described it. */
export interface PermissionContext {
  toolName: string;
  toolInput: unknown;
  /** The agent's suggested rules for "allow from now on", if it gave any. */
  suggestions: unknown;
}

/** How the agent's PermissionRequest hook takes orch's answer. */
export interface PermissionHook {
  /** The `hookSpecificOutput.decision` object the agent accepts for this answer. */
  decision(answer: PermissionAnswer, request: PermissionContext): Record<string, unknown>;
  /** Whether a hook can allow a kind of call for the rest of the session (orch approve --always). */
  allowsAlways: boolean;
}

export interface AgentProfile {
  /** The name shown in status and recorded with the worker. */
  readonly name: string;
  /**
   * The oldest version orch is tested with (`<program> --version`; CI runs the pin in .ci/install-agents); orch
   * doctor warns about an older one, which may lack what orch passes it (Codex before 0.157 has no --no-daemon,
   * and hooks came late to both).
   */
  readonly testedVersion?: string;
  /**
   * The variables of the caller's environment (provider, credentials, config folder) its workers get in their
   * window, beside the proxies every agent gets (caller-env.ts); never written to orch's store.
   */
  readonly passedEnv?: PassedEnv;
  /** How to start the agent on a new task. */
  start(spec: LaunchSpec): AgentStart;
  /**
   * Makes an unattended start possible on this machine (e.g. the trust record), before the window
   * opens; returns one line per change made, for the user.
   */
  prepare(spec: LaunchSpec): Promise<string[]>;
  /**
   * How to start the agent again continuing its conversation (the next user message goes where
   * promptPlacement says), or undefined when it cannot. Agents without it start their task over.
   */
  resume?(spec: ResumeSpec): ResumeStart | undefined;
  /** What `orch doctor` says about this machine's readiness to run the agent unattended here (e.g. trust). */
  checkTrust?(mainRoot: string, env: NodeJS.ProcessEnv): TrustReport;
  /**
   * For agents that choose their own session id (LaunchSpec.sessionId is then not used): the id of
   * the session started as described, once the agent has recorded it; undefined until then. The
   * runner asks while the agent starts and records the answer with the worker.
   */
  findSessionId?(lookup: SessionLookup): string | undefined;
  /**
   * For agents with no hook that says a model API error ended a turn (Claude Code has StopFailure): a reader
   * of session `sessionId`'s own record that returns, at each call, the turns ended so since the last call
   * (since `startedAtMs` at the first). The runner calls it while the agent runs.
   */
  failedTurns?(lookup: SessionLookup, sessionId: string): () => { kind: string; text?: string }[];
  /**
   * What in the user's own configuration of the agent keeps orch from hearing its workers here (hooks
   * turned off, orch's commands denied), one line each: `orch doctor` shows them, spawn warns.
   */
  checkSettings?(mainRoot: string, env: NodeJS.ProcessEnv): string[];
  /**
   * What a worker's agent would ask as it starts in this repository, which orch leaves to a person, and what orch
   * leaves out of its session so that it does not ask (Claude Code: the repository's MCP servers no one approved),
   * one line each, for `orch doctor`; spawn says them too.
   */
  checkStart?(mainRoot: string, env: NodeJS.ProcessEnv): string[];
  /**
   * A question the agent asks in its window before its session begins (to sign in, to review hooks it has not run
   * before, to switch to a newer model), read from the lines of its screen (all, top to bottom, blank ones kept);
   * undefined when it shows none. The runner asks while it waits for findSessionId and reports the worker
   * blocked: no hook of the agent's runs that early.
   */
  startupQuestion?(screen: string[]): StartupQuestion | undefined;
  /**
   * Whether the session_id of its hooks' payloads names the conversation `resume` continues (Claude Code's, Codex's):
   * a worker whose agent started a new conversation in its window (Claude Code's /clear, Codex's /new) is resumed in
   * that one, and failedTurns reads that one's record.
   */
  hookSessionIds?: boolean;
  /** For agents whose PermissionRequest hook orch answers (approve/deny). */
  permissionHook?: PermissionHook;
  /**
   * The agent started by `program` with the user's own `options` before orch's (`--agent "codex -s
   * read-only"`): orch's arguments fit what they ask, and options that make orch's loop impossible (print
   * mode, another session or folder) are refused (usage, exit 2) before anything is made.
   */
  withOptions?(program: string, options: string[]): AgentProfile;
}

/** A question on the agent's screen at its start: what it waits for, the way on, and the screen as it reads. */
export interface StartupQuestion {
  /** What the worker waits for, for `waiting_for` ("Codex: \"Hooks need review\""). */
  waitingFor: string;
  /** The question, how a person answers it and what each answer does, in a sentence. */
  summary: string;
  /** The question and its choices, as on the screen. */
  screen: string;
}

export interface TrustReport {
  ok: boolean;
  detail: string;
  fix?: string;
}
