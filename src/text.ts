// Text for a message, an error or a table: cut where a character begins, never inside one; measured in columns.

/**
 * The start of `text` in at most `max` UTF-16 code units, cut between two characters as a person sees them
 * (grapheme clusters). `text.slice(0, max)` can end inside an emoji's surrogate pair, which JSON then carries as
 * a lone surrogate ("\ud83d", which strict parsers such as Rust's serde_json refuse, and which a UTF-8 terminal
 * shows as U+FFFD), or between a letter and its combining accent, or inside a family emoji joined by ZWJs.
 */
export function textStart(text: string, max: number): string {
  if (text.length <= max) return text;
  let end = 0;
  // Made only for a text too long: the first Intl.Segmenter costs a compiled orch about 5 ms.
  for (const { index, segment } of new Intl.Segmenter(undefined, { granularity: "grapheme" }).segment(text)) {
    if (index + segment.length > max) break;
    end = index + segment.length;
  }
  if (end > 0) return text.slice(0, end);
  // One "character" longer than max (a letter under hundreds of combining marks): cut between code points.
  const high = text.charCodeAt(max - 1);
  return text.slice(0, high >= 0xd800 && high <= 0xdbff ? max - 1 : max);
}

/** `text`, or its start and "…" when it is longer than `max` UTF-16 code units (see textStart). */
export function shortened(text: string, max: number): string {
  return text.length > max ? `${textStart(text, max)}…` : text;
}

/** Text with every control character, newlines too, shown as \xNN: one line, nothing for a terminal to run. */
export function controlsShown(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`);
}

/**
 * Code points a terminal draws two columns wide (East Asian Wide and Fullwidth: Hangul Jamo, CJK, kana, Hangul
 * syllables, fullwidth forms, the emoji blocks), as [first, last] pairs in order: the ranges wcwidth and tmux
 * agree on, not the whole of Unicode's table.
 */
const WIDE: readonly [number, number][] = [
  [0x1100, 0x115f], [0x2e80, 0x303e], [0x3041, 0x33ff], [0x3400, 0x4dbf], [0x4e00, 0x9fff], [0xa000, 0xa4cf],
  [0xa960, 0xa97f], [0xac00, 0xd7a3], [0xf900, 0xfaff], [0xfe10, 0xfe19], [0xfe30, 0xfe6f], [0xff00, 0xff60],
  [0xffe0, 0xffe6], [0x1f300, 0x1f64f], [0x1f900, 0x1f9ff], [0x20000, 0x2fffd], [0x30000, 0x3fffd],
];

function isWide(codePoint: number): boolean {
  return WIDE.some(([first, last]) => codePoint >= first && codePoint <= last);
}

/**
 * The columns `text` takes on a terminal: two for a CJK character or an emoji (a family joined by ZWJs, a flag:
 * one emoji), none for combining marks, joiners and direction marks on their own, one for the rest. A table's
 * columns are padded by this, not by `length`, which counts 日 as one and 👩‍👩‍👧‍👦 as eleven.
 */
export function displayWidth(text: string): number {
  let ascii = true;
  for (let i = 0; i < text.length && ascii; i++) ascii = text.charCodeAt(i) < 0x7f;
  if (ascii) return text.length;
  let width = 0;
  for (const { segment } of new Intl.Segmenter(undefined, { granularity: "grapheme" }).segment(text)) {
    if (/^[\p{Mn}\p{Me}\p{Cf}]+$/u.test(segment)) continue;
    const emoji = /\p{Emoji_Presentation}|\uFE0F/u.test(segment);
    width += emoji || isWide(segment.codePointAt(0)!) ? 2 : 1;
  }
  return width;
}

/** `text` with spaces after it up to `width` columns (String.padEnd counts UTF-16 code units, not columns). */
export function padToWidth(text: string, width: number): string {
  return text + " ".repeat(Math.max(0, width - displayWidth(text)));
}
