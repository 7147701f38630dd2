/**
 * The binary channel's transports as a simulator meets them (issue 15): the server is this
 * checkout transpiled to a scratch directory (test/concurrency/agent-build.ts) and run as a
 * child process, because both transports serve with blocking reads on the serving thread.
 *
 * - Unix socket (`serve --binary --socket PATH`): frames split across writes are answered in
 *   order; one client at a time, the next one waiting in the listen backlog until the current
 *   one goes away; a client that leaves without quit does not stop the server; quit does;
 *   simulator-owned memory works over the socket (memory-request frames on the connection).
 * - Spinning reads (`--spin-us N`, default 50): the server retries a non-blocking read for N us,
 *   then blocks; a spin that runs out makes the next reads block at once (1, 2, 4 ... 256),
 *   a spin that finds the bytes resets that; out-of-range values are refused naming the option.
 * - Pipe (with --spin-us 0): a stdin that arrives non-blocking (its open file description shared with a process
 *   that set O_NONBLOCK) is made blocking at the first EAGAIN, so reads wake when the bytes
 *   arrive instead of polling with a sleep. Needs python3 (to hand over such a descriptor) and
 *   Linux /proc (to read the descriptor's flags); skipped with a note otherwise.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { connect, type Socket } from "node:net";
import { existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import * as L from "../../src/embedding/binary-channel/frame-layout.js";
import { buildAgents, removeBuiltAgents } from "../concurrency/agent-build.js";
import { reader, spinStats } from "../../src/embedding/binary-channel/binary-pipe.js";

const { Op, FrameKind } = L;
const PY = spawnSync("python3", ["-c", "import os; os.set_blocking"], { encoding: "utf8" }).status === 0 ? "python3" : null;
const PROC = existsSync("/proc/self/fdinfo/0");
if (!PY) console.warn("[binary-transports] no python3: the non-blocking stdin test is skipped");
if (!PROC) console.warn("[binary-transports] no /proc/<pid>/fdinfo (not Linux): the non-blocking stdin test is skipped");

let cli = "";
let dir = "";
/** Every server started here: killed at the end if one is still running (a failed test must not leave one behind). */
const children: ChildProcess[] = [];
beforeAll(() => {
  cli = fileURLToPath(buildAgents(["src/cli.ts", "src/cli/serve.ts"])["src/cli.ts"]!);
  dir = mkdtempSync(join(tmpdir(), "amd-iommu-transports-"));
});
afterAll(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill();
  removeBuiltAgents();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function frame(records: [number, number, number, number[] | Uint8Array][], kind = FrameKind.Request): Uint8Array {
  const parts = records.map(([op, idx, flags, b]) => {
    const len = 8 + ((b.length + 7) & ~7);
    const r = new Uint8Array(len);
    const dv = new DataView(r.buffer);
    r[0] = op; r[1] = idx; dv.setUint16(2, flags, true); dv.setUint32(4, len, true); r.set(b, 8);
    return r;
  });
  const total = 16 + parts.reduce((n, p) => n + p.length, 0);
  const f = new Uint8Array(total);
  const dv = new DataView(f.buffer);
  dv.setUint32(0, L.MAGIC, true); dv.setUint32(4, total, true); dv.setUint32(8, records.length, true); f[12] = kind; f[13] = L.VERSION;
  let o = 16;
  for (const p of parts) { f.set(p, o); o += p.length; }
  return f;
}
function le(...fields: [("u32" | "u64"), number][]): Uint8Array {
  const b = new Uint8Array(fields.reduce((n, [t]) => n + (t === "u32" ? 4 : 8), 0));
  const dv = new DataView(b.buffer);
  let o = 0;
  for (const [t, v] of fields) { if (t === "u32") { dv.setUint32(o, v, true); o += 4; } else { dv.setBigUint64(o, BigInt(v), true); o += 8; } }
  return b;
}
interface Rec { op: number; b1: number; flags: number; dv: DataView }
interface Frame { kind: number; recs: Rec[] }
/** Frames as they arrive on a byte stream. */
class Frames {
  private buf = Buffer.alloc(0);
  readonly got: Frame[] = [];
  private waiters: (() => void)[] = [];
  push(d: Buffer): void {
    this.buf = Buffer.concat([this.buf, d]);
    while (this.buf.length >= 16) {
      const len = this.buf.readUInt32LE(4);
      if (this.buf.length < len) break;
      const f = new Uint8Array(this.buf.subarray(0, len));
      this.buf = this.buf.subarray(len);
      const dv = new DataView(f.buffer);
      const recs: Rec[] = [];
      for (let o = 16, i = 0; i < dv.getUint32(8, true); i++) {
        const rl = dv.getUint32(o + 4, true);
        recs.push({ op: f[o]!, b1: f[o + 1]!, flags: dv.getUint16(o + 2, true), dv: new DataView(f.buffer, o, rl) });
        o += rl;
      }
      this.got.push({ kind: f[12]!, recs });
    }
    for (const w of this.waiters.splice(0)) w();
  }
  /** The n-th frame (0-based), once it has arrived. */
  async frame(n: number): Promise<Frame> {
    while (this.got.length <= n) await new Promise<void>((res) => this.waiters.push(res));
    return this.got[n]!;
  }
}

async function startSocketServer(path: string): Promise<{ child: ChildProcess; exited: Promise<number | null> }> {
  const child = spawn(process.execPath, [cli, "serve", "--binary", "--socket", path], { stdio: ["ignore", "ignore", "pipe"] });
  children.push(child);
  const exited = new Promise<number | null>((res) => child.on("exit", (code) => res(code)));
  let stderr = "";
  await new Promise<void>((res, rej) => {
    child.stderr!.on("data", (d: Buffer) => { stderr += d.toString(); if (stderr.includes("binary channel on")) res(); });
    child.on("exit", (code) => rej(new Error(`server exited ${code}: ${stderr}`)));
  });
  return { child, exited };
}
async function client(path: string): Promise<{ sock: Socket; frames: Frames; closed: Promise<void> }> {
  const sock = connect(path);
  const frames = new Frames();
  sock.on("data", (d: Buffer) => frames.push(d));
  const closed = new Promise<void>((res) => sock.on("close", () => res()));
  sock.on("error", () => { /* reset when the server closes */ });
  await new Promise<void>((res) => sock.on("connect", () => res()));
  return { sock, frames, closed };
}
const HELLO: [number, number, number, number[]] = [Op.Hello, 0, 0, []];
const QUIT: [number, number, number, number[]] = [Op.Quit, 0, 0, []];

describe("binary channel over a Unix socket (serve --binary --socket PATH, a child process)", () => {
  it("serves frames split across writes and answers in order; quit closes the server, which exits 0", async () => {
    const path = join(dir, "split");
    const { exited } = await startSocketServer(path);
    const c = await client(path);
    const f = frame([HELLO, [Op.AddMemory, 0, 0, le(["u64", 0], ["u64", 1 << 20])]]);
    c.sock.write(f.subarray(0, 10));
    await new Promise((res) => setTimeout(res, 20));
    c.sock.write(f.subarray(10));
    const first = await c.frames.frame(0);
    expect(first.kind).toBe(FrameKind.Answer);
    expect(first.recs.map((r) => [r.op, r.b1])).toEqual([[Op.Hello, 0], [Op.AddMemory, 0]]);
    c.sock.write(frame([QUIT]));
    expect((await c.frames.frame(1)).recs.map((r) => r.op)).toEqual([Op.Quit]);
    await c.closed;
    expect(await exited).toBe(0);
  }, 60_000);

  it("one client at a time: the second is answered only after the first goes away (without quit, which leaves the server running)", async () => {
    const path = join(dir, "two");
    const { exited } = await startSocketServer(path);
    const a = await client(path);
    a.sock.write(frame([HELLO]));
    await a.frames.frame(0);
    const b = await client(path);
    b.sock.write(frame([HELLO]));
    let aGone = false;
    const bAnswer = b.frames.frame(0).then((f) => ({ f, afterA: aGone }));
    a.sock.write(frame([HELLO]));
    expect((await a.frames.frame(1)).recs[0]!.op).toBe(Op.Hello); // the first client is still being served
    expect(b.frames.got).toEqual([]);
    aGone = true;
    a.sock.end();
    const { f, afterA } = await bAnswer;
    expect(afterA).toBe(true);
    expect(f.recs.map((r) => [r.op, r.b1])).toEqual([[Op.Hello, 0]]);
    b.sock.write(frame([QUIT]));
    await b.closed;
    expect(await exited).toBe(0);
  }, 60_000);

  it("simulator-owned memory works over the socket: the DTE read comes to the client as a memory-request frame on the connection", async () => {
    const path = join(dir, "simmem");
    const { exited } = await startSocketServer(path);
    const c = await client(path);
    c.sock.write(frame([[Op.CreateIommu, 0, 1, le(["u32", 0], ["u32", 0], ["u64", 1 << 20])]]));
    expect((await c.frames.frame(0)).recs.map((r) => r.b1)).toEqual([L.Status.Ok]);
    const mmio = (off: number, v: number): [number, number, number, Uint8Array] => [Op.MmioWrite, 0, 0, le(["u32", off], ["u32", 8], ["u64", v])];
    c.sock.write(frame([mmio(0x0000, 0x1000 | 1), mmio(0x0018, 1)])); // device table at 0x1000 (8 KiB), IommuEn
    expect((await c.frames.frame(1)).recs.map((r) => r.b1)).toEqual([L.Status.Ok, L.Status.Ok]);
    c.sock.write(frame([[Op.Translate, 0, 0, le(["u32", 0x10], ["u32", 0], ["u64", 0x5000], ["u64", 0])]]));
    const req = await c.frames.frame(2);
    expect(req.kind).toBe(FrameKind.MemoryRequest);
    expect(req.recs[0]!.op).toBe(Op.MemRead);
    expect([Number(req.recs[0]!.dv.getBigUint64(8, true)), req.recs[0]!.dv.getUint32(16, true)]).toEqual([0x1000 + 0x10 * 32, 32]);
    c.sock.write(frame([[Op.MemRead, 0, 0, new Uint8Array(32)]], FrameKind.MemoryAnswer)); // DTE V = 0: untranslated DMA passes
    const ans = await c.frames.frame(3);
    expect(ans.kind).toBe(FrameKind.Answer);
    const t = ans.recs.find((r) => r.op === Op.Translate)!;
    expect([t.b1, t.flags & L.AFlag.Allowed, Number(t.dv.getBigUint64(16, true))]).toEqual([L.Status.Ok, L.AFlag.Allowed, 0x5000]);
    c.sock.write(frame([QUIT]));
    await c.closed;
    expect(await exited).toBe(0);
  }, 60_000);
});

describe.skipIf(!PY || !PROC)("binary channel over a pipe whose stdin arrives non-blocking", () => {
  it("the first read that finds no bytes (EAGAIN) makes stdin blocking (O_NONBLOCK cleared), and every request is answered", async () => {
    // python3 sets O_NONBLOCK on the open file description of its stdin, then execs the server on it
    const child = spawn(PY!, ["-c", "import os, sys; os.set_blocking(0, False); os.execv(sys.argv[1], sys.argv[1:])", process.execPath, cli, "serve", "--binary", "--spin-us", "0"],
      { stdio: ["pipe", "pipe", "pipe"] });
    children.push(child);
    const exited = new Promise<number | null>((res) => child.on("exit", (code) => res(code)));
    const frames = new Frames();
    child.stdout!.on("data", (d: Buffer) => frames.push(d));
    const flags = () => parseInt(/flags:\s+([0-7]+)/.exec(readFileSync(`/proc/${child.pid}/fdinfo/0`, "utf8"))![1]!, 8);
    const O_NONBLOCK = 0o4000;
    child.stdin!.write(frame([HELLO]));
    await frames.frame(0);
    // the server now waits for the next frame; none comes for a while, so its read finds nothing
    await new Promise((res) => setTimeout(res, 200));
    for (let i = 1; i <= 20; i++) {
      child.stdin!.write(frame([HELLO]));
      expect((await frames.frame(i)).recs.map((r) => [r.op, r.b1])).toEqual([[Op.Hello, 0]]);
    }
    expect(flags() & O_NONBLOCK).toBe(0);
    child.stdin!.end(frame([QUIT]));
    expect(await exited).toBe(0);
  }, 60_000);
});

describe("spinning reads (serve --binary --spin-us N)", () => {
  it("a read spins up to N us on a non-blocking stdin, then blocks (O_NONBLOCK cleared while it waits); after a spin ran out the next read blocks at once; every request is answered and the figures go to stderr at the end", async () => {
    const child = spawn(process.execPath, [cli, "serve", "--binary", "--spin-us", "2000"], { stdio: ["pipe", "pipe", "pipe"] });
    children.push(child);
    const exited = new Promise<number | null>((res) => child.on("exit", (code) => res(code)));
    let stderr = "";
    child.stderr!.on("data", (d: Buffer) => { stderr += d.toString(); });
    const frames = new Frames();
    child.stdout!.on("data", (d: Buffer) => frames.push(d));
    const idle = async () => { // the server has given up spinning and blocks in read()
      if (!PROC) { await new Promise((res) => setTimeout(res, 300)); return; }
      const O_NONBLOCK = 0o4000;
      const flags = () => parseInt(/flags:\s+([0-7]+)/.exec(readFileSync(`/proc/${child.pid}/fdinfo/0`, "utf8"))![1]!, 8);
      for (let i = 0; i < 1000 && (flags() & O_NONBLOCK) !== 0; i++) await new Promise((res) => setTimeout(res, 10));
      expect(flags() & O_NONBLOCK).toBe(0);
      await new Promise((res) => setTimeout(res, 20));
    };
    let n = 0;
    for (let round = 0; round < 3; round++) {
      await idle(); // the spin of the read now waiting ran out
      for (let i = 0; i < 5; i++) {
        child.stdin!.write(frame([HELLO]));
        expect((await frames.frame(n++)).recs.map((r) => [r.op, r.b1])).toEqual([[Op.Hello, 0]]);
      }
    }
    child.stdin!.end(frame([QUIT]));
    expect(await exited).toBe(0);
    const m = /--spin-us 2000: (\d+) reads found a frame waiting, (\d+) woke while spinning, (\d+) spins ran out, (\d+) reads blocked at once/.exec(stderr);
    expect(m, stderr).not.toBeNull();
    const [ready, woke, ranOut, atOnce] = m!.slice(1).map(Number) as [number, number, number, number];
    // the first read spins for 2 ms while nothing is sent (idle() waits for it to block): it runs
    // out, and the read after it blocks at once; later idle waits may fall on either kind
    expect(ranOut).toBeGreaterThanOrEqual(1);
    expect(atOnce).toBeGreaterThanOrEqual(1);
    expect(ready + woke + ranOut + atOnce).toBeGreaterThanOrEqual(n + 1); // every frame was read (some reads may bring two)
  }, 60_000);

  it.skipIf(!PROC)("the contention check: a window of 256 reads in which the process was preempted more than 16 times makes the next window's reads block at once; a window with 16 or fewer turns spinning back on", () => {
    const fifo = join(dir, "fifo");
    expect(spawnSync("mkfifo", [fifo]).status).toBe(0);
    const fd = openSync(fifo, "r+"); // a FIFO opened for reading and writing: this process feeds its own reader
    let preemptions = 1000;
    const stats = spinStats();
    const read = reader(fd, 100, null, stats, () => preemptions);
    const buf = new Uint8Array(8);
    const one = () => { writeSync(fd, "x"); expect(read(buf)).toBe(1); };
    for (let i = 0; i < 255; i++) one();
    preemptions += 17; // the first window was preempted 17 times
    one(); // the 256th read checks: contended, it blocks at once
    expect(stats).toMatchObject({ ready: 255, contended: 1 });
    for (let i = 0; i < 255; i++) one();
    expect(stats.contended).toBe(256);
    preemptions += 16; // 16 in the second window: not contended
    one();
    expect(stats).toMatchObject({ ready: 256, contended: 256, ranOut: 0 });
  });

  it("--spin-us 0 blocks at once (no figures); a file on stdin is read blocking (answered, no figures); a value above 10000, negative or not an integer is refused naming the option; --spin-us without --binary is refused", () => {
    const quit = frame([QUIT]);
    const zero = spawnSync(process.execPath, [cli, "serve", "--binary", "--spin-us", "0"], { input: quit, encoding: "utf8", timeout: 60_000 });
    expect(zero.status).toBe(0);
    expect(zero.stderr).not.toMatch(/spin-us/);
    for (const bad of ["10001", "-1", "1.5", "x"]) {
      const r = spawnSync(process.execPath, [cli, "serve", "--binary", `--spin-us=${bad}`], { input: quit, encoding: "utf8", timeout: 60_000 });
      expect(r.status, bad).toBe(2);
      expect(r.stderr).toContain(`serve: --spin-us must be an integer 0..10000, got ${bad}`);
    }
    // a file on stdin cannot be read non-blocking: the reads block, every frame is answered, no figures
    const file = join(dir, "frames.bin");
    writeFileSync(file, Buffer.concat([frame([HELLO]), quit]));
    const fromFile = spawnSync(process.execPath, [cli, "serve", "--binary"], { stdio: [openSync(file, "r"), "pipe", "pipe"], encoding: "buffer", timeout: 60_000 });
    expect(fromFile.status).toBe(0);
    expect(fromFile.stdout.readUInt32LE(8)).toBe(1); // the hello's answer frame, then quit's
    expect(fromFile.stdout.length).toBe(fromFile.stdout.readUInt32LE(4) + 24);
    expect(fromFile.stderr.toString()).not.toMatch(/spin-us/);
    const json = spawnSync(process.execPath, [cli, "serve", "--spin-us", "5"], { input: "", encoding: "utf8", timeout: 60_000 });
    expect(json.status).toBe(2);
    expect(json.stderr).toContain("--spin-us needs --binary");
  }, 60_000);
});
