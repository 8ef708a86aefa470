// tmux through argument arrays: windows for workers, in the current session inside tmux, otherwise in
// a detached session orch-<repo> on whatever server tmux itself would use ($TMUX, TMUX_TMPDIR).

import fs from "node:fs";
import path from "node:path";
import { OrchError } from "../errors.ts";
import { windowKey } from "../ids.ts";
import { run } from "./exec.ts";

/**
 * tmux's argv for `args`. tmux ends a command at any argument that ends in ";" (its command separator, also
 * after `--`), so a worktree path or variable of a branch `feat;` would cut the command short; `\;` at the end
 * is its escape for a literal one. The separators orch means are the bare ";".
 */
function tmuxArgv(args: string[]): string[] {
  return ["tmux", ...args.map((arg) => (arg !== ";" && arg.endsWith(";") ? `${arg.slice(0, -1)}\\;` : arg))];
}

/**
 * A window's start directory as tmux's -c takes it: a format, in which `#P`, `#{…}` or `#(command)` of a folder
 * name (`C#/app`, `F#Project`) would be expanded (a command run, or the agent started in another folder); `##`
 * is a literal `#`.
 */
function startDirectory(cwd: string): string {
  return cwd.replaceAll("#", "##");
}

/**
 * A tmux server instance: its pid and start time. Window ids (@0, @1, …) are unique only within one
 * server: a server started after the last one died (killed, a reboot) hands the same ids out again.
 */
const SERVER_FORMAT = "#{pid}.#{start_time}";

export interface PaneInfo {
  windowId: string;
  paneId: string;
  server: string;
  sessionName: string;
  panePid: number;
  paneDead: boolean;
}

/** Every pane of the server, or none when tmux or its server is not there. */
export async function listPanes(env: NodeJS.ProcessEnv): Promise<PaneInfo[]> {
  let result;
  try {
    const format = `#{window_id} #{pane_id} #{pane_pid} #{pane_dead} ${SERVER_FORMAT} #{session_name}`;
    result = await run(tmuxArgv(["list-panes", "-a", "-F", format]), { env, allowFailure: true });
  } catch {
    return [];
  }
  if (result.code !== 0) return [];
  return result.stdout.split("\n").filter(Boolean).map((line) => {
    const [windowId = "", paneId = "", pid = "0", dead = "0", server = "", ...session] = line.split(" ");
    const sessionName = session.join(" ");
    return { windowId, paneId, server, sessionName, panePid: Number(pid), paneDead: dead === "1" };
  });
}

/** The keys (windowKey) under which the windows of `panes` can be looked up, with and without their server. */
export function liveWindowKeys(panes: PaneInfo[]): Set<string> {
  return new Set(panes.flatMap((pane) => [pane.windowId, windowKey(pane.windowId, pane.server)]));
}

/** The socket and the reason when tmux's `stderr` says this process may not connect to it (a sandbox). */
export function socketRefused(stderr: string): { socket: string; reason: string } | undefined {
  const refused = /error connecting to (\S+) \((Operation not permitted|Permission denied)\)/.exec(stderr);
  return refused ? { socket: refused[1]!, reason: refused[2]! } : undefined;
}

/** The longest path a unix socket may have: its sun_path holds 104 bytes on macOS, 108 on Linux, with the NUL. */
export const MAX_SOCKET_PATH_BYTES = process.platform === "darwin" ? 103 : 107;

/**
 * The socket tmux uses outside tmux: <$TMUX_TMPDIR, else /tmp>/tmux-<uid>/default, its folder's links resolved
 * as tmux resolves them; undefined inside tmux ($TMUX names the socket of a server that runs).
 */
export function defaultSocket(env: NodeJS.ProcessEnv): string | undefined {
  if (env.TMUX) return undefined;
  const folder = path.join(env.TMUX_TMPDIR || "/tmp", `tmux-${process.getuid?.() ?? 0}`);
  for (const [real, rest] of [[folder, ""], [path.dirname(folder), path.basename(folder)]] as const) {
    try {
      return path.join(fs.realpathSync(real), rest, "default");
    } catch {
      // Not made yet: tmux makes the last folder.
    }
  }
  return path.join(folder, "default");
}

