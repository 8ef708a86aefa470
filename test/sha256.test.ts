// sha256Hex (and its JavaScript form, which Node and Deno use) against node:crypto's: the empty string,
// block edges (55, 56, 64 bytes), multi-byte text, long input.

import { createHash } from "node:crypto";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { sha256Hex, sha256HexInJs } from "../src/sha256.ts";

test("the same digest as node:crypto, at every padding edge", () => {
  const texts = [
    "", "abc", "a".repeat(55), "a".repeat(56), "a".repeat(63), "a".repeat(64), "a".repeat(65),
    "user@host ☃ ünï\n", "x".repeat(100_000),
  ];
  for (const text of texts) {
    const expected = createHash("sha256").update(text).digest("hex");
    assert.is(sha256HexInJs(text), expected, `length ${text.length}`);
    assert.is(sha256Hex(text), expected, `length ${text.length}`);
  }
  assert.is(sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
});

test.run();
