// The same source under Node, Deno 2 (deno run) and Bun, and the compiled binary: the mailbox round trip.

import { test } from "uvu";
import * as assert from "uvu/assert";
import { orch, orchAsync, scratchRepo, sleep } from "./helpers.ts";

for (const runtime of ["binary", "node", "deno", "bun"]) {
  test(`round trip under ${runtime}: init, notify, poll --wait, status`, async () => {
    const repo = scratchRepo();
    const init = orch(["init", "--json"], { cwd: repo, runtime });
    assert.is(init.code, 0, init.stderr);
    const id = init.json.orchestrator_id;
    const waiting = orchAsync(["poll", "--wait", "--timeout", "30", "--json"], { cwd: repo, runtime });
    await sleep(runtime === "binary" ? 100 : 600);
    const sent = orch(["notify", "--type", "task_complete", "--summary", `hello from ${runtime} ü`, "--json"], { cwd: repo, runtime, env: { ORCH_WORKER: "w1" } });
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

test.run();