/**
 * Why tmux cannot make or reach its server here when its socket's path is too long for a unix socket (a deep
 * TMUX_TMPDIR): tmux says only "error connecting to … (File name too long)", or nothing clearer.
 */
export function socketTooLong(env: NodeJS.ProcessEnv): { problem: string; fix: string } | undefined {
  const socket = defaultSocket(env);
  if (socket === undefined || Buffer.byteLength(socket) <= MAX_SOCKET_PATH_BYTES) return undefined;
  const length = `${Buffer.byteLength(socket)} bytes, over the ${MAX_SOCKET_PATH_BYTES} a unix socket's path may have`;
  return {
    problem: `tmux's socket ${socket} is ${length}`,
    fix: "set TMUX_TMPDIR to a shorter folder, or unset it (tmux then uses /tmp)",
  };
}

/** What tmux says when asked for its sessions: whether a server answers, and why not. */
export async function askServer(env: NodeJS.ProcessEnv): Promise<{ code: number; stderr: string }> {
  return run(tmuxArgv(["list-sessions", "-F", "#{session_id}"]), { env, allowFailure: true });
}

/**
 * Whether a tmux server answers on the socket tmux would use: false only when tmux says there is no
 * server (so every window orch opened there is gone); undefined when tmux itself cannot be run.
 */
