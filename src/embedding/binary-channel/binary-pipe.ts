/**
 * Transports of the binary channel. The pipe transport runs on file descriptors with
 * blocking reads and writes (fs.readSync / fs.writeSync), without the event loop: one
 * request frame read, run, its answer written, so a round trip costs two system calls a
 * side. It is also what lets simulator-owned memory block on the client's answer in the
 * middle of a translation. The socket transport (a Unix socket) is event-driven and serves
 * one client at a time, without simulator-owned memory.
 *
 * A frame with a bad header gets an answer frame holding one error record (BadFrame); the
 * reader then skips to the next "IOMB" magic, so a client that sent garbage can go on.
 */
import { readSync, writeSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { BinarySession, checkHeader, FrameWriter } from "./binary-session.js";
import { ErrorCode, FRAME_HEADER, FrameKind, MAGIC, Status } from "./frame-layout.js";

/** Accumulates a byte stream and splits it into frames. */
export class FrameReader {
  buf = new ArrayBuffer(1 << 20);
  u8 = new Uint8Array(this.buf);
  u32 = new Uint32Array(this.buf);
  /** Bytes held. */
  end = 0;
  /** Start of the next frame (a multiple of 8). */
  pos = 0;

  /** Room to read into (compacts and grows as needed for a frame of `want` bytes). */
  space(want = 65536): Uint8Array {
    if (this.pos > 0 && (this.pos === this.end || this.buf.byteLength - this.end < want)) {
      this.u8.copyWithin(0, this.pos, this.end);
      this.end -= this.pos; this.pos = 0;
    }
    if (this.buf.byteLength - this.end < want) {
      let n = this.buf.byteLength;
      while (n - this.end < want) n *= 2;
      const b = new ArrayBuffer(n);
      new Uint8Array(b).set(this.u8.subarray(0, this.end));
      this.buf = b; this.u8 = new Uint8Array(b); this.u32 = new Uint32Array(b);
    }
    return this.u8.subarray(this.end);
  }
  push(bytes: Uint8Array): void { this.space(bytes.length).set(bytes); this.end += bytes.length; }

  /**
   * The next complete frame: { at } when one is ready (checked header), { error } for a bad
   * header (the reader has skipped to the next magic, or kept the tail that may begin one),
   * or { need } bytes more to read.
   */
  next(kind: FrameKind): { at: number } | { error: string } | { need: number } {
    const have = this.end - this.pos;
    if (have < FRAME_HEADER) return { need: FRAME_HEADER - have };
    const bad = checkHeader(this.u32, this.pos, kind);
    if (bad !== null) { this.resync(); return { error: bad }; }
    const len = this.u32[(this.pos + 4) >>> 2]!;
    if (have < len) return { need: len - have };
    const at = this.pos;
    this.pos += len;
    return { at };
  }

  /** Skip past the bad header to the next "IOMB" magic (kept at offset 0, so frames stay 8-byte aligned). */
  private resync(): void {
    const u8 = this.u8, end = this.end;
    let p = this.pos + 1;
    for (; p < end; p++) {
      if (u8[p] !== 0x49) continue;
      const n = Math.min(4, end - p); // a magic, or a tail that may begin one
      let ok = true;
      for (let i = 1; i < n; i++) if (u8[p + i] !== MAGIC_BYTES[i]) { ok = false; break; }
      if (ok) break;
    }
    this.u8.copyWithin(0, p, end);
    this.end = end - p; this.pos = 0;
  }
}
const MAGIC_BYTES = [0x49, 0x4f, 0x4d, 0x42];

/** An answer frame with one BadFrame error record. */
function badFrame(text: string): Uint8Array {
  const w = new FrameWriter();
  w.begin(FrameKind.Answer);
  const t = new TextEncoder().encode(text.slice(0, 200));
  const o = w.record(0, Status.Error, 0, 16 + ((t.length + 7) & ~7));
  w.u32[(o + 8) >>> 2] = ErrorCode.BadFrame; w.u32[(o + 12) >>> 2] = t.length;
  w.u8.set(t, o + 16);
  return w.finish().slice();
}

function sleepMs(ms: number): void { Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms); }

/** readSync that waits (EAGAIN on a non-blocking descriptor) instead of failing; 0 = end of input. */
function readSome(fd: number, into: Uint8Array): number {
  for (;;) {
    try { return readSync(fd, into, 0, into.length, null); } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === "EAGAIN" || code === "EWOULDBLOCK") { sleepMs(1); continue; }
      if (code === "EOF") return 0;
      throw e;
    }
  }
}
function writeAll(fd: number, data: Uint8Array): void {
  let off = 0;
  while (off < data.length) {
    try { off += writeSync(fd, data, off, data.length - off); } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === "EAGAIN" || code === "EWOULDBLOCK") { sleepMs(1); continue; }
      throw e;
    }
  }
}

/**
 * Serve the binary channel on file descriptors (stdin/stdout by default) until quit or end
 * of input. Returns the exit code: 0, or 1 when the client went away mid-answer (EPIPE).
 */
export function serveBinaryPipe(fdIn = 0, fdOut = 1, prepare?: (s: BinarySession) => void): number {
  const reader = new FrameReader();
  const memReader = new FrameReader();
  const session = new BinarySession({
    roundTrip: (frame) => {
      writeAll(fdOut, frame);
      for (;;) {
        const r = memReader.next(FrameKind.MemoryAnswer);
        if ("at" in r) { const at = r.at; memReader.pos = 0; memReader.end = 0; return { u8: memReader.u8, u32: memReader.u32, at }; }
        if ("error" in r) throw new Error(`simulator-owned memory: the client's memory answer has a bad frame header: ${r.error}`);
        const room = memReader.space(r.need);
        const n = readSome(fdIn, room);
        if (n === 0) throw new Error("simulator-owned memory: input ended while waiting for a memory answer");
        memReader.end += n;
      }
    },
  });
  if (prepare) prepare(session);
  try {
    for (;;) {
      const r = reader.next(FrameKind.Request);
      if ("at" in r) {
        writeAll(fdOut, session.run(reader.u8, reader.u32, r.at));
        if (session.done) return 0;
        continue;
      }
      if ("error" in r) { writeAll(fdOut, badFrame(r.error)); continue; }
      const room = reader.space(Math.max(r.need, 65536));
      const n = readSome(fdIn, room);
      if (n === 0) return 0;
      reader.end += n;
    }
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "EPIPE") return 1;
    throw e;
  }
}

/** Serve the binary channel on a Unix socket at `path`, one client at a time; resolves when a client quits. */
export function serveBinarySocket(path: string, prepare?: (s: BinarySession) => void): Promise<Server> {
  return new Promise((resolve, reject) => {
    let busy = false;
    const server = createServer((sock) => {
      if (busy) { sock.end(badFrame("another client is connected; one client at a time")); return; }
      busy = true;
      const session = new BinarySession();
      if (prepare) prepare(session);
      const reader = new FrameReader();
      sock.on("data", (chunk: Buffer) => {
        reader.push(chunk);
        for (;;) {
          const r = reader.next(FrameKind.Request);
          if ("at" in r) {
            sock.write(session.run(reader.u8, reader.u32, r.at).slice());
            if (session.done) { sock.end(); server.close(); return; }
            continue;
          }
          if ("error" in r) { sock.write(badFrame(r.error)); continue; }
          break;
        }
      });
      sock.on("error", () => { /* the client went away */ });
      sock.on("close", () => { busy = false; });
    });
    server.on("error", reject);
    server.listen(path, () => resolve(server));
  });
}

