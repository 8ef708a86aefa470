// Remote workers' messages come home: one ssh call per host claims that host's new messages (the claim
// happens there, so each is handed out once), they are delivered into this session's mailbox under
// their own ids, and only then does the host mark them read. A connection that drops before that "ack"
// leaves them unread on the host; the next claim brings them again and the copies already here are
// dropped by id. So local poll, poll --wait and watch deliver remote messages exactly once.

import fs from "node:fs";
import path from "node:path";
import {
  answerTimeoutMs, answerTooLong, checkSshSetup, HostUnreachable, MAX_ANSWER_CHARS, SSH_CONNECTION_FAILED,
  sshSaid, type RemoteProcess,
} from "../adapters/ssh.ts";
import { requestsSent, STDERR_KEPT_CHARS } from "../adapters/ssh-mux.ts";
import type { Context } from "../context.ts";
import { aboutHost } from "../errors.ts";
import { LATE, settledWithin } from "../within.ts";
import { isMessageId, isWorkerId } from "../ids.ts";
import { listDir, toJson } from "../store/files.ts";
import type { StoreLayout } from "../store/layout.ts";
import { withLock } from "../store/lock.ts";
import { deliver } from "../store/maildir.ts";
import { linkEvent, readEventLog } from "../store/events.ts";
import { type Message, printableContent } from "../store/messages.ts";
import { listWorkers } from "../store/workers.ts";
import { nextTryText, noteHostReached, noteSilentFailure, silentHost, silentSince } from "./backoff.ts";
import { RemoteHost, type LifelineRequest } from "./remote.ts";
import {
  findHost, findHostSession, isHostOf, listHostSessions, type HostRecord, type HostSessionLink,
} from "./store.ts";

const isTypeChar = (c: number) => (c >= 97 && c <= 122) || c === 95;

function asMessage(value: unknown, localId: string, host: string): Message | undefined {
  const m = value as Partial<Message> | null;
  if (!m || typeof m.id !== "string" || !isMessageId(m.id)) return undefined;
  const type: unknown = m.message_type;
  if (typeof type !== "string" || type === "" || ![...type].every((c) => isTypeChar(c.charCodeAt(0)))) return undefined;
  if (m.worker_id !== null && (typeof m.worker_id !== "string" || !isWorkerId(m.worker_id))) return undefined;
  if (!m.content || typeof m.content !== "object" || typeof m.created_at !== "string") return undefined;
  const { id, worker_id, message_type, created_at } = m;
  const content = printableContent(m.content);
  return { id, orchestrator_id: localId, worker_id, message_type, content, created_at, host } as Message;
}

/** The message is already in the mailbox: unread, being handed out, or read (checked in the order files move). */
function alreadyHere(mailDir: string, name: string): boolean {
  if (fs.existsSync(path.join(mailDir, "new", name))) return true;
  for (const claim of listDir(path.join(mailDir, "claims"))) {
    if (fs.existsSync(path.join(mailDir, "claims", claim, name))) return true;
  }
  return fs.existsSync(path.join(mailDir, "cur", name));
}

/** Differences between the clocks below this are the round trip's, not the host's clock: never corrected. */
const CLOCK_TOLERANCE_MS = 1000;

/**
 * How far the host's clock is ahead of this one (ms; negative when behind), from the time its orch sent
 * the claim (`now`, which an older orch there does not send): 0 within CLOCK_TOLERANCE_MS.
 */
export function clockOffsetOf(doc: Record<string, unknown>): number {
  const there = typeof doc.now === "string" ? Date.parse(doc.now) : Number.NaN;
  const offset = Number.isNaN(there) ? 0 : there - Date.now();
  return Math.abs(offset) < CLOCK_TOLERANCE_MS ? 0 : offset;
}

/**
 * Delivers a host's messages into the local mailbox (and the workers' event logs); returns how many were new.
 * A host whose clock is off by `clockOffsetMs` has each message's time on this clock recorded beside its own
 * (`created_here`), so that the land queue orders its workers by when they finished, not by its clock.
 */
