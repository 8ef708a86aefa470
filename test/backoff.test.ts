// The pause orch keeps after a host failed to answer (hosts/backoff.ts): it grows with each failure, and a
// clock set back does not stretch it.

import path from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { FIRST_PAUSE_MS, LONGEST_PAUSE_MS, noteHostFailure, pausedHost } from "../src/hosts/backoff.ts";
import { StoreLayout } from "../src/store/layout.ts";
import { tempDir } from "./helpers.ts";

test("a host's pause doubles with each failure up to the longest, and a clock set back does not stretch it", () => {
  const layout = new StoreLayout(path.join(tempDir("orch-backoff-"), ".orch"));
  const now = Date.parse("2026-11-24T12:00:00Z");
  noteHostFailure(layout, "alpha", "Connection refused", now);
  assert.ok(pausedHost(layout, "alpha", now + FIRST_PAUSE_MS - 1), "held back within its first pause");
  assert.is(pausedHost(layout, "alpha", now + FIRST_PAUSE_MS), undefined, "tried again once it ran out");
  const second = noteHostFailure(layout, "alpha", "Connection refused", now);
  assert.is(second.failures, 2);
  assert.is(Date.parse(second.retry_after) - now, 2 * FIRST_PAUSE_MS);
  for (let n = 0; n < 10; n++) noteHostFailure(layout, "alpha", "Connection refused", now);
  assert.ok(pausedHost(layout, "alpha", now + LONGEST_PAUSE_MS - 1), "the longest pause holds");
  // The clock is set back an hour: the pause noted before does not hold the host back for an hour more.
  assert.is(pausedHost(layout, "alpha", now - 3600_000), undefined);
  assert.is(pausedHost(layout, "beta", now), undefined, "a host that never failed is not held back");
});

test.run();
