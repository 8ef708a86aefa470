// The no-daemon watchdog: a worker's agent as its pid file records it, whether it still runs, and the one
// report of an agent that ended without reporting (status, await and poll run it).

import fs from "node:fs";
import path from "node:path";
import { errnoCode } from "../errors.ts";
import { windowKey } from "../ids.ts";
import { isAlive, isSameProcess, ownPidNamespace, processStartTime } from "../proc.ts";
import { readRegularFile, toJson, writeFileAtomic } from "./files.ts";
import type { StoreLayout } from "./layout.ts";
import { readEventLog } from "./events.ts";
import { newMessage, sendMessage } from "./messages.ts";
import { takeAwayClaim } from "./worker-claims.ts";
import { workerState } from "./worker-status.ts";
import { ACTIVE, type WorkerRecord, type WorkerStatus } from "./workers.ts";

/**
 * Records the agent's pid with its start time, so a later process that gets the same pid is not taken for
 * it, the pid namespace it is a pid in, so a command run in another one (a sandbox) does not judge it, and
 * the runner that writes it ("<pid>:<start time>"), which reports the agent's end itself.
 */
export function writeAgentPid(layout: StoreLayout, record: WorkerRecord, pid: number): void {
  const startTime = processStartTime(pid);
  const namespace = ownPidNamespace();
  const runnerStart = processStartTime(process.pid);
  // Each field is read by its place: one is written only after those before it.
  const fields = [String(pid)];
  if (startTime !== undefined) {
    fields.push(startTime);
    if (namespace !== undefined) {
      fields.push(namespace);
      if (runnerStart !== undefined) fields.push(`${process.pid}:${runnerStart}`);
    }
  }
  const pidLine = `${fields.join(" ")}\n`;
  writeFileAtomic(layout.agentPidFile(record.orchestrator_id, record.worker_id), pidLine, false);
}

export interface RecordedAgent {
  pid: number;
  startTime: string | undefined;
  /** The pid namespace the pid is in (`pid:[…]`); files of older runners have none. */
  pidNamespace?: string;
  /** The runner that started it and reports its end (files of older runners name none). */
  runner?: { pid: number; startTime: string };
}

/** What agent.pid says: "<pid> <start time>" (older runners wrote the pid alone). */
export function recordedAgent(layout: StoreLayout, record: WorkerRecord): RecordedAgent | undefined {
  return agentInFile(layout.agentPidFile(record.orchestrator_id, record.worker_id));
}

function agentInFile(file: string): RecordedAgent | undefined {
  let text: string;
  try {
    // Most workers have no agent running here: a look without an error object is cheaper than a failed open.
    if (fs.lstatSync(file, { throwIfNoEntry: false }) === undefined) return undefined;
    text = readRegularFile(file, 1024).toString("utf8").trim();
  } catch {
    return undefined;
  }
  const [pidText = "", startTime, pidNamespace, runnerText = ""] = text.split(/\s+/);
  const pid = Number(pidText);
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  if (pidNamespace === undefined) return { pid, startTime };
  const [, runnerPid, runnerStart] = /^(\d+):(\d+)$/.exec(runnerText) ?? [];
  if (runnerPid === undefined || runnerStart === undefined) return { pid, startTime, pidNamespace };
  return { pid, startTime, pidNamespace, runner: { pid: Number(runnerPid), startTime: runnerStart } };
}

/**
 * The pid of the worker's agent while it runs, else undefined: also when that pid now belongs to
 * another process, or the file has no start time on a system that has them (orch cannot tell then,
 * and never signals a process it cannot tell).
 */
export function runningAgentPid(layout: StoreLayout, record: WorkerRecord): number | undefined {
  return lookAtAgent(layout, record).running;
}

/** The agent orch started in the worker's window has ended (a --no-window worker has none orch runs). */
export function agentHasEnded(layout: StoreLayout, record: WorkerRecord): boolean {
  return record.window_id !== null && runningAgentPid(layout, record) === undefined;
}

/**
 * The agent.pid of a worker that is no longer active (done, failed, stopped) and whose agent has ended
 * without its runner removing the file (the runner was killed, the machine restarted): removed, so that
 * nothing takes it for an agent to watch again (a host's empty poll would start orch each time for it).
 * Moved aside first and removed only while it is the one that was read: one that a new life (resume)
 * wrote meanwhile is put back.
 */
export function forgetEndedAgent(layout: StoreLayout, record: WorkerRecord, ended: RecordedAgent): void {
  const file = layout.agentPidFile(record.orchestrator_id, record.worker_id);
  const aside = `${file}.ended-${process.pid}`;
  try {
    fs.renameSync(file, aside);
  } catch {
    return; // gone already
  }
  const taken = agentInFile(aside);
  if (taken?.pid !== ended.pid || taken.startTime !== ended.startTime) {
    try {
      fs.linkSync(aside, file);
    } catch {
      // A newer one is there already.
    }
  }
  fs.rmSync(aside, { force: true });
}

