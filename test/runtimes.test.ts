// The same source under Node, Deno 2 (deno run) and Bun, and the compiled binary: the mailbox round trip,
// and what orch does when it starts itself again in a worker's worktree.

import fs from "node:fs";
import path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import {
  type PolledMessage, commitFiles, git, orch, orchAsync, pollForMessage, privateTmux, scratchRepo, sleep, tempDir,
} from "./helpers.ts";

for (const runtime of ["binary", "node", "deno", "bun"]) {
  test(`round trip under ${runtime}: init, notify, poll --wait, status`, async () => {
    const repo = scratchRepo();
    const init = orch(["init", "--json"], { cwd: repo, runtime });
    assert.is(init.code, 0, init.stderr);
    const id = init.json.orchestrator_id;
    const waiting = orchAsync(["poll", "--wait", "--timeout", "30", "--json"], { cwd: repo, runtime });
    await sleep(runtime === "binary" ? 100 : 600);
    const sent = orch(["notify", "--type", "task_complete", "--summary", `hello from ${runtime} ü`, "--json"], {
      cwd: repo,
      runtime,
      env: { ORCH_WORKER: "w1" },
    });
    assert.is(sent.code, 0, sent.stderr);
    const got = await waiting.done;
    assert.is(got.code, 0, got.stderr);
    assert.is(got.json.orchestrator_id, id);
    assert.is(got.json.messages[0].content.summary, `hello from ${runtime} ü`);
    assert.is(got.json.messages[0].id, sent.json.message_id);
    const status = orch(["status", "--json"], { cwd: repo, runtime });
    assert.is(status.json.total_messages, 1);
    assert.is(status.json.unread_count, 0);
    const bad = orch(["notify", "--type", "nope", "--summary", "x"], { cwd: repo, runtime });
    assert.is(bad.code, 2, bad.stderr);
    const timeout = orch(["poll", "--wait", "--timeout", "0.1"], { cwd: repo, runtime });
    assert.is(timeout.code, 124);
  });
}

for (const runtime of ["node", "deno", "bun"]) {
  test(`under ${runtime}, a worktree's .env and bunfig.toml reach neither the agent nor orch run there`, async () => {
    const preloads = path.join(tempDir(), "preloads.log");
    const repo = scratchRepo();
    // The project's own settings for its own programs, on the branch the worker starts from only: the
    // orchestrator's `bun src/main.ts` in the main worktree would load them itself (the README says so).
    git(["switch", "-q", "-c", "with-dotenv"], repo);
    commitFiles(repo, {
      ".env": "ORCH_TEST_DOTENV=from-the-project\n",
      "bunfig.toml": 'preload = ["./preload.js"]\n',
      "preload.js": `require("node:fs").appendFileSync(${JSON.stringify(preloads)}, ` +
        `JSON.stringify({ cwd: process.cwd(), argv: process.argv.slice(2) }) + "\\n");\n`,
    }, "the project's .env and bunfig.toml");
    git(["switch", "-q", "main"], repo);
    const env = privateTmux();
    assert.is(orch(["init", "--json"], { cwd: repo, runtime, env }).code, 0);
    const agent = `sh -c 'orch notify --type task_complete --summary "dotenv: \${ORCH_TEST_DOTENV-unset}"' sh`;
    const spawnArgs = ["spawn", "w", "--from", "with-dotenv", "--agent", agent, "--prompt", "go", "--json"];
    const spawned = orch(spawnArgs, { cwd: repo, runtime, env });
    assert.is(spawned.code, 0, spawned.stderr);
    const worktree = spawned.json.worktree_path as string;
    const describe = () => (fs.existsSync(preloads) ? fs.readFileSync(preloads, "utf8") : "no preloads");
    const polled: PolledMessage[] = [];
    const wanted = { worker: "w", type: "task_complete", timeoutMs: 60_000, describe };
    const done = await pollForMessage(repo, env, polled, wanted);
    assert.is(done.content.summary, "dotenv: unset", "the agent's environment is orch's, not the project's .env");
    const ranInWorktree = describe().split("\n").filter((line) => line.includes(JSON.stringify(worktree)));
    assert.equal(ranInWorktree, [], "no preload of the project ran in orch's agent runner or shim");
  });
}

test.run();
