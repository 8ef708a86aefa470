// Claim files in a worker's folder: one orch command at a time starts, removes, resumes or syncs a worker.
// A claim is a file made exclusively, naming its process; one whose process is gone is taken over.

import fs from "node:fs";
import path from "node:path";
import { OrchError, errnoCode } from "../errors.ts";
import { isAlive, isSameProcess, processStartTime } from "../proc.ts";
import { toJson, writeNewFile } from "./files.ts";
import type { StoreLayout } from "./layout.ts";
import type { WorkerRecord } from "./workers.ts";

/** Created exclusively by the orch command that starts a pending worker, and kept once it started or failed to. */
function startClaimFile(layout: StoreLayout, record: WorkerRecord): string {
  return path.join(layout.workerDir(record.orchestrator_id, record.worker_id), "starting");
}

/**
 * Claims a pending worker for one orch command: to start it, or to write what it learnt into its record.
 * False when another command holds it (it starts the worker, or has started it) or the worker is gone.
 */
export function claimStart(layout: StoreLayout, record: WorkerRecord): boolean {
  const claim = startClaimFile(layout, record);
  const mine = toJson({ pid: process.pid, start_time: processStartTime(process.pid) ?? null });
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeNewFile(claim, mine, false);
      return true;
    } catch (error) {
      if (errnoCode(error) !== "EEXIST") {
        if (errnoCode(error) === "ENOENT") return false;
        throw error;
      }
    }
    if (attempt > 0 || !takeAbandonedStart(claim)) return false;
  }
  return false;
}

/**
 * A command killed while it started a pending worker (its record still pending), or while it removed a
 * worker, leaves its claim: the worker would wait, or refuse rm, forever. A claim whose process is gone
 * is taken away (one rename, which one taker wins; a live claim renamed meanwhile is put back), so the
 * next command starts it (or reports why not), or finishes its removal.
 */
function takeAbandonedStart(claim: string): boolean {
  let text: string;
  try {
    text = fs.readFileSync(claim, "utf8");
  } catch {
    return false;
  }
  return claimHolderOf(text) === "gone" && takeAwayClaim(claim, text);
}

/**
 * Whether the process that wrote a claim file's `text` still runs: "live", "gone", or "unknown" when the
 * text names no process (such a claim is never taken away).
 */
function claimHolderOf(text: string): "live" | "gone" | "unknown" {
  let holder: { pid?: unknown; start_time?: unknown };
  try {
    holder = JSON.parse(text) as { pid?: unknown; start_time?: unknown };
  } catch {
    holder = { pid: Number(text.trim()) }; // an older orch wrote the pid alone
  }
  if (typeof holder.pid !== "number" || !Number.isInteger(holder.pid) || holder.pid <= 0) return "unknown";
  const startTime = typeof holder.start_time === "string" ? holder.start_time : undefined;
  return (startTime === undefined ? isAlive(holder.pid) : isSameProcess(holder.pid, startTime)) ? "live" : "gone";
}

/**
 * Takes away the claim file `claim`, read as `text`, whose holder is gone: by one rename, which only one
 * taker wins. A live claim that replaced it in between (another taker's) is put back. True when taken.
 */
export function takeAwayClaim(claim: string, text: string): boolean {
  const taken = `${claim}.taken-${process.pid}`;
  try {
    fs.renameSync(claim, taken);
  } catch (failure) {
    if (errnoCode(failure) === "ENOENT") return false;
    throw failure;
  }
  const takenText = fs.readFileSync(taken, "utf8");
  if (takenText !== text) {
    try {
      fs.linkSync(taken, claim);
    } catch {
      // a third taker claimed it meanwhile: its claim stands
    }
  }
  fs.rmSync(taken, { force: true });
  return takenText === text;
}

/** What one orch command at a time does to a worker, under a claim file of that name in its folder. */
type WorkerClaim = "removing" | "resuming" | "syncing";

