// A host as orch drives it: orch itself run there (`orch … --json` in the host's clone) over the shared
// ssh connection, and git over the same ssh for the code.

import {
  ANNOUNCE, gitComplaint, gitCouldNotConnect, gitSshCommand, HostUnreachable, notStarted, READY, runOnHost,
  setAsideSilentMasterOf, startOnHost, startTimeoutMs, type RemoteProcess,
} from "../adapters/ssh.ts";
import { camel } from "../cli/fastparse.ts";
import { HostError, OrchError, type ErrorKind } from "../errors.ts";
import { STORE_VERSION_FILE } from "../store/format.ts";
import { textStart } from "../text.ts";
import type { RunResult } from "../adapters/exec.ts";
import { gitUrlFor } from "./destination.ts";
import { quoteForShell, scriptLine, type RemoteCommand } from "./shell-quote.ts";
import type { HostRecord } from "./store.ts";

/**
 * Runs orch in the clone: a constant script whose values arrive as "$@" (never parsed by the shell).
 * orch's path is taken relative to the home folder before the cd, so a relative --path works too.
 */
const IN_CLONE = 'case $1 in /*) o=$1 ;; *) o=$HOME/$1 ;; esac; command cd -- "$2" || exit 3; shift 2; exec "$o" "$@"';
/** How long an orch on a host may take to print its version before host add or host list ends it. */
export const VERSION_LIMIT_SECONDS = 10;
/**
 * `versionWithin PROGRAM [ARG…]`: PROGRAM ARG… --version, ended (kill -9, exit 137) when it has not ended within
 * VERSION_LIMIT_SECONDS: an orch there that hangs (a broken build) would hold host add, which replaces it,
 * and host list for ever. Its output goes through files: a process it started (which the kill does not
 * reach) would hold the connection's pipe open. The watcher's sleep ends with it.
 */
export const VERSION_WITHIN = 'versionWithin() { t=$(mktemp) || return 1; ' +
  '"$@" --version </dev/null >"$t" 2>"$t.e" & p=$!; ' +
  `( trap 'command kill $s 2>/dev/null; wait $s; exit 0' TERM; sleep ${VERSION_LIMIT_SECONDS} & s=$!; wait $s; ` +
  "command kill -9 $p 2>/dev/null ) </dev/null >/dev/null 2>&1 & k=$!; " +
  'wait $p; r=$?; command kill $k 2>/dev/null; wait $k; command cat -- "$t"; command cat -- "$t.e" >&2; ' +
  'rm -f -- "$t" "$t.e"; return $r; }';
/** IN_CLONE for `orch --version`, within its limit. */
const VERSION_IN_CLONE = 'case $1 in /*) o=$1 ;; *) o=$HOME/$1 ;; esac; command cd -- "$2" || exit 3; ' +
  `${VERSION_WITHIN}; versionWithin "$o"`;
/**
 * An empty poll without orch: the same start as IN_CLONE, then ($3 the session there) a look at what a
 * poll of that session could take — a file in its mailbox's new/ or claims/ (a claim left by a reader
 * that died goes back to new/), or a worker's agent whose recorded pid no longer runs as the process it
 * was (the watchdog would report it) — and orch runs only when there is any; otherwise the answer of an
 * empty poll. It may run orch for nothing (the pid file of a finished worker's runner that was killed,
 * which that orch then removes), never skip a message: the claim itself is always the host's orch's.
 * A store with a store-version file (src/store/format.ts) is the host's orch's to read or refuse: this
 * script knows format 1, which has none, and must not read a newer one as empty.
 * (Run by a POSIX login shell itself, after its rc files: `command` passes over a function of theirs
 * named cd, read, kill or echo; the options that would change the script, host add's check refuses.)
 */
