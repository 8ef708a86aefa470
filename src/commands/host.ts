// orch host add NAME DEST [--path DIR] | host list | host rm NAME: the hosts that run workers over ssh.
// add checks the connection (BatchMode), installs this orch there when missing or older, and makes the
// clone there from this repository over the same ssh.

import fs from "node:fs";
import path from "node:path";
import * as gitAdapter from "../adapters/git.ts";
import { headBranchFromFiles, mainWorktreeOf } from "../adapters/repo.ts";
import { checkSshSetup, closeConnection, gitComplaint, HostUnreachable } from "../adapters/ssh.ts";
import { posixCksum } from "../cksum.ts";
import { requireRepo, storeLayout, type Context } from "../context.ts";
import { aboutHost, OrchError, usage } from "../errors.ts";
import { booleanFlag, positional, stringFlag, type Flags } from "../flags.ts";
import { noteHostReached } from "../hosts/backoff.ts";
import { checkDestination, checkHostName, checkRemotePath, defaultRemotePath } from "../hosts/destination.ts";
import { loginShellNoise, RemoteHost, VERSION_LIMIT_SECONDS, VERSION_WITHIN } from "../hosts/remote.ts";
import { POSIX_SHELL_CHECK, POSIX_SHELL_OK } from "../hosts/shell-quote.ts";
import {
  findHost, forgetHost, isHostOf, listHosts, REMOTE_ORCH_PATH, saveHost, type HostRecord,
} from "../hosts/store.ts";
import { selfCommand } from "../runtime.ts";
import { CorruptFileError, listDir } from "../store/files.ts";
import type { StoreLayout } from "../store/layout.ts";
import { listWorkers, type WorkerRecord } from "../store/workers.ts";
import { BUILD, builtAfter, VERSION, type BuildStamp } from "../version.ts";
import type { CommandResult } from "./types.ts";

/**
 * Removes the temporary files of INSTALL ("$HOME/$o".PID.tmp) whose shell no longer runs: one whose
 * connection ended mid-copy can be ended before it removes its own (killed, the host restarted). Only
 * those names, and never the file of a copy under way (another host add at the same time).
 */
const OLD_COPIES = 'for f in "$HOME/$o".[0-9]*.tmp; do p=${f#"$HOME/$o".}; p=${p%.tmp}; ' +
  'case $p in *[!0-9]*) continue ;; esac; command kill -0 "$p" 2>/dev/null || rm -f -- "$f"; done; ';
/**
 * What the host has: its system, its orch (if any: its `--version --json` on one line, or the plain line of
 * an orch that has no JSON for it) and that file's POSIX cksum, which of git and tmux are
 * missing, and which of the agents orch knows by name ("$@" after the orch path) its ssh commands find.
 * First, the leftovers of an earlier copy of orch (OLD_COPIES).
 */
const PROBE = `${VERSION_WITHIN}; ` + `o=$1; shift; ${OLD_COPIES}` + 'echo orch-probe; uname -s; uname -m; ' +
  'if v=$(versionWithin "$HOME/$o" --json 2>/dev/null); then printf "%s\\n" "$v" | tr -s "\\n" " "; echo; ' +
  'else echo "orch none"; fi; ' +
  '{ cksum < "$HOME/$o"; } 2>/dev/null || echo "cksum none"; ' +
  'for p in git tmux; do command -v "$p" >/dev/null 2>&1 || echo "missing $p"; done; ' +
  'for p in "$@"; do command -v "$p" >/dev/null 2>&1 && echo "agent $p"; done; :';
/** The programs of the agents orch knows by name (--agent claude, --agent codex); claude is the default. */
const NAMED_AGENTS = ["claude", "codex"];
/** The heart of host add's warning for a host without claude (demo --hosts, whose hosts need none, skips it). */
export const NO_CLAUDE_THERE = "has no claude on the PATH of its ssh commands";
/**
 * Writes standard input to the orch path atomically (a running orch there keeps its old file), once all $2
 * bytes have come: a connection that ends mid-copy ends the input early, which cat takes for its end. A copy
 * that fails (a full disk, a short one) removes its temporary file: a partial binary would keep its space.
 */
