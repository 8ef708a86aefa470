// Asking a person before a destructive step: only on a terminal; scripts and agents pass --yes.

import fs from "node:fs";
import { OrchError } from "../errors.ts";

/** Asks on the terminal; refuses (exit 1, nothing done) on "no". Without a terminal it refuses too: pass --yes. */
export async function confirm(question: string): Promise<void> {
  const tty = await import("node:tty");
  const onTerminal = tty.isatty(0) && tty.isatty(2);
  if (!onTerminal) throw new OrchError("refused", `${question} Refusing without a terminal to ask: pass --yes`);
  fs.writeSync(2, `${question} [y/N] `);
  const buffer = Buffer.alloc(256);
  let answer = "";
  try {
    const n = fs.readSync(0, buffer, 0, buffer.length, null);
    answer = buffer.subarray(0, n).toString("utf8").trim().toLowerCase();
  } catch {
    answer = "";
  }
  if (answer !== "y" && answer !== "yes") throw new OrchError("refused", "not confirmed: nothing was changed");
}
