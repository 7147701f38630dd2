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
  const h = switchOf(fd);
  return h !== null && h.setBlocking(true) === 0;
}

/**
 * The blocking descriptor of an accepted connection (created paused, so libuv has read
 * nothing from it), or null when this Node's handle does not expose it.
 */
function connectionFd(sock: Socket): { fd: number; handle: BlockingSwitch } | null {
  const h = (sock as unknown as { _handle?: { fd?: number; setBlocking?(on: boolean): number } })._handle;
  if (typeof h?.fd !== "number" || h.fd < 0 || typeof h.setBlocking !== "function" || h.setBlocking(true) !== 0) return null;
  return { fd: h.fd, handle: h as BlockingSwitch };
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

/**
 * The contention check of a spinning reader: every SPIN_WINDOW reads, if this process was
 * preempted (involuntary context switches) more than SPIN_PREEMPTIONS times in the window, the
 * CPUs are oversubscribed and the next window's reads block at once. On the 2-vCPU VM this was
 * measured on, 100 k one-at-a-time round trips saw about 0.7 preemptions a window idle and
 * about 144 with four busy loops, where spinning lost about 30 % (a sleeping task is woken ahead
 * of busy ones; a spinning one is not). The C and Python clients use the same rule.
 */
const SPIN_WINDOW = 256;
const SPIN_PREEMPTIONS = 16;

/** A reader of the client's bytes: blocking, or spinning before it blocks (`spinMicros`). */
export type ReadFn = (into: Uint8Array) => number;

/** What a spinning reader did (`serve --binary` prints it on stderr at the end). */
export interface SpinStats {
  /** Reads that found bytes waiting at once. */
  ready: number;
  /** Reads whose bytes arrived while spinning. */
  woke: number;
  /** Spins that ran out (then blocked). */
  ranOut: number;
  /** Reads that blocked at once, backing off after a spin ran out. */
  blockedAtOnce: number;
  /** Reads that blocked at once because the last window of reads was often preempted. */
  contended: number;
  /** A descriptor was set up to spin (false: spinning off, or the input cannot be made non-blocking, such as a file). */
  spinning: boolean;
}
export function spinStats(): SpinStats { return { ready: 0, woke: 0, ranOut: 0, blockedAtOnce: 0, contended: 0, spinning: false }; }

/**
 * The reader for `fd`. With spinMicros = 0 it blocks in read(). With spinMicros > 0 the
 * descriptor is made non-blocking and each read retries for up to spinMicros microseconds
 * (one read() about every 2 us) before it blocks: a client that answers within that time wakes
 * a running thread instead of a sleeping one, which on a machine with idle CPUs saves the
 * wake-up of a halted CPU (about 30 us a direction measured on the 2-vCPU VM this was
 * written on; README "Binary channel", "One request at a time"). It costs a CPU while it spins,
 * so spins that run out back off (below), and a busy machine turns it off (SPIN_WINDOW).
 * `serve --binary --spin-us N`.
 * `handle` is the descriptor's libuv handle (to switch it), or null to open one; `preemptions`
 * counts this process's involuntary context switches (a test may pass its own).
 */
export function reader(fd: number, spinMicros: number, handle: BlockingSwitch | null, stats: SpinStats,
  preemptions: () => number = () => process.resourceUsage().involuntaryContextSwitches): ReadFn {
  if (spinMicros === 0) return (into) => readSome(fd, into);
  const h = handle ?? switchOf(fd);
  if (h === null || h.setBlocking(false) !== 0) return (into) => readSome(fd, into); // cannot spin on this descriptor: block
  spinning.set(fd, h);
  stats.spinning = true;
  const spinMs = spinMicros / 1000;
  let skip = 0, backoff = 0; // reads left that block at once after a spin ran out; the next such run's length
  let reads = 0, preempted = preemptions(), contended = false;
  return (into) => {
    if (++reads >= SPIN_WINDOW) { // the contention check
      reads = 0;
      const now = preemptions();
      contended = now - preempted > SPIN_PREEMPTIONS; preempted = now;
    }
    if (contended) { stats.contended++; return blockingRead(h, fd, into); }
    if (skip > 0) { skip--; stats.blockedAtOnce++; return blockingRead(h, fd, into); }
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0; // an EAGAIN throw without a stack trace costs about half as much
    try {
      let until = -1;
      for (;;) {
        try {
          const n = readSync(fd, into, 0, into.length, null);
          if (until >= 0) { backoff = 0; stats.woke++; } else stats.ready++; // the spin paid off, or the bytes were there
          return n;
        } catch (e) {
          const code = (e as NodeJS.ErrnoException).code;
          if (code === "EOF") return 0;
          if (code !== "EAGAIN" && code !== "EWOULDBLOCK") throw e;
        }
        const now = performance.now();
        if (until < 0) until = now + spinMs;
        else if (now >= until) break;
      }
    } finally { Error.stackTraceLimit = limit; }
    // ran out: the client is not answering within spinMicros (a busy machine, where spinning
    // takes the CPU the client needs, or a client that works between requests): block, and
    // block at once for the next 1, 2, 4 ... 256 reads
    backoff = backoff === 0 ? 1 : Math.min(backoff * 2, 256);
    skip = backoff; stats.ranOut++;
    return blockingRead(h, fd, into);
  };
}
function blockingRead(h: BlockingSwitch, fd: number, into: Uint8Array): number {
  h.setBlocking(true);
  try { return readSome(fd, into); } finally { h.setBlocking(false); }
}
export interface BlockingSwitch { setBlocking(on: boolean): number }
/** A libuv handle opened on `fd` to switch its blocking mode (kept for the life of the process), or null. */
function switchOf(fd: number): BlockingSwitch | null {
  try {
    const s = new Socket({ fd, readable: false, writable: false });
    const h = (s as unknown as { _handle?: BlockingSwitch })._handle;
    if (typeof h?.setBlocking !== "function") return null;
    blockingHandles.push(s);
    return h;
  } catch { return null; }
}
function writeAll(fd: number, data: Uint8Array): void {
  let off = 0;
  while (off < data.length) {
    try { off += writeSync(fd, data, off, data.length - off); } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === "EAGAIN" || code === "EWOULDBLOCK") {
        const h = spinning.get(fd); // a socket's one descriptor, kept non-blocking for a spinning reader: block for this write only
        if (h !== undefined) { h.setBlocking(true); try { writeAll(fd, data.subarray(off)); } finally { h.setBlocking(false); } return; }
        if (!makeBlocking(fd)) sleepMs(1);
        continue;
      }
      throw e;
    }
  }
}
/** Descriptors a spinning reader keeps non-blocking, with their switches. */
const spinning = new Map<number, BlockingSwitch>();

