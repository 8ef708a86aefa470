// orch doctor: checks what orch depends on (git, tmux, gh, git-gtr, the agent, the store, the Claude
// Code hooks) and says how to fix each problem; exit 1 when something required is missing.

import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { splitWords } from "../agents/command.ts";
import { chosenSandbox, readCodexOptions } from "../agents/codex.ts";
import { knownProfile, profileFor } from "../agents/index.ts";
import type { AgentProfile } from "../agents/profile.ts";
import { askTool, compareVersions, findOnPath, versionIn } from "../adapters/tools.ts";
import { repoOf, storeRootFor, type Context } from "../context.ts";
import { usage } from "../errors.ts";
import { stringFlag, type Flags } from "../flags.ts";
import { globalTarget, planInstall, projectTarget, type InstallTarget } from "../integrations/claude.ts";
import { selfCommand } from "../runtime.ts";
import * as tmux from "../adapters/tmux.ts";
import { isOrchestratorId } from "../ids.ts";
import { listDir } from "../store/files.ts";
import { checkStoreFormat } from "../store/format.ts";
import { StoreLayout } from "../store/layout.ts";
import { repairAllSpawns } from "./spawn-journal.ts";
import type { CommandResult } from "./types.ts";

export interface Check {
  name: string;
  ok: boolean;
  required: boolean;
  version?: string;
  detail: string;
  fix?: string;
}

/** git merge-tree --write-tree (dry runs of apply and land) appeared in git 2.38. */
export const MIN_GIT = "2.38";

async function checkGit(env: NodeJS.ProcessEnv): Promise<Check> {
  const answer = await askTool(["git", "--version"], env);
  const version = answer.code === 0 ? versionIn(answer.output) : undefined;
  if (!version) {
    return {
      name: "git",
      ok: false,
      required: true,
      detail: "git is not installed or not on PATH",
      fix: `install git ${MIN_GIT} or newer`,
    };
  }
  if (compareVersions(version, MIN_GIT) < 0) {
    return {
      name: "git",
      ok: false,
      required: true,
      version,
      detail: `git ${version} is older than ${MIN_GIT}`,
      fix: `upgrade git to ${MIN_GIT} or newer: orch apply --dry-run and orch land use git merge-tree --write-tree`,
    };
  }
  return { name: "git", ok: true, required: true, version, detail: `git ${version}` };
}

/**
 * Who git commits as, here. A new account has nobody: the workers' agents cannot commit their work (git refuses),
 * which orch's own commits would not show, since they fall back to orch's identity.
 */
async function checkGitIdentity(ctx: Context): Promise<Check> {
  const ask = (variable: string) => askTool(["git", "-C", ctx.cwd, "var", variable], ctx.env);
  const [author, committer] = await Promise.all([ask("GIT_AUTHOR_IDENT"), ask("GIT_COMMITTER_IDENT")]);
  if (author.code === 0 && committer.code === 0) {
    // "Name <email> 1700000000 +0000": the time is not who.
    return { name: "git identity", ok: true, required: false, detail: author.output.replace(/ \d+ [-+]\d{4}$/, "") };
  }
  return {
    name: "git identity",
    ok: false,
    required: false,
    detail: "git finds no name and email for you: workers' agents cannot commit their work here " +
      "(orch's own commits are then by orch <orch@localhost>)",
    fix: 'git config --global user.name "Your Name" && git config --global user.email you@example.com',
  };
}

async function checkTmux(env: NodeJS.ProcessEnv): Promise<Check> {
  const answer = await askTool(["tmux", "-V"], env);
  const version = answer.code === 0 ? versionIn(answer.output) : undefined;
  if (answer.code === undefined) {
    return {
      name: "tmux",
      ok: false,
      required: true,
      detail: "tmux is not installed or not on PATH",
      fix: "install tmux (apt install tmux, brew install tmux): orch spawn opens each worker in a tmux window",
    };
  }
  if (answer.code !== 0) {
    return {
      name: "tmux",
      ok: false,
      required: true,
      detail: `tmux -V failed: ${answer.output.split("\n")[0] ?? ""}`,
      fix: "reinstall tmux",
    };
  }
  const tooLong = tmux.socketTooLong(env);
  if (tooLong) {
    const { problem: detail, fix } = tooLong;
    return { name: "tmux", ok: false, required: true, ...(version ? { version } : {}), detail, fix };
  }
  return {
    name: "tmux",
    ok: true,
    required: true,
    ...(version ? { version } : {}),
    detail: `tmux ${version ?? "(unknown version)"}`,
  };
}

