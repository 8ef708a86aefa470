// Hosts in the store: .orch/hosts/<name>.json per host, and per session the remote session orch
// opened on each host (.orch/sessions/<id>/hosts/<name>.json).

import fs from "node:fs";
import path from "node:path";
import { OrchError } from "../errors.ts";
import { sha256Hex } from "../sha256.ts";
import { CorruptFileError, listDir, makeDirs, readJson, writeJsonAtomic } from "../store/files.ts";
import type { StoreLayout } from "../store/layout.ts";
import { checkHostName } from "./destination.ts";

export interface HostRecord {
  name: string;
  /** What ssh takes: user@host, ssh://user@host:port, an alias. */
  destination: string;
  /** The clone on the host, relative to the remote home unless absolute. */
  path: string;
  /** orch on the host, relative to the remote home unless absolute. */
  orch_path: string;
  os: string;
  arch: string;
  orch_version: string;
  added_at: string;
  /**
   * The login shell of its ssh user reads orch's scripts as POSIX sh does (host add checks it): they run
   * in it straight, without an sh started for them. Absent in records of older orch versions.
   */
  posix_shell?: boolean;
}

/** This session has opened sessions on hosts (spawn --host): a stat, so a poll without hosts stays light. */
export function hasHostSessions(layout: StoreLayout, orchestratorId: string): boolean {
  return fs.existsSync(path.join(layout.sessionDir(orchestratorId), "hosts"));
}

/** The session orch opened on a host for one local session. */
export interface HostSessionLink {
  host: string;
  remote_orchestrator_id: string;
  created_at: string;
  /** The host it was opened on (hostIdOf); absent in links of older orch versions. */
  host_id?: string;
}

/**
 * Which host a record names: its destination and clone, as a short hash. Worker records and session links
 * keep it (host_id), so that after host rm --force and a host add of the name with another DEST or --path,
 * they are not taken for records of that other host; added again as it was, it is the same host again.
 */
export function hostIdOf(record: Pick<HostRecord, "destination" | "path">): string {
  return sha256Hex(`${record.destination}\n${record.path}`).slice(0, 16);
}

/** Is `record` the host that `hostId` (a worker's or link's) was made on? Records of older orchs name none. */
export function isHostOf(record: HostRecord, hostId: string | undefined): boolean {
  return hostId === undefined || hostIdOf(record) === hostId;
}

export const REMOTE_ORCH_PATH = ".local/bin/orch";

export function hostsDir(layout: StoreLayout): string {
  return path.join(layout.root, "hosts");
}

function hostFile(layout: StoreLayout, name: string): string {
  return path.join(hostsDir(layout), `${checkHostName(name)}.json`);
}

export function findHost(layout: StoreLayout, name: string): HostRecord | undefined {
  return readHostRecord(hostFile(layout, name));
}

/**
 * One of the hosts' files, or undefined when absent; one edited so that a field every command reads is not
 * text is as unusable as a truncated one (`what` names the file's kind in the error).
 */
function readWithText<T>(file: string, fields: readonly (keyof T & string)[], what: string): T | undefined {
  const value = readJson<Record<string, unknown>>(file);
  if (value === undefined) return undefined;
  if (!fields.every((field) => typeof value[field] === "string")) {
    throw new CorruptFileError(file, `not ${what} (its ${fields.join(", ")} are text)`);
  }
  return value as T;
}

function readHostRecord(file: string): HostRecord | undefined {
  return readWithText<HostRecord>(file, ["name", "destination", "path", "orch_path"], "a host record");
}

/** A host by name; an unknown one is bad input (exit 2), as the contract asks of --host. */
export function loadHost(layout: StoreLayout, name: string): HostRecord {
  const record = findHost(layout, name);
  if (!record) {
    const see = `see orch host list; add it with orch host add ${name} DEST`;
    throw new OrchError("invalid", `unknown host ${JSON.stringify(name)} (${see})`);
  }
  return record;
}

export function listHosts(layout: StoreLayout): HostRecord[] {
  return listDir(hostsDir(layout))
    .filter((name) => name.endsWith(".json") && !name.startsWith("."))
    .map((name) => readHostRecord(path.join(hostsDir(layout), name)))
    .filter((record): record is HostRecord => record !== undefined)
    .sort((a, b) => a.name.localeCompare(b.name));
}

export function saveHost(layout: StoreLayout, record: HostRecord): void {
  makeDirs(layout.root, hostsDir(layout));
  writeJsonAtomic(hostFile(layout, record.name), record);
}

export function forgetHost(layout: StoreLayout, name: string): void {
  fs.rmSync(hostFile(layout, name), { force: true });
}

export function sessionHostsDir(layout: StoreLayout, orchestratorId: string): string {
  return path.join(layout.sessionDir(orchestratorId), "hosts");
}

export function findHostSession(
  layout: StoreLayout, orchestratorId: string, host: string,
): HostSessionLink | undefined {
  return readHostSessionLink(path.join(sessionHostsDir(layout, orchestratorId), `${checkHostName(host)}.json`));
}

function readHostSessionLink(file: string): HostSessionLink | undefined {
  return readWithText<HostSessionLink>(file, ["host", "remote_orchestrator_id"], "a link to a host's session");
}

export function saveHostSession(layout: StoreLayout, orchestratorId: string, link: HostSessionLink): void {
  makeDirs(sessionHostsDir(layout, orchestratorId));
  writeJsonAtomic(path.join(sessionHostsDir(layout, orchestratorId), `${checkHostName(link.host)}.json`), link);
}

/** The hosts this session has opened a session on (where its remote workers report). */
export function listHostSessions(layout: StoreLayout, orchestratorId: string): HostSessionLink[] {
  return listDir(sessionHostsDir(layout, orchestratorId))
    .filter((name) => name.endsWith(".json") && !name.startsWith("."))
    .map((name) => readHostSessionLink(path.join(sessionHostsDir(layout, orchestratorId), name)))
    .filter((link): link is HostSessionLink => link !== undefined);
}