export async function serverRunning(env: NodeJS.ProcessEnv): Promise<boolean | undefined> {
  try {
    const result = await askServer(env);
    if (result.code === 0) return true;
    // A socket this process may not connect to (a sandbox's filter: "Operation not permitted") says nothing
    // about the server, whose windows must not be taken for closed.
    if (socketRefused(result.stderr)) return undefined;
    // A socket path too long to connect to says nothing about the server either.
    if (/\(File name too long\)/.test(result.stderr)) return undefined;
    return /no server running|error connecting|No such file or directory/i.test(result.stderr) ? false : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Puts `text` into a pane as a paste, then presses Enter: how a message wakes an agent that
 * sits at its prompt. The text is a fixed line of orch's, never a message's content.
 */
export async function typeLine(target: string, text: string, env: NodeJS.ProcessEnv): Promise<boolean> {
  // Pasted, not typed: a TUI that asked for bracketed paste gets the text as one paste, so the Enter
  // after it is a key press. Typed fast, it looks like a paste to Codex, which then takes an Enter
  // within 120 ms for a newline and never submits (checked with Codex 0.169). Others get plain keys.
  const buffer = `orch-wake-${process.pid}`;
  try {
    const loaded = await run(tmuxArgv(["set-buffer", "-b", buffer, "--", text]), { env, allowFailure: true });
    if (loaded.code !== 0) return false;
    const pasteArgs = ["paste-buffer", "-p", "-d", "-b", buffer, "-t", target];
    const pasted = await run(tmuxArgv(pasteArgs), { env, allowFailure: true });
    if (pasted.code !== 0) return false;
    const entered = await run(tmuxArgv(["send-keys", "-t", target, "Enter"]), { env, allowFailure: true });
    return entered.code === 0;
  } catch {
    return false;
  }
}

/**
 * Every line of a pane's screen, top to bottom, blank ones kept (wrapped lines joined, trailing spaces cut), after
 * the last `history` lines of its history; none when tmux cannot tell.
 */
export async function screenLines(target: string, env: NodeJS.ProcessEnv, history = 0): Promise<string[]> {
  const from = history > 0 ? ["-S", `-${history}`] : [];
  try {
    const result = await run(tmuxArgv(["capture-pane", "-p", "-J", ...from, "-t", target]), { env, allowFailure: true });
    if (result.code !== 0) return [];
    return result.stdout.split("\n").map((line) => line.trimEnd());
  } catch {
    return [];
  }
}

/**
 * The last `count` lines with text in a pane (wrapped lines joined); none when tmux cannot tell. Read back into its
 * history: a window of few lines (a person's small terminal, a tmux.conf's default-size), where long lines wrap
 * over several, would otherwise give fewer.
 */
export async function screenTail(target: string, count: number, env: NodeJS.ProcessEnv): Promise<string[]> {
  return (await screenLines(target, env, count)).filter(Boolean).slice(-count);
}

/** Presses Enter in the target pane; false when tmux could not. */
export async function pressEnter(target: string, env: NodeJS.ProcessEnv): Promise<boolean> {
  try {
    return (await run(tmuxArgv(["send-keys", "-t", target, "Enter"]), { env, allowFailure: true })).code === 0;
  } catch {
    return false;
  }
}

export interface NewWindow {
  /** Session to create the window in; undefined means the current one (inside tmux). */
  session: string | undefined;
  name: string;
  cwd: string;
  env: Record<string, string>;
  argv: string[];
}

export interface CreatedWindow {
  windowId: string;
  /**
   * The pane the agent runs in: a hook of the user's (after-new-window 'split-window') can add panes
   * to the window and make another one active, so the window alone does not say where to type.
   */
  paneId: string;
  /** The server that made it (SERVER_FORMAT). */
  server: string;
  sessionName: string;
}

/**
 * Fields are separated by spaces, the session name (which may hold spaces) last: without a UTF-8
 * locale (an ssh command's environment) tmux prints a tab in a format as "_".
 */
function parseCreated(stdout: string): CreatedWindow {
  const [windowId = "", paneId = "", server = "", ...session] = stdout.replace(/\n$/, "").split(" ");
  const sessionName = session.join(" ");
  if (!windowId.startsWith("@")) throw new OrchError("failed", `tmux did not report the new window: ${stdout.trim()}`);
  return { windowId, paneId, server, sessionName };
}

/**
 * new-session's -e sets the variables in the session's environment, not only its first window's: every window
 * opened in the session later (a person's Ctrl-b c) would get that worker's ORCH_ID and ORCH_WORKER, so
 * `orch stop` of it ended that shell, and orch commands run there spoke as it. They are removed again (the
 * first window's process has its copy already).
 */
async function forgetSessionEnv(session: string, keys: string[], env: NodeJS.ProcessEnv): Promise<void> {
  const unsets = keys.flatMap((key, i) => [...(i ? [";"] : []), "set-environment", "-t", `=${session}`, "-u", key]);
  if (unsets.length) await run(tmuxArgv(unsets), { env, allowFailure: true, finishOnInterrupt: true });
}

/**
 * A detached session of orch's lives only while some client is attached when the user's tmux has
 * exit-unattached on: the server (started by this call with the user's configuration, if none ran) would
 * exit, ending the agent, as soon as orch's tmux command has, so the spawn is refused before it opens one.
 */
async function refuseServerThatWouldExit(env: NodeJS.ProcessEnv): Promise<void> {
  const ask = [
    "start-server", ";", "show-options", "-gv", "exit-unattached", ";", "list-clients", "-F", "#{client_pid}",
  ];
  const answer = await run(tmuxArgv(ask), { env, allowFailure: true, finishOnInterrupt: true });
  const [exitUnattached, ...clients] = answer.stdout.split("\n").filter(Boolean);
  if (exitUnattached !== "on" || clients.length > 0) return; // list-clients fails when no session exists yet
  const why = "tmux's exit-unattached is on and no client is attached, so the server would end orch's window at once";
  throw new OrchError("failed", `${why}: run orch inside tmux, keep a client attached, or set exit-unattached off`);
}

/** Opens a window running `argv` (no shell parses it); creates the detached session when it is missing. */
export async function openWindow(spec: NewWindow, env: NodeJS.ProcessEnv): Promise<CreatedWindow> {
  const envArgs = Object.entries(spec.env).flatMap(([key, value]) => ["-e", `${key}=${value}`]);
  const format = ["-P", "-F", `#{window_id} #{pane_id} ${SERVER_FORMAT} #{session_name}`];
  const target = spec.session === undefined ? [] : ["-t", `=${spec.session}:`];
  const windowArgs = ["-n", spec.name, "-c", startDirectory(spec.cwd), ...envArgs, "--", ...spec.argv];
  // Finished even when orch is interrupted: a client killed after its server made the window would not
  // say which window that is, and the spawn could not close it again.
  const tolerant = { env, allowFailure: true, finishOnInterrupt: true };
  const attempt = await run(tmuxArgv(["new-window", "-d", ...format, ...target, ...windowArgs]), tolerant);
  if (attempt.code === 0) return parseCreated(attempt.stdout);
  if (spec.session === undefined) throw new OrchError("failed", `tmux new-window failed: ${attempt.stderr.trim()}`);
  const tooLong = socketTooLong(env);
  if (tooLong) throw new OrchError("invalid", `${tooLong.problem}: ${tooLong.fix}`);
  await refuseServerThatWouldExit(env);
  // In the same call as new-session, before tmux's loop can end the session: orch's session is detached by
  // design, so a user's `destroy-unattached on` (which would close it, and the agent with it, at once) is
  // turned off for it alone.
  const keepDetached = [";", "set-option", "-t", `=${spec.session}:`, "destroy-unattached", "off"];
  const newSession = ["new-session", "-d", ...format, "-s", spec.session, ...windowArgs, ...keepDetached];
  let created = await run(tmuxArgv(newSession), tolerant);
  // The server the check above started, with no session, exits right after it: a client that reaches it
  // meanwhile hears "server exited unexpectedly", and nothing was made. The next one starts a server.
  for (let attempt = 1; attempt <= 3 && /server exited unexpectedly/.test(created.stderr); attempt++) {
    await new Promise((resolve) => setTimeout(resolve, 20 * attempt));
    created = await run(tmuxArgv(newSession), tolerant);
  }
  if (created.code === 0) {
    await forgetSessionEnv(spec.session, Object.keys(spec.env), env);
    return parseCreated(created.stdout);
  }
  // Another spawn may have created the session in between: its window is then the way in.
  const retry = await run(tmuxArgv(["new-window", "-d", ...format, ...target, ...windowArgs]), tolerant);
  if (retry.code === 0) return parseCreated(retry.stdout);
  throw new OrchError("failed", `tmux could not open a window: ${created.stderr.trim() || retry.stderr.trim()}`);
}

/**
 * Starts `argv` anew in an existing pane (`%N`: respawn-pane, other panes of its window are left as they
 * are) or window (`@N`, of records that name no pane: respawn-window, which keeps one pane); the old
 * process there, a shell left by the agent, is ended.
 */
export async function respawnAgent(
  target: string,
  spec: Omit<NewWindow, "session" | "name">,
  env: NodeJS.ProcessEnv,
): Promise<boolean> {
  const envArgs = Object.entries(spec.env).flatMap(([key, value]) => ["-e", `${key}=${value}`]);
  const command = target.startsWith("%") ? "respawn-pane" : "respawn-window";
  const respawnArgs = [command, "-k", "-t", target, "-c", startDirectory(spec.cwd), ...envArgs, "--", ...spec.argv];
  const result = await run(tmuxArgv(respawnArgs), { env, allowFailure: true });
  return result.code === 0;
}

/**
 * Closes the window, when it is still the one that `server` made (given): after a restart of tmux
 * the same id may name another worker's window, which must not be closed.
 */
export async function killWindow(windowId: string, env: NodeJS.ProcessEnv, server?: string | null): Promise<boolean> {
  try {
    if (server) {
      const ask = tmuxArgv(["display-message", "-p", "-t", windowId, SERVER_FORMAT]);
      const owner = await run(ask, { env, allowFailure: true });
      if (owner.code !== 0 || owner.stdout.trim() !== server) return false;
    }
    const result = await run(tmuxArgv(["kill-window", "-t", windowId]), { env, allowFailure: true });
    return result.code === 0;
  } catch {
    return false;
  }
}

/**
 * Starts a private server (orch demo's) that lives until killServer, whatever the user's configuration says:
 * exit-unattached on would end it, and the workers in it, since nobody attaches to it.
 */
export async function startPrivateServer(env: NodeJS.ProcessEnv): Promise<void> {
  const keep = [";", "set-option", "-g", "exit-unattached", "off", ";", "set-option", "-g", "exit-empty", "off"];
  await run(tmuxArgv(["start-server", ...keep]), { env, allowFailure: true, finishOnInterrupt: true });
}

export async function killServer(env: NodeJS.ProcessEnv): Promise<void> {
  try {
    await run(tmuxArgv(["kill-server"]), { env, allowFailure: true });
  } catch {
    // no tmux: nothing to stop
  }
}