export async function storeHostMessages(
  layout: StoreLayout, orchestratorId: string, host: string, values: unknown[], clockOffsetMs = 0,
): Promise<number> {
  const read = values.map((v) => asMessage(v, orchestratorId, host)).filter((m): m is Message => m !== undefined);
  if (read.length === 0) return 0;
  // A message is its worker's only when that worker is this session's on this host: one naming a worker here
  // or on another host (or none recorded) would be taken for that worker's, and goes to its event log.
  const own = new Set(listWorkers(layout, orchestratorId).filter((w) => w.host === host).map((w) => w.worker_id));
  const messages = read.filter((m) => m.worker_id === null || own.has(m.worker_id));
  if (clockOffsetMs !== 0) {
    for (const m of messages) {
      // A time out of Date's range (a clock or a created_at off by millennia) is left without one here.
      const here = new Date(Date.parse(m.created_at) - clockOffsetMs);
      if (!Number.isNaN(here.getTime())) m.created_here = here.toISOString();
    }
  }
  if (messages.length === 0) return 0;
  const mailDir = layout.mailDir(orchestratorId);
  // One importer at a time per session: the check for a copy and the delivery must not interleave.
  const importLock = path.join(layout.sessionDir(orchestratorId), "host-import");
  return withLock(importLock, "taking messages from hosts", async () => {
    let stored = 0;
    for (const message of messages) {
      const name = `${message.id}.json`;
      if (alreadyHere(mailDir, name)) continue;
      const events = message.worker_id ? layout.eventsDir(orchestratorId, message.worker_id) : undefined;
      const logged = events !== undefined && readEventLog(events).some((entry) => entry.id === message.id);
      const link = events === undefined || logged
        ? undefined
        : (file: string) => linkEvent(events, file, message.message_type, message.id);
      deliver(mailDir, name, toJson(message), link);
      stored++;
    }
    return stored;
  });
}

interface LifelineOutcome {
  doc: Record<string, unknown>;
}

/**
 * Runs one lifeline command on a host: resolves with its document once `onDocument` has handled it
 * (and, for a poll, the host was told "ack"). `cancel()` closes the connection, which ends it there.
 */
export function runLifeline(
  host: RemoteHost,
  request: LifelineRequest,
  onDocument: (doc: Record<string, unknown>) => Promise<void>,
): { done: Promise<LifelineOutcome>; started: Promise<RemoteProcess>; cancel: () => void } {
  let child: RemoteProcess | undefined;
  let cancelled = false;
  let cancelStart: (error: Error) => void = () => undefined;
  // Cancelled while still starting (a host that does not answer): over at once; what starts later is ended.
  const starting = new Promise<never>((_, reject) => (cancelStart = reject));
  starting.catch(() => undefined);
  const launched = host.lifeline(request).then((process) => {
    if (cancelled) process.kill();
    return process;
  });
  launched.catch(() => undefined);
  const done = Promise.race([launched, starting]).then((started) => new Promise<LifelineOutcome>((resolve, reject) => {
    child = started;
    if (cancelled) child.kill();
    let stdout = "";
    let stderr = "";
    let handled: Promise<LifelineOutcome> | undefined;
    /** Where the first line ends, once it has come (read once: a host may send its output in small pieces). */
    let firstEnd = -1;
    let tooLong = false;
    child.onStdout((chunk) => {
      // Once its answer is taken, what else it prints is not kept; before, no more than an answer can be.
      if (handled || tooLong) return;
      stdout += chunk;
      if (stdout.length > MAX_ANSWER_CHARS) {
        tooLong = true;
        stdout = "";
        return started.kill();
      }
      if (firstEnd >= 0 || !chunk.includes("\n")) return;
      firstEnd = stdout.length - chunk.length + chunk.indexOf("\n");
      let doc: Record<string, unknown>;
      try {
        doc = JSON.parse(stdout.slice(0, firstEnd)) as Record<string, unknown>;
      } catch {
        return; // an error document spans lines: read at exit
      }
      if (doc.success !== true) return;
      if (request.command === "poll" && doc.message_count === 0) {
        // Nothing taken there, nothing to acknowledge: the host's side is ending on its own, and the answer
        // counts now. The channel closes both ways meanwhile; the process ends only once it has.
        started.kill();
        handled = Promise.resolve({ doc });
        handled.then(resolve, reject);
        return;
      }
      // Stored here first, then "ack": only then does the host mark them read. The answer counts once
      // the host has finished (or the connection is gone: then it hands them out again, and the copies
      // here are dropped by id).
      handled = onDocument(doc).then(() => {
        started.write("ack\n");
        return started.exit.then(() => ({ doc }));
      });
      handled.then(resolve, reject);
    });
    child.onStderr((chunk) => (stderr = (stderr + chunk).slice(-STDERR_KEPT_CHARS)));
    child.exit.then((code) => {
      if (handled) return;
      if (cancelled) return reject(host.unreachable("cancelled"));
      if (tooLong) return reject(answerTooLong(host.name, `orch ${request.command}`));
      if (code === SSH_CONNECTION_FAILED) {
        return reject(host.unreachable(sshSaid(stderr) || "the connection closed"));
      }
      try {
        host.documentOf({ code, stdout, stderr }, request.command);
        reject(host.unreachable(`orch ${request.command} ended without an answer`));
      } catch (error) {
        reject(error);
      }
    }, (error: Error) => reject(host.unreachable(error.message)));
  }));
  return {
    done,
    started: launched,
    cancel: () => {
      cancelled = true;
      child?.kill();
      cancelStart(host.unreachable("cancelled"));
    },
  };
}