const INSTALL = 'mkdir -p -- "$(dirname -- "$1")" && t="$1.$$.tmp" && ' +
  '{ { cat > "$t" && n=$(wc -c < "$t") && { [ $n -eq "$2" ] || { short=1; false; }; } && chmod 755 "$t" && ' +
  // Removed before saying so: with the connection gone, a write to stderr would end this shell.
  'mv -f -- "$t" "$1"; } || ' +
  '{ rm -f -- "$t"; [ -z "$short" ] || echo "orch-install: $n of $2 bytes came" >&2; exit 1; }; }';
/**
 * An empty repository to push into; pushing into its checked-out branch updates its worktree. A repository
 * already there is used only when it takes such pushes already (one orch made): anyone else's checkout
 * (`foreign`) is left as it is, its config and worktree untouched. A clone whose making fails half-way (a
 * full disk) is removed again: left without its setting, the next host add would take it for someone else's.
 */
const MAKE_CLONE = 'mkdir -p -- "$1" && cd -- "$1" && if [ -e .git ]; then ' +
  '[ "$(git config receive.denyCurrentBranch)" = updateInstead ] || { echo foreign; exit 0; }; ' +
  // git config exits 255 when it cannot write (a read-only disk), which would read as ssh's "unreachable".
  'else { git init -q -b "$2" && git config receive.denyCurrentBranch updateInstead; } || ' +
  '{ rm -rf .git 2>/dev/null; exit 1; }; echo made; fi && ' +
  // Written again when the clone was there: a home that cannot be written fails here, not at the next spawn.
  // shallowUpdate: a shallow clone here (CI's checkout) pushes its cut-off history, which git refuses without it.
  "{ git config receive.denyCurrentBranch updateInstead && git config receive.shallowUpdate true || exit 1; }";

const SYSTEMS: Record<string, string> = { Linux: "linux", Darwin: "darwin", FreeBSD: "freebsd" };
const MACHINES: Record<string, string> = { x86_64: "x64", amd64: "x64", aarch64: "arm64", arm64: "arm64" };

function versionParts(text: string): number[] {
  return (/(\d+)\.(\d+)\.(\d+)/.exec(text) ?? []).slice(1).map(Number);
}

function isOlder(theirs: string, ours: string): boolean {
  const [a, b] = [versionParts(theirs), versionParts(ours)];
  if (a.length === 0) return true;
  for (let i = 0; i < 3; i++) if (a[i] !== b[i]) return a[i]! < b[i]!;
  return false;
}

/** The host's orch as the probe found it: its version and, from a stamped build, its build. */
interface TheirOrch {
  version: string;
  build?: BuildStamp;
}

/** The probe's orch line: `orch --version --json` on one line, or the plain text of an orch without it. */
function theirOrch(line: string): TheirOrch | undefined {
  if (line === "orch none") return undefined;
  try {
    const doc = JSON.parse(line) as { version?: unknown; build?: { built_at?: unknown; committed_at?: unknown } };
    if (typeof doc?.version !== "string") return { version: line };
    const build = doc.build;
    if (typeof build?.built_at !== "string") return { version: doc.version };
    const committed = typeof build.committed_at === "string" ? { committed_at: build.committed_at } : {};
    return { version: doc.version, build: { built_at: build.built_at, ...committed } };
  } catch {
    return { version: line };
  }
}

/** What a build stamp says, for the line that names a newer one. */
function buildText(build: BuildStamp | undefined): string {
  if (!build) return "unstamped";
  return `built ${build.built_at}${build.committed_at ? ` from a commit of ${build.committed_at}` : ""}`;
}

/**
 * Whether host add puts this orch in place of theirs: none there, an older version, or another build of
 * this version (its file not this one's: cksum, `sum`) made before this one. The version stays the same
 * between releases, so builds are told apart by their stamps (src/version.ts); one without a stamp came
 * before builds had them. `newer` says why theirs stays when it is newer than this one. Run from source,
 * orch has no file to compare and leaves one of its version.
 */
