// Orchestrator sessions: create one (whole or not at all), load one, find the newest.

import fs from "node:fs";
import path from "node:path";
import { OrchError, errnoCode } from "../errors.ts";
import { isOrchestratorId, isWorkerFolderName, newOrchestratorId } from "../ids.ts";
import {
  CorruptFileError, isDirectory, isRealDirectory, listDir, lstatOrUndefined, makeDirs, readJson, storeError, toJson,
  notAFolder, writeNewFile,
} from "./files.ts";
import type { StoreLayout } from "./layout.ts";
import { createMailbox, unreadFiles } from "./maildir.ts";

export interface SessionRecord {
  orchestrator_id: string;
  project_dir: string;
  created_at: string;
}

export function createSession(layout: StoreLayout, projectDir: string): SessionRecord {
  try {
    makeDirs(layout.root, layout.sessionsDir);
  } catch (error) {
    throw storeError("create the store at", layout.root, error);
  }
  for (let attempt = 0; ; attempt++) {
    const record: SessionRecord = {
      orchestrator_id: newOrchestratorId(),
      project_dir: projectDir,
      created_at: new Date().toISOString(),
    };
    const staging = path.join(layout.sessionsDir, `.new-${record.orchestrator_id}-${process.pid}`);
    try {
      makeDirs(staging);
      createMailbox(path.join(staging, "mail"));
      makeDirs(path.join(staging, "workers"));
      writeNewFile(path.join(staging, "session.json"), toJson(record), true);
      // Registered before it appears: a session orch made is never one the newest-session rule skips.
      if (layout.registryDir) {
        makeDirs(layout.registryDir);
        fs.writeFileSync(path.join(layout.registryDir, record.orchestrator_id), "", { mode: 0o600 });
      }
      // The session appears whole, under its final name, or not at all.
      fs.renameSync(staging, layout.sessionDir(record.orchestrator_id));
      return record;
    } catch (error) {
      try {
        fs.rmSync(staging, { recursive: true, force: true });
      } catch {
        // A store that refused the session (read-only, not ours) refuses this too: the first error says why.
      }
      const code = errnoCode(error);
      if ((code === "EEXIST" || code === "ENOTEMPTY") && attempt < 5) continue;
      throw storeError("write a session into", layout.sessionsDir, error);
    }
  }
}

/**
 * Why a store or session that orch made here is not there, for the errors that say so: the git dir still lists
 * it, so it was removed from under orch — `git clean -x` and `git stash --all` take ignored files, and .orch/
 * is one (info/exclude). What puts it back, or starts anew. Empty when the git dir lists none of them.
 */
export function removedFromStore(layout: StoreLayout, orchestratorId?: string): string {
  if (layout.registryDir === undefined) return "";
  const listed = listDir(layout.registryDir).filter(isOrchestratorId);
  const lost = orchestratorId === undefined ? listed : listed.filter((id) => id === orchestratorId);
  if (lost.length === 0) return "";
  const made = lost.length === 1 ? `session ${lost[0]}` : `${lost.length} sessions`;
  const what = orchestratorId === undefined ? `${layout.root}, where orch made ${made},` : "it";
  return `: ${what} was removed (git clean -x and git stash --all remove .orch/, which git ignores); ` +
    "put it back (git stash pop, or your copy) or start anew with orch init";
}

export function loadSession(layout: StoreLayout, orchestratorId: string): SessionRecord {
  if (!isDirectory(layout.root)) {
    const message = `no orch store at ${layout.root}${removedFromStore(layout) || " (run orch init)"}`;
    throw new OrchError("not_found", message, { session_missing: true });
  }
  for (const dir of [layout.sessionsDir, layout.sessionDir(orchestratorId)]) {
    const stat = lstatOrUndefined(dir);
    if (stat !== undefined && !stat.isDirectory()) {
      const what = notAFolder(stat);
      throw new OrchError("store", `${dir} is ${what}: orch does not follow it`);
    }
  }
  let record: SessionRecord | undefined;
  try {
    record = readJson<SessionRecord>(layout.sessionFile(orchestratorId));
  } catch (error) {
    throw storeError("read session", layout.sessionFile(orchestratorId), error);
  }
  if (!record) {
    const message = `orchestrator session ${orchestratorId} not found in ${layout.root}` +
      removedFromStore(layout, orchestratorId);
    throw new OrchError("not_found", message, { session_missing: true });
  }
  return record;
}

