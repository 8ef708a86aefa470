// Ending an agent and everything it started. A process is signalled only while it is provably the one
// orch means: the agent by its pid and start time, the rest by being in its process tree or carrying the
// worker's ORCH_ID and ORCH_WORKER in its environment (daemons that setsid keep their environment).

import fs from "node:fs";
import path from "node:path";
import { allPids, hasProcFs, isSameProcess, processEnviron, processName, processStat } from "../proc.ts";

export interface Target {
  pid: number;
  startTime: string | undefined;
  name: string;
}

export interface NotEnded {
  pid: number;
  name: string;
  reason: string;
}

export interface TerminateOutcome {
  /** Processes that were running and have ended. */
  ended: Target[];
  /** Processes orch found but could not end, and why. */
  notEnded: NotEnded[];
}

/** Our own process and its ancestors: never signalled (the shell that ran `orch stop` may be the worker's). */
function selfAndAncestors(): Set<number> {
  const mine = new Set<number>();
  for (let pid = process.pid; pid > 1 && !mine.has(pid); pid = processStat(pid)?.ppid ?? 0) mine.add(pid);
  return mine;
}

/** Whether process `pid` has exactly ORCH_ID=<orchestratorId> and ORCH_WORKER=<workerId> in its environment. */
export function carriesWorkerMarker(pid: number, marker: { orchestratorId: string; workerId: string }): boolean {
  const environ = processEnviron(pid);
  if (!environ) return false;
  return environ.includes(`ORCH_ID=${marker.orchestratorId}`) && environ.includes(`ORCH_WORKER=${marker.workerId}`);
}

/**
 * The processes of a worker: the agent (if `agentPid` is still the process that started at
 * `agentStart`), its descendants, and every process of this user whose environment holds exactly
 * ORCH_ID=<orchestratorId> and ORCH_WORKER=<workerId>. A tmux server that happens to carry them (started
 * from inside a worker) is left alone: it serves every window.
 */
export function workerProcesses(
  marker: { orchestratorId: string; workerId: string },
  agentPid: number | undefined,
): Target[] {
  if (!hasProcFs()) return [];
  const exclude = selfAndAncestors();
  const byMarker = marker.orchestratorId !== "" && marker.workerId !== "";
  const children = new Map<number, number[]>();
  const found = new Map<number, Target>();
  for (const pid of allPids()) {
    const stat = processStat(pid);
    if (!stat || stat.state === "Z") continue;
    children.set(stat.ppid, [...(children.get(stat.ppid) ?? []), pid]);
    if (exclude.has(pid) || !byMarker) continue;
    if (carriesWorkerMarker(pid, marker)) {
      const name = processName(pid);
      if (!name.startsWith("tmux")) found.set(pid, { pid, startTime: stat.startTime, name });
    }
  }
  if (agentPid !== undefined) {
    for (const pending = [agentPid]; pending.length > 0;) {
      const pid = pending.pop()!;
      const stat = processStat(pid);
      if (!stat || exclude.has(pid)) continue;
      if (!found.has(pid)) found.set(pid, { pid, startTime: stat.startTime, name: processName(pid) });
      pending.push(...(children.get(pid) ?? []));
    }
  }
  return [...found.values()];
}

/**
 * The processes (not this one or its ancestors) working in `dir` or below it: their current folder is
 * there. Empty without /proc, and for another user's processes, whose folder cannot be read.
 */
export function processesWorkingIn(dir: string): Target[] {
  if (!hasProcFs()) return [];
  let real: string;
  try {
    real = fs.realpathSync(dir); // what /proc shows of a folder reached through a link
  } catch {
    return [];
  }
  const exclude = selfAndAncestors();
  const found: Target[] = [];
  for (const pid of allPids()) {
    if (exclude.has(pid)) continue;
    let cwd: string;
    try {
      cwd = fs.readlinkSync(`/proc/${pid}/cwd`);
    } catch {
      continue; // ended meanwhile, or not ours to read
    }
    const stat = processStat(pid);
    if (stat && stat.state !== "Z" && (cwd === real || cwd.startsWith(`${real}${path.sep}`))) {
      found.push({ pid, startTime: stat.startTime, name: processName(pid) });
    }
  }
  return found;
}

function signal(target: Target, name: NodeJS.Signals): string | undefined {
  // Checked again right before each signal: a pid that ended and was reused in between is not ours.
  if (!isSameProcess(target.pid, target.startTime)) return undefined;
  try {
    process.kill(target.pid, name);
    return undefined;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return code === "ESRCH" ? undefined : code ?? String(error);
  }
}

/** SIGTERM to every target, SIGKILL to those still running after `graceMs`; says what could not be ended. */
export async function terminate(targets: Target[], graceMs = 1500): Promise<TerminateOutcome> {
  const refused = new Map<number, string>();
  for (const target of targets) {
    const problem = signal(target, "SIGTERM");
    if (problem) refused.set(target.pid, problem);
  }
  const running = () => targets.filter((t) => isSameProcess(t.pid, t.startTime));
  const shortPause = () => new Promise((r) => setTimeout(r, 50));
  for (let waited = 0; waited < graceMs && running().length > 0; waited += 50) await shortPause();
  for (const target of running()) {
    const problem = signal(target, "SIGKILL");
    if (problem) refused.set(target.pid, problem);
  }
  for (let waited = 0; waited < 1000 && running().length > 0; waited += 50) await shortPause();
  const left = running();
  const whyNotEnded = (pid: number): string => {
    if (refused.get(pid) === "EPERM") return "permission denied (another user's process)";
    if (refused.has(pid)) return `kill failed: ${refused.get(pid)}`;
    return "still running after SIGKILL (uninterruptible sleep?)";
  };
  return {
    ended: targets.filter((t) => !left.includes(t)),
    notEnded: left.map((t) => ({
      pid: t.pid,
      name: t.name,
      reason: whyNotEnded(t.pid),
    })),
  };
}

/**
 * Finds a worker's processes now (workerProcesses) and returns how to end them, so the caller can close
 * the window in between: the list is taken while the tree is still whole. Without /proc (macOS) neither
 * start times nor environments can be read: the agent's tree is ended through ps (zx's kill).
 */
export function planWorkerEnd(
  marker: { orchestratorId: string; workerId: string },
  agentPid: number | undefined,
): () => Promise<TerminateOutcome> {
  if (hasProcFs()) {
    const targets = workerProcesses(marker, agentPid);
    return () => terminate(targets);
  }
  return async () => {
    if (agentPid === undefined) return { ended: [], notEnded: [] };
    const { kill } = await import("zx");
    try {
      await kill(agentPid, "SIGTERM");
    } catch {
      // it ended between the check and the kill
    }
    return { ended: [{ pid: agentPid, startTime: undefined, name: "agent" }], notEnded: [] };
  };
}
