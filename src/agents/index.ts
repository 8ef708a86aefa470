// The agent profiles by name: claude and codex are known; any other --agent value is a command template.

import type { AgentProfile } from "./profile.ts";

export async function profileFor(agent: string): Promise<AgentProfile> {
  if (agent === "claude") return (await import("./claude.ts")).claudeProfile;
  if (agent === "codex") return (await import("./codex.ts")).codexProfile;
  return (await import("./command.ts")).commandProfile(agent);
}

/** The profile of an agent orch knows by name (as recorded with a worker); undefined for command templates. */
export async function knownProfile(name: string): Promise<AgentProfile | undefined> {
  return name === "claude" || name === "codex" ? profileFor(name) : undefined;
}

/** The argv the runner starts: the profile's command, then the prompt where the profile places it. */
export function argvWithPrompt(argv: string[], placement: "last" | "after-dashdash", prompt: string): string[] {
  return placement === "after-dashdash" ? [...argv, "--", prompt] : [...argv, prompt];
}
