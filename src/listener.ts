// A listener (poll --wait, watch, await, inbox --wait) lives and dies with the session that started it:
// it records the chain of processes above it, and before every claim checks that each is still the
// same process (pid and start time), so a listener left behind by an ended session takes nothing.
// Nothing takes the orchestrator's messages inside a Claude Code session moved to the background,
// where no person reads what it is handed.

import process from "node:process";
import { OrchError } from "./errors.ts";
import { startingParent } from "./parent.ts";
import { checkStoreFormat } from "./store/format.ts";
import { signalsGuarded } from "./signal-guard.ts";
import { isSameProcess, processChain } from "./proc.ts";

export class SessionGuard {
  private readonly parent = startingParent();
  private readonly chain = processChain(this.parent);

  /** `storeRoot`: the store it reads, whose format check() asks again (see check). */
  constructor(private readonly storeRoot: string) {}

  /**
   * Why the session this listener was started for is gone (its parent changed, or a process above it
   * ended or was replaced), or undefined while it lives. Without /proc only the parent is checked.
   */
  goneReason(): string | undefined {
    if (process.ppid !== this.parent) return `its parent process ${this.parent} is gone`;
    const ended = this.chain.find((ancestor) => !isSameProcess(ancestor.pid, ancestor.startTime));
    if (ended) return `the process ${ended.pid} above it has ended`;
    return undefined;
  }

  /**
   * Throws when the session is gone: call before every claim, so nothing is taken for nobody. Also when a
   * newer orch has upgraded the store meanwhile (store-version): asked at every wake-up, one stat while
   * there is no such file, since the format checked at the start no longer says how to read it.
   */
  check(what: string): void {
    const reason = this.goneReason();
    if (reason) {
      throw new OrchError("failed", `${what}: the session that started it has ended (${reason}); nothing was taken`);
    }
    checkStoreFormat(this.storeRoot);
  }
}

/**
 * Why orch must not take the orchestrator's messages here, or undefined. Claude Code 2.1.328's "Move to
 * background and exit" (and /background) carries the conversation on in its background daemon, which
 * tells the model that its listener ended; a model that starts it again, as the slash command says,
 * would take every message into a session nobody is looking at. Commands there run with
 * CLAUDE_CODE_SESSION_ATTENDED=0 and a CLAUDE_JOB_DIR (a foreground session has ATTENDED=1 and no
 * job); ORCH_LISTEN_UNATTENDED=1 takes them anyway.
 */
export function unattendedSessionReason(env: NodeJS.ProcessEnv): string | undefined {
  const background = env.CLAUDE_CODE_SESSION_ATTENDED === "0" && Boolean(env.CLAUDE_JOB_DIR);
  if (!background || env.ORCH_LISTEN_UNATTENDED === "1") return undefined;
  return (
    "this Claude Code session runs in the background with nobody attached (moved there at /exit), so orch takes no " +
    "message here: they stay for the next orchestrator session or orch poll. Do not start the listener again in this " +
    "session (ORCH_LISTEN_UNATTENDED=1 takes them anyway)"
  );
}

/**
 * Starts guarding a listener: a closed terminal or tmux pane (SIGHUP) ends it at once, and the
 * returned guard checks the processes above it. Signals are handled between claims (a claim is
 * synchronous), so an interrupted listener has taken nothing it did not hand out.
 */
let hangupHandled = false;

export function guardListener(storeRoot: string): SessionGuard {
  // The listener's connections to hosts are closed first, as a finished command closes them (ssh-mux.ts).
  const hangUp = () => {
    // A command undoing its steps (interrupt.ts), or orch mcp answering its calls, ends the process itself.
    if (signalsGuarded()) return;
    void import("./adapters/ssh-mux.ts").then((mux) => mux.endLiveSessions()).finally(() => process.exit(129));
  };
  if (!hangupHandled) process.on("SIGHUP", hangUp);
  hangupHandled = true;
  return new SessionGuard(storeRoot);
}