/** One reading of a worker's agent.pid, shared by the watchdog and the view of one command. */
export interface AgentLook {
  recorded: RecordedAgent | undefined;
  /** The recorded agent still runs: the same process when a start time was recorded, else any live pid. */
  runs: boolean;
  /** What runningAgentPid returns. */
  running: number | undefined;
}

export function lookAtAgent(layout: StoreLayout, record: WorkerRecord): AgentLook {
  return lookAtRecordedAgent(recordedAgent(layout, record));
}

/** Whether the process agent.pid names still runs (asked of the system every time). */
export function lookAtRecordedAgent(recorded: RecordedAgent | undefined): AgentLook {
  if (recorded === undefined) return { recorded, runs: false, running: undefined };
  // Seen from another pid namespace (a command in Codex's sandbox) its pid names nobody here: orch cannot
  // tell whether it ended, so it is taken to run, and never signalled from here.
  const here = ownPidNamespace();
  if (recorded.pidNamespace !== undefined && here !== undefined && recorded.pidNamespace !== here) {
    return { recorded, runs: true, running: undefined };
  }
  const same = isSameProcess(recorded.pid, recorded.startTime);
  const runs = recorded.startTime === undefined ? isAlive(recorded.pid) : same;
  return { recorded, runs, running: same ? recorded.pid : undefined };
}

/** Created (exclusively) by whoever reports the agent's end first: a dead agent is reported once. */
function endedMarker(layout: StoreLayout, record: WorkerRecord): string {
  return path.join(layout.workerDir(record.orchestrator_id, record.worker_id), "ended");
}

/** The agent of the worker's current life runs, or has already ended (its runner reported it). */
export function agentStartedOrEnded(layout: StoreLayout, record: WorkerRecord): boolean {
  return runningAgentPid(layout, record) !== undefined || fs.existsSync(endedMarker(layout, record));
}

/** orch resume starts a new life: its end will be reported again. */
export function clearEndedMarker(layout: StoreLayout, record: WorkerRecord): void {
  fs.rmSync(endedMarker(layout, record), { force: true });
}

/** What the ended marker says: the report's message and the process that sends it. */
interface EndedClaim {
  error: string;
  message_id: string;
  reporter_pid: number;
  reporter_start_time: string | null;
}

/** Creates the ended marker whole (written aside, then linked: exclusive); false when it exists. */
function claimEndedMarker(marker: string, claim: EndedClaim): boolean {
  const aside = `${marker}.${process.pid}.tmp`;
  try {
    writeFileAtomic(aside, toJson(claim), true);
    fs.linkSync(aside, marker);
    return true;
  } catch (failure) {
    if (errnoCode(failure) === "EEXIST" || errnoCode(failure) === "ENOENT") return false;
    throw failure;
  } finally {
    fs.rmSync(aside, { force: true });
  }
}

/**
 * A reporter killed between its marker and its message (the runner of a window whose tmux server was
 * killed first, a reboot) would leave the worker active, its failure told to nobody: when the marker's
 * reporter is gone and its message never reached the worker's log, the marker is taken away (by one
 * rename, which only one taker wins) so the caller can report in its place. True when it was taken.
 */
function takeAbandonedMarker(layout: StoreLayout, record: WorkerRecord, marker: string): boolean {
  let text: string;
  try {
    text = fs.readFileSync(marker, "utf8");
  } catch (failure) {
    if (errnoCode(failure) === "ENOENT") return true;
    throw failure;
  }
  let claim: Partial<EndedClaim>;
  try {
    claim = JSON.parse(text) as Partial<EndedClaim>;
  } catch {
    return false; // a marker of an older version, written after its message was sent
  }
  if (typeof claim.reporter_pid !== "number" || typeof claim.message_id !== "string") return false;
  if (isSameProcess(claim.reporter_pid, claim.reporter_start_time ?? undefined)) return false;
  const events = readEventLog(layout.eventsDir(record.orchestrator_id, record.worker_id));
  if (events.some((event) => event.id === claim.message_id)) return false;
  return takeAwayClaim(marker, text);
}

/**
 * Tells the orchestrator that the worker's agent ended without reporting (task_failed with the
 * reason), unless the worker has reported, was stopped, or someone has reported its end already.
 * Returns whether this call sent it.
 */
export function reportAgentEnded(layout: StoreLayout, record: WorkerRecord, summary: string, error: string): boolean {
  const report = claimAgentEnd(layout, record, summary, error);
  report?.send();
  return report !== undefined;
}

