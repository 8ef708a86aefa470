// Codex as a worker: how it starts.

import type { AgentProfile } from "./profile.ts";

export const codexProfile: AgentProfile = {
  name: "codex",
  start(spec) {
    if (spec.plan) spec.warn("--plan only changes how claude starts; ignored for --agent codex");
    return { argv: ["codex"], promptPlacement: "last", env: {} };
  },
  prepare: async () => [],
};
