// What orch remembers about each worker's base (the tip it was last told about, whether it landed), the
// session's cached standings and its last seen base tips, so "has a base moved?" costs a few file
// reads and no git.

import fs from "node:fs";
import path from "node:path";
import { mainWorktreeOf, refReader, type RefFromFiles, type Repo } from "../adapters/repo.ts";
import { errnoCode } from "../errors.ts";
import {
  isRealDirectory, makeDirIn, readJson, toJson, writeFileAtomic, writeJsonAtomic, writeNewFile,
} from "./files.ts";
import type { StoreLayout } from "./layout.ts";
import type { WorkerRecord } from "./workers.ts";

/** Where a worker's branch stands against its base branch, for one (base tip, branch tip) pair. */
export interface Standing {
  base_tip: string;
  branch_tip: string;
  /** Commits on the branch that the base lacks. */
  ahead: number;
  /** Commits on the base that the branch lacks. */
  behind: number;
  merges_cleanly: boolean;
  conflict_paths: string[];
  /** The branch has commits of its own and all of their changes are in the base (merged, rebased or squashed). */
  landed: boolean;
}

export interface WorkerCoherence {
  /** The base tip the worker was last told about (or synced onto). */
  told_base?: string;
  /** Set when orch landed the worker (land, merge, apply) or noticed it landed (`noticed`: merged by hand). */
  /** branch_tip: the commit of the worker's branch that landed (absent when orch does not know it: a PR). */
  landed?: { commit: string; at: string; branch_tip?: string; noticed?: true };
}

export function readWorkerCoherence(layout: StoreLayout, orchestratorId: string, workerId: string): WorkerCoherence {
  try {
    return readJson<WorkerCoherence>(layout.coherenceFile(orchestratorId, workerId)) ?? {};
  } catch {
    return {}; // a damaged cache is recomputed
  }
}

export function saveWorkerCoherence(
  layout: StoreLayout,
  orchestratorId: string,
  workerId: string,
  state: WorkerCoherence,
): void {
  // Not fsynced: a state lost in a crash is recomputed, and the told/ claims keep "once" on their own.
  try {
    writeFileAtomic(layout.coherenceFile(orchestratorId, workerId), toJson(state), false);
  } catch (error) {
    // A worker removed meanwhile (an rm while land landed it) has nothing left to remember it in.
    if (errnoCode(error) !== "ENOENT" || fs.existsSync(layout.workerDir(orchestratorId, workerId))) throw error;
  }
}

/**
 * Changes a worker's state as it is now, not as it was read earlier: a command that read it before a rebase
 * or a test would otherwise write back over what another orch command noted meanwhile (that it landed).
 */
export function updateWorkerCoherence(
  layout: StoreLayout,
  orchestratorId: string,
  workerId: string,
  change: (now: WorkerCoherence) => WorkerCoherence,
): WorkerCoherence {
  const state = change(readWorkerCoherence(layout, orchestratorId, workerId));
  saveWorkerCoherence(layout, orchestratorId, workerId, state);
  return state;
}

/** The worker was told of (or synced onto) `tip`. */
export function noteToldBase(
  layout: StoreLayout, orchestratorId: string, workerId: string, tip: string,
): WorkerCoherence {
  return updateWorkerCoherence(layout, orchestratorId, workerId, (now) => ({ ...now, told_base: tip }));
}

/** A cached standing and the base commit it was computed with (landed depends on it). */
export type CachedStanding = Standing & { base_commit: string };

/**
 * The session's standings cache, by worker: one file, so status reads one file for all its workers.
 * Entries are only valid for the (base tip, branch tip, base commit) they name; git stays the truth.
 */
export function readStandings(layout: StoreLayout, orchestratorId: string): Record<string, CachedStanding> {
  try {
    const value = readJson<unknown>(layout.standingsFile(orchestratorId));
    return value && typeof value === "object" && !Array.isArray(value) ? (value as Record<string, CachedStanding>) : {};
  } catch {
    return {}; // a damaged cache is recomputed
  }
}

/**
 * Adds fresh standings to the cache (read again first: another command may have added its own) and
 * drops those of workers that are gone. Atomic, not fsynced: a cache lost in a crash is recomputed.
 */