async function checkGh(env: NodeJS.ProcessEnv): Promise<Check> {
  const ghEnv = { ...env, GH_PROMPT_DISABLED: "1", NO_COLOR: "1" };
  const answer = await askTool(["gh", "--version"], ghEnv);
  const version = answer.code === 0 ? versionIn(answer.output) : undefined;
  if (answer.code === undefined) {
    return {
      name: "gh",
      ok: false,
      required: false,
      detail: "the GitHub CLI is not installed: orch merge works locally, orch pr and clean --merged cannot ask GitHub",
      fix: "install gh (https://cli.github.com), then gh auth login",
    };
  }
  const auth = await askTool(["gh", "auth", "status"], ghEnv);
  const base = { name: "gh", required: false, ...(version ? { version } : {}) };
  if (auth.timedOut) {
    return {
      ...base,
      ok: false,
      detail: "gh auth status did not answer within 10 s (no network?)",
      fix: "check your network, then gh auth status",
    };
  }
  if (auth.code !== 0) {
    return {
      ...base,
      ok: false,
      detail: `gh ${version ?? ""} is not logged in`.replace("  ", " "),
      fix: "gh auth login",
    };
  }
  return { ...base, ok: true, detail: `gh ${version ?? ""} logged in`.replace("  ", " ") };
}

async function checkGtr(env: NodeJS.ProcessEnv): Promise<Check> {
  const answer = await askTool(["git", "gtr", "version"], env);
  if (answer.code !== 0) {
    return {
      name: "git gtr",
      ok: false,
      required: false,
      detail: "not installed; optional: orch makes gtr-compatible worktrees with git itself",
      fix: "only for --backend gtr: install git-worktree-runner (https://github.com/coderabbitai/git-worktree-runner)",
    };
  }
  const version = versionIn(answer.output);
  return {
    name: "git gtr",
    ok: true,
    required: false,
    ...(version ? { version } : {}),
    detail: `git gtr ${version ?? ""}`.trim(),
  };
}

/** --agent as spawn reads it: an empty or unparsable command line is bad input (exit 2), not a failed check. */
function agentWords(agent: string): string[] {
  let argv: string[];
  try {
    argv = splitWords(agent);
  } catch (error) {
    throw usage(`${(error as Error).message} (quote it as sh would)`);
  }
  if (argv.length === 0) throw usage("--agent is empty");
  return argv;
}

function installAdvice(agent: string, program: string | undefined, version = ""): string {
  const orPick = "or pick another agent with orch spawn --agent";
  if (agent === "claude") return `install Claude Code (npm install -g @anthropic-ai/claude-code${version}), ${orPick}`;
  if (agent === "codex") return `install Codex (npm install -g @openai/codex${version}), ${orPick}`;
  if (program?.includes("/")) return `give the agent's program as an absolute path or a name on PATH, ${orPick}`;
  return `put ${program ?? "the agent"} on PATH, ${orPick}`;
}

/** claude and codex are asked for --version; a command line of your own is only looked up, never run. */
async function checkAgent(agent: string, argv: string[], ctx: Context): Promise<Check[]> {
  const env = ctx.env;
  const program = argv[0];
  const name = `agent (${agent})`;
  // A relative path (with a /) is taken from the worker's worktree, which holds what the repository's root does.
  // A worktree lies elsewhere, so one that leaves the repository (../x) finds nothing there.
  const relative = program !== undefined && program.includes("/") && !path.isAbsolute(program);
  const root = relative ? (await repoOf(ctx))?.mainRoot ?? ctx.cwd : undefined;
  const leaves = relative && path.normalize(program).split("/")[0] === "..";
  const lookedUp = root ? path.join(root, program!) : program;
  const found = lookedUp === undefined || leaves ? undefined : findOnPath(lookedUp, env);
  if (!program || !found) {
    const fix = installAdvice(agent, program);
    const where = leaves ? "leaves the repository, but a relative path is taken from each worker's worktree"
      : root ? `is not in ${root} (a relative path is taken from each worker's worktree)`
      : program?.includes("/") ? "does not exist or is not executable" : "is not on PATH";
    return [{ name, ok: false, required: true, detail: `${program ?? "(empty command)"} ${where}`, fix }];
  }
  const profile = await knownProfile(agent);
  if (!profile) return [{ name, ok: true, required: true, detail: found }];
  const answer = await askTool([found, "--version"], env);
  if (answer.code !== 0) {
    // The same program orch spawn would start: one that cannot say its version will not start a worker either.
    const said = answer.output.trim().split("\n")[0] || (answer.timedOut ? "no answer" : "no output");
    return [{
      name,
      ok: false,
      required: true,
      detail: `${found} --version failed (${answer.timedOut ? "timed out" : `exit ${answer.code ?? "?"}`}): ${said}`,
      fix: installAdvice(agent, program),
    }];
  }
  const version = versionIn(answer.output);
  const checks: Check[] = [{
    name,
    ok: true,
    required: true,
    ...(version ? { version } : {}),
    detail: `${found}${version ? ` (${version})` : ""}`,
  }];
  if (profile.name === "codex") checks.push(...await checkCodexSandbox(found, argv.slice(1), ctx));
  if (profile.testedVersion && version && compareVersions(version, profile.testedVersion) < 0) {
    checks.push({
      name: `${agent} version`,
      ok: false,
      required: false,
      version,
      detail: `${version} is older than ${profile.testedVersion}, the version orch is tested with: ` +
        "it may not take what orch passes it (options, hooks), and a worker would fail to start or go unheard",
      fix: installAdvice(agent, program, `@${profile.testedVersion}`).replace(/^install/, "update"),
    });
  }
  return checks;
}