/**
 * reportAgentEnded in two steps: the claim to be the one that tells (undefined when the worker has reported,
 * was stopped, or someone else tells), then the message, with `details` the claimer gathered meanwhile. Every
 * other reporter (the watchdog of a status or poll) holds back while the claimer runs.
 */
export function claimAgentEnd(
  layout: StoreLayout,
  record: WorkerRecord,
  summary: string,
  error: string,
): { send: (details?: string) => void } | undefined {
  if (!(ACTIVE as readonly string[]).includes(workerState(layout, record).status)) return undefined;
  const message = newMessage({
    orchestrator_id: record.orchestrator_id,
    worker_id: record.worker_id,
    message_type: "task_failed",
    content: { summary, error, branch: record.branch },
  });
  const marker = endedMarker(layout, record);
  const claim: EndedClaim = {
    error,
    message_id: message.id,
    reporter_pid: process.pid,
    reporter_start_time: processStartTime(process.pid) ?? null,
  };
  if (!claimEndedMarker(marker, claim)) {
    if (!takeAbandonedMarker(layout, record, marker) || !claimEndedMarker(marker, claim)) return undefined;
  }
  const eventsDir = layout.eventsDir(record.orchestrator_id, record.worker_id);
  return {
    send: (details) => {
      const content = details ? { summary, error, details, branch: record.branch } : message.content;
      sendMessage(layout.mailDir(record.orchestrator_id), { ...message, content }, eventsDir);
    },
  };
}

/**
 * The runner that started the agent still runs: it reports the agent's end itself, with what only it knows (the
 * exit code, the window's last lines), an instant after the agent exits. A watchdog that reported in between, on
 * a machine too busy to run the runner at once, would take that report's place. A stopped runner (Ctrl-Z, a
 * debugger) is waited for too: it reports once it goes on, and the worker's status shows its agent gone meanwhile.
 */
function runnerStillReports(agent: RecordedAgent): boolean {
  return agent.runner !== undefined && isSameProcess(agent.runner.pid, agent.runner.startTime);
}

/**
 * Why the agent of an active worker is gone, or undefined while it may still be there: its recorded
 * pid has died (the runner removes the file on a normal exit), or — when `windows` (the tmux server's
 * windows, by windowKey) is given — its window was closed and no agent of it runs.
 */
export function agentGoneReason(
  layout: StoreLayout,
  record: WorkerRecord,
  windows?: Set<string>,
  look: AgentLook = lookAtAgent(layout, record),
): string | undefined {
  const { recorded: agent, runs } = look;
  if (runs || (agent !== undefined && runnerStillReports(agent))) return undefined;
  if (agent !== undefined) return `the agent (pid ${agent.pid}) ended without reporting`;
  if (windows && record.window_id && !windows.has(windowKey(record.window_id, record.tmux_server))) {
    return `its tmux window ${record.window_id} was closed`;
  }
  return undefined;
}

/** What a command has already read about a worker: its status and its agent.pid. */
export interface WorkerLook {
  status: WorkerStatus;
  agent: AgentLook;
}

/**
 * The no-daemon watchdog that status, await and poll run: every active worker whose agent is gone
 * without reporting is reported failed, once. Returns the ids reported now. With `seen` (what the
 * caller read this command), a worker known not to be active is passed over without reading anything.
 */
export function noticeEndedAgents(
  layout: StoreLayout,
  records: WorkerRecord[],
  windows?: Set<string>,
  seen?: Map<string, WorkerLook>,
): string[] {
  const reported: string[] = [];
  for (const record of records) {
    // A remote worker's agent and window are on its host, which watches them: nothing here can tell.
    if (record.host !== undefined) continue;
    const look = seen?.get(record.worker_id);
    if (look && !(ACTIVE as readonly string[]).includes(look.status)) {
      if (look.agent.recorded && !look.agent.runs) forgetEndedAgent(layout, record, look.agent.recorded);
      continue;
    }
    const agent = look?.agent ?? lookAtAgent(layout, record);
    // reportAgentEnded reads the status again before it reports: a report that came meanwhile wins.
    const reason = agentGoneReason(layout, record, windows, agent);
    if (!reason) continue;
    if (reportAgentEnded(layout, record, "agent ended without reporting", reason)) {
      reported.push(record.worker_id);
      // Told now: its pid file has nothing more to say (see agent-run.ts, which keeps it until then).
      if (agent.recorded && !agent.runs) forgetEndedAgent(layout, record, agent.recorded);
    } else if (agent.recorded && !agent.runs) {
      // Not reported because the worker had finished (or it was reported already): its pid file goes.
      const active = (ACTIVE as readonly string[]).includes(workerState(layout, record).status);
      if (!active) forgetEndedAgent(layout, record, agent.recorded);
    }
  }
  return reported;
}
