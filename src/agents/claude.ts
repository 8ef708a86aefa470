// Claude Code as a worker: how it starts (plan mode for --plan).

import type { AgentProfile } from "./profile.ts";

export const claudeProfile: AgentProfile = {
  name: "claude",
  start(spec) {
    return { argv: spec.plan ? ["claude", "--permission-mode", "plan"] : ["claude"], promptPlacement: "last", env: {} };
  },
  prepare: async () => [],
  resume(spec) {
    // The session id orch gave claude at spawn names the conversation to continue; the rest of the
    // recorded command (settings, permission mode) stays as it was.
    if (!spec.sessionId) return undefined;
    const argv = [...spec.recorded.argv];
    const at = argv.indexOf("--session-id");
    if (at > 0 && argv[at + 1] === spec.sessionId) argv.splice(at, 2);
    argv.splice(1, 0, "--resume", spec.sessionId);
    return { argv, promptPlacement: spec.recorded.promptPlacement, env: {} };
  },
};
