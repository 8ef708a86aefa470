// The programs orch depends on, as doctor sees them: is it on PATH, which version, is gh logged in.

import fs from "node:fs";
import path from "node:path";
import { run } from "./exec.ts";
import { LATE, settledWithin } from "../within.ts";

/**
 * The first executable called `name` on `PATH`, or undefined; a name with a / is checked as a path. Relative
 * paths (and PATH entries) are taken from `cwd`, as a program started there finds them.
 */
export function findOnPath(name: string, env: NodeJS.ProcessEnv, cwd = process.cwd()): string | undefined {
  const pathDirs = (env.PATH ?? "").split(path.delimiter).filter(Boolean);
  const candidates = name.includes("/")
    ? [path.resolve(cwd, name)]
    : pathDirs.map((dir) => path.resolve(cwd, dir, name));
  for (const candidate of candidates) {
    try {
      if (!fs.statSync(candidate).isFile()) continue;
      fs.accessSync(candidate, fs.constants.X_OK);
      return candidate;
    } catch {
      // not here, or not executable
    }
  }
  return undefined;
}

export interface ToolAnswer {
  /** Undefined when the program could not be started at all. */
  code: number | undefined;
  output: string;
  timedOut: boolean;
}

/**
 * Runs a short query such as `git --version`. A program that does not answer within `timeoutMs`
 * (gh auth status asks the network) is left to finish on its own: doctor reports it and moves on.
 */
export async function askTool(argv: string[], env: NodeJS.ProcessEnv, timeoutMs = 10_000): Promise<ToolAnswer> {
  const answer = run(argv, { env, allowFailure: true }).then(
    (result): ToolAnswer => {
      const output = `${result.stdout}\n${result.stderr}`.trim();
      return { code: result.code, output, timedOut: false };
    },
    (): ToolAnswer => ({ code: undefined, output: "", timedOut: false }),
  );
  const settled = await settledWithin(answer, timeoutMs);
  return settled === LATE ? { code: undefined, output: "", timedOut: true } : settled;
}

/**
 * The first dotted version number in a program's output ("git version 2.39.5" → "2.39.5",
 * "tmux 3.3a" → "3.3a").
 */
export function versionIn(output: string): string | undefined {
  return /(\d+\.\d+(?:\.\d+)?[a-z]?)/.exec(output)?.[1];
}

/** Compares dotted versions numerically, ignoring letter suffixes: negative when a < b. */
export function compareVersions(a: string, b: string): number {
  const pa = a.split(".").map((part) => parseInt(part, 10) || 0);
  const pb = b.split(".").map((part) => parseInt(part, 10) || 0);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const diff = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (diff !== 0) return diff;
  }
  return 0;
}