function hostsOf(
  layout: StoreLayout,
  orchestratorId: string,
  ctx: Context,
  forgotten = new Set<string>(),
): { host: RemoteHost; link: HostSessionLink }[] {
  return listHostSessions(layout, orchestratorId).flatMap((link) => {
    let record: HostRecord | undefined;
    try {
      record = findHost(layout, link.host);
    } catch (error) {
      // Its file unusable (truncated, edited): said once, as the other commands say it.
      if (!forgotten.has(link.host)) ctx.warn(`${aboutHost(link.host, error)}: its messages stay there`);
      forgotten.add(link.host);
      return [];
    }
    if (record && isHostOf(record, link.host_id)) return [{ host: new RemoteHost(record, ctx.env), link }];
    // Forgotten here (host rm), or its name another host's now (whose clone has no such session): worth a word
    // only while workers of this session are still recorded on it.
    const workersThere = () => listWorkers(layout, orchestratorId)
      .some((w) => w.host === link.host && (!record || !isHostOf(record, w.host_id)));
    if (!forgotten.has(link.host) && workersThere()) {
      const why = record
        ? "is another host now (removed and added again elsewhere): the messages of the host it was stay there"
        : "is no longer known (orch host rm?): its messages stay there";
      ctx.warn(`host ${link.host} ${why}`);
    }
    forgotten.add(link.host);
    return [];
  });
}

function pollRequest(link: HostSessionLink, wait: boolean): LifelineRequest {
  return { command: "poll", args: [], flags: { orch: link.remote_orchestrator_id, ...(wait ? { wait: true } : {}) } };
}

/** The claims of collectHostMessages: `sent` once every host's has gone (or failed), `done` once all are over. */
export interface HostClaims {
  sent: Promise<void>;
  done: Promise<void>;
}

/** Claims made before poll itself had loaded (poll-early.ts), and the session they were made for. */
let early: { layout: StoreLayout; orchestratorId: string; claims: HostClaims } | undefined;

/** Starts collectHostMessages's claims now, for the poll that is about to load: it takes them over. */
export function claimEarly(layout: StoreLayout, orchestratorId: string, ctx: Context): HostClaims {
  const claims = claimAll(layout, orchestratorId, ctx);
  early = { layout, orchestratorId, claims };
  return claims;
}

/**
 * One claim per host, all at once: their messages land in the local mailbox. Unreachable hosts warn.
 * The caller's own work goes best between `sent` and `done`, while the hosts answer (see requestsSent).
 */
export function collectHostMessages(layout: StoreLayout, orchestratorId: string, ctx: Context): HostClaims {
  const made = early;
  early = undefined;
  if (made?.orchestratorId === orchestratorId && made.layout.root === layout.root) return made.claims;
  const claims = claimAll(layout, orchestratorId, ctx);
  if (!made) return claims;
  // Made for another session (a newer one appeared meanwhile): those end before this poll does too.
  return { sent: claims.sent, done: Promise.all([claims.done, made.claims.done]).then(() => undefined) };
}

/**
 * A poll that does not wait, given up (its connection closed) when the host's orch has not finished within
 * `limitMs` (one that hangs there): what it had claimed is not acknowledged, so it is handed out again.
 */
async function answeredInTime(
  host: RemoteHost, lifeline: { done: Promise<LifelineOutcome>; cancel: () => void }, limitMs: number,
): Promise<void> {
  if ((await settledWithin(lifeline.done, limitMs)) !== LATE) return;
  lifeline.cancel();
  throw host.unreachable(`orch there did not answer within ${limitMs / 1000} s (does it hang?)`);
}

function claimAll(layout: StoreLayout, orchestratorId: string, ctx: Context): HostClaims {
  const hosts = hostsOf(layout, orchestratorId, ctx);
  if (hosts.length) checkSshSetup(ctx.env);
  const done = Promise.all(hosts.map(async ({ host, link }) => {
    const store = async (doc: Record<string, unknown>) => {
      await storeHostMessages(layout, orchestratorId, host.name, (doc.messages as unknown[]) ?? [], clockOffsetOf(doc));
    };
    const silent = silentHost(layout, host.name);
    if (silent) {
      const until = `until the ${nextTryText(silent)}`;
      return ctx.warn(`host ${host.name} ${silentSince(silent)}: its messages wait there ${until}`);
    }
    const startedAt = Date.now();
    try {
      await answeredInTime(host, runLifeline(host, pollRequest(link, false), store), answerTimeoutMs(ctx.env));
      noteHostReached(layout, host.name);
    } catch (error) {
      const waiting = error instanceof HostUnreachable;
      ctx.warn(waiting ? `${error.message}: its messages wait there` : aboutHost(host.name, error));
      if (waiting) noteSilentFailure(layout, host.name, error.sshError, startedAt);
    }
  })).then(() => undefined);
  return { sent: requestsSent(), done };
}

