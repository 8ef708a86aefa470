// Builds orch: `bun build.ts` compiles TypeScript for Node into dist/node/ and one executable dist/orch
// (bun build --compile, offline); `bun build.ts --target deno` makes dist/orch with deno compile instead.

import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";

const root = path.dirname(new URL(import.meta.url).pathname);
const bin = (name: string) => path.join(root, "node_modules", ".bin", name);
const target = process.argv.includes("--target") ? process.argv[process.argv.indexOf("--target") + 1] : "bun";

function step(title: string, argv: string[]): boolean {
  const started = performance.now();
  const result = spawnSync(argv[0]!, argv.slice(1), { cwd: root, stdio: ["ignore", "inherit", "pipe"], encoding: "utf8" });
  const ms = Math.round(performance.now() - started);
  if (result.status !== 0) {
    process.stderr.write(result.stderr ?? "");
    process.stderr.write(`build: ${title} failed (${result.error?.message ?? `exit ${result.status}`})\n`);
    return false;
  }
  process.stderr.write(`build: ${title} (${ms} ms)\n`);
  return true;
}

fs.rmSync(path.join(root, "dist"), { recursive: true, force: true });
if (!step("tsc → dist/node", [bin("tsc"), "-p", root])) process.exit(1);

if (target === "bun") {
  const ok = step("bun build --compile → dist/orch", [
    bin("bun"), "build", "--compile", "--bytecode", "--format=esm", "--splitting", "--minify", "--sourcemap=none",
    path.join(root, "src", "main.ts"), "--outfile", path.join(root, "dist", "orch"),
  ]);
  if (!ok) process.exit(1);
} else if (target === "deno") {
  const ok = step("deno compile → dist/orch", [
    bin("deno"), "compile", "-A", "--no-check", "--output", path.join(root, "dist", "orch"), path.join(root, "src", "main.ts"),
  ]);
  if (!ok) {
    process.stderr.write("build: deno compile needs Deno's runtime (denort), which it downloads from dl.deno.land; " +
      "that host cannot be reached here. Use the default target (bun) or set DENORT_BIN to a local denort.\n");
    process.exit(1);
  }
} else {
  process.stderr.write(`build: unknown --target ${target} (use bun or deno)\n`);
  process.exit(2);
}