function claimFileOf(layout: StoreLayout, record: WorkerRecord, claim: WorkerClaim): string {
  return path.join(layout.workerDir(record.orchestrator_id, record.worker_id), claim);
}

/**
 * Claims a worker for the one orch command that removes it (rm, clean, merge): two at once each removed
 * part of it and one then failed on what the other had removed (a raw ENOENT, a branch "not found").
 * "held" while another live command holds it (one killed is taken over: its removal is finished), "gone"
 * when the worker's record went meanwhile.
 */
export function claimRemoval(layout: StoreLayout, record: WorkerRecord): "claimed" | "held" | "gone" {
  return claimWorker(claimFileOf(layout, record, "removing"));
}

/**
 * Claims a worker for the one orch resume that starts its agent again: two at once each saw no agent
 * running and each started one, two agents in one worktree. Held until the agent runs (see resume).
 */
export function claimResume(
  layout: StoreLayout, record: WorkerRecord, by: ResumeClaimer = "resume",
): "claimed" | "held" | "gone" {
  return claimWorker(claimFileOf(layout, record, "resuming"), by);
}

/**
 * The commands that hold the resume claim: resume while it starts the agent, stop and rm while they end
 * it (a resume at the same time would start an agent in a worker being stopped or removed), and spawn from
 * the record it makes until it has recorded the window (a stop or rm in between read no window, ended
 * nothing, and the agent then ran in a worker said stopped, or in a removed worktree).
 */
export type ResumeClaimer = "resume" | "stop" | "rm" | "spawn";

/** What the holder of a worker's resume claim is doing to it, as "worker W is being … by another orch command". */
const CLAIM_VERB: Record<ResumeClaimer, string> = {
  resume: "resumed", stop: "stopped", rm: "removed", spawn: "spawned",
};

/** The refusal of a command that found the worker's resume claim held: which command holds it is said. */
export function resumeClaimHeld(layout: StoreLayout, record: WorkerRecord): OrchError {
  const doing = CLAIM_VERB[resumeClaimHolder(layout, record) ?? "resume"];
  return new OrchError("refused", `worker ${record.worker_id} is being ${doing} by another orch command`);
}

/** Which command holds the worker's resume claim (an older orch's claim says none: resume). */
export function resumeClaimHolder(layout: StoreLayout, record: WorkerRecord): ResumeClaimer | undefined {
  const by = claimHolderNow(claimFileOf(layout, record, "resuming"));
  if (by === undefined) return undefined;
  return by === "stop" || by === "rm" || by === "spawn" ? by : "resume";
}

/** The `by` of a claim file ("" when it names none), or undefined when it is not there. */
function claimHolder(claim: string): string | undefined {
  // A claim is its file made, then written: read in between, a stop's claim would pass for a resume's.
  for (let waited = 0; waited <= CLAIM_WRITE_WAIT_MS; waited += 2) {
    let text: string;
    try {
      text = fs.readFileSync(claim, "utf8");
    } catch {
      return undefined; // released meanwhile
    }
    try {
      const holder = JSON.parse(text) as { by?: unknown };
      return typeof holder.by === "string" ? holder.by : "";
    } catch {
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 2);
    }
  }
  return undefined; // its writer was killed between the two
}

/** How long a claim file may stand made but not yet written: its writer writes it at once, even under load. */
const CLAIM_WRITE_WAIT_MS = 1000;

export function releaseResume(layout: StoreLayout, record: WorkerRecord): void {
  fs.rmSync(claimFileOf(layout, record, "resuming"), { force: true });
}

/**
 * Claims a worker for the one orch command that syncs it (sync, land --sync): two at once each rebased the
 * same worktree and each told the worker, and what one recorded the other overwrote. Held from before its
 * standing is read until the worker is told; one killed is taken over by the next sync. apply holds it too
 * while it reads the worker's branch and applies it: a sync at the same time rebased the branch onto a base
 * that held part of the worker's own change (git am commits patch by patch), or failed on the index.lock of
 * apply's git status in the worktree, and apply warned of the rebase's half-written files as uncommitted.
 */