function replaces(theirs: TheirOrch | undefined, sum: string): { install: boolean; newer?: string } {
  if (!theirs || isOlder(theirs.version, VERSION)) return { install: true };
  if (isOlder(VERSION, theirs.version)) {
    return { install: false, newer: `orch ${theirs.version}, newer than this one (${VERSION})` };
  }
  const self = selfCommand();
  if (self.length !== 1 || posixCksum(fs.readFileSync(self[0]!)) === sum.trim()) return { install: false };
  if (!theirs.build) return { install: true };
  if (BUILD && !builtAfter(theirs.build, BUILD)) return { install: true };
  const builds = `(${buildText(theirs.build)}) than this one (${buildText(BUILD)})`;
  return { install: false, newer: `a newer build of orch ${VERSION} ${builds}` };
}

/** This orch as one file to copy: the compiled binary. */
function binaryToInstall(): string {
  const self = selfCommand();
  if (self.length !== 1) {
    throw new OrchError("failed", "this orch runs from source, so there is no binary to copy to the host: " +
      "run the compiled one (dist/orch, made by bun build.ts)");
  }
  return self[0]!;
}

interface AddOutcome {
  record: HostRecord;
  /** The named agents whose program is on the PATH of the host's ssh commands. */
  agents: string[];
  installed: boolean;
  /** The host was known already: checked again (orch upgraded there when older, the clone made when gone). */
  again: boolean;
  warnings: string[];
}

/** The last line of a program's error output: what went wrong, without its preamble. */
function lastLine(stderr: string): string {
  return stderr.trim().split("\n").pop() ?? "";
}

/**
 * The shell could not start the host's orch (exit 126): when the file's mode lets its owner run it but the
 * system says it cannot be run (access(2), as `test -x` asks it), its file system refuses to run programs (a
 * home or ~/.local/bin mounted noexec), which the shell's "Permission denied" hides.
 */
async function refusedToRun(host: RemoteHost, name: string): Promise<void> {
  const noexec = 'test -f "$1" && test -n "$(find "$1" -perm -100)" && ! test -x "$1" && echo noexec';
  const probe = await host.run(["sh", "-c", noexec, "orch-probe", REMOTE_ORCH_PATH]);
  if (!probe.stdout.split("\n").includes("noexec")) return;
  throw new OrchError("failed", `orch on host ${name} cannot run: ~/${REMOTE_ORCH_PATH} is executable but was ` +
    "refused (Permission denied), so its file system does not let programs run (mounted noexec?): put " +
    `~/${path.dirname(REMOTE_ORCH_PATH)}, and ~/.local/state/orch where orch keeps its shim, on one that does ` +
    "(a link to a folder elsewhere will do), then host add again");
}