/**
 * Whether Codex can make its Linux sandbox for this user (`codex sandbox -- true`, about 40 ms): it needs user
 * namespaces, which root always has and an ordinary user may not (a sysctl, AppArmor, a container). Without them
 * every command a worker runs fails with bwrap's error, orch notify and git commit too, and the worker only ever
 * reports idle. Not asked when the user's options or config choose no sandbox.
 */
async function checkCodexSandbox(found: string, words: string[], ctx: Context): Promise<Check[]> {
  if (words.some((word) => word === "--dangerously-bypass-approvals-and-sandbox" || word === "--yolo")) return [];
  const root = (await repoOf(ctx))?.mainRoot ?? ctx.cwd;
  const chosen = chosenSandbox(root, ctx.env, readCodexOptions(["codex", ...words].join(" "), words));
  if (chosen?.mode === "danger-full-access") return [];
  const name = "codex sandbox";
  const answer = await askTool([found, "sandbox", "--", "true"], ctx.env);
  if (answer.code === 0) return [{ name, ok: true, required: false, detail: "Codex can make its sandbox here" }];
  // Its last line says why (bwrap's, after Codex's own warnings).
  const said = answer.output.trim().split("\n").at(-1) ||
    (answer.timedOut ? "no answer" : `exit ${answer.code ?? "?"}`);
  return [{
    name,
    ok: false,
    required: false,
    detail: `Codex cannot run a command in its Linux sandbox for this user (${said}): every command a Codex ` +
      "worker runs there fails, orch notify and git commit included, and the worker reports only idle",
    fix: "when bwrap cannot make a namespace, let this user make user namespaces (sysctl " +
      "user.max_user_namespaces above 0, kernel.unprivileged_userns_clone=1, Ubuntu: " +
      "kernel.apparmor_restrict_unprivileged_userns=0 or an AppArmor profile for bwrap), or run workers without " +
      "Codex's sandbox: --agent \"codex -s danger-full-access\"",
  }];
}

function checkOrchOnPath(env: NodeJS.ProcessEnv): Check {
  const found = findOnPath("orch", env);
  const self = selfCommand();
  if (found) return { name: "orch on PATH", ok: true, required: false, detail: found };
  return {
    name: "orch on PATH",
    ok: false,
    required: false,
    detail: "orch is not on PATH: the Claude Code hooks and the /orchestrator-mode command run `orch` " +
      "(workers get it from orch spawn)",
    fix: `link it into a folder on your PATH, e.g. ln -s ${self.length === 1 ? self[0] : "/path/to/dist/orch"} ` +
      "~/.local/bin/orch",
  };
}

async function checkStore(ctx: Context): Promise<Check[]> {
  const root = await storeRootFor(ctx);
  if (!root) {
    return [{
      name: "store",
      ok: false,
      required: false,
      detail: "no store here: not inside a git repository and ORCH_HOME is not set",
      fix: "run orch inside your repository, or set ORCH_HOME",
    }];
  }
  let stat: fs.Stats;
  try {
    stat = fs.lstatSync(root);
  } catch {
    return [{ name: "store", ok: true, required: true, detail: `${root} does not exist yet; orch init creates it` }];
  }
  const broken = (detail: string, fix: string): Check[] => [{ name: "store", ok: false, required: true, detail, fix }];
  if (stat.isSymbolicLink()) {
    const fix = `remove ${root}, then orch init (or set ORCH_HOME)`;
    return broken(`${root} is a symbolic link: orch never follows it`, fix);
  }
  if (!stat.isDirectory()) return broken(`${root} is not a directory`, `move ${root} away, then orch init`);
  try {
    fs.accessSync(root, fs.constants.R_OK | fs.constants.W_OK | fs.constants.X_OK);
  } catch {
    return broken(`${root} is not readable and writable by you`, `chmod 700 ${root} (and check its owner)`);
  }
  try {
    checkStoreFormat(root);
  } catch (error) {
    return broken((error as Error).message.replace(/: run the newer orch.*$/, ""), "run the newer orch that made it");
  }
  const checks: Check[] = [{ name: "store", ok: true, required: true, detail: `${root} is readable and writable` }];
  const mode = stat.mode & 0o777;
  checks.push(mode === 0o700
    ? { name: "store permissions", ok: true, required: false, detail: "0700" }
    : {
      name: "store permissions",
      ok: false,
      required: false,
      detail: `${root} has mode 0${mode.toString(8)}: other users can read the messages`,
      fix: `chmod 700 ${root}`,
    });
  return checks;
}

