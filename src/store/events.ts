// A worker's event log: a hard link to every message it sent or got, plus orch's own lifecycle events,
// each named <seq>.<type>.<id>.json with a sequence number taken at delivery. Status reads the log in
// that order — the order in which events arrived — so a clock stepped back cannot reorder it.

import fs from "node:fs";
import path from "node:path";
import { errnoCode } from "../errors.ts";
import { isDigits } from "../ids.ts";
import { isRealDirectory, listDir } from "./files.ts";

/** Wide enough that names sort as numbers do; a worker never sees 10^12 events. */
const SEQ_DIGITS = 12;

export interface EventEntry {
  seq: number;
  type: string;
  /** The message id the event carries. */
  id: string;
  name: string;
}

/** Reads an event file name: <seq>.<type>.<id>.json, or the older <id>.<type>.json (ordered before, by name). */
export function parseEventName(name: string): EventEntry | undefined {
  if (!name.endsWith(".json")) return undefined;
  const parts = name.slice(0, -5).split(".");
  if (parts.length === 3 && isDigits(parts[0]!)) return { seq: Number(parts[0]), type: parts[1]!, id: parts[2]!, name };
  if (parts.length === 2 && parts[0]!.startsWith("msg_")) return { seq: -1, type: parts[1]!, id: parts[0]!, name };
  return undefined;
}

/** The log in arrival order. */
export function readEventLog(eventsDir: string): EventEntry[] {
  const entries: EventEntry[] = [];
  for (const name of listDir(eventsDir)) {
    const entry = parseEventName(name);
    if (entry) entries.push(entry);
  }
  return entries.sort((a, b) => a.seq - b.seq || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/**
 * Hard-links `file` into the log under the next sequence number. Concurrent writers may pick the same
 * number; link() lets exactly one have it and the others take the next, so numbers follow link order.
 * A missing log folder (a forgotten worker), or one that is not a real folder (a symbolic link, which
 * would put the link outside the store), is skipped.
 */
export function linkEvent(eventsDir: string, file: string, type: string, id: string): void {
  if (!isRealDirectory(eventsDir)) return;
  let names: string[];
  try {
    names = fs.readdirSync(eventsDir);
  } catch (error) {
    if (errnoCode(error) === "ENOENT") return;
    throw error;
  }
  let seq = 0;
  for (const name of names) {
    const entry = parseEventName(name);
    if (entry && entry.seq >= seq) seq = entry.seq + 1;
  }
  for (;; seq++) {
    try {
      fs.linkSync(file, path.join(eventsDir, `${String(seq).padStart(SEQ_DIGITS, "0")}.${type}.${id}.json`));
      return;
    } catch (error) {
      if (errnoCode(error) !== "EEXIST") throw error;
    }
  }
}