export function saveStandings(layout: StoreLayout, orchestratorId: string, fresh: Map<string, CachedStanding>): void {
  const all = { ...readStandings(layout, orchestratorId), ...Object.fromEntries(fresh) };
  for (const id of Object.keys(all)) {
    if (!fresh.has(id) && !isRealDirectory(layout.workerDir(orchestratorId, id))) delete all[id];
  }
  writeFileAtomic(layout.standingsFile(orchestratorId), `${JSON.stringify(all)}\n`, false);
}

/**
 * Claims the right to tell a worker about base tip `tip`: only the first caller gets true, so two orch
 * commands noticing the same move at once still send one message.
 */
export function releaseTelling(layout: StoreLayout, orchestratorId: string, workerId: string, tip: string): void {
  fs.rmSync(`${layout.toldDir(orchestratorId, workerId)}/${tip}`, { force: true });
}

export function claimTelling(layout: StoreLayout, orchestratorId: string, workerId: string, tip: string): boolean {
  return claimToldFile(layout, orchestratorId, workerId, tip);
}

/**
 * Claims handing a conflict back to a worker: once per base tip and branch tip, so two lands at once
 * (or a land run again before the worker did anything) hand the same conflict back once.
 */
export function claimHandBack(
  layout: StoreLayout, orchestratorId: string, workerId: string, baseTip: string, branchTip: string,
): boolean {
  return claimToldFile(layout, orchestratorId, workerId, `returned-${baseTip}-${branchTip}`);
}

export function releaseHandBack(
  layout: StoreLayout, orchestratorId: string, workerId: string, baseTip: string, branchTip: string,
): void {
  fs.rmSync(`${layout.toldDir(orchestratorId, workerId)}/returned-${baseTip}-${branchTip}`, { force: true });
}

/**
 * False when claimed already, or when the worker is gone: its folder is never made again (an rm at the same
 * time left a folder of only told/, which no command counted as a worker and every spawn of it tripped on).
 */
function claimToldFile(layout: StoreLayout, orchestratorId: string, workerId: string, name: string): boolean {
  const dir = layout.toldDir(orchestratorId, workerId);
  if (!makeDirIn(dir)) return false;
  try {
    writeNewFile(`${dir}/${name}`, `${new Date().toISOString()}\n`, false);
    return true;
  } catch (error) {
    if (errnoCode(error) === "EEXIST" || errnoCode(error) === "ENOENT") return false;
    throw error;
  }
}

export function wasTold(layout: StoreLayout, orchestratorId: string, workerId: string, tip: string): boolean {
  return fs.existsSync(`${layout.toldDir(orchestratorId, workerId)}/${tip}`);
}

export interface BaseTips {
  /** The repository the tips belong to (its main worktree and common git dir). */
  main_root: string;
  common_dir: string;
  tips: Record<string, string>;
}

export function readBaseTips(layout: StoreLayout, orchestratorId: string): BaseTips | undefined {
  try {
    return readJson<BaseTips>(layout.baseTipsFile(orchestratorId));
  } catch {
    return undefined;
  }
}

/** Writes the tips only when they changed: status and poll run this after every look. */
export function saveBaseTips(layout: StoreLayout, orchestratorId: string, tips: BaseTips): void {
  const text = toJson(tips);
  try {
    if (fs.readFileSync(layout.baseTipsFile(orchestratorId), "utf8") === text) return;
  } catch {
    // not written yet
  }
  writeFileAtomic(layout.baseTipsFile(orchestratorId), text, false);
}

/** The tip of `branch` read from git's files; undefined when they cannot tell (then ask git). */
export function branchTipFromFiles(
  main: Repo,
  branch: string,
  readRef: (name: string) => RefFromFiles = refReader(main),
): string | null | undefined {
  const ref = readRef(`refs/heads/${branch}`);
  if (!ref) return undefined;
  return "sha" in ref ? ref.sha : null;
}

/**
 * Whether a base branch moved since the last orch command looked: file reads only, for poll and
 * the hot path. True when it cannot tell cheaply (then the caller does the full check).
 */
