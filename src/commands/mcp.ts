// orch mcp: serve orch's tools as an MCP stdio server until the client closes stdin.

import type { Context } from "../context.ts";
import { exitCodeFor, usage } from "../errors.ts";
import { booleanFlag, type Flags } from "../flags.ts";
import type { CommandResult } from "./types.ts";

export async function main(_args: string[], flags: Flags, ctx: Context): Promise<CommandResult> {
  // stdout carries MCP frames only: a JSON document after them would break the client.
  if (booleanFlag(flags, "json")) throw usage("orch mcp speaks MCP on stdout; --json does not apply");
  const { serveMcp } = await import("../integrations/mcp.ts");
  const signal = await serveMcp({ cwd: ctx.cwd, env: ctx.env, warn: ctx.warn });
  // Ended by a signal: 128 + its number, as a shell reports a process the signal ended.
  const exitCode = signal === undefined ? 0 : exitCodeFor("interrupted", signal);
  return { json: { success: true }, human: () => "", exitCode };
}