/** How often a follower looks for hosts this session started using meanwhile (a spawn --host). */
const NEW_HOSTS_MS = 1000;

export interface HostFollower {
  /** Ends the waits; settles once their connections have closed (bounded: see MuxSession.close). */
  stop: () => Promise<void>;
}

/**
 * While a local wait runs: one connection per host held open on a remote `poll --wait`; each answer is
 * stored here (which wakes the local wait) and the wait starts again. A dropped connection is opened
 * again, after a pause that grows to 5 s; the host's messages wait there meanwhile. A host that this
 * session starts using during the wait (watch runs for hours) is followed from then on, and so is one
 * added again elsewhere under its name, or whose session there was made anew; a host forgotten here is not.
 */
export function followHosts(layout: StoreLayout, orchestratorId: string, ctx: Context): HostFollower {
  let stopped = false;
  const cancels = new Set<() => void>();
  const running = new Set<Promise<unknown>>();
  /** Each follower by what it follows (see keyOf), with the cancel of its lifeline of the moment. */
  const followed = new Map<string, () => void>();
  const keyOf = (record: HostRecord, link: HostSessionLink) =>
    [record.name, record.destination, record.path, link.remote_orchestrator_id].join("\n");
  /** What a follower of host `name` would follow now, or undefined when the host or its session is gone here. */
  const currentKey = (name: string): string | undefined => {
    try {
      const record = findHost(layout, name);
      const link = findHostSession(layout, orchestratorId, name);
      return record && link && isHostOf(record, link.host_id) ? keyOf(record, link) : undefined;
    } catch {
      return undefined;
    }
  };
  const forgotten = new Set<string>();
  const follow = (host: RemoteHost, link: HostSessionLink, key: string) => void (async () => {
    const following = () => !stopped && followed.has(key);
    let pause = 250;
    let warned = false;
    // Looked at again before each connection and each answer's messages are taken: never the old host's.
    const gone = () => currentKey(host.name) !== key;
    while (following()) {
      if (gone()) {
        followed.delete(key);
        break;
      }
      const store = async (doc: Record<string, unknown>) => {
        // Forgotten (or added again elsewhere) while its wait was on: host rm lets the connection carry the
        // wait to its end, and what it claimed is not taken (never acknowledged, so it stays there).
        if (gone()) throw host.unreachable("forgotten here");
        const messages = (doc.messages as unknown[]) ?? [];
        await storeHostMessages(layout, orchestratorId, host.name, messages, clockOffsetOf(doc));
      };
      const lifeline = runLifeline(host, pollRequest(link, true), store);
      // Reached (its wait is on): status and poll, which pass over a silent host for a while, ask it again.
      lifeline.started.then((process) => process.announced && noteHostReached(layout, host.name), () => undefined);
      cancels.add(lifeline.cancel);
      if (followed.has(key)) followed.set(key, lifeline.cancel);
      running.add(lifeline.done);
      try {
        await lifeline.done;
        pause = 250;
        if (warned) ctx.warn(`host ${host.name} is reachable again`);
        warned = false;
      } catch (error) {
        if (!following() || gone()) {
          lifeline.cancel();
          continue;
        }
        if (!warned) {
          ctx.warn(error instanceof HostUnreachable ? `${error.message}: trying again` : aboutHost(host.name, error));
        }
        warned = true;
        await new Promise((r) => setTimeout(r, pause));
        pause = Math.min(pause * 2, 5000);
      } finally {
        cancels.delete(lifeline.cancel);
        running.delete(lifeline.done);
      }
    }
  })();
  const followNewHosts = () => {
    const now = hostsOf(layout, orchestratorId, ctx, forgotten)
      .map((pair) => ({ ...pair, key: keyOf(pair.host.record, pair.link) }));
    // Forgotten here, added again elsewhere, its session there made anew: what its follower follows is gone.
    for (const [key, cancel] of followed) {
      if (now.some((pair) => pair.key === key)) continue;
      followed.delete(key);
      cancel();
    }
    for (const { host, link, key } of now) {
      if (followed.has(key)) continue;
      followed.set(key, () => undefined);
      follow(host, link, key);
    }
  };
  if (listHostSessions(layout, orchestratorId).length) checkSshSetup(ctx.env);
  followNewHosts();
  const looking = setInterval(followNewHosts, NEW_HOSTS_MS);
  looking.unref();
  return {
    stop: async () => {
      stopped = true;
      clearInterval(looking);
      for (const cancel of cancels) cancel();
      await Promise.allSettled([...running]);
    },
  };
}
