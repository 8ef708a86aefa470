// The agent profiles by name: claude and codex are known; any other --agent value is a command template.

import type { AgentProfile, PermissionHook } from "./profile.ts";

export async function profileFor(agent: string): Promise<AgentProfile> {
  if (agent === "claude") return (await import("./claude.ts")).claudeProfile;
  if (agent === "codex") return (await import("./codex.ts")).codexProfile;
  const { commandProfile, splitWords } = await import("./command.ts");
  const template = commandProfile(agent);
  const words = splitWords(agent);
  // claude or codex named by a path or with options of the user's (`/opt/bin/claude --model opus`, `codex
  // --profile fast`): the agent orch knows, started by that program with those options before orch's own, so
  // it gets orch's hooks, trust and session id as the bare name does.
  const known = words.includes("--") ? undefined : await knownProfile(template.name);
  return known?.withOptions ? known.withOptions(words[0]!, words.slice(1)) : template;
}

/** The profile of an agent orch knows by name (as recorded with a worker), else undefined (a command template). */
export async function knownProfile(name: string): Promise<AgentProfile | undefined> {
  if (name === "claude" || name === "codex") return profileFor(name);
  return undefined;
}

/**
 * How a worker's PermissionRequest hook answers: its profile's way, else Claude Code's, the hooks
 * `orch install claude` wires (a command template that runs claude gets those hooks from settings).
 */
export async function permissionHookOf(agent: string): Promise<PermissionHook> {
  return (await knownProfile(agent))?.permissionHook ?? (await import("./claude.ts")).claudePermissionHook;
}

/**
 * The largest prompt passed as an argument itself. Linux refuses any one argument over 128 KiB
 * (MAX_ARG_STRLEN) with E2BIG; the margin leaves room for a template's own text.
 */
export const MAX_PROMPT_ARGUMENT_BYTES = 100 * 1024;

/**
 * The prompt as one argument: itself, or when too large a one-line pointer to the file that holds it: the
 * task's ($ORCH_PROMPT_FILE), or a resume's next message (`what`), a file of that text alone.
 */
export function promptArgument(prompt: string, promptFile: string, what?: string): string {
  const bytes = Buffer.byteLength(prompt, "utf8");
  if (bytes <= MAX_PROMPT_ARGUMENT_BYTES) return prompt;
  const size = `${bytes} bytes, too large for a command-line argument`;
  const then = "read all of it, then do what it says.";
  if (what !== undefined) return `${what} is in the file ${promptFile} (${size}): ${then}`;
  return `Your task is in the file ${promptFile} ($ORCH_PROMPT_FILE; ${size}): ${then}`;
}

/** The argv the runner starts: the profile's command, then the prompt where the profile places it. */
export function argvWithPrompt(
  argv: string[],
  placement: "last" | "after-dashdash",
  prompt: string,
  promptFile: string,
  what?: string,
): string[] {
  const argument = promptArgument(prompt, promptFile, what);
  return placement === "after-dashdash" ? [...argv, "--", argument] : [...argv, argument];
}
