// The shape every command module has: main() parses and validates, calls the core, returns what to print.

import type { Context } from "../context.ts";
import type { Flags } from "../flags.ts";
import type { Colors } from "../output.ts";

export interface CommandResult {
  /** The --json document (success: true is added by main.ts unless present). */
  json: Record<string, unknown>;
  /** The short human form; its control characters are shown escaped (output.ts forTerminal) unless `verbatim`. */
  human: (colors: Colors) => string | Uint8Array;
  /**
   * The human form is data to pass on byte for byte (a patch, a completion script), not text to show; only such a
   * form may be bytes (a patch of files that are not UTF-8).
   */
  verbatim?: boolean;
  /** Non-zero for a result that is reported but not a success (e.g. await timing out). */
  exitCode?: number;
  /** Runs once the output is written: a poll marks its messages read only after handing them out. */
  afterOutput?: () => void;
  /** Runs instead of afterOutput when a server could not hand the output out: a poll's messages stay unread. */
  notOutput?: () => void;
  /** The command wrote its own output as it went (watch's JSON lines): print nothing more. */
  streamed?: boolean;
}

export type CommandMain = (args: string[], flags: Flags, ctx: Context) => Promise<CommandResult>;
