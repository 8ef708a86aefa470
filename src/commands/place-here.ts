// A worker on this machine, as a WorkerPlace (hosts/place.ts): each operation is the command's own local
// part, loaded when it is called.

import type { Context } from "../context.ts";
import type { WorkerPlace } from "../hosts/place.ts";
import { readSyncOwed, removeSyncOwed, SYNC_OWED_HERE, writeSyncOwed } from "../store/coherence.ts";
import type { StoreLayout } from "../store/layout.ts";
import type { WorkerRecord } from "../store/workers.ts";

export function herePlace(layout: StoreLayout, record: WorkerRecord, ctx: Context): WorkerPlace {
  return {
    stop: async () => (await import("./lifecycle.ts")).stopHere(layout, record, ctx),
    remove: async (options, mainRoot) => {
      const { removeHere } = await import("./lifecycle.ts");
      return removeHere(layout, record, options, ctx, mainRoot);
    },
    answer: async (requestId, decision) => {
      const { answerHere } = await import("./approve.ts");
      return answerHere(layout, record, requestId, decision);
    },
    resume: async (prompt) => (await import("./resume.ts")).resumeHere(layout, record, prompt, ctx),
    deliver: async (message, once) => (await import("./messages.ts")).deliverHere(layout, record, message, ctx, once),
    tell: async (repo, notice) => (await import("./coherence.ts")).tellHere(layout, repo, record, notice, ctx),
    sync: async (_repo, request) => (await import("./sync.ts")).syncHere(layout, record, request, ctx),
    // A sync killed after git rebased the worktree, before it told the worker, is finished by the next.
    syncOwed: () => readSyncOwed(layout, record.orchestrator_id, record.worker_id, SYNC_OWED_HERE),
    oweSync: (owed) => writeSyncOwed(layout, record.orchestrator_id, record.worker_id, SYNC_OWED_HERE, owed),
    settleSync: () => removeSyncOwed(layout, record.orchestrator_id, record.worker_id, SYNC_OWED_HERE),
  };
}
