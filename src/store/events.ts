// A worker's event log: a hard link to every message it sent or got, plus orch's own lifecycle events,
// each named <seq>.<type>.<id>.json with a sequence number taken at delivery (and kept: the bare <seq> is a
// second link, see linkEvent). Status reads the log in
// that order — the order in which events arrived — so a clock stepped back cannot reorder it.

import fs from "node:fs";
import path from "node:path";
import { errnoCode } from "../errors.ts";
import { isDigits } from "../ids.ts";
import { isRealDirectory, listDir, readRegularFile } from "./files.ts";

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

/** The log in arrival order; none when it is not a real folder (a symbolic link is never followed). */
export function readEventLog(eventsDir: string): EventEntry[] {
  const entries: EventEntry[] = [];
  if (!isRealDirectory(eventsDir)) return entries;
  for (const name of listDir(eventsDir)) {
    const entry = parseEventName(name);
    if (entry) entries.push(entry);
  }
  return entries.sort((a, b) => a.seq - b.seq || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/**
 * The number after the highest in `names` (events and taken numbers). Zero-padded numbers sort as text
 * does, and a digit sorts before any letter, so the greatest name that starts with SEQ_DIGITS digits (then
 * a dot, or nothing) is found without reading every name apart (a worker's log holds hundreds); a log
 * where that name is not a number after all is read apart name by name.
 */
function nextSeq(names: string[]): number {
  let greatest = "";
  for (const name of names) {
    const first = name.charCodeAt(0);
    if (first < 48 || first > 57 || name <= greatest) continue;
    if (name.length === SEQ_DIGITS || name.charCodeAt(SEQ_DIGITS) === 46) greatest = name;
  }
  const prefix = greatest.slice(0, SEQ_DIGITS);
  if (greatest === "" || !isDigits(prefix)) {
    let seq = 0;
    for (const name of names) {
      const entry = parseEventName(name);
      if (entry && entry.seq >= seq) seq = entry.seq + 1;
    }
    return seq;
  }
  return Number(prefix) + 1;
}

/**
 * Hard-links `file` into the log under the next sequence number. Concurrent writers may pick the same
 * number: the one whose link of the bare number (<seq>, no type, no id) comes first has it, and the others
 * take the next, so each number is one event's and numbers follow link order. That bare link stays: a
 * writer that listed the log before it was made must still find the number taken. (A writer killed between
 * its two links leaves a number without an event: a gap, never a tie.)
 * A missing log folder (a forgotten worker), or one that is not a real folder (a symbolic link, which
 * would put the link outside the store), is skipped. Returns the named link made, if any.
 */
export function linkEvent(eventsDir: string, file: string, type: string, id: string): string | undefined {
  if (!isRealDirectory(eventsDir)) return undefined;
  let names: string[];
  try {
    names = fs.readdirSync(eventsDir);
  } catch (error) {
    if (errnoCode(error) === "ENOENT") return undefined;
    throw error;
  }
  let seq = nextSeq(names);
  while (!linkEventAt(eventsDir, file, type, id, seq)) seq++;
  return namedEvent(eventsDir, seq, type, id);
}

/** The event's named link (<seq>.<type>.<id>.json), the one status reads. */
function namedEvent(eventsDir: string, seq: number, type: string, id: string): string {
  return path.join(eventsDir, `${String(seq).padStart(SEQ_DIGITS, "0")}.${type}.${id}.json`);
}

/**
 * How long a bare number without its named link counts as an event being linked: a writer takes well under
 * this between its two links; an older one is the gap a writer killed between them left. File times are on
 * the wall clock: one dated further ahead than this is a gap too, left before the clock was set back (it
 * would otherwise count as in flight, and hold every writer, until the clock caught up).
 */
const IN_FLIGHT_MS = 2000;

/** The bare numbers among a log's `names` whose named link is not there (yet): see linkEventAt. */
function unnamedNumbers(names: string[]): string[] {
  const named = new Set<string>();
  const bare: string[] = [];
  for (const name of names) {
    if (name.length === SEQ_DIGITS) bare.push(name);
    else if (name.charCodeAt(SEQ_DIGITS) === 46) named.add(name.slice(0, SEQ_DIGITS));
  }
  return bare.filter((number) => !named.has(number) && isDigits(number));
}

/** Whether `names` shows an event whose bare number is linked and whose named link is not yet. */
function eventInFlight(eventsDir: string, names: string[]): boolean {
  return unnamedNumbers(names).some((number) => {
    const stat = fs.lstatSync(path.join(eventsDir, number), { throwIfNoEntry: false });
    const age = stat === undefined ? IN_FLIGHT_MS : Date.now() - stat.ctimeMs;
    return age < IN_FLIGHT_MS && age > -IN_FLIGHT_MS;
  });
}

/**
 * The events whose bare number is linked and whose named link is not (yet): a writer between its two links, or
 * one killed there. Each is read from its bare number, the same file: its message type and number.
 */
export function unnamedEvents(eventsDir: string): { seq: number; messageType: string }[] {
  const unnamed: { seq: number; messageType: string }[] = [];
  for (const number of unnamedNumbers(listDir(eventsDir))) {
    try {
      const text = readRegularFile(path.join(eventsDir, number)).toString("utf8");
      const messageType = (JSON.parse(text) as { message_type?: unknown }).message_type;
      if (typeof messageType === "string") unnamed.push({ seq: Number(number), messageType });
    } catch {
      // not an event orch wrote: nothing to read
    }
  }
  return unnamed;
}

/**
 * The sequence number the next event of the log will take (see linkEventAt), once every event numbered
 * before it can be read: a compare-and-swap that reads the log's state after this sees all of them.
 */
export function nextEventSeq(eventsDir: string): number {
  for (;;) {
    const names = listDir(eventsDir);
    if (!eventInFlight(eventsDir, names)) return nextSeq(names);
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1);
  }
}

/**
 * Hard-links `file` into the log under exactly `seq`; false when another event has that number. A writer
 * that read the log up to `seq` appends this way only if nothing arrived since (a compare-and-swap).
 */
export function linkEventAt(eventsDir: string, file: string, type: string, id: string, seq: number): boolean {
  const number = String(seq).padStart(SEQ_DIGITS, "0");
  try {
    fs.linkSync(file, path.join(eventsDir, number));
  } catch (error) {
    if (errnoCode(error) === "EEXIST") return false;
    throw error;
  }
  fs.linkSync(file, namedEvent(eventsDir, seq, type, id));
  return true;
}
