// POSIX cksum (src/cksum.ts): the same line as the system's `cksum`, which host add compares it with on a host.

import { spawnSync } from "node:child_process";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { posixCksum } from "../src/cksum.ts";

test("the same checksum and length as cksum, for empty input, one byte, and lengths of one to three bytes", () => {
  const inputs = [Buffer.alloc(0), Buffer.from("a"), Buffer.alloc(255, 7), Buffer.alloc(256, 1), Buffer.alloc(70_000, 0xfe)];
  for (const bytes of inputs) {
    const system = spawnSync("cksum", { input: bytes, encoding: "utf8" });
    assert.is(system.status, 0, system.stderr);
    assert.is(posixCksum(bytes), system.stdout.trim(), `${bytes.length} bytes`);
  }
});

test.run();
