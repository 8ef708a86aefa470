// Builds orch: `bun build.ts` compiles TypeScript for Node into dist/node/ and one executable dist/orch
// (bun build --compile, offline); `bun build.ts --target deno` makes dist/orch with deno compile instead.

import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { BUN_COMPILE_FLAGS } from "./compile-flags.ts";

const root = path.dirname(new URL(import.meta.url).pathname);
const bin = (name: string) => path.join(root, "node_modules", ".bin", name);
const target = process.argv.includes("--target") ? process.argv[process.argv.indexOf("--target") + 1] : "bun";

/** Runs one build step; returns its stderr when it failed, undefined when it worked. */
function step(title: string, argv: string[], quietFailure = false): string | undefined {
  const started = performance.now();
  const result = spawnSync(argv[0]!, argv.slice(1), { cwd: root, stdio: ["ignore", "inherit", "pipe"], encoding: "utf8" });
  const ms = Math.round(performance.now() - started);
  if (result.status !== 0) {
    const stderr = result.stderr ?? "";
    if (!quietFailure) process.stderr.write(stderr);
    process.stderr.write(`build: ${title} failed (${result.error?.message ?? `exit ${result.status}`})\n`);
    return stderr || "failed";
  }
  process.stderr.write(`build: ${title} (${ms} ms)\n`);
  return undefined;
}

/**
 * This build's stamp (src/version.ts): when it was built, and its commit's date (a checkout of older code
 * built today is still older). ISO times in UTC, so that comparing them as text orders them.
 */
function buildStamp(): string[] {
  const stamp = ["--define", `ORCH_BUILT_AT=${JSON.stringify(new Date().toISOString())}`];
  const commit = spawnSync("git", ["log", "-1", "--format=%cI", "HEAD"], { cwd: root, encoding: "utf8" });
  const date = new Date(commit.status === 0 ? commit.stdout.trim() : "");
  if (!Number.isNaN(date.getTime())) stamp.push("--define", `ORCH_COMMITTED_AT=${JSON.stringify(date.toISOString())}`);
  return stamp;
}

fs.rmSync(path.join(root, "dist", "node"), { recursive: true, force: true });
if (step("tsc → dist/node", [bin("tsc"), "-p", root])) process.exit(1);

if (target === "bun") {
  const failed = step("bun build --compile → dist/orch", [
    bin("bun"), "build", "--compile", ...BUN_COMPILE_FLAGS, ...buildStamp(),
    path.join(root, "src", "main.ts"), "--outfile", path.join(root, "dist", "orch"),
  ]);
  if (failed) process.exit(1);
} else if (target === "deno") {
  const output = path.join(root, "dist", "orch");
  const failed = step("deno compile → dist/orch", [
    bin("deno"), "compile", "-A", "--no-check", "--output", `${output}.deno`, path.join(root, "src", "main.ts"),
  ], true);
  if (failed) {
    const download = /dl\.deno\.land|error sending request|dns error/.exec(failed);
    process.stderr.write(download
      ? "build: deno compile needs Deno's runtime (denort), which it downloads from dl.deno.land, " +
        "and that host cannot be reached from here. " +
        "Build with the default target (bun build.ts), or point DENORT_BIN at a denort binary you have.\n"
      : failed);
    process.exit(1);
  }
  fs.renameSync(`${output}.deno`, output);
} else {
  process.stderr.write(`build: unknown --target ${target} (use bun or deno)\n`);
  process.exit(2);
}