export function claimSync(
  layout: StoreLayout, record: WorkerRecord, by: SyncClaimer = "sync",
): "claimed" | "held" | "gone" {
  return claimWorker(claimFileOf(layout, record, "syncing"), by === "sync" ? undefined : by);
}

/** The commands that hold the sync claim: sync (and land --sync) while it syncs, apply while it applies. */
export type SyncClaimer = "sync" | "apply";

/** What the holder of a worker's sync claim is doing to it, as "worker W is being … by another orch command". */
export function syncClaimVerb(layout: StoreLayout, record: WorkerRecord): string {
  return claimHolderNow(claimFileOf(layout, record, "syncing")) === "apply" ? "applied" : "synced";
}

export function releaseSync(layout: StoreLayout, record: WorkerRecord): void {
  fs.rmSync(claimFileOf(layout, record, "syncing"), { force: true });
}

/** A claim file's text: this process (pid and start time) and, for the resume claim, which command holds it. */
export function claimText(by?: string): string {
  return toJson({ pid: process.pid, start_time: processStartTime(process.pid) ?? null, ...(by ? { by } : {}) });
}

/**
 * Who held each claim file when claimWorker last found it held. Its holder may release it before the refusal
 * names it: read then, a stop's released claim was named as a resume's ("is being resumed").
 */
const holderSeen = new Map<string, string>();

/** The `by` of a claim file now, or else of the holder claimWorker last found there. */
function claimHolderNow(claim: string): string | undefined {
  return claimHolder(claim) ?? holderSeen.get(claim);
}

/** How many times claimWorker tries: one claim taken away from a killed holder, or released as it was read. */
const CLAIM_TRIES = 3;

function claimWorker(claim: string, by?: string): "claimed" | "held" | "gone" {
  const mine = claimText(by);
  let abandonedTaken = false;
  for (let attempt = 0; attempt < CLAIM_TRIES; attempt++) {
    try {
      writeNewFile(claim, mine, false);
      return "claimed";
    } catch (error) {
      if (errnoCode(error) === "ENOENT") return "gone";
      if (errnoCode(error) !== "EEXIST") throw error;
    }
    if (!abandonedTaken && takeAbandonedStart(claim)) {
      abandonedTaken = true;
      continue;
    }
    // Held only while a holder is there to name: one that released it meanwhile has finished, so it is tried again.
    const holder = claimHolder(claim);
    if (holder !== undefined) {
      holderSeen.set(claim, holder);
      return "held";
    }
    if (fs.existsSync(claim)) return "held"; // made and never written: its writer was killed between the two
  }
  return "held";
}

/**
 * Whether an orch command removes the worker: "removing" while the one that claimed it runs, "interrupted"
 * when it was killed half-way (the next rm or clean finishes the removal), undefined when none claimed it.
 */
export function removalUnderWay(layout: StoreLayout, record: WorkerRecord): "removing" | "interrupted" | undefined {
  let text: string;
  try {
    text = fs.readFileSync(claimFileOf(layout, record, "removing"), "utf8");
  } catch (error) {
    if (errnoCode(error) === "ENOENT" || errnoCode(error) === "ENOTDIR") return undefined;
    throw error;
  }
  return claimHolderOf(text) === "gone" ? "interrupted" : "removing";
}

/** Gives the removal claim back when the worker was not removed (a refusal, a failure). */
export function releaseRemoval(layout: StoreLayout, record: WorkerRecord): void {
  fs.rmSync(claimFileOf(layout, record, "removing"), { force: true });
}

/** Gives a claim back when the worker was not started under it. */
export function releaseStart(layout: StoreLayout, record: WorkerRecord): void {
  fs.rmSync(startClaimFile(layout, record), { force: true });
}
