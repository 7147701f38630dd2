/**
 * Transports of the binary channel. Both run on file descriptors with blocking reads and
 * writes (fs.readSync / fs.writeSync), without the event loop: one request frame read, run,
 * its answer written, so a round trip costs one read and one write a side, and the reader
 * wakes as soon as the client's bytes arrive (no timer, no poll). That is also what lets
 * simulator-owned memory block on the client's answer in the middle of a translation. The
 * pipe transport serves stdin/stdout; the socket transport (a Unix socket) accepts one client
 * at a time and serves it the same way on the connection's descriptor, set blocking; the next
 * client waits in the listen backlog until the current one quits or goes away.
 *
 * A frame with a bad header gets an answer frame holding one error record (BadFrame); the
 * reader then skips to the next "IOMB" magic, so a client that sent garbage can go on.
 */
import { readSync, writeSync } from "node:fs";
import { createServer, Socket, type Server } from "node:net";
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

/** libuv stream handles that made a descriptor blocking; kept for the life of the process (closing one would close the descriptor). */
const blockingHandles: Socket[] = [];
/**
 * Make `fd` blocking, when it came non-blocking (its open file description is shared with a
 * process that set O_NONBLOCK): a libuv stream handle opened on it, set blocking, never read
 * from. False when that is impossible (not a pipe, socket or terminal).
 */
export function makeBlocking(fd: number): boolean {
  try {
    const s = new Socket({ fd, readable: false, writable: false });
    const h = (s as unknown as { _handle?: { setBlocking?(on: boolean): number } })._handle;
    if (typeof h?.setBlocking !== "function" || h.setBlocking(true) !== 0) return false;
    blockingHandles.push(s);
    return true;
  } catch { return false; }
}

/**
 * The blocking descriptor of an accepted connection (created paused, so libuv has read
 * nothing from it), or null when this Node's handle does not expose it.
 */
function connectionFd(sock: Socket): number | null {
  const h = (sock as unknown as { _handle?: { fd?: number; setBlocking?(on: boolean): number } })._handle;
  if (typeof h?.fd !== "number" || h.fd < 0 || typeof h.setBlocking !== "function" || h.setBlocking(true) !== 0) return null;
  return h.fd;
}

/** The client went away: end of input on a read, or a write or read refused as the peer closed. */
const GONE = new Set(["EPIPE", "ECONNRESET", "ENOTCONN"]);

/**
 * readSync that blocks; 0 = end of input. A non-blocking descriptor (EAGAIN) is made blocking
 * once (makeBlocking); only if that is impossible does it wait 1 ms between tries.
 */
function readSome(fd: number, into: Uint8Array): number {
  for (;;) {
    try { return readSync(fd, into, 0, into.length, null); } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === "EAGAIN" || code === "EWOULDBLOCK") { if (!makeBlocking(fd)) sleepMs(1); continue; }
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
      if (code === "EAGAIN" || code === "EWOULDBLOCK") { if (!makeBlocking(fd)) sleepMs(1); continue; }
      throw e;
    }
  }
}

/**
 * Serve the binary channel on file descriptors (stdin/stdout by default) until quit or end
 * of input. Returns the exit code: 0, or 1 when the client went away mid-answer (EPIPE).
 */
export function serveBinaryPipe(fdIn = 0, fdOut = 1, prepare?: (s: BinarySession) => void): number {
  return serveFrames(fdIn, fdOut, prepare).code;
}

/** The serving loop of both transports: { code 0 or 1 (the client went away mid-answer), quit: the client sent quit }. */
function serveFrames(fdIn: number, fdOut: number, prepare?: (s: BinarySession) => void): { code: number; quit: boolean } {
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
        if (session.done) return { code: 0, quit: true };
        continue;
      }
      if ("error" in r) { writeAll(fdOut, badFrame(r.error)); continue; }
      const room = reader.space(Math.max(r.need, 65536));
      const n = readSome(fdIn, room);
      if (n === 0) return { code: 0, quit: false };
      reader.end += n;
    }
  } catch (e) {
    if (GONE.has((e as NodeJS.ErrnoException).code ?? "")) return { code: 1, quit: false };
    throw e;
  }
}

/**
 * Serve the binary channel on a Unix socket at `path`, one client at a time, each on its
 * connection's descriptor set blocking (simulator-owned memory included); resolves with the
 * listening server once it listens. The server closes when a client quits; a client that goes
 * away without quit ends its session only. While a client is served, this thread is busy: the
 * caller's event loop runs again between clients.
 */
export function serveBinarySocket(path: string, prepare?: (s: BinarySession) => void): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer({ pauseOnConnect: true }, (sock) => {
      sock.on("error", () => { /* the client went away */ });
      const fd = connectionFd(sock);
      if (fd === null) {
        sock.end(badFrame("serve --socket: this Node's socket handle exposes no blocking descriptor; use the pipe transport"));
        return;
      }
      let quit = false;
      try { quit = serveFrames(fd, fd, prepare).quit; } finally { sock.destroy(); }
      if (quit) server.close();
    });
    server.on("error", reject);
    server.listen(path, () => resolve(server));
  });
}
