// Where each thing lives in the store; every path orch reads or writes under .orch/ is made here.

import path from "node:path";

export class StoreLayout {
  /**
   * `registryDir`: for the store of a repository, a folder in its git dir that lists the sessions orch
   * created (one empty file per id). Content a repository ships cannot reach the git dir, so a session
   * committed under .orch/ is never one orch picks (README, "Reliability").
   */
  constructor(readonly root: string, readonly registryDir?: string) {}

  get sessionsDir(): string {
    return path.join(this.root, "sessions");
  }
  sessionDir(orchestratorId: string): string {
    return path.join(this.sessionsDir, orchestratorId);
  }
  sessionFile(orchestratorId: string): string {
    return path.join(this.sessionDir(orchestratorId), "session.json");
  }
  /** Worker → orchestrator messages. */
  mailDir(orchestratorId: string): string {
    return path.join(this.sessionDir(orchestratorId), "mail");
  }
  workersDir(orchestratorId: string): string {
    let dir = this.workersDirs.get(orchestratorId);
    if (dir === undefined) {
      dir = path.join(this.sessionDir(orchestratorId), "workers");
      this.workersDirs.set(orchestratorId, dir);
    }
    return dir;
  }
  /** Folders already joined: status asks for several paths of every worker. */
  private readonly workersDirs = new Map<string, string>();
  private readonly workerDirs = new Map<string, string>();
  workerDir(orchestratorId: string, workerId: string): string {
    const key = `${orchestratorId}/${workerId}`;
    let dir = this.workerDirs.get(key);
    if (dir === undefined) {
      dir = path.join(this.workersDir(orchestratorId), workerId);
      this.workerDirs.set(key, dir);
    }
    return dir;
  }
  /** A file in a worker's folder: the folder is normalized already, so appending is what path.join would give. */
  private inWorker(orchestratorId: string, workerId: string, name: string): string {
    return `${this.workerDir(orchestratorId, workerId)}${path.sep}${name}`;
  }
  workerFile(orchestratorId: string, workerId: string): string {
    return this.inWorker(orchestratorId, workerId, "worker.json");
  }
  /** Every message to and from a worker, hard-linked, plus lifecycle events: its status is derived from these. */
  eventsDir(orchestratorId: string, workerId: string): string {
    return this.inWorker(orchestratorId, workerId, "events");
  }
  /** Orchestrator → worker messages. */
  inboxDir(orchestratorId: string, workerId: string): string {
    return this.inWorker(orchestratorId, workerId, "inbox");
  }
  promptFile(orchestratorId: string, workerId: string): string {
    return this.inWorker(orchestratorId, workerId, "prompt.txt");
  }
  agentPidFile(orchestratorId: string, workerId: string): string {
    return this.inWorker(orchestratorId, workerId, "agent.pid");
  }
  /** A worker's requests waiting for approve/deny: <id>.json, and <id>.answer.json once answered. */
  requestsDir(orchestratorId: string, workerId: string): string {
    return path.join(this.workerDir(orchestratorId, workerId), "requests");
  }
  patchesDir(orchestratorId: string, workerId: string): string {
    return path.join(this.workerDir(orchestratorId, workerId), "patches");
  }
  /** Created (exclusively) when the PostToolUse hook has reported this PR: a PR is reported once. */
  prReportedFile(orchestratorId: string, workerId: string, prUrl: string): string {
    const urlAsName = prUrl.replace(/^https?:\/\//, "").replace(/[^A-Za-z0-9._-]/g, "-");
    return path.join(this.workerDir(orchestratorId, workerId), `pr-reported-${urlAsName}`);
  }
  /** Journals of spawns under way: what a spawn killed with -9 left, for the next command to repair. */
  spawningDir(orchestratorId: string): string {
    return path.join(this.sessionDir(orchestratorId), "spawning");
  }
  spawningFile(orchestratorId: string, workerId: string): string {
    return path.join(this.spawningDir(orchestratorId), `${workerId}.json`);
  }
  /** What orch remembers per worker about its base: the tip it was last told about, its cached standing. */
  coherenceFile(orchestratorId: string, workerId: string): string {
    return this.inWorker(orchestratorId, workerId, "coherence.json");
  }
  /** One file per base tip the worker was told about, created exclusively: told once per move. */
  toldDir(orchestratorId: string, workerId: string): string {
    return this.inWorker(orchestratorId, workerId, "told");
  }
  /** The base branches' tips as the last orch command saw them: a cheap "has anything moved?". */
  /** What status last read of each worker, with the stamps of the folders it came from (store/status-cache.ts). */
  statusCacheFile(orchestratorId: string): string {
    return path.join(this.sessionDir(orchestratorId), "status-cache.json");
  }
  /** Every worker's standing as last computed (ahead, behind, merges cleanly), one file for the session. */
  standingsFile(orchestratorId: string): string {
    return path.join(this.sessionDir(orchestratorId), "standings.json");
  }
  baseTipsFile(orchestratorId: string): string {
    return path.join(this.sessionDir(orchestratorId), "base-tips.json");
  }
  lockFile(orchestratorId: string, name: string): string {
    return path.join(this.sessionDir(orchestratorId), `${name}.lock-target`);
  }
}
