// orch init: create an orchestrator session (mirrors create_orchestrator_session).

import fs from "node:fs";
import path from "node:path";
import { locateRepo } from "../adapters/repo.ts";
import { storeLayoutFor, type Context } from "../context.ts";
import { asGiven, OrchError } from "../errors.ts";
import { stringFlag, type Flags } from "../flags.ts";
import { StoreLayout } from "../store/layout.ts";
import {
  createSession, describeUse, inUse, pickableSessions, sessionUse, type SessionRecord,
} from "../store/sessions.ts";
import type { CommandResult } from "./types.ts";

export interface InitOptions {
  projectDir: string;
}

export function parseInit(flags: Flags, ctx: Context): InitOptions {
  const dir = stringFlag(flags, "projectDir");
  const projectDir = path.resolve(ctx.cwd, dir ?? ".");
  if (dir !== undefined && !fs.existsSync(projectDir)) {
    throw new OrchError("invalid", `--project-dir ${asGiven(dir)} does not exist`);
  }
  if (dir !== undefined && !fs.statSync(projectDir).isDirectory()) {
    throw new OrchError("invalid", `--project-dir ${asGiven(dir)} is not a folder`);
  }
  return { projectDir };
}

/** The spellings of an exclude line that already keep the store out of git status. */
const EXCLUDES_STORE = new Set([
  ".orch", ".orch/", "/.orch", "/.orch/", ".orch/*", "/.orch/*", ".orch/**", "/.orch/**",
]);

/** Adds `.orch/` to the repository's info/exclude (never to tracked files), once. */
function excludeStore(commonDir: string, warn: (line: string) => void): void {
  const exclude = path.join(commonDir, "info", "exclude");
  try {
    const current = fs.existsSync(exclude) ? fs.readFileSync(exclude, "utf8") : "";
    if (current.split("\n").some((line) => EXCLUDES_STORE.has(line.trim()))) return;
    fs.mkdirSync(path.dirname(exclude), { recursive: true });
    fs.appendFileSync(exclude, `${current === "" || current.endsWith("\n") ? "" : "\n"}.orch/\n`);
  } catch (error) {
    warn(`could not add .orch/ to ${exclude}: ${(error as Error).message}`);
  }
}

/** Files the repository tracks under the store's folder: a store a repository ships is never used. */
async function trackedStoreFiles(mainRoot: string): Promise<string[]> {
  const { git } = await import("../adapters/git.ts");
  const listed = await git(["ls-files", "-z", "--", ".orch"], mainRoot, { allowFailure: true });
  return listed.stdout.split("\0").filter(Boolean);
}

export async function runInit(options: InitOptions, ctx: Context): Promise<SessionRecord> {
  const projectCtx = { ...ctx, cwd: options.projectDir };
  const layout = (await storeLayoutFor(projectCtx)) ?? new StoreLayout(path.join(options.projectDir, ".orch"));
  const repo = await locateRepo(options.projectDir);
  if (repo && !ctx.env.ORCH_HOME) {
    const tracked = await trackedStoreFiles(repo.mainRoot);
    if (tracked.length) {
      const some = `${tracked.slice(0, 3).join(", ")}${tracked.length > 3 ? ", …" : ""}`;
      const why =
        `the repository tracks files under .orch/ (${some}): orch never uses repository content as its store; ` +
        "remove them from the repository (git rm -r --cached .orch) or set ORCH_HOME";
      throw new OrchError("refused", why);
    }
  }
  const { refuseReadOnlyFolders } = await import("../sandbox.ts");
  refuseReadOnlyFolders([
    { dir: layout.root, why: "orch keeps its store there" },
    // The git dir as a whole: spawn, land and clean write there too.
    ...(layout.registryDir
      ? [{ dir: path.dirname(layout.registryDir), why: "orch records the sessions it made in the git dir" }]
      : []),
  ], ctx.env);
  const record = createSession(layout, options.projectDir);
  if (repo && !ctx.env.ORCH_HOME) excludeStore(repo.commonDir, ctx.warn);
  return record;
}

/**
 * What to say when other sessions of the store are in use (sessionUse): a command without --orch takes the newest
 * session, this one only until another orchestrator runs orch init (context.ts warnSharedStore), so the new
 * session's orchestrator is told at once to name it.
 */
async function sharingNote(record: SessionRecord, ctx: Context): Promise<string | undefined> {
  const layout = await storeLayoutFor({ ...ctx, cwd: record.project_dir });
  if (!layout) return undefined;
  const others = pickableSessions(layout).filter((other) => other.orchestrator_id !== record.orchestrator_id)
    .map((other) => sessionUse(layout, other)).filter(inUse);
  if (others.length === 0) return undefined;
  const list = others.map((use) => `${use.orchestrator_id} (${describeUse(use)})`).join(", ");
  const id = record.orchestrator_id;
  const which = others.length === 1 ? `another session, ${list}, is` : `other sessions, ${list}, are`;
  return `${which} in use in this store: give every command --orch ${id} (or set ORCH_ID=${id}), since one ` +
    "without it takes the newest session, which another orchestrator's orch init makes another";
}

export async function main(_args: string[], flags: Flags, ctx: Context): Promise<CommandResult> {
  const record = await runInit(parseInit(flags, ctx), ctx);
  const sharing = await sharingNote(record, ctx);
  const created = "Orchestrator session created. Use this ID when starting worker sessions.";
  return {
    json: {
      success: true,
      ...record,
      message: sharing === undefined ? created : `${created} Note: ${sharing}.`,
    },
    // The bare id on stdout, so that ORCH_ID=$(orch init) works; the sentence goes to stderr.
    human: () => {
      ctx.warn(`created orchestrator session ${record.orchestrator_id} for ${record.project_dir}`);
      if (sharing !== undefined) ctx.warn(sharing);
      return `${record.orchestrator_id}\n`;
    },
  };
}
