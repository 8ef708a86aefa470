// What the system says about a process: whether it still runs, when it started, its environment
// (Linux /proc; elsewhere only the signal-0 probe). Used to tell a live process from a reused pid.

import fs from "node:fs";
import path from "node:path";
import { errnoCode } from "./errors.ts";

/** The fields of /proc/<pid>/stat after the command name (which may hold spaces and parentheses). */
function statFields(pid: number): string[] | undefined {
  let stat: string;
  try {
    stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return undefined;
  }
  return stat.slice(stat.lastIndexOf(")") + 2).split(" ");
}

/** Whether /proc describes processes here (Linux), so start times can be checked. */
export function hasProcFs(): boolean {
  return fs.existsSync("/proc/self/stat");
}

/**
 * When the process started, in clock ticks since boot (/proc/<pid>/stat field 22): with the pid it
 * names one process for the life of the machine. Undefined when the process does not exist or the
 * system has no /proc.
 */
export function processStartTime(pid: number): string | undefined {
  return statFields(pid)?.[19];
}

let ownNamespace: string | null | undefined;

/**
 * Which pid namespace this process sees pids in (`pid:[4026531836]`), or undefined without /proc. A
 * sandbox (Codex's, bubblewrap's) may run commands in a namespace of their own, where the pids others
 * recorded name nobody, or someone else.
 */
export function ownPidNamespace(): string | undefined {
  if (ownNamespace === undefined) {
    try {
      ownNamespace = fs.readlinkSync("/proc/self/ns/pid");
    } catch {
      ownNamespace = null;
    }
  }
  return ownNamespace ?? undefined;
}

/** The machine's first pid namespace (the kernel's PROC_PID_INIT_INO): every process on it is visible from there. */
const INITIAL_PID_NAMESPACE = "pid:[4026531836]";

/** `pid:[4026531836]` → `4026531836`, the namespace's inode number (undefined for any other text). */
export function namespaceInode(namespace: string): string | undefined {
  return /^pid:\[([0-9]+)\]$/.exec(namespace)?.[1];
}

/** The pids of a process as its status lists them, from the namespace /proc was mounted in down to its own. */
function namespacePids(pid: number): string[] | undefined {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, "utf8");
    return /^NSpid:\s*(.*)$/m.exec(status)?.[1]?.trim().split(/\s+/);
  } catch {
    return undefined;
  }
}

/**
 * The processes this one sees, by the pid namespace each runs in: one readlink per process, made the first
 * time a process of another namespace is asked about, then kept for the one pass of the caller.
 */
export class NamespaceView {
  private members: Map<string, number[]> | undefined;
  /** A process in a namespace below this one whose namespace could not be read (another user's). */
  private hiddenNested = false;

  /**
   * Whether the process that was `pid` in the namespace `namespace` (`pid:[…]`) and started at `startTime`
   * still runs, or undefined when that cannot be told from here. From an outer namespace every process of
   * a nested one is visible, with its pid there (the last of its NSpid) and the same start time; a
   * namespace with no process visible here has ended only if this is the machine's first one: from any
   * other (a sandbox, a container) it may be an outer or a sibling namespace, whose processes it cannot see.
   */
  runs(pid: number, startTime: string, namespace: string): boolean | undefined {
    const members = this.memberPids().get(namespace);
    for (const member of members ?? []) {
      if (namespacePids(member)?.at(-1) !== String(pid)) continue;
      const stat = processStat(member);
      return stat !== undefined && stat.state !== "Z" && stat.startTime === startTime;
    }
    if (this.hiddenNested) return undefined;
    if (members !== undefined) return false;
    return ownPidNamespace() === INITIAL_PID_NAMESPACE ? false : undefined;
  }

  private memberPids(): Map<string, number[]> {
    if (this.members !== undefined) return this.members;
    this.members = new Map();
    for (const pid of allPids()) {
      let namespace: string;
      try {
        namespace = fs.readlinkSync(`/proc/${pid}/ns/pid`);
      } catch (error) {
        const code = errnoCode(error);
        // A process that ended (or a zombie, which has no namespace left) counts for nothing.
        if (code === "EACCES" || code === "EPERM") this.hiddenNested ||= (namespacePids(pid)?.length ?? 0) > 1;
        continue;
      }
      const list = this.members.get(namespace);
      if (list) list.push(pid);
      else this.members.set(namespace, [pid]);
    }
    return this.members;
  }
}

export interface ProcessStat {
  state: string;
  ppid: number;
  /** Its session id: the processes of one terminal's pipeline share it. */
  session: string;
  startTime: string;
}

export function processStat(pid: number): ProcessStat | undefined {
  const fields = statFields(pid);
  if (!fields || fields.length < 20) return undefined;
  return { state: fields[0]!, ppid: Number(fields[1]), session: fields[3]!, startTime: fields[19]! };
}

/** Signal 0 reaches the pid (EPERM: it exists, owned by someone else). */
function pidExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    if (errnoCode(error) !== "EPERM") return false;
  }
  return true;
}

/**
 * A process of the process group `pgid` still runs (a program started in a group of its own, or its children).
 * Zombies do not count: where nothing reaps orphans at once (a container whose PID 1 reaps late or never),
 * a killed orch's git stays one after it ended, and its group looked alive.
 */
export function processGroupExists(pgid: number): boolean {
  if (pgid <= 0 || !pidExists(-pgid)) return false;
  if (!hasProcFs()) return true;
  const runsInGroup = (fields: string[] | undefined) => fields?.[2] === String(pgid) && fields[0] !== "Z";
  if (runsInGroup(statFields(pgid))) return true;
  return fs.readdirSync("/proc").some((name) => /^[0-9]+$/.test(name) && runsInGroup(statFields(Number(name))));
}

