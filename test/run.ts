// Runs every test file as its own process and prints the closing line CI reads: "N passed, N failed".

import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const filter = process.argv.slice(2);
/**
 * The suites of real sshd and real agents hold the longest ones (60 to 130 s for the three longest hosts suites):
 * they start first, so the run does not end on one of them started last.
 */
const SLOW = /^(hosts|claude|codex)/;
const files = fs.readdirSync(here)
  .filter((f) => f.endsWith(".test.js"))
  .filter((f) => filter.length === 0 || filter.some((x) => f.includes(x)))
  .sort()
  .sort((a, b) => Number(SLOW.test(b)) - Number(SLOW.test(a)));
/**
 * Three at a time on two cores: the suites wait on agents, sshd, tmux and timers for about 40% of a run two at
 * a time (vmstat), and three cut the run by a third.
 */
const parallel = Number(process.env.ORCH_TEST_JOBS ?? 3);

interface FileResult {
  file: string;
  passed: number;
  failed: number;
  skipped: number;
  ms: number;
  output: string;
}

function runFile(file: string): Promise<FileResult> {
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(here, file)], {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, NO_COLOR: "1", FORCE_COLOR: "0" },
    });
    let output = "";
    child.stdout.on("data", (d) => (output += d));
    child.stderr.on("data", (d) => (output += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), 5 * 60_000);
    child.on("close", (code) => {
      clearTimeout(timer);
      // uvu's summary: "Total: N", "Passed: N", "Skipped: N".
      const num = (label: string) => Number(new RegExp(`${label}:\\s+(\\d+)`).exec(output)?.[1] ?? NaN);
      const total = num("Total");
      const passed = num("Passed");
      // A test that cannot run here (no root, no sshd, a tool missing) prints one "SKIP: why" line and returns:
      // uvu counts it passed, this count does not.
      const skippedHere = output.split("\n").filter((line) => line.includes("SKIP:")).length;
      const skipped = (num("Skipped") || 0) + skippedHere;
      let failed = Number.isNaN(total) ? 1 : total - passed;
      if (code !== 0 && failed === 0) failed = 1; // crashed after its summary, or killed
      const ran = Math.max(0, (Number.isNaN(passed) ? 0 : passed) - skippedHere);
      resolve({ file, passed: ran, failed, skipped, ms: Date.now() - started, output });
    });
  });
}

const results: FileResult[] = [];
const queue = [...files];
await Promise.all(
  Array.from({ length: Math.max(1, parallel) }, async () => {
    for (let file = queue.shift(); file; file = queue.shift()) {
      const result = await runFile(file);
      results.push(result);
      const mark = result.failed ? "FAIL" : "ok  ";
      const skipped = result.skipped ? `${result.skipped} skipped ` : "";
      const passed = `${String(result.passed).padStart(3)} passed`;
      const failedCount = `${String(result.failed).padStart(2)} failed`;
      const seconds = (result.ms / 1000).toFixed(1);
      process.stdout.write(`${mark} ${file.padEnd(34)} ${passed} ${failedCount} ${skipped}(${seconds} s)\n`);
      if (result.failed || process.env.ORCH_TEST_VERBOSE) process.stdout.write(result.output.replace(/^/gm, "    ") + "\n");
    }
  }),
);
const passed = results.reduce((n, r) => n + r.passed, 0);
const failed = results.reduce((n, r) => n + r.failed, 0);
const skipped = results.reduce((n, r) => n + r.skipped, 0);
const skippedNotes = new Map<string, number>();
for (const r of results) {
  for (const line of r.output.split("\n").filter((l) => l.includes("SKIP:"))) {
    const note = `${r.file}: ${line.slice(line.indexOf("SKIP:"))}`;
    skippedNotes.set(note, (skippedNotes.get(note) ?? 0) + 1);
  }
}
for (const [note, times] of skippedNotes) process.stdout.write(`${note}${times > 1 ? ` (${times} tests)` : ""}\n`);
if (skipped) process.stdout.write(`${skipped} skipped: they could not run here (above), and are not counted as passed\n`);
process.stdout.write(`${passed} passed, ${failed} failed\n`);
process.exit(failed === 0 ? 0 : 1);
