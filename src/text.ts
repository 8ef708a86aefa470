// Shortening text for a message, an error or a screen line: cut where a character begins, never inside one.

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
