// Claude Code as a worker: how it starts (plan mode for --plan).

import type { AgentProfile } from "./profile.ts";

export const claudeProfile: AgentProfile = {
  name: "claude",
  start(spec) {
    return { argv: spec.plan ? ["claude", "--permission-mode", "plan"] : ["claude"], promptPlacement: "last", env: {} };
  },
  prepare: async () => [],
  resume(spec) {
    // The session id orch gave claude at spawn names the conversation to continue.
    if (!spec.sessionId) return undefined;
    return { argv: ["claude", "--resume", spec.sessionId], promptPlacement: "last", env: {} };
  },
};