async function addHost(
  layout: StoreLayout, name: string, dest: string, dirFlag: string | undefined, ctx: Context,
): Promise<AddOutcome> {
  const main = mainWorktreeOf(await requireRepo(ctx));
  // Added again as it was (the way to upgrade its orch, or to mend a clone removed there): checked anew.
  // Anything else under a known name is another host.
  const known = findHost(layout, name);
  const dir = dirFlag !== undefined
    ? checkRemotePath(dirFlag)
    : known?.path ?? defaultRemotePath(path.basename(main.root));
  if (known && (known.destination !== dest || checkRemotePath(known.path) !== dir)) {
    const was = `${known.destination}, clone at ${known.path}`;
    const instead = `orch host rm ${name} first, or use another name`;
    throw new OrchError("exists", `host ${name} already exists as ${was} (${instead})`);
  }
  // Refused before the host is touched: without a commit there is nothing to make its clone from.
  if (!(await gitAdapter.resolveCommit(main.root, "HEAD"))) {
    throw new OrchError("not_found", `${main.root} has no commit yet to make host ${name}'s clone from: commit first`);
  }
  // Added again, the path keeps its spelling: an older orch kept --path as given (./x), and the workers made
  // since hold a host_id of that spelling (hostIdOf), which another one would make "another host now".
  const record: HostRecord = {
    name, destination: dest, path: known?.path ?? dir, orch_path: REMOTE_ORCH_PATH, os: "", arch: "", orch_version: "",
    added_at: known?.added_at ?? new Date().toISOString(),
  };
  const host = new RemoteHost(record, ctx.env);
  const warnings: string[] = [];

  // With its input open until it runs, as orch's later commands have it: a login shell that reads it fails here.
  const probe = await host.run(["sh", "-c", PROBE, "orch-probe", REMOTE_ORCH_PATH, ...NAMED_AGENTS], { input: "" });
  // Its first line is the probe's own: anything before it came from the login shell.
  const lines = probe.stdout.trim().split("\n");
  const start = lines.indexOf("orch-probe");
  if (start > 0) throw loginShellNoise(name, lines.slice(0, start).join("\n"));
  if (start < 0) {
    const printed = probe.stdout.trim() ? `it printed ${JSON.stringify(lines[0])}` : "no output";
    const why = lastLine(probe.stderr) || printed;
    const message = `host ${name}: its login shell did not run orch's probe (exit ${probe.code}: ${why})`;
    throw new OrchError("failed", message);
  }
  const [system = "", machine = "", orchLine = "", sum = "", ...found] = lines.slice(1);
  // It answered: a pause of status and poll after it failed them (hosts/backoff.ts) is over, as when they reach it.
  noteHostReached(layout, name);
  // Asked of the login shell itself: orch's scripts then run in it without an sh of their own.
  const shellCheck = await host.run(POSIX_SHELL_CHECK);
  record.posix_shell = shellCheck.code === 0 && shellCheck.stdout.split("\n").includes(POSIX_SHELL_OK);
  record.os = SYSTEMS[system] ?? system.toLowerCase();
  record.arch = MACHINES[machine] ?? machine;
  if (found.includes("missing git")) {
    throw new OrchError("failed", `host ${name} has no git on the PATH of its ssh commands: install git there`);
  }
  if (found.includes("missing tmux")) {
    const until = "workers there need --no-window until it is installed";
    warnings.push(`host ${name} has no tmux on the PATH of its ssh commands: ${until}`);
  }
  const agents = found.filter((line) => line.startsWith("agent ")).map((line) => line.slice("agent ".length));
  if (!agents.includes("claude")) {
    // The default agent: its workers would fail there at once ("claude was not found on PATH").
    const instead = agents.length ? `, or spawn there with --agent ${agents.join(" or ")}` : "";
    warnings.push(`host ${name} ${NO_CLAUDE_THERE}: Claude Code workers there fail ` +
      `until it has (see "Hosts" in orch's README${instead})`);
  }

  let installed = false;
  const replacing = replaces(theirOrch(orchLine.trim()), sum);
  if (replacing.newer) {
    // Never an older orch over a newer one (another repository's orch, an older checkout's build).
    warnings.push(`host ${name} has ${replacing.newer}: left as it is`);
  }
  if (replacing.install) {
    if (record.os !== process.platform || record.arch !== process.arch) {
      const here = `${process.platform}/${process.arch}`;
      throw new OrchError("failed", `host ${name} runs ${record.os}/${record.arch}, this orch is built for ${here}: ` +
        `install an orch built for it at ~/${REMOTE_ORCH_PATH} there (one binary per architecture)`);
    }
    const binary = fs.readFileSync(binaryToInstall());
    const install = ["sh", "-c", INSTALL, "orch-install", REMOTE_ORCH_PATH, String(binary.length)];
    const copied = await host.run(install, { input: binary });
    if (copied.code !== 0) {
      throw new OrchError("failed", `could not install orch on host ${name}: ${lastLine(copied.stderr)}`);
    }
    installed = true;
  }
  const check = await host.run([REMOTE_ORCH_PATH, "--version"]);
  record.orch_version = check.stdout.trim().replace(/^orch /, "");
  if (check.code !== 0 || !record.orch_version) {
    if (check.code === 126) await refusedToRun(host, name);
    throw new OrchError("failed", `orch on host ${name} does not run: ${lastLine(check.stderr)}`);
  }

  const branch = headBranchFromFiles(main) ?? (await gitAdapter.currentBranch(main.root)) ?? "main";
  const made = await host.run(["sh", "-c", MAKE_CLONE, "orch-clone", dir, branch]);
  if (made.code !== 0) {
    throw new OrchError("failed", `could not make the clone ${dir} on host ${name}: ${lastLine(made.stderr)}`);
  }
  if (made.stdout.split("\n").includes("foreign")) {
    const why = "orch pushes into its clone's checked-out branch, which would move that repository's worktree";
    throw new OrchError("refused", `${dir} on host ${name} holds a repository orch did not make: ${why}; ` +
      "nothing was changed there (choose another --path)");
  }
  // Into a clone made now; one that was there has its history, and spawn pushes what it needs.
  if (!known || made.stdout.includes("made")) {
    const push = ["--quiet", host.gitUrl(), `HEAD:refs/heads/${branch}`];
    const pushed = await host.git("push", push, main.root);
    if (pushed.code !== 0) {
      // git's own line (its advice comes after it); a clone of another history there refuses a fast-forward.
      const rejected = /\[rejected\]/.test(pushed.stderr);
      const other = rejected ? ` (${dir} there holds another history: choose another --path)` : "";
      const why = `${gitComplaint(pushed.stderr)}${other}`;
      throw new OrchError("failed", `could not push this repository to ${host.gitUrl()}: ${why}`);
    }
  }
  saveHost(layout, record);
  return { record, agents, installed, again: known !== undefined, warnings };
}

