/**
 * The native reference (issue 13): bench/native/iommu_ref.c, compiled with the system C
 * compiler (`cc -O2`, or $CC) into a cache directory keyed by the source's hash, run as a child
 * process per case. It builds the same tables as the model's workload (the runner compares
 * the hash of both memory images and refuses to compare times when they differ), checks that
 * it gives the same answers (a checksum of the SPAs of the first requests), and then times
 * rounds on request, interleaved with the model's rounds by the runner.
 */
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** What the native reference needs to build a case's tables and requests (the model's workload uses the same). */
export interface NativeSpec {
  kind: "v1" | "guest" | "nested";
  hostLevels?: 4 | 5;
  guestLevels?: 4 | 5;
  pages: number;
  span: number;
  stride?: number;
  /** One request in N is a write (0: none). */
  writeEvery?: number;
  /** Leaves start with A and D clear. */
  fresh?: boolean;
  /** A and D of the leaf are cleared before every request (first-touch walks). */
  firstTouch?: boolean;
  /** Guest translation without a PASID (DTE.GIoV: PASID 0, no sign extension). */
  giov?: boolean;
  /** ATS translation requests. */
  ats?: boolean;
  iotlb: [entries: number, ways: number];
  pde: [entries: number, ways: number];
}

/** Where the workload lives in memory (the native side allocates from the same place). */
export interface MemoryLayout {
  bytes: number; deviceTable: number; tableStart: number;
  /** The model's table-line cache geometry (profile.tableCacheLines, tableCacheWays; 0 lines = off): the native side keeps the same cache. */
  tableCache: [lines: number, ways: number];
}

/** FNV-1a (32-bit) over 32-bit words: the memory-image and answer checksums both sides print. */
export function fnv(h: number, w: number): number {
  return Math.imul((h ^ w) >>> 0, 16777619) >>> 0;
}
export const FNV_START = 2166136261;

/** The model-side image hash: the DTE's 8 dwords, then every dword of [tableStart, tableEnd). */
export function imageHash(u32: Uint32Array, dteAddress: number, tableStart: number, tableEnd: number): number {
  let h = FNV_START;
  for (let i = 0; i < 8; i++) h = fnv(h, u32[(dteAddress >>> 2) + i]!);
  for (let w = tableStart >>> 2; w < tableEnd >>> 2; w++) h = fnv(h, u32[w]!);
  return h;
}

function packageRoot(): string {
  let d = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(d, "package.json")) && existsSync(join(d, "bench", "native"))) return d;
    d = dirname(d);
  }
  throw new Error("native reference: cannot find bench/native from " + fileURLToPath(import.meta.url));
}

export type Compiled = { ok: true; binary: string; compiler: string } | { ok: false; note: string };
let compiled: Compiled | null = null;

/** Compile bench/native/iommu_ref.c once (cached by its hash); a clear note when there is no C compiler. */
export function compileNative(): Compiled {
  if (compiled !== null) return compiled;
  const src = join(packageRoot(), "bench", "native", "iommu_ref.c");
  const text = readFileSync(src);
  const cc = process.env.CC ?? "cc";
  const version = spawnSync(cc, ["--version"], { encoding: "utf8" });
  if (version.error !== undefined || version.status !== 0) {
    compiled = { ok: false, note: `no C compiler (${cc}) found: the native reference is skipped (apt-get install gcc, or set CC)` };
    return compiled;
  }
  const compiler = (version.stdout.split("\n")[0] ?? cc).trim();
  const key = createHash("sha256").update(text).update(compiler).digest("hex").slice(0, 16);
  const dir = join(tmpdir(), `amd-iommu-native-ref-${key}`);
  const binary = join(dir, "iommu_ref");
  if (!existsSync(binary)) {
    mkdirSync(dir, { recursive: true });
    const tmp = `${binary}.${process.pid}`;
    const r = spawnSync(cc, ["-O2", "-std=gnu11", "-o", tmp, src], { encoding: "utf8" });
    if (r.status !== 0) {
      compiled = { ok: false, note: `${cc} -O2 ${src} failed: ${(r.stderr || r.error?.message || "").trim().slice(0, 400)}` };
      return compiled;
    }
    spawnSync("mv", ["-f", tmp, binary]);
  }
  compiled = { ok: true, binary, compiler };
  return compiled;
}

