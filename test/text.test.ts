// textStart and shortened: text cut for a message, an error or a screen line ends between two characters.

import { test } from "uvu";
import * as assert from "uvu/assert";
import { controlsShown, displayWidth, padToWidth, shortened, textStart } from "../src/text.ts";

/** No lone surrogate: what JSON.stringify would write as "\udXXX" and UTF-8 output as U+FFFD. */
function wellFormed(text: string): boolean {
  return !/\p{Cs}/u.test(text.replace(/[\ud800-\udbff][\udc00-\udfff]/g, ""));
}

test("a cut that would fall inside a character ends before it", () => {
  const cases: [string, number, string][] = [
    ["ab😀cd", 3, "ab"], // inside an emoji's surrogate pair
    ["ab👩‍👩‍👧‍👦cd", 6, "ab"], // inside a family of four joined by ZWJs
    ["abe\u0301\u0302x", 4, "ab"], // between a letter and its combining accents
    ["ab🇯🇵cd", 4, "ab"], // between a flag's two regional indicators
    ["日本語の文字", 3, "日本語"], // CJK: one code unit each, cut where asked
    ["ab😀cd", 4, "ab😀"], // a cut that falls between characters is where asked
  ];
  for (const [text, max, start] of cases) {
    assert.is(textStart(text, max), start, `${JSON.stringify(text)} at ${max}`);
    assert.ok(wellFormed(textStart(text, max)));
  }
});

test("text within the limit is unchanged; shortened adds … only to a cut text", () => {
  assert.is(textStart("abc", 3), "abc");
  assert.is(shortened("abc", 3), "abc");
  assert.is(shortened(`${"x".repeat(199)}😀😀`, 200), `${"x".repeat(199)}…`);
  assert.is(shortened(`${"é".repeat(300)}`, 200), `${"é".repeat(200)}…`);
});

test("one character longer than the limit is cut between code points, never inside a surrogate pair", () => {
  const heavy = `a${"\u0301".repeat(50)}😀`;
  assert.is(textStart(heavy, 10), heavy.slice(0, 10));
  const pairs = "😀".repeat(10);
  assert.is(textStart(`e\u0301${pairs}`.normalize("NFD"), 1), "e");
  assert.ok(wellFormed(textStart(`\u{1F600}\u0301`.repeat(3), 1)));
  assert.is(textStart(`\u{1F600}\u0301`, 1), "");
});

test("displayWidth counts a terminal's columns: CJK and emoji two, marks and joiners none", () => {
  const cases: [string, number][] = [
    ["plain", 5], ["日本語", 6], ["한국어", 6], ["ｆｕｌｌ", 8], ["😀", 2], ["👩‍👩‍👧‍👦", 2], ["🇯🇵", 2], ["❤️", 2],
    ["e\u0301", 1], ["a\u200db", 2], ["\u202eevil\u202c", 4], ["עברית", 5], ["العربية", 7], ["\ufeff", 0],
  ];
  for (const [text, width] of cases) assert.is(displayWidth(text), width, JSON.stringify(text));
  assert.is(padToWidth("日本", 6), "日本  ");
  assert.is(padToWidth("longer", 2), "longer");
});

test("controlsShown puts text on one line, each control as \\xNN", () => {
  assert.is(controlsShown("a\nb\tc\u001b[2J\u009b"), "a\\x0ab\\x09c\\x1b[2J\\x9b");
  assert.is(controlsShown("日本 ✓"), "日本 ✓");
});

test.run();