/** Every worker recorded in any session of this store, with its session. */
function allWorkers(layout: StoreLayout): WorkerRecord[] {
  return listDir(layout.sessionsDir).filter((id) => id.startsWith("orch_")).flatMap((id) => listWorkers(layout, id));
}

interface HostReport {
  name: string;
  destination: string;
  path: string;
  reachable: boolean;
  orch_version: string | null;
  error?: string;
  workers: string[];
}

async function reportHost(record: HostRecord, workers: WorkerRecord[], ctx: Context): Promise<HostReport> {
  const mine = workers.filter((w) => w.host === record.name && isHostOf(record, w.host_id)).map((w) => w.worker_id);
  const base = { name: record.name, destination: record.destination, path: record.path, workers: mine };
  try {
    // Run in the clone, as every remote command is: a clone gone from there shows here too.
    const host = new RemoteHost(record, ctx.env);
    const result = await host.run(host.versionCommand());
    if (result.code === 3) {
      const error = `the clone ${record.path} is missing (${host.addAgain()} makes it again)`;
      return { ...base, reachable: true, orch_version: null, error };
    }
    if (result.code !== 0) {
      const why = result.code === 137
        ? `it did not answer --version within ${VERSION_LIMIT_SECONDS} s`
        : result.stderr.trim().split("\n").pop() || `--version exited ${result.code}`;
      const error = `orch does not run there (${why}): ${host.addAgain()} installs it`;
      return { ...base, reachable: true, orch_version: null, error };
    }
    const answer = result.stdout.trim();
    if (answer.includes("\n")) {
      const noise = answer.slice(0, answer.lastIndexOf("\n"));
      return { ...base, reachable: true, orch_version: null, error: loginShellNoise(record.name, noise).message };
    }
    return { ...base, reachable: true, orch_version: answer.replace(/^orch /, "") };
  } catch (error) {
    const why = error instanceof HostUnreachable ? error.sshError : (error as Error).message;
    ctx.warn(error instanceof HostUnreachable ? `host ${record.name}: ${why}` : aboutHost(record.name, error));
    return { ...base, reachable: false, orch_version: null, error: why };
  }
}