/** Repairs what spawns killed with -9 left in any session of the store (their worktrees and branches). */
async function checkInterruptedSpawns(ctx: Context): Promise<Check | undefined> {
  const [root, repo] = await Promise.all([storeRootFor(ctx), repoOf(ctx)]);
  if (!root || !repo) return undefined;
  try {
    checkStoreFormat(root); // a newer orch's store is for it to repair (the store check says so)
  } catch {
    return undefined;
  }
  const layout = new StoreLayout(root);
  const repaired: string[] = [];
  try {
    for (const id of listDir(layout.sessionsDir).filter(isOrchestratorId)) {
      repaired.push(...(await repairAllSpawns(layout, id, repo.mainRoot)));
    }
  } catch (error) {
    return {
      name: "interrupted spawns",
      ok: false,
      required: false,
      detail: `could not check: ${(error as Error).message}`,
    };
  }
  if (repaired.length === 0) {
    return {
      name: "interrupted spawns",
      ok: true,
      required: false,
      detail: "none left anything behind",
    };
  }
  return { name: "interrupted spawns", ok: true, required: false, detail: `repaired: ${repaired.join("; ")}` };
}

/**
 * What orch install claude gives the orchestrator's own Claude Code: the /orchestrator-mode command and the
 * allow rule and hooks in its settings. Workers need none of it (spawn passes them orch's settings), so a
 * missing or out-of-date install costs the orchestrator's session, never a worker's reports.
 */
async function checkClaudeInstall(ctx: Context): Promise<Check> {
  const name = "claude install";
  const home = ctx.env.HOME || os.homedir();
  const repo = await repoOf(ctx);
  const targets: { target: InstallTarget; install: string }[] = [
    ...(repo ? [{ target: projectTarget(repo.mainRoot), install: "orch install claude" }] : []),
    { target: globalTarget(home), install: "orch install claude --global" },
  ];
  const plans = targets.map(({ target, install }) => {
    try {
      return { target, install, stale: planInstall(target).filter((file) => file.content !== undefined) };
    } catch (error) {
      // A file install would refuse: "run orch install claude" would send the user in a circle.
      return { target, install, refused: (error as Error).message.replace(/; fix (it by hand|or move it).*$/, "") };
    }
  });
  const current = plans.find((plan) => plan.stale?.length === 0);
  if (current) {
    const detail = `/orchestrator-mode and orch's settings are in ${current.target.claudeDir}`;
    return { name, ok: true, required: false, detail };
  }
  const refused = plans.find((plan) => plan.refused !== undefined);
  if (refused) {
    return {
      name,
      ok: false,
      required: false,
      detail: `orch install claude cannot write its settings: ${refused.refused!.replace(/^cannot merge into /, "")}`,
      fix: `repair or move ${refused.target.settingsFile}, then ${refused.install}`,
    };
  }
  const commandFile = (target: InstallTarget) => path.join(target.claudeDir, "commands", "orchestrator-mode.md");
  const started = plans.find((plan) => fs.existsSync(commandFile(plan.target)));
  const plan = started ?? plans[0]!;
  const stale = plan.stale!.map((file) => file.path).join(" and ");
  return {
    name,
    ok: false,
    required: false,
    detail: started
      ? `not what this orch writes (another version of orch, or edited): ${stale}`
      : "orch install claude has not been run: the orchestrator's Claude Code has no /orchestrator-mode " +
        "(workers need nothing installed: orch spawn hands them orch's hooks)",
    fix: plan.install,
  };
}

/** The agent's profile and this repository's main root, for the checks of the agent's own files. */
interface AgentHere {
  profile: AgentProfile;
  mainRoot: string;
}

