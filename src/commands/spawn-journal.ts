// The journal of a spawn under way (sessions/<id>/spawning/<worker>.json) and the repair of what a spawn
// killed with -9 left behind: its worktree, the branch it created, its half-made record.

import fs from "node:fs";
import path from "node:path";
import * as gitAdapter from "../adapters/git.ts";
import { errnoCode, OrchError } from "../errors.ts";
import { isWorkerId, workerIdsForBranch } from "../ids.ts";
import { isSameProcess, processStartTime } from "../proc.ts";
import { listDir, makeDirs, readJson, toJson, writeNewFile } from "../store/files.ts";
import type { StoreLayout } from "../store/layout.ts";
import { findWorker, saveWorker, type WorkerRecord } from "../store/workers.ts";
import { lookAtAgent, reportAgentEnded } from "../store/watchdog.ts";

export interface SpawnJournal {
  worker_id: string;
  branch: string;
  worktree_path: string;
  /** The spawn created the branch (it did not exist): the repair deletes it if it is still at from_sha. */
  created_branch: boolean;
  from_sha: string;
  pid: number;
  start_time: string | null;
}

export interface JournalHandle {
  /** The spawn finished (or undid itself): the journal goes. */
  close(): void;
}

/** Removes a journal, and the spawning/ folder once it is empty: a spawn that failed leaves the store as it was. */
function removeJournal(layout: StoreLayout, orchestratorId: string, file: string): void {
  fs.rmSync(file, { force: true });
  try {
    fs.rmdirSync(layout.spawningDir(orchestratorId));
  } catch {
    // other spawns are under way (ENOTEMPTY), or it is gone already
  }
}

function readJournal(file: string): SpawnJournal | undefined {
  try {
    return readJson<SpawnJournal>(file);
  } catch {
    return undefined;
  }
}

/**
 * Writes the journal before the spawn changes anything. Another spawn of the same worker that still runs
 * makes this one fail (`exists`); one that was killed is repaired first.
 */
export async function openJournal(
  layout: StoreLayout,
  orchestratorId: string,
  entry: Omit<SpawnJournal, "pid" | "start_time">,
  mainRoot: string,
  warn: (line: string) => void,
): Promise<JournalHandle> {
  const file = layout.spawningFile(orchestratorId, entry.worker_id);
  const journal: SpawnJournal = { ...entry, pid: process.pid, start_time: processStartTime(process.pid) ?? null };
  for (let existed = 0, folderGone = 0; ; ) {
    makeDirs(layout.spawningDir(orchestratorId));
    try {
      writeNewFile(file, toJson(journal), true);
      return { close: () => removeJournal(layout, orchestratorId, file) };
    } catch (error) {
      // Another spawn that just finished removed spawning/, empty between our mkdir and this write: made again.
      const code = errnoCode(error);
      if (code === "ENOENT" && folderGone++ < 20) continue;
      if (code !== "EEXIST" || existed++ > 2) throw error;
    }
    const other = readJournal(file);
    if (other && isSameProcess(other.pid, other.start_time ?? undefined)) {
      throw new OrchError("exists", `another orch spawn of ${other.branch} is under way (pid ${other.pid})`);
    }
    // Another branch's (a worker id may be that of several branches): not this spawn's to repair.
    if (other && other.branch !== entry.branch) {
      const fix = `orch rm ${entry.worker_id} removes what it left`;
      throw new OrchError("exists", `a spawn of ${other.branch} as ${entry.worker_id} was interrupted: ${fix}`);
    }
    for (const line of await repairSpawn(layout, orchestratorId, entry.worker_id, mainRoot)) warn(line);
  }
}

/**
 * What interrupted spawns of `branch` left, under each id its worker may have (ids.ts workerIdsForBranch):
 * only a journal of this very branch (other branches' workers may have those ids).
 */
export async function repairSpawnsOf(
  layout: StoreLayout,
  orchestratorId: string,
  branch: string,
  mainRoot: string,
): Promise<string[]> {
  const done: string[] = [];
  for (const workerId of workerIdsForBranch(branch)) {
    done.push(...(await repairSpawn(layout, orchestratorId, workerId, mainRoot, branch)));
  }
  return done;
}

/**
 * Undoes what an interrupted spawn of `workerId` left, when its journal says that spawn no longer runs
 * (and, given `branch`, is a spawn of it). Returns one line per thing repaired (none when there was nothing
 * to repair).
 */
export async function repairSpawn(
  layout: StoreLayout,
  orchestratorId: string,
  workerId: string,
  mainRoot: string,
  branch?: string,
): Promise<string[]> {
  const file = layout.spawningFile(orchestratorId, workerId);
  if (!fs.existsSync(file)) return [];
  const journal = readJournal(file);
  if (branch !== undefined && journal?.branch !== branch) return [];
  if (journal && isSameProcess(journal.pid, journal.start_time ?? undefined)) return [];
  const done: string[] = [];
  // A pending worker's record (spawn --after) names no worktree: what the journal names is its killed start's.
  const recorded = findWorker(layout, orchestratorId, workerId);
  if (journal && journal.worker_id === workerId && (!recorded || recorded.pending)) {
    done.push(...(await removeSpawnedWorktree(mainRoot, journal, "an interrupted spawn")));
  }
  const workersDir = layout.workersDir(orchestratorId);
  for (const name of listDir(workersDir)) {
    const halfMade = journal && name === `${workerId}.new-${journal.pid}`;
    if (halfMade) fs.rmSync(path.join(workersDir, name), { recursive: true, force: true });
  }
  removeJournal(layout, orchestratorId, file);
  if (done.length === 0) done.push(`cleared the journal of an interrupted spawn of ${journal?.branch ?? workerId}`);
  return done;
}

