// orch install claude: the /orchestrator-mode slash command, the hooks and the allow rule for orch,
// merged into the project's (or with --global, the user's) Claude Code settings.

import os from "node:os";
import { findOnPath } from "../adapters/tools.ts";
import { requireRepo, type Context } from "../context.ts";
import { usage } from "../errors.ts";
import { booleanFlag, positional, type Flags } from "../flags.ts";
import {
  ALLOW_RULE,
  INSTALLED_HOOK_COMMANDS,
  globalTarget,
  planInstall,
  projectTarget,
  writeFileReplacing,
  type InstallTarget,
} from "../integrations/claude.ts";
import type { CommandResult } from "./types.ts";

export interface InstallOptions {
  agent: "claude";
  global: boolean;
}

export function parseInstall(args: string[], flags: Flags): InstallOptions {
  const agent = positional(args, 0, "agent (claude)");
  if (agent !== "claude") {
    const why =
      `orch install knows only claude, not ${JSON.stringify(agent)}: ` +
      "other agents need nothing installed (their prompt tells them how to report back)";
    throw usage(why);
  }
  return { agent, global: booleanFlag(flags, "global") };
}

/** The user's ~/.claude (with --global; $HOME first, as Claude Code does), else .claude/ of the main worktree. */
async function installTarget(options: InstallOptions, ctx: Context): Promise<InstallTarget> {
  if (options.global) return globalTarget(ctx.env.HOME || os.homedir());
  return projectTarget((await requireRepo(ctx)).mainRoot);
}

export interface InstallResult {
  scope: "project" | "global";
  files: { path: string; changed: boolean }[];
  orchOnPath: string | undefined;
}

export async function runInstall(options: InstallOptions, ctx: Context): Promise<InstallResult> {
  const target = await installTarget(options, ctx);
  const planned = planInstall(target);
  for (const file of planned) if (file.content !== undefined) writeFileReplacing(file.path, file.content);
  const orchOnPath = findOnPath("orch", ctx.env);
  if (!orchOnPath) {
    ctx.warn(
      "orch is not on your PATH: the hooks and the slash command run `orch`, so put it there " +
      "(workers get it from orch spawn)",
    );
  }
  return {
    scope: options.global ? "global" : "project",
    files: planned.map((file) => ({ path: file.path, changed: file.content !== undefined })),
    orchOnPath,
  };
}

export async function main(args: string[], flags: Flags, ctx: Context): Promise<CommandResult> {
  const result = await runInstall(parseInstall(args, flags), ctx);
  return {
    json: {
      success: true,
      agent: "claude",
      scope: result.scope,
      files: result.files,
      allow_rule: ALLOW_RULE,
      hooks: INSTALLED_HOOK_COMMANDS,
      orch_on_path: result.orchOnPath ?? null,
    },
    human: (c) => {
      const fileLines = result.files.map((file) => {
        const what = file.changed ? c.green("wrote    ") : c.dim("unchanged");
        return `${what} ${file.path}\n`;
      });
      const where = result.scope === "global" ? "any repository" : "this repository";
      return fileLines.join("") + `Start Claude Code in ${where} and type /orchestrator-mode.\n`;
    },
  };
}