/** The process runs (a zombie waiting for its parent does not count). */
export function isAlive(pid: number): boolean {
  if (!pidExists(pid)) return false;
  const stat = processStat(pid);
  return stat === undefined ? !hasProcFs() : stat.state !== "Z";
}

/**
 * The process `pid` is still the one that had `startTime`: alive and started then. Without /proc
 * (startTime undefined on both sides) only liveness can be checked. One read of /proc/<pid>/stat
 * answers both whether it is a zombie and when it started.
 */
export function isSameProcess(pid: number, startTime: string | undefined): boolean {
  if (!pidExists(pid)) return false;
  const stat = processStat(pid);
  if (stat === undefined) return startTime === undefined && !hasProcFs();
  if (stat.state === "Z") return false;
  return startTime === undefined ? !hasProcFs() : stat.startTime === startTime;
}

export interface ProcessIdentity {
  pid: number;
  /** In clock ticks since boot (/proc/<pid>/stat field 22): a reused pid has another. */
  startTime: string;
}

/**
 * `first` and the processes above it, up to (not including) init, each with its start time; a zombie
 * ends the chain (it is over). Empty without /proc, where nothing tells a process's parent.
 */
export function processChain(first: number): ProcessIdentity[] {
  const chain: ProcessIdentity[] = [];
  // A bound against a cycle that a pid reused between two reads could make.
  for (let pid = first; pid > 1 && chain.length < 64; ) {
    const stat = processStat(pid);
    if (!stat || stat.state === "Z") break;
    chain.push({ pid, startTime: stat.startTime });
    pid = stat.ppid;
  }
  return chain;
}

/** Every pid in /proc (empty without /proc). */
export function allPids(): number[] {
  try {
    return fs.readdirSync("/proc").filter((name) => name.charCodeAt(0) >= 48 && name.charCodeAt(0) <= 57).map(Number);
  } catch {
    return [];
  }
}

/** How process `pid` holds the pipe `link`: for reading, for writing only, not at all, or unknown (hidden). */
function pipeHold(pid: number, link: string): "reads" | "writes" | "none" | "hidden" {
  let fds: string[];
  try {
    fds = fs.readdirSync(`/proc/${pid}/fd`);
  } catch (error) {
    return errnoCode(error) === "EACCES" ? "hidden" : "none";
  }
  let hold: "writes" | "none" = "none";
  for (const fd of fds) {
    try {
      if (fs.readlinkSync(`/proc/${pid}/fd/${fd}`) !== link) continue;
      const flags = /^flags:\s*([0-7]+)/m.exec(fs.readFileSync(`/proc/${pid}/fdinfo/${fd}`, "utf8"))?.[1];
      if (flags === undefined || (parseInt(flags, 8) & 3) !== fs.constants.O_WRONLY) return "reads";
      hold = "writes";
    } catch {
      // closed or ended since the listing
    }
  }
  return hold;
}

/**
 * Whether a process other than this one holds the pipe `link` (as /proc shows an fd of it: "pipe:[inode]",
 * or a named FIFO's path) open for reading. The likeliest holders are looked at first: the processes
 * above this one (an agent reading a command's output), then the nearest pids (a pipeline's other
 * commands). One whose fds cannot be looked at (another user's: `orch watch | sudo tee`) counts as a
 * reader when it is in this process's session, as a pipeline's processes are, or when it is above this
 * one and the pipe came down from it: each process between holds it (sshd's session process, which no one
 * may look into, holds the pipe of a command run over ssh). A shell between that made the pipe for a
 * pipeline holds none of it: the sshd above a user's login shell is then no reader of it.
 */
export function pipeHasReader(link: string): boolean {
  const ownSession = processStat(process.pid)?.session;
  const sameSession = (pid: number) => processStat(pid)?.session === ownSession;
  const above = processChain(process.ppid).map((p) => p.pid);
  let cameDown = true;
  for (const pid of above) {
    const hold = pipeHold(pid, link);
    if (hold === "reads" || (hold === "hidden" && (cameDown || sameSession(pid)))) return true;
    if (hold !== "writes") cameDown = false;
  }
  const nearest = allPids()
    .filter((pid) => pid !== process.pid && !above.includes(pid))
    .sort((a, b) => Math.abs(a - process.pid) - Math.abs(b - process.pid));
  for (const pid of nearest) {
    const hold = pipeHold(pid, link);
    if (hold === "reads" || (hold === "hidden" && sameSession(pid))) return true;
  }
  return false;
}

/** The process's environment as NAME=value entries, or undefined when it cannot be read (another user's, gone). */
export function processEnviron(pid: number): string[] | undefined {
  try {
    return fs.readFileSync(`/proc/${pid}/environ`, "utf8").split("\0");
  } catch {
    return undefined;
  }
}

/** The short command name (/proc/<pid>/comm), or "?". */
export function processName(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/comm`, "utf8").trim();
  } catch {
    return "?";
  }
}

/**
 * The folder the process works in (/proc/<pid>/cwd), or undefined when it cannot be read (another user's, gone,
 * no /proc) or that folder was removed: a folder moved or renamed keeps its process, and the kernel names it anew.
 */
export function processCwd(pid: number): string | undefined {
  try {
    const cwd = fs.readlinkSync(`/proc/${pid}/cwd`);
    return fs.existsSync(cwd) ? cwd : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Whether a git program works in one of `dirs` or below it now: it may hold a lock there (index.lock, a ref's
 * lock) that orch must not take for one a killed git left.
 */
export function gitWorksIn(dirs: readonly string[]): boolean {
  return allPids().some((pid) => {
    if (processName(pid) !== "git") return false;
    const where = processCwd(pid);
    return where !== undefined && dirs.some((dir) => where === dir || where.startsWith(`${dir}${path.sep}`));
  });
}