/**
 * Removes the worktree a spawn made (when it is there) and the branch it created (when it is still at
 * the commit it was created at: nobody committed on it). Returns what it did, one line each.
 */
export async function removeSpawnedWorktree(
  mainRoot: string,
  spawned: Omit<SpawnJournal, "pid" | "start_time" | "worker_id">,
  who: string,
): Promise<string[]> {
  const done: string[] = [];
  const listed = await gitAdapter.git(["worktree", "list", "--porcelain", "-z"], mainRoot, { allowFailure: true });
  const registered = listed.stdout.split("\0").includes(`worktree ${spawned.worktree_path}`);
  if (registered || fs.existsSync(spawned.worktree_path)) {
    const removeArgs = ["worktree", "remove", "--force", "--force", spawned.worktree_path];
    await gitAdapter.git(removeArgs, mainRoot, { allowFailure: true });
    const leftUnregistered = fs.existsSync(spawned.worktree_path) && !registered;
    if (leftUnregistered) fs.rmSync(spawned.worktree_path, { recursive: true, force: true });
    await gitAdapter.git(["worktree", "prune"], mainRoot, { allowFailure: true });
    done.push(`removed the worktree ${spawned.worktree_path} that ${who} of ${spawned.branch} left`);
  }
  if (spawned.created_branch) {
    // from_sha as the spawn was given it: a full id it had not checked yet may be an annotated tag's.
    const [tip, from] = await Promise.all([
      gitAdapter.resolveCommit(mainRoot, `refs/heads/${spawned.branch}`),
      gitAdapter.resolveCommit(mainRoot, spawned.from_sha),
    ]);
    if (tip !== undefined && tip === from) {
      await gitAdapter.git(["branch", "-D", "--", spawned.branch], mainRoot, { allowFailure: true });
      done.push(`deleted the branch ${spawned.branch} that ${who} created`);
    } else if (tip !== undefined) {
      done.push(`kept the branch ${spawned.branch} of ${who}: it has commits since`);
    }
  }
  return done;
}

/**
 * What spawns killed before they recorded their worker left (status says so): one line each, naming what
 * removes it.
 */
export function interruptedSpawns(layout: StoreLayout, orchestratorId: string): string[] {
  const lines: string[] = [];
  const dir = layout.spawningDir(orchestratorId);
  for (const name of listDir(dir)) {
    const journal = name.endsWith(".json") ? readJournal(path.join(dir, name)) : undefined;
    if (!journal || isSameProcess(journal.pid, journal.start_time ?? undefined)) continue;
    if (!isWorkerId(journal.worker_id) || findWorker(layout, orchestratorId, journal.worker_id)) continue;
    const left = `a spawn of ${journal.branch} killed before it recorded the worker may have left its worktree ` +
      `${journal.worktree_path}${journal.created_branch ? " and branch" : ""}`;
    lines.push(`${left}: orch rm ${journal.worker_id}, orch clean or the next spawn of it removes them`);
  }
  return lines;
}

/** Repairs every interrupted spawn of the session (clean, doctor). */
export async function repairAllSpawns(
  layout: StoreLayout,
  orchestratorId: string,
  mainRoot: string,
): Promise<string[]> {
  const done: string[] = [];
  for (const name of listDir(layout.spawningDir(orchestratorId))) {
    const workerId = name.endsWith(".json") ? name.slice(0, -5) : "";
    if (isWorkerId(workerId)) done.push(...(await repairSpawn(layout, orchestratorId, workerId, mainRoot)));
  }
  return done;
}

/**
 * Workers whose spawn was killed while it opened their window (opening_window, its process gone): the
 * window tmux made, found by its pane's ORCH_ID and ORCH_WORKER, is recorded as theirs (in `records`
 * too); those with no such window and no agent are reported failed. Returns the ids reported.
 */
export async function adoptOpenedWindows(
  layout: StoreLayout,
  records: WorkerRecord[],
  env: NodeJS.ProcessEnv,
): Promise<string[]> {
  const opening = records.filter((r) => r.opening_window && r.host === undefined && !r.window_id &&
    !isSameProcess(r.opening_window.pid, r.opening_window.start_time ?? undefined));
  if (opening.length === 0) return [];
  const { listPanes } = await import("../adapters/tmux.ts");
  const { carriesWorkerMarker } = await import("../adapters/processes.ts");
  const panes = await listPanes(env);
  const reported: string[] = [];
  for (const record of opening) {
    const marker = { orchestratorId: record.orchestrator_id, workerId: record.worker_id };
    const pane = panes.find((p) => !p.paneDead && carriesWorkerMarker(p.panePid, marker));
    if (pane) {
      const { windowId, paneId, server, sessionName } = pane;
      Object.assign(record, { window_id: windowId, tmux_pane: paneId, tmux_server: server, tmux_session: sessionName });
    }
    delete record.opening_window;
    try {
      saveWorker(layout, record);
    } catch (error) {
      if (errnoCode(error) === "ENOENT") continue; // removed meanwhile (rm): nothing to record
      throw error;
    }
    const never = "its spawn was killed before its tmux window opened";
    if (pane || lookAtAgent(layout, record).recorded) continue;
    if (reportAgentEnded(layout, record, "agent ended without reporting", never)) reported.push(record.worker_id);
  }
  return reported;
}
