// The harness for tests that run the real agent programs offline: where the pinned CLIs are cached,
// a bin folder that puts them on PATH, and a scratch HOME set up as a user who has used the agent once
// (no first-run dialog, updaters off). Pair it with a scripted model server (anthropic-server.ts for
// Claude Code), privateTmux() and orch spawn from ../helpers.ts: the agent then runs exactly as a user
// gets it, in its tmux window, talking to 127.0.0.1 only.
//
//   const server = await new AnthropicServer().start();
//   server.script("feat-x", [step.bash("orch notify --type progress --summary hi"), step.say("done")]);
//   const user = claudeUser({ allow: ["Bash(gh pr create:*)"] });
//   orch(["spawn", "feat/x", "--prompt", "…"], { cwd: repo, env: { ...privateTmux(), ...user.env, ...server.env } });
//
// The CLIs come from .ci/install-agents (npm test runs it first); a missing one fails with a message
// that says so, never a skip.

import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { atExit, baseEnv, tempDir } from "../helpers.ts";
import { API_KEY } from "./anthropic-server.ts";

/** Where .ci/install-agents puts the pinned agents. */
export function agentCache(): string {
  return process.env.ORCH_AGENT_CACHE || path.join(os.homedir(), ".cache", "orch-agents");
}

/** A version .ci/install-agents pins (its `NAME=x.y.z` line): the one place that says which agents are tested. */
function pinned(name: string): string {
  const script = fs.readFileSync(new URL("../../../../.ci/install-agents", import.meta.url), "utf8");
  const version = new RegExp(`^${name}=(\\S+)$`, "m").exec(script)?.[1];
  if (!version) throw new Error(`.ci/install-agents pins no ${name}`);
  return version;
}

export const CLAUDE_VERSION = pinned("CLAUDE_VERSION");

const AGENT_BINARIES: Record<"claude" | "codex", string> = {
  claude: "node_modules/@anthropic-ai/claude-code-linux-x64/claude",
  codex: "node_modules/@openai/codex-linux-x64/vendor/x86_64-unknown-linux-musl/bin/codex",
};

/** The cached native binary of an agent; throws a message naming the fix when it is not installed. */
export function agentBinary(agent: "claude" | "codex"): string {
  const file = path.join(agentCache(), AGENT_BINARIES[agent]);
  if (!fs.existsSync(file)) {
    throw new Error(`${agent} is not installed at ${file}: run .ci/install-agents (npm test does), ` +
      "or set ORCH_AGENT_CACHE to where it put them");
  }
  return file;
}

/** A folder holding `claude` / `codex` (links to the cached binaries) and any extra scripts, for PATH. */
export function agentBinDir(scripts: Record<string, string> = {}): string {
  const dir = tempDir("orch-agent-bin-");
  for (const agent of ["claude", "codex"] as const) {
    const file = path.join(agentCache(), AGENT_BINARIES[agent]);
    if (fs.existsSync(file)) fs.symlinkSync(file, path.join(dir, agent));
  }
  for (const [name, body] of Object.entries(scripts)) fs.writeFileSync(path.join(dir, name), body, { mode: 0o755 });
  return dir;
}

export interface ClaudeUserOptions {
  /** Permission rules the user has allowed (settings.json permissions.allow): what the test's script runs. */
  allow?: string[];
  /**
   * The user's default permission mode. "manual" (asks before any command it does not know to be
   * safe) by default, so that orch's own commands are proven to need no approval; "auto" has the
   * model server's security monitor decide.
   */
  defaultMode?: string;
  /** Extra top-level keys for ~/.claude.json (e.g. projects). */
  config?: Record<string, unknown>;
  /** Scripts to put on PATH beside claude (name → sh script). */
  scripts?: Record<string, string>;
}

export interface ClaudeUser {
  home: string;
  /** ~/.claude.json */
  configFile: string;
  /** What to add to the environment of orch spawn (HOME, PATH with claude on it, updaters off). */
  env: Record<string, string | undefined>;
}

/**
 * ~/.claude.json keys of a user who has run Claude Code 2.1.328 once with an API key, each one a
 * first-run screen it skips (found by running it in tmux and answering each screen): onboarding and
 * the theme, the API key approval (the last 20 characters of the key), the release notes, the "auto
 * mode is the default" notice, the auto-mode billing notice for gateways (any ANTHROPIC_BASE_URL), and
 * the "make auto mode your default?" nudge after a turn in manual mode; updates off.
 */