/**
 * Serve the binary channel on file descriptors (stdin/stdout by default) until quit or end
 * of input. Returns the exit code: 0, or 1 when the client went away mid-answer (EPIPE).
 */
export function serveBinaryPipe(fdIn = 0, fdOut = 1, prepare?: (s: BinarySession) => void, spinMicros = 0, stats = spinStats()): number {
  return serveFrames(fdIn, fdOut, prepare, reader(fdIn, checkSpin(spinMicros), null, stats)).code;
}

/** `serve --binary`'s spin when --spin-us is not given (microseconds; the C and Python clients' default too). */
export const DEFAULT_SPIN_MICROS = 50;
/** The most a reader may spin: 10 ms. */
export const MAX_SPIN_MICROS = 10_000;
function checkSpin(us: number): number {
  if (!Number.isInteger(us) || us < 0 || us > MAX_SPIN_MICROS) throw new RangeError(`spinMicros must be an integer 0..${MAX_SPIN_MICROS}, got ${us}`);
  return us;
}

/** The serving loop of both transports: { code 0 or 1 (the client went away mid-answer), quit: the client sent quit }. */
function serveFrames(fdIn: number, fdOut: number, prepare: ((s: BinarySession) => void) | undefined, read: ReadFn): { code: number; quit: boolean } {
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
        const n = read(room);
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
      const n = read(room);
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
export function serveBinarySocket(path: string, prepare?: (s: BinarySession) => void, spinMicros = 0, stats = spinStats()): Promise<Server> {
  checkSpin(spinMicros);
  return new Promise((resolve, reject) => {
    const server = createServer({ pauseOnConnect: true }, (sock) => {
      sock.on("error", () => { /* the client went away */ });
      const c = connectionFd(sock);
      if (c === null) {
        sock.end(badFrame("serve --socket: this Node's socket handle exposes no blocking descriptor; use the pipe transport"));
        return;
      }
      let quit = false;
      const { fd, handle } = c;
      try { quit = serveFrames(fd, fd, prepare, reader(fd, spinMicros, handle, stats)).quit; } finally { spinning.delete(fd); sock.destroy(); }
      if (quit) server.close();
    });
    server.on("error", reject);
    server.listen(path, () => resolve(server));
  });
}
