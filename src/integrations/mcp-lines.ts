// orch mcp's input: newline-delimited JSON-RPC with every line bounded, so a client that sends a huge or
// endless line costs the server at most MAX_LINE_BYTES of memory and gets an error for that line alone.

import { Transform, type TransformCallback } from "node:stream";

/** The longest request line orch mcp reads (without its newline); see README, "orch mcp". */
export const MAX_LINE_BYTES = 1024 * 1024;
/** How much of a refused line is kept to find its request id in. */
const HEAD_BYTES = 4096;
const NEWLINE = 0x0a;
/**
 * Every this many chunks the next one waits a turn of the event loop. Under bun, input that keeps coming
 * (a client flooding requests) kept the loop from ever running the SIGTERM handler: the server could
 * only be killed with -9.
 */
const CHUNKS_BETWEEN_TURNS = 16;

/** A refused line: its first bytes (to find the request id in) and how long it was when it was refused. */
export interface OversizedLine {
  head: Buffer;
  bytesSeen: number;
}

/**
 * Passes whole lines (newline included) of at most `limit` bytes on; a longer line is reported to
 * `onOversized` as soon as it passes the limit, and the rest of it, up to its newline, is dropped unread.
 */
export class BoundedLines extends Transform {
  private parts: Buffer[] = [];
  private size = 0;
  /** Set while the rest of a refused line is being dropped. */
  private dropping = false;
  private chunks = 0;

  constructor(
    private readonly limit: number,
    private readonly onOversized: (line: OversizedLine) => void,
    /** Says whether a whole line (without its newline) goes on; one it refuses is dropped. */
    private readonly accept: (line: Buffer) => boolean = () => true,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    for (let start = 0; start < chunk.length;) {
      const newline = chunk.indexOf(NEWLINE, start);
      const end = newline === -1 ? chunk.length : newline;
      if (!this.dropping) this.keep(chunk.subarray(start, end));
      if (newline === -1) break;
      if (!this.dropping) {
        const line = Buffer.concat(this.parts);
        if (this.accept(line)) this.push(Buffer.concat([line, Buffer.from([NEWLINE])]));
      }
      this.parts = [];
      this.size = 0;
      this.dropping = false;
      start = newline + 1;
    }
    if (++this.chunks % CHUNKS_BETWEEN_TURNS === 0) setImmediate(done);
    else done();
  }

  override _flush(done: TransformCallback): void {
    // A last line without its newline (stdin closed after it) is read as if it had one: a client that
    // wrote a whole request and closed gets it served, and one cut short gets its parse error.
    if (!this.dropping && this.size > 0) {
      const line = Buffer.concat(this.parts);
      if (this.accept(line)) this.push(Buffer.concat([line, Buffer.from([NEWLINE])]));
    }
    this.parts = [];
    this.size = 0;
    done();
  }

  private keep(piece: Buffer): void {
    if (this.size + piece.length <= this.limit) {
      this.parts.push(piece);
      this.size += piece.length;
      return;
    }
    const head = Buffer.concat([...this.parts, piece.subarray(0, HEAD_BYTES)]).subarray(0, HEAD_BYTES);
    const bytesSeen = this.size + piece.length;
    this.parts = [];
    this.size = 0;
    this.dropping = true;
    this.onOversized({ head: Buffer.from(head), bytesSeen });
  }
}

// A top-level "id" can only be told without parsing when it comes before any nested value: after nothing
// but "jsonrpc" and "method" with their plain string values.
const JSON_STRING = String.raw`"(?:[^"\\]|\\.)*"`;
const LEADING_ID = new RegExp(
  String.raw`^\s*\{(?:\s*"(?:jsonrpc|method)"\s*:\s*${JSON_STRING}\s*,)*\s*"id"\s*:\s*(-?\d+|${JSON_STRING})`,
);

/** The request id of a refused line, when its first bytes show it unambiguously. */
export function leadingRequestId(head: Buffer): string | number | undefined {
  const match = LEADING_ID.exec(head.toString("utf8"));
  if (!match) return undefined;
  try {
    const id: unknown = JSON.parse(match[1]!);
    return typeof id === "string" || (typeof id === "number" && Number.isSafeInteger(id)) ? id : undefined;
  } catch {
    return undefined;
  }
}