/** None outside a repository, or for an agent orch cannot read. */
async function agentInRepo(agent: string, ctx: Context): Promise<AgentHere | undefined> {
  const repo = await repoOf(ctx);
  if (!repo) return undefined;
  try {
    return { profile: await profileFor(agent), mainRoot: repo.mainRoot };
  } catch {
    return undefined;
  }
}

/** The agent's trust of this repository (Claude Code: the main worktree's root in ~/.claude.json). */
function checkAgentTrust(found: AgentHere | undefined, ctx: Context): Check | undefined {
  const report = found?.profile.checkTrust?.(found.mainRoot, ctx.env);
  if (!found || !report) return undefined;
  return {
    name: `${found.profile.name} trust`,
    ok: report.ok,
    required: false,
    detail: report.detail,
    ...(report.fix ? { fix: report.fix } : {}),
  };
}

/** An optional check made of a profile's lines, one per problem: ok with `fine` when there are none. */
function linesCheck(name: string, lines: string[], fine: string, fix: string): Check {
  if (lines.length === 0) return { name, ok: true, required: false, detail: fine };
  return { name, ok: false, required: false, detail: lines.join("; "), fix };
}

/** What in the user's own agent settings keeps orch from hearing its workers (Claude Code: disableAllHooks, deny). */
function checkAgentSettings(found: AgentHere | undefined, ctx: Context): Check | undefined {
  const problems = found?.profile.checkSettings?.(found.mainRoot, ctx.env);
  if (!found || !problems) return undefined;
  const fine = "nothing in its settings keeps workers from reporting";
  return linesCheck(`${found.profile.name} settings`, problems, fine, "change those settings");
}

/**
 * What a worker's agent would ask as it starts here, which orch does not answer (Claude Code: CLAUDE.md imports from
 * outside the repository, an API key it was not told about), and what orch leaves out so that it does not ask.
 */
function checkAgentStart(found: AgentHere | undefined, ctx: Context): Check | undefined {
  const lines = found?.profile.checkStart?.(found.mainRoot, ctx.env);
  if (!found || !lines) return undefined;
  const fix = "settle them once in the main checkout (orch answers none of them for you); see each line";
  return linesCheck(`${found.profile.name} start`, lines, "a worker starts here with no question for a person", fix);
}

export async function runDoctor(agent: string, ctx: Context): Promise<Check[]> {
  const argv = agentWords(agent);
  // Options of the user's that spawn refuses (claude -p, codex exec) are refused here too, in the same words.
  await profileFor(agent);
  const [git, identity, tmux, gh, gtr, agentCheck, store, hooks, inRepo] = await Promise.all([
    checkGit(ctx.env),
    checkGitIdentity(ctx),
    checkTmux(ctx.env),
    checkGh(ctx.env),
    checkGtr(ctx.env),
    checkAgent(agent, argv, ctx),
    checkStore(ctx),
    agent === "claude" ? checkClaudeInstall(ctx) : Promise.resolve(undefined),
    agentInRepo(agent, ctx),
  ]);
  const spawns = await checkInterruptedSpawns(ctx);
  const [trust, settings] = [checkAgentTrust(inRepo, ctx), checkAgentSettings(inRepo, ctx)];
  const questions = checkAgentStart(inRepo, ctx);
  const optional = [hooks, trust, settings, questions, spawns].filter((check): check is Check => check !== undefined);
  return [git, identity, tmux, gh, gtr, ...agentCheck, checkOrchOnPath(ctx.env), ...store, ...optional];
}

export async function main(_args: string[], flags: Flags, ctx: Context): Promise<CommandResult> {
  const checks = await runDoctor(stringFlag(flags, "agent") ?? "claude", ctx);
  const missing = checks.filter((c) => c.required && !c.ok).map((c) => c.name);
  const json: Record<string, unknown> = { success: missing.length === 0, checks };
  if (missing.length) json.error = { code: "failed", message: `required: ${missing.join(", ")}` };
  return {
    json,
    human: (c) => {
      const width = Math.max(...checks.map((check) => check.name.length));
      const lines = checks.map((check) => {
        const mark = check.ok ? c.green("ok  ") : check.required ? c.red("FAIL") : c.yellow("warn");
        const fix = check.fix && !check.ok ? `\n     ${" ".repeat(width)}  ${c.dim(`fix: ${check.fix}`)}` : "";
        return `${mark} ${check.name.padEnd(width)}  ${check.detail}${fix}`;
      });
      const summary = missing.length
        ? c.red(`missing or broken: ${missing.join(", ")}`)
        : c.green("orch has what it needs");
      return `${lines.join("\n")}\n${summary}\n`;
    },
    exitCode: missing.length ? 1 : 0,
  };
}
