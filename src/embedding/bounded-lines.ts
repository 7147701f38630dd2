/**
 * Lines of a byte stream with a bounded length, for the co-simulation pipe: a line longer
 * than `limit` bytes is never held in memory whole (its bytes are dropped up to the next
 * newline) and comes out as `{ tooLong: bytes }`, so one huge line can neither exhaust
 * memory nor reach JavaScript's string-length limit. "\r\n" ends a line like "\n"; a last
 * line without a newline is a line.
 */
import type { Readable } from "node:stream";

export type BoundedLine = string | { tooLong: number };

export async function* boundedLines(input: Readable, limit: number): AsyncGenerator<BoundedLine> {
  let parts: Buffer[] = [];
  let held = 0;
  /** Bytes of the current line while it is being dropped (-1: not dropping). */
  let dropped = -1;
  const finish = (): BoundedLine => {
    if (dropped >= 0) { const n = dropped; dropped = -1; return { tooLong: n }; }
    let b = parts.length === 1 ? parts[0]! : Buffer.concat(parts, held);
    if (b.length > 0 && b[b.length - 1] === 13) b = b.subarray(0, b.length - 1);
    parts = []; held = 0;
    return b.toString("utf8");
  };
  for await (const chunk of input) {
    const buf: Buffer = typeof chunk === "string" ? Buffer.from(chunk) : (chunk as Buffer);
    let from = 0;
    while (from <= buf.length) {
      const nl = buf.indexOf(10, from);
      const end = nl < 0 ? buf.length : nl;
      const piece = buf.subarray(from, end);
      if (dropped >= 0) dropped += piece.length;
      else if (held + piece.length > limit) { dropped = held + piece.length; parts = []; held = 0; }
      else if (piece.length > 0) { parts.push(piece); held += piece.length; }
      if (nl < 0) break;
      yield finish();
      from = nl + 1;
    }
  }
  if (held > 0 || dropped >= 0) yield finish();
}