/** A session whose created_at lies further ahead than this is not one orch just made: it is never picked. */
const FUTURE_TOLERANCE_MS = 60_000;

/** The newest of `sessions` (by created_at). */
export function newestOf(sessions: SessionRecord[]): SessionRecord | undefined {
  let newest: SessionRecord | undefined;
  for (const record of sessions) if (!newest || record.created_at > newest.created_at) newest = record;
  return newest;
}

/**
 * The sessions the newest-session rule picks from: for a repository's store only the sessions its git dir
 * registers (never one committed under .orch/), only real folders (no symbolic links), never one dated in the
 * future. A session whose record cannot be read is passed over with a warning, as git passes over a broken ref:
 * it may have been the newest, and commands would otherwise go to an older one unsaid.
 */
export function pickableSessions(
  layout: StoreLayout,
  warn: (line: string) => void = () => undefined,
): SessionRecord[] {
  if (!isRealDirectory(layout.sessionsDir)) return [];
  const names = layout.registryDir === undefined ? listDir(layout.sessionsDir) : listDir(layout.registryDir);
  const latestAllowed = new Date(Date.now() + FUTURE_TOLERANCE_MS).toISOString();
  const pickable: SessionRecord[] = [];
  for (const name of names) {
    if (!isOrchestratorId(name) || !isRealDirectory(layout.sessionDir(name))) continue;
    let record: SessionRecord | undefined;
    try {
      record = readJson<SessionRecord>(layout.sessionFile(name));
    } catch (error) {
      const why = error instanceof CorruptFileError ? error.why : (error as Error).message.split("\n")[0]!;
      warn(damagedSession(layout, name, why));
      continue;
    }
    // No record yet: a session being made (registered before it appears).
    if (!record) continue;
    if (typeof record.created_at !== "string" || record.orchestrator_id !== name) {
      warn(damagedSession(layout, name, "it lacks its orchestrator_id or created_at"));
      continue;
    }
    if (record.created_at > latestAllowed) continue;
    pickable.push(record);
  }
  return pickable;
}

/** What an orchestrator still has in a session: its workers (until rm or clean) and its unread messages. */
export interface SessionUse {
  orchestrator_id: string;
  created_at: string;
  workers: number;
  unread: number;
}

/**
 * Whether anyone may still be at `record`'s session: it has workers (rm and clean take them) or unread messages.
 * A session whose workers are all removed and whose mail is read is done with, however recent; counted from the
 * folders' names alone, so a store of many sessions costs a few directory reads each.
 */
export function sessionUse(layout: StoreLayout, record: SessionRecord): SessionUse {
  const id = record.orchestrator_id;
  const workers = listDir(layout.workersDir(id)).filter(isWorkerFolderName).length;
  const unread = unreadFiles(layout.mailDir(id)).length;
  return { orchestrator_id: id, created_at: record.created_at, workers, unread };
}

export function inUse(use: SessionUse): boolean {
  return use.workers > 0 || use.unread > 0;
}

/** "2 workers, 1 unread message", or "no workers" for a session with neither. */
export function describeUse(use: SessionUse): string {
  const parts: string[] = [];
  if (use.workers > 0) parts.push(use.workers === 1 ? "1 worker" : `${use.workers} workers`);
  if (use.unread > 0) parts.push(use.unread === 1 ? "1 unread message" : `${use.unread} unread messages`);
  return parts.length === 0 ? "no workers" : parts.join(", ");
}

function damagedSession(layout: StoreLayout, name: string, why: string): string {
  const fix = `pick a session with --orch, or remove ${layout.sessionDir(name)} if it is of no use`;
  return `ignoring session ${name}: ${layout.sessionFile(name)} cannot be read (${why}); ${fix}`;
}