export function usedOnceConfig(): Record<string, unknown> {
  return {
    numStartups: 1,
    hasCompletedOnboarding: true,
    lastOnboardingVersion: CLAUDE_VERSION,
    lastReleaseNotesSeen: CLAUDE_VERSION,
    theme: "dark",
    customApiKeyResponses: { approved: [API_KEY.slice(-20)], rejected: [] },
    hasSeenAutoDefaultNotice: true,
    hasSeenAutoDefaultNudge: true,
    autoModeClassifierBillingNoticeAcknowledgedAt: Date.now(),
    autoUpdates: false,
    officialMarketplaceAutoInstallAttempted: true,
    officialMarketplaceAutoInstalled: false,
  };
}

/** A scratch HOME with Claude Code set up as a user who has used it once; nothing of the real HOME is read. */
export function claudeUser(options: ClaudeUserOptions = {}): ClaudeUser {
  agentBinary("claude");
  const home = tempDir("orch-home-");
  // Before the HOME goes: a Claude Code still ending (hung up by the tests' tmux kill-server) wrote its
  // .claude.json into it after it was removed, and left the folder in /tmp.
  atExit(() => endUserProcesses({ home }));
  const configFile = path.join(home, ".claude.json");
  fs.writeFileSync(configFile, `${JSON.stringify({ ...usedOnceConfig(), ...options.config }, null, 2)}\n`, { mode: 0o600 });
  fs.mkdirSync(path.join(home, ".claude"), { mode: 0o700 });
  const settings = {
    autoUpdates: false,
    env: { DISABLE_AUTOUPDATER: "1" },
    permissions: { defaultMode: options.defaultMode ?? "manual", allow: options.allow ?? [] },
  };
  fs.writeFileSync(path.join(home, ".claude", "settings.json"), `${JSON.stringify(settings, null, 2)}\n`);
  // Claude Code's temporary files and its messaging socket (<tmp>/cc-socks/<pid>.sock, left behind by a killed
  // claude) go in the scratch HOME, not in the machine's /tmp, where they piled up run after run.
  fs.mkdirSync(path.join(home, "tmp"), { mode: 0o700 });
  const bin = agentBinDir(options.scripts);
  return {
    home,
    configFile,
    env: {
      HOME: home,
      PATH: `${bin}${path.delimiter}${baseEnv().PATH ?? ""}`,
      SHELL: "/bin/bash",
      DISABLE_AUTOUPDATER: "1",
      DISABLE_UPDATES: "1",
      CLAUDE_CODE_TMPDIR: path.join(home, "tmp"),
      // The real user's settings must not leak in through these.
      CLAUDE_CONFIG_DIR: undefined,
      XDG_CONFIG_HOME: path.join(home, ".config"),
      XDG_STATE_HOME: path.join(home, ".local", "state"),
    },
  };
}

/** The parsed ~/.claude.json of a scratch user. */
export function readClaudeConfig(user: ClaudeUser): Record<string, unknown> {
  return JSON.parse(fs.readFileSync(user.configFile, "utf8")) as Record<string, unknown>;
}

/**
 * Ends every process still running with this scratch user's HOME (found through /proc/<pid>/environ):
 * what Claude Code leaves behind on its own, such as the background daemon and its terminal hosts
 * after "Move to background and exit", which outlive the tmux server.
 */
export function endUserProcesses(user: Pick<ClaudeUser, "home">): number[] {
  const marker = `HOME=${user.home}`;
  const ended: number[] = [];
  let pids: string[] = [];
  try {
    pids = fs.readdirSync("/proc").filter((name) => /^\d+$/.test(name));
  } catch {
    return ended;
  }
  for (const pid of pids) {
    if (Number(pid) === process.pid) continue;
    try {
      if (!fs.readFileSync(`/proc/${pid}/environ`, "utf8").split("\0").includes(marker)) continue;
      process.kill(Number(pid), "SIGKILL");
      ended.push(Number(pid));
    } catch {
      // gone already, or not ours to read
    }
  }
  return ended;
}