const POLL_IF_ANY = [
  'case $1 in /*) o=$1 ;; *) o=$HOME/$1 ;; esac; command cd -- "$2" || exit 3',
  'd=${ORCH_HOME:-.orch}/sessions/$3; shift 3',
  `[ -e "\${ORCH_HOME:-.orch}/${STORE_VERSION_FILE}" ] && exec "$o" "$@"`,
  // 0 (run orch) unless the agent recorded in $1 still runs with its recorded start time.
  'ended() { command read -r pid start _ < "$1"; [ -n "$pid" ] && command kill -0 "$pid" 2>/dev/null || return 0',
  '  [ -d /proc/self ] || return 1; IFS= command read -r s < "/proc/$pid/stat"; set -- ${s##*")"}',
  '  [ "$1" != Z ] && shift 19 && [ -n "$start" ] && [ "$1" = "$start" ] && return 1; return 0; }',
  '[ -d "$d/mail/new" ] || exec "$o" "$@"',
  'for f in "$d"/mail/new/* "$d"/mail/claims/*; do if [ -e "$f" ] || [ -L "$f" ]; then exec "$o" "$@"; fi; done',
  'for p in "$d"/workers/*/agent.pid; do',
  '  [ -e "$p" ] && ended "$p" && exec "$o" "$@"; done',
  'command echo \'{"success":true,"message_count":0,"messages":[]}\'',
].join("\n");
const ERROR_KINDS: readonly ErrorKind[] = [
  "usage", "invalid", "not_found", "exists", "refused", "conflict", "failed", "store", "timeout",
];

/**
 * The host's login shell printed `noise` on stdout before the command's own output (an echo in ~/.bashrc,
 * a motd printed by an rc file): orch's answers and git's protocol over ssh both need that stream clean.
 */
export function loginShellNoise(host: string, noise: string): HostError {
  const first = textStart(noise.trim().split("\n")[0]!, 80);
  const fix = "make its rc files print only in interactive shells (see \"Hosts\" in orch's README)";
  return new HostError("failed", host, `on host ${host}: the login shell prints ${JSON.stringify(first)} ` +
    `for commands run over ssh, which breaks orch's answers and git there: ${fix}`);
}

export interface OrchRunOptions {
  input?: string | Buffer;
  /** See RemoteRunOptions.answerWithinMs. */
  answerWithinMs?: number;
}

/**
 * Whether the host's orch refused `flag` as unknown: an orch there older than that internal flag, which refuses it
 * before it reads its input or does anything. Orchs before round 27 name it as cac does, in camelCase
 * (`--stdinBytes`); later ones as it was given (`--stdin-bytes`).
 */
export function hostLacksFlag(error: unknown, flag: string): boolean {
  if (!(error instanceof OrchError)) return false;
  const refusal = error.details.host_refusal ?? (error.kind === "usage" ? error.message : undefined);
  if (typeof refusal !== "string") return false;
  return refusal.includes(`--${camel(flag.slice(2))}\``) || refusal.includes(`${flag}\``);
}

/** Is `why` how orch refuses an option or a command it does not know ("Unknown option" in older orchs)? */
function refusedAsUnknown(why: string): boolean {
  const said = why.toLowerCase();
  return said.startsWith("unknown option `") || said.startsWith('unknown command "');
}

export class RemoteHost {
  constructor(readonly record: HostRecord, readonly env: NodeJS.ProcessEnv) {}

  get name(): string {
    return this.record.name;
  }

  /** Any program on the host, started in the remote home folder. */
  run(command: RemoteCommand, options: OrchRunOptions = {}): Promise<RunResult> {
    return runOnHost(this.name, this.record.destination, command, this.env, options);
  }

  /** One of orch's scripts with its "$@" (see scriptLine): straight in a login shell known to be POSIX. */
  script(script: string, name: string, args: readonly string[]): RemoteCommand {
    return scriptLine(script, name, args, this.record.posix_shell === true);
  }

  /** orch ARGS in the clone. */
  orchCommand(args: readonly string[]): RemoteCommand {
    return this.script(IN_CLONE, "orch-remote", [this.record.orch_path, this.record.path, ...args]);
  }

  /** `orch --version` in the clone, ended after VERSION_LIMIT_SECONDS (exit 137). */
  versionCommand(): RemoteCommand {
    return this.script(VERSION_IN_CLONE, "orch-version", [this.record.orch_path, this.record.path]);
  }

  /**
   * `orch ARGS --json` in the clone; its JSON document, or its error as an OrchError of the same kind. An
   * `input` goes with its length (--stdin-bytes): a connection that ends mid-write ends the input there
   * early, which the host's orch would read as its end and take the short text for the whole.
   */
  async orch(args: readonly string[], options: OrchRunOptions = {}): Promise<Record<string, unknown>> {
    const { input } = options;
    if (input === undefined) return this.orchOnce(args, options);
    const counted = [...args, "--stdin-bytes", String(Buffer.byteLength(input))];
    return this.orchOnce(counted, options).catch((error: unknown) => {
      // An orch there older than --stdin-bytes refuses the flag (a usage error, before it reads its input or
      // does anything) and gets the text as before, unchecked, as withText's --text-on-stdin falls back.
      if (hostLacksFlag(error, "--stdin-bytes")) {
        return this.orchOnce(args, options);
      }
      throw error;
    });
  }