export async function main(args: string[], flags: Flags, ctx: Context): Promise<CommandResult> {
  const action = positional(args, 0, "action (add, list or rm)");
  // An option of another action is a mistake to say, not to pass over (git's "unknown option" for its subcommands).
  const options = { path: "add", force: "rm" } as const;
  for (const [option, owner] of Object.entries(options)) {
    const given = flags[option] !== undefined && flags[option] !== false;
    if (given && action !== owner && ["add", "list", "rm"].includes(action)) {
      throw usage(`--${option} is an option of host ${owner}, not of host ${action}`);
    }
  }
  const layout = await storeLayout(ctx);
  if (action === "add") {
    if (args.length > 3) throw usage("host add takes NAME and DEST");
    const name = checkHostName(positional(args, 1, "host name"));
    const dest = checkDestination(positional(args, 2, "ssh destination (user@host, ssh://user@host:port or an alias)"));
    const added = await addHost(layout, name, dest, stringFlag(flags, "path"), ctx);
    const { record, agents, installed, again, warnings } = added;
    for (const warning of warnings) ctx.warn(warning);
    return {
      json: { success: true, ...record, agents, installed, again, warnings },
      human: (c) => {
        const orch = `orch ${record.orch_version}${installed ? " installed" : ""}`;
        const what = again ? c.green("checked") : c.green("added");
        return `${what} host ${c.bold(name)} (${dest}): ${orch}, clone at ${record.path}\n`;
      },
    };
  }
  if (action === "list") {
    if (args.length > 1) throw usage("host list takes no arguments");
    const workers = allWorkers(layout);
    const records = listHosts(layout);
    if (records.length) checkSshSetup(ctx.env);
    const hosts = await Promise.all(records.map((record) => reportHost(record, workers, ctx)));
    return {
      json: { success: true, hosts },
      human: (c) => {
        if (hosts.length === 0) return "no hosts (orch host add NAME DEST)\n";
        const line = (h: (typeof hosts)[number]) => {
          const reach = h.reachable ? c.green("reachable") : c.red("unreachable");
          const orch = h.orch_version ? `orch ${h.orch_version}` : h.error ?? "";
          const where = c.dim(`${h.destination}:${h.path}`);
          return `${c.bold(h.name)}  ${reach}  ${orch}  ${h.workers.length} worker(s)  ${where}`;
        };
        return hosts.map(line).join("\n") + "\n";
      },
    };
  }
  if (action === "rm") {
    if (args.length > 2) throw usage("host rm takes one NAME");
    const name = checkHostName(positional(args, 1, "host name"));
    let record: HostRecord | undefined;
    let unusable: string | undefined;
    try {
      record = findHost(layout, name);
    } catch (error) {
      // A record no command can use (truncated, edited) is what rm is for: it goes, said as it is.
      if (!(error instanceof CorruptFileError)) throw error;
      unusable = error.message;
    }
    if (!record && unusable === undefined) throw new OrchError("not_found", `no host ${name}`);
    // Workers of the host this name was before (removed with --force, then added elsewhere) are not this one's.
    const workers = allWorkers(layout).filter((w) => w.host === name && (!record || isHostOf(record, w.host_id)));
    if (workers.length && !booleanFlag(flags, "force")) {
      const ids = workers.map((w) => w.worker_id).join(", ");
      const what = "orch rm them first, or --force to forget the host anyway";
      throw new OrchError("refused", `host ${name} still has worker(s) ${ids}: ${what}`);
    }
    forgetHost(layout, name);
    // Its pause goes too: a status within it would show the workers left waiting on a host that "did not answer".
    noteHostReached(layout, name);
    if (record) await closeConnection(record.destination, ctx.env, { gently: true }).catch(() => undefined);
    else ctx.warn(`removed the unusable record of host ${name} (${unusable})`);
    const left = workers.map((w) => w.worker_id);
    if (left.length && record) {
      // Their worktrees, windows and agents stay there; the host's orch removes them only when reached
      // under this name again (the session link here, kept, names the host's session that has them).
      const again = new RemoteHost(record, ctx.env).addAgain();
      ctx.warn(`worker(s) ${left.join(", ")} stay on host ${name}: ${again} (as it was, beside any other name ` +
        `for it), then orch rm, removes them there; orch rm alone only forgets them here`);
    }
    const where = record ? `on ${record.destination}` : "on the host";
    return {
      json: { success: true, name, removed: true, ...(left.length ? { workers_left: left } : {}) },
      human: (c) => `${c.green("removed")} host ${c.bold(name)} (its clone and orch stay ${where})\n`,
    };
  }
  throw usage(`unknown host action ${JSON.stringify(action)}: use add, list or rm`);
}
