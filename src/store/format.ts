// The store's format: which orch can read it. An orch refuses a store of a newer format than it knows,
// so an older orch (a host's, or one left on PATH) never half-reads or rewrites what a newer one made.

import fs from "node:fs";
import path from "node:path";
import { OrchError, errnoCode } from "../errors.ts";
import { shortened } from "../text.ts";
import { storeError } from "./files.ts";

/**
 * The store format this orch reads and writes. Every store to date is format 1 and has no file saying so;
 * an orch that changes the store so that older ones would misread it writes its number into STORE_VERSION_FILE.
 */
export const STORE_FORMAT = 1;

/** In the store's root folder: the format number, as digits and a newline. */
export const STORE_VERSION_FILE = "store-version";

/** The format of the store at `root`: STORE_FORMAT when it says none (or does not exist yet). */
export function storeFormatOf(root: string): number {
  const file = path.join(root, STORE_VERSION_FILE);
  let text: string;
  try {
    // Asked by every command (notify and poll in loops): no file, the common case, throws nothing.
    if (fs.statSync(file, { throwIfNoEntry: false }) === undefined) return STORE_FORMAT;
    text = fs.readFileSync(file, "utf8");
  } catch (error) {
    const code = errnoCode(error);
    if (code === "ENOENT" || code === "ENOTDIR") return STORE_FORMAT;
    throw storeError("read the store's format in", file, error);
  }
  const digits = text.trim();
  // Character tests, not a regular expression: the first one costs a compiled orch a millisecond (README).
  const isNumber = digits.length > 0 && digits.length <= 9 && [...digits].every((c) => c >= "0" && c <= "9");
  if (!isNumber) {
    const shown = JSON.stringify(shortened(text, 40));
    throw new OrchError("store", `${file} holds ${shown}, not a store format number: orch cannot tell ` +
      "whether it can read this store, and changed nothing");
  }
  return Number(digits);
}

/** Refuses (changing nothing) a store that a newer orch has made unreadable to this one. */
export function checkStoreFormat(root: string): void {
  const format = storeFormatOf(root);
  if (format <= STORE_FORMAT) return;
  throw new OrchError("store", `the store ${root} is of format ${format}, made by a newer orch; this orch ` +
    `reads format ${STORE_FORMAT}: run the newer orch (upgrade this one); nothing was changed`);
}