export function baseTipsMoved(layout: StoreLayout, orchestratorId: string): boolean {
  const seen = readBaseTips(layout, orchestratorId);
  if (!seen) return false; // no worker was ever spawned in this session
  const seenRepo = {
    root: seen.main_root, gitDir: seen.common_dir, commonDir: seen.common_dir, mainRoot: seen.main_root,
    projectRoot: seen.main_root,
  };
  const main = mainWorktreeOf(seenRepo);
  const readRef = refReader(main);
  for (const [branch, tip] of Object.entries(seen.tips)) {
    if (branchTipFromFiles(main, branch, readRef) !== tip) return true;
  }
  return false;
}

/** Adds a base branch to the tips the session watches, unless it is watched already (then a move stays visible). */
export function rememberBaseTipIfNew(
  layout: StoreLayout,
  orchestratorId: string,
  repo: Repo,
  branch: string,
  tip: string,
): void {
  const noneYet: BaseTips = { main_root: repo.mainRoot, common_dir: repo.commonDir, tips: {} };
  const seen = readBaseTips(layout, orchestratorId) ?? noneYet;
  if (seen.tips[branch] !== undefined) return;
  saveBaseTips(layout, orchestratorId, { ...seen, tips: { ...seen.tips, [branch]: tip } });
}

/**
 * The commit orch landed this branch tip as, when it saw it land: later commits on the base may hide a
 * squash from git.
 */
export function landedAtTip(
  layout: StoreLayout, orchestratorId: string, workerId: string, branchTip: string,
): { commit: string; byOrch: boolean } | undefined {
  const landed = readWorkerCoherence(layout, orchestratorId, workerId).landed;
  if (landed?.branch_tip === undefined || landed.branch_tip !== branchTip) return undefined;
  return { commit: landed.commit, byOrch: landed.noticed !== true };
}

/**
 * A sync that was started and the worker has not been told of yet (WorkerPlace.oweSync): the base it is
 * synced onto, how, and the base the worker knew before (told_base, …).
 */
export interface SyncOwed {
  tip: string;
  method: "rebase" | "merge";
  from: string;
}

/** The files a worker's owed sync is kept in, in its folder: one name per kind of place. */
export const SYNC_OWED_HERE = "sync-owed.json";
export const SYNC_OWED_ON_HOST = "host-sync.json";

/**
 * Whether a sync of this (started) worker was begun and not settled: one runs now, or one was killed (two
 * file checks, so that the commands that read the worker's base can look each time; see finishKilledSyncs).
 */
export function owesSync(layout: StoreLayout, record: WorkerRecord): boolean {
  if (record.pending) return false;
  const dir = layout.workerDir(record.orchestrator_id, record.worker_id);
  return fs.existsSync(path.join(dir, SYNC_OWED_HERE)) || fs.existsSync(path.join(dir, SYNC_OWED_ON_HOST));
}

/** Where a worker's owed sync is kept until it is told: `file` in its folder (one name per kind of place). */
function syncOwedFile(layout: StoreLayout, orchestratorId: string, workerId: string, file: string): string {
  return path.join(layout.workerDir(orchestratorId, workerId), file);
}

export function readSyncOwed(
  layout: StoreLayout, orchestratorId: string, workerId: string, file: string,
): SyncOwed | undefined {
  try {
    const owed = readJson<SyncOwed>(syncOwedFile(layout, orchestratorId, workerId, file));
    return typeof owed?.tip === "string" && typeof owed.from === "string" ? owed : undefined;
  } catch {
    // Unusable: as if none, so the worker is synced or taken as current as it stands.
    return undefined;
  }
}

export function writeSyncOwed(
  layout: StoreLayout, orchestratorId: string, workerId: string, file: string, owed: SyncOwed,
): void {
  writeJsonAtomic(syncOwedFile(layout, orchestratorId, workerId, file), owed);
}

export function removeSyncOwed(layout: StoreLayout, orchestratorId: string, workerId: string, file: string): void {
  fs.rmSync(syncOwedFile(layout, orchestratorId, workerId, file), { force: true });
}