/** One native reference process serving one case. */
export class NativeProcess {
  private readonly child: ChildProcessWithoutNullStreams;
  private buf = "";
  private waiting: ((line: string) => void) | null = null;
  /** The rejection of the pending next(), called if the process exits first. */
  private failing: ((e: Error) => void) | null = null;
  /** Set when the process has exited: the error every later next() rejects with. */
  private exited: Error | null = null;
  private readonly lines: string[] = [];
  private stderr = "";

  constructor(binary: string, spec: NativeSpec, layout: MemoryLayout) {
    const args = [
      `kind=${spec.kind}`, `hostLevels=${spec.hostLevels ?? 4}`, `guestLevels=${spec.guestLevels ?? 4}`, `pages=${spec.pages}`,
      `span=${spec.span}`, `stride=${spec.stride ?? 1}`, `writeEvery=${spec.writeEvery ?? 0}`, `fresh=${spec.fresh ? 1 : 0}`,
      `firstTouch=${spec.firstTouch ? 1 : 0}`, `giov=${spec.giov ? 1 : 0}`, `ats=${spec.ats ? 1 : 0}`,
      `iotlbEntries=${spec.iotlb[0]}`, `iotlbWays=${spec.iotlb[1]}`, `pdeEntries=${spec.pde[0]}`, `pdeWays=${spec.pde[1]}`,
      `bytes=${layout.bytes}`, `deviceTable=${layout.deviceTable}`, `tableStart=${layout.tableStart}`,
      `tableCacheLines=${layout.tableCache[0]}`, `tableCacheWays=${layout.tableCache[1]}`,
    ];
    this.child = spawn(binary, args, { stdio: ["pipe", "pipe", "pipe"] });
    this.child.stdout.setEncoding("utf8");
    this.child.stdout.on("data", (s: string) => {
      this.buf += s;
      let i: number;
      while ((i = this.buf.indexOf("\n")) >= 0) {
        const line = this.buf.slice(0, i);
        this.buf = this.buf.slice(i + 1);
        if (this.waiting !== null) { const w = this.waiting; this.waiting = null; this.failing = null; w(line); } else this.lines.push(line);
      }
    });
    // one exit listener for the process's life (one per next() added a listener per round)
    this.child.once("exit", (code) => {
      this.exited = new Error(`native reference exited (${code}): ${this.stderr.trim()}`);
      const f = this.failing;
      this.waiting = null; this.failing = null;
      if (f !== null) f(this.exited);
    });
    this.child.stderr.setEncoding("utf8");
    this.child.stderr.on("data", (s: string) => { this.stderr += s; });
  }

  private next(): Promise<string> {
    const l = this.lines.shift();
    if (l !== undefined) return Promise.resolve(l);
    if (this.exited !== null) return Promise.reject(this.exited);
    return new Promise((resolve, reject) => {
      this.waiting = resolve;
      this.failing = reject;
    });
  }

  /** The image line: hash and end of the table region. */
  async image(): Promise<{ hash: number; tableEnd: number }> {
    const l = await this.next();
    const m = /^image ([0-9a-f]{8}) (\d+)$/.exec(l);
    if (m === null) throw new Error(`native reference: unexpected output ${l}`);
    return { hash: parseInt(m[1]!, 16), tableEnd: Number(m[2]) };
  }

  /** Checksum of the answers to the next n requests. */
  async verify(n: number): Promise<number> {
    this.child.stdin.write(`verify ${n}\n`);
    const l = await this.next();
    const m = /^check ([0-9a-f]{8})$/.exec(l);
    if (m === null) throw new Error(`native reference: unexpected output ${l}`);
    return parseInt(m[1]!, 16);
  }

  /** Translate for about ms milliseconds of CPU time; CPU and wall-clock ns per request. */
  async round(ms: number): Promise<{ cpu: number; wall: number }> {
    this.child.stdin.write(`run ${Math.max(1, Math.round(ms))}\n`);
    const l = await this.next();
    const m = /^ran (\d+) (\d+) (\d+)$/.exec(l);
    if (m === null) throw new Error(`native reference: unexpected output ${l}`);
    return { cpu: Number(m[1]) / Number(m[2]), wall: Number(m[3]) / Number(m[2]) };
  }

  close(): void {
    this.child.stdin.end("quit\n");
  }
}