  private async orchOnce(args: readonly string[], options: OrchRunOptions): Promise<Record<string, unknown>> {
    const result = await this.run(this.orchCommand([...args, "--json"]), options);
    return this.documentOf(result, args[0] ?? "orch");
  }

  /** Reads the JSON document of a remote orch, turning its failure into an error that says where. */
  documentOf(result: RunResult, what: string): Record<string, unknown> {
    let doc: Record<string, unknown> | undefined;
    try {
      doc = JSON.parse(result.stdout) as Record<string, unknown>;
    } catch {
      doc = undefined;
    }
    if (result.code === 0 && doc) return doc;
    const answerAt = result.stdout.search(/^\{/m);
    if (!doc && answerAt > 0) throw loginShellNoise(this.name, result.stdout.slice(0, answerAt));
    if (result.code === 3) {
      const what = `the clone ${this.record.path} is missing`;
      const message = `on host ${this.name}: ${what} (${this.addAgain()} makes it again)`;
      throw new HostError("not_found", this.name, message, { host: this.name, clone_missing: true });
    }
    const error = doc?.error as { code?: string; message?: string } | undefined;
    const kind = ERROR_KINDS.find((k) => k === error?.code) ?? "failed";
    if (doc?.session_missing === true) {
      // Its store or this session's part of it was removed there (or the clone made anew): what this session
      // had on the host is gone with it.
      const gone = "the host's orch no longer has this session (its store there removed, or the clone made anew)";
      const fix = "orch rm forgets its workers here; the next spawn there starts a new session";
      const details = { host: this.name, session_missing: true };
      throw new HostError("not_found", this.name, `on host ${this.name}: ${gone}: ${fix}`, details);
    }
    const why = error?.message ?? (result.stderr.trim().split("\n").pop() || `exit ${result.code}`);
    if (result.code === 127 || result.code === 126) {
      const where = `orch is not installed at ${this.record.orch_path} (${why})`;
      throw new HostError("failed", this.name, `on host ${this.name}: ${where}: ${this.addAgain()} installs it`);
    }
    if (!doc && result.code < 128) {
      // Not orch's answer at all (no JSON document, not ended by a signal): a broken or foreign program there.
      const said = result.stderr.trim().split("\n").pop() || textStart(result.stdout.trim().split("\n")[0]!, 80);
      const answer = `gave no answer orch can read (exit ${result.code}${said ? `: ${said}` : ", no output"})`;
      const fix = `if it is not this orch's build, ${this.addAgain()} installs it again`;
      throw new HostError("failed", this.name, `on host ${this.name}: orch ${what} ${answer}; ${fix}`);
    }
    if (kind === "usage" && refusedAsUnknown(why)) {
      // The host's orch does not know what this one asked of it: it is older, and nothing the user gave was bad.
      const message = `on host ${this.name}: its orch is older than this one (orch ${what} there: ${why}): ` +
        `${this.addAgain()} upgrades it`;
      throw new HostError("failed", this.name, message, { host: this.name, host_orch_older: true, host_refusal: why });
    }
    const details = doc && !doc.success ? { host: this.name } : {};
    throw new HostError(kind, this.name, `on host ${this.name}: orch ${what}: ${why}`, details);
  }

  /** The command that checks this host anew, installing orch and making the clone where they are gone. */
  addAgain(): string {
    const word = (w: string) => (/^[A-Za-z0-9@%+=:,./_-]+$/.test(w) ? w : quoteForShell([w]));
    return `orch host add ${this.name} ${word(this.record.destination)} --path ${word(this.record.path)}`;
  }

  /**
   * `orch __lifeline REQUEST` with pipes: it ends when its standard input closes (see lifeline.ts). A poll
   * that does not wait starts orch there only when there may be something to take (POLL_IF_ANY).
   */
  lifeline(request: LifelineRequest): Promise<RemoteProcess> {
    const lifeline = ["__lifeline", JSON.stringify(request), "--json"];
    const session = request.flags.orch;
    // Announced (see ANNOUNCE): the "ack" must reach orch there, not an rc file's read.
    const { orch_path: orchPath, path } = this.record;
    const command = request.command === "poll" && !request.flags.wait && typeof session === "string"
      ? this.script(`${ANNOUNCE}\n${POLL_IF_ANY}`, "orch-poll", [orchPath, path, session, ...lifeline])
      : this.script(`${ANNOUNCE}; ${IN_CLONE}`, "orch-remote", [orchPath, path, ...lifeline]);
    return startOnHost(this.name, this.record.destination, command, this.env);
  }

  /**
   * git over ssh to this host failed (`what`: "fetch B from", "push C to"): HostUnreachable when ssh could
   * not connect, else what the host's git said.
   */
  gitFailure(what: string, result: RunResult): HostError {
    const message = `could not ${what} host ${this.name}: ${gitComplaint(result.stderr)}`;
    // The ssh error itself (git's advice after it says nothing of why).
    if (gitCouldNotConnect(result.stderr)) return new HostUnreachable(this.name, gitComplaint(result.stderr), message);
    const noClone = /does not appear to be a git repository/.test(result.stderr);
    const fix = noClone ? ` (${this.addAgain()} makes the clone again)` : "";
    // A clone made anew (host add) no longer has the branches of the workers it had: rm still forgets them.
    const details = /couldn't find remote ref/.test(result.stderr) ? { branch_missing: true } : {};
    return new HostError("failed", this.name, `${message}${fix}`, details);
  }

  unreachable(error: string): HostUnreachable {
    return new HostUnreachable(this.name, error);
  }

  gitUrl(): string {
    return gitUrlFor(this.record.destination, this.record.path);
  }

  /**
   * `git fetch ARGS` or `git push ARGS` with this host's clone (gitUrl) in `cwd`, failing or not. The host runs
   * git's upload-pack or receive-pack behind ANNOUNCE: a login shell that waits for input (an rc file's
   * read, which would take git's own protocol and wait for ever) makes the host unreachable once the start
   * time limit has passed, as for orch's own commands. `sparingCheckedOut`: a push that would move a branch
   * checked out in a worktree there (a worker's, of any session) is refused ("branch is currently checked
   * out") instead of resetting that worktree, as the clone's receive.denyCurrentBranch updateInstead would.
   */
  async git(
    verb: "fetch" | "push", args: readonly string[], cwd: string, options: { sparingCheckedOut?: boolean } = {},
  ): Promise<RunResult> {
    const pack = verb === "push" ? "receive-pack" : "upload-pack";
    const program = `git-${pack}`;
    const run = options.sparingCheckedOut ? `git -c receive.denyCurrentBranch=refuse ${pack}` : program;
    // git appends the clone's path, quoted, to this and hands the line to ssh for the login shell.
    const announced = this.record.posix_shell === true
      ? `${ANNOUNCE}; exec ${run}`
      : quoteForShell(["sh", "-c", `${ANNOUNCE}; exec ${run} "$1"`, "orch-git"]);
    const env = await this.gitEnv();
    const limit = startTimeoutMs(env);
    const option = `--${pack}=${announced}`;
    // Loaded here: the remote poll, which runs no git, does without it.
    const { git } = await import("../adapters/git.ts");
    const result = await git([verb, option, ...args], cwd, {
      env, allowFailure: true, ownProcessGroup: true, readyLine: { text: READY, withinMs: limit },
    });
    if (result.notReady) throw notStarted(this.name, program, limit);
    return result;
  }

  /**
   * git's environment for talking to the host: the same ssh options, the same shared connection (a master
   * that does not answer is set aside first: git's ssh would wait on it without end).
   */
  private async gitEnv(): Promise<NodeJS.ProcessEnv> {
    await setAsideSilentMasterOf(this.record.destination, this.env);
    return { ...this.env, GIT_SSH_COMMAND: gitSshCommand(this.record.destination, this.env), GIT_SSH_VARIANT: "ssh" };
  }
}

/** A command that the host's orch runs on a lifeline: poll (claims, then waits for "ack") or await. */
export interface LifelineRequest {
  command: "poll" | "await";
  args: string[];
  flags: Record<string, string | boolean>;
}
