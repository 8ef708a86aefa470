// orch completion bash|zsh|fish: prints a completion script made from the command table.

import { SHELLS, completionScript, type Shell } from "../cli/completion.ts";
import { usage } from "../errors.ts";
import type { Flags } from "../flags.ts";
import type { CommandResult } from "./types.ts";
import type { Context } from "../context.ts";

export function parseShell(name: string | undefined): Shell {
  if (name === undefined || name === "") throw usage(`missing shell: use one of ${SHELLS.join(", ")}`);
  const known = (SHELLS as readonly string[]).includes(name);
  if (!known) throw usage(`unknown shell ${JSON.stringify(name)}: use one of ${SHELLS.join(", ")}`);
  return name as Shell;
}

export async function main(args: string[], _flags: Flags, _ctx: Context): Promise<CommandResult> {
  const shell = parseShell(args[0]);
  const script = completionScript(shell);
  return {
    json: { success: true, shell, script },
    human: () => script,
    verbatim: true,
  };
}
