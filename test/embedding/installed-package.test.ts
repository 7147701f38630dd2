/**
 * The package as a user gets it: built and packed with `npm pack`, installed (offline: its
 * runtime dependencies are packed from node_modules) into an empty project, its types checked by the TypeScript
 * compiler there, its code run there, and its `amd-iommu-model serve` bin driven from a child
 * process over stdin/stdout as a C or C++ simulator would.
 *
 * The build goes to a temporary staging copy (not the shared dist/), so it does not race
 * other work in the tree.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFileSync, spawn, spawnSync, type ChildProcessWithoutNullStreams } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from "node:fs";
import { createInterface } from "node:readline";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { spec } from "../../src/index.js";

const REPO = resolve(import.meta.dirname, "../..");
const TSC = join(REPO, "node_modules/.bin/tsc");
let tmp = "";
let consumer = "";
let buildLog = "";

function sh(cmd: string, args: string[], cwd: string): string {
  return execFileSync(cmd, args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], timeout: 120_000 });
}

beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), "amd-iommu-pack-"));
  const pkg = join(tmp, "pkg");
  mkdirSync(pkg);
  for (const f of ["package.json", "README.md", "spec-tables", "schema"]) if (existsSync(join(REPO, f))) cpSync(join(REPO, f), join(pkg, f), { recursive: true });
  writeFileSync(join(tmp, "tsconfig.build.json"), JSON.stringify({
    compilerOptions: {
      target: "ES2022", module: "NodeNext", moduleResolution: "NodeNext", lib: ["ES2023"], types: ["node"], typeRoots: [join(REPO, "node_modules/@types")],
      strict: true, resolveJsonModule: true, declaration: true, rootDir: REPO, outDir: join(pkg, "dist"), skipLibCheck: true, esModuleInterop: true,
    },
    include: [join(REPO, "src/**/*.ts"), join(REPO, "spec-tables/**/*.json")],
  }));
  const build = spawnSync(TSC, ["-p", join(tmp, "tsconfig.build.json")], { encoding: "utf8", timeout: 120_000 });
  buildLog = build.stdout + build.stderr; // others' work in progress may not type-check; the emitted package is what is tested
  const npmEnv = ["--cache", join(tmp, "npm-cache"), "--no-audit", "--no-fund", "--ignore-scripts"];
  const packed = JSON.parse(sh("npm", ["pack", "--json", "--pack-destination", tmp, ...npmEnv], pkg)) as { filename: string }[];
  consumer = join(tmp, "consumer");
  mkdirSync(consumer);
  writeFileSync(join(consumer, "package.json"), JSON.stringify({ name: "consumer", version: "1.0.0", private: true, type: "module" }));
  // the runtime dependencies come from this repository's node_modules, packed too: the install stays offline
  // (with their own dependencies, transitively: cli-progress needs string-width and what that needs)
  const depsOf = (dir: string) => Object.keys((JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as { dependencies?: Record<string, string> }).dependencies ?? {});
  const deps: string[] = [];
  for (const todo = depsOf(REPO); todo.length > 0;) {
    const d = todo.pop()!;
    if (deps.includes(d)) continue;
    deps.push(d);
    todo.push(...depsOf(join(REPO, "node_modules", d)));
  }
  const depTarballs = deps.map((d) => join(tmp, (JSON.parse(sh("npm", ["pack", "--json", "--pack-destination", tmp, ...npmEnv], join(REPO, "node_modules", d))) as { filename: string }[])[0]!.filename));
  sh("npm", ["install", "--offline", ...npmEnv, ...depTarballs, join(tmp, packed[0]!.filename)], consumer);
}, 180_000);

afterAll(() => { if (tmp) rmSync(tmp, { recursive: true, force: true }); });

const CONSUMER_TS = `
import { AmdIommu, CallbackMemoryPort, builders, spec, type Mapping, type MemoryRequest, type TranslationResult, type UnmapEvent } from "amd-iommu-v2-model";
const tb = new builders.IommuTestbench({ bytes: 16 * 1024 * 1024, deviceTableEntries: 256 });
const t = new builders.V1PageTable(tb.memory, tb.pages, 3);
t.map(0x10_0000, 0x30_0000);
tb.deviceTable.set(0x10, { V: true, TV: true, Mode: 3, HostPageTableRootPtr: t.root, IR: true, IW: true, DomainID: 1 });
tb.sync();
const unmaps: UnmapEvent[] = [];
tb.iommu.notifiers.on("unmap", (e) => unmaps.push(e));
const r: TranslationResult = tb.iommu.translate({ deviceId: 0x10, address: 0x10_0004 });
const maps: Mapping[] = [...tb.iommu.replay(0x10)];
const st = tb.iommu.translateStepped({ deviceId: 0x10, address: 0x10_0008 }, { kind: "peek" });
let requests = 0;
for (let q: MemoryRequest | null = st.next(); q !== null; q = st.next()) {
  requests++;
  if (q.kind === "read") st.complete(Array.from({ length: q.bytes / 4 }, (_, i) => tb.memory.read32(q.pa + 4 * i)));
}
tb.sync(spec.buildInvalidateIommuAll());
const u32 = tb.memory.u32;
const twin = AmdIommu.restore(JSON.parse(JSON.stringify(tb.iommu.snapshot())), {
  memory: new CallbackMemoryPort({ bytes: tb.memory.bytes, read32: (pa) => u32[pa / 4]!, write32: (pa, v) => { u32[pa / 4] = v; },
    cas32: (pa, e, v) => Atomics.compareExchange(u32, pa / 4, e, v) }),
});
console.log(JSON.stringify({ spa: r.spa, maps: maps.length, stepped: st.result.spa, requests, unmaps: unmaps.length, twin: twin.translate({ deviceId: 0x10, address: 0x10_0010 }).spa }));
`;
const BAD_TS = `
import { AmdIommu, PhysicalMemory } from "amd-iommu-v2-model";
const io = new AmdIommu({ memory: new PhysicalMemory({ bytes: 4096 }) });
const fault: number = io.translate({ deviceId: 1, address: 0 }).fault;
io.translate({ device: 1, address: 0 });
`;

/** A function of about 660 bytes of bytecode (above V8's default inlining limit of 460, below the model's 3,000) called from a hot loop. */
const INLINING_JS = `
import { appliedV8Flags } from "amd-iommu-v2-model";
function big(x) {
${Array.from({ length: 60 }, (_, i) => `  x = (x * 31 + ${i}) | 0;`).join("\n")}
  return x;
}
function hot() { let s = 0; for (let i = 0; i < 100000; i++) s = (s + big(i)) | 0; return s; }
let s = 0;
for (let k = 0; k < 40; k++) s ^= hot();
console.log(JSON.stringify({ flags: appliedV8Flags(), s }));
`;

/**
 * A timed loop of walks (IOTLB off, 65,536 pages: a leaf's table line comes from DRAM once in eight
 * walks, so runs of like walks end and are added to the histograms all along) long enough for
 * the timing statistics' sums of cycles to pass 2^31, after V8 optimized the loop with smaller
 * ones; prints the sum reached.
 */
const TIMED_SUMS_JS = `
import { builders, TranslationResult } from "amd-iommu-v2-model";
const tb = new builders.IommuTestbench({ bytes: 32 * 1024 * 1024, deviceTableEntries: 256, iommu: { iotlb: { entries: 0 } } });
const t = new builders.V1PageTable(tb.memory, tb.pages, 4);
for (let p = 0; p < 65536; p++) t.map(0x10_0000 + p * 4096, 0x40_0000 + p * 4096);
tb.deviceTable.set(0x10, { V: true, TV: true, Mode: 4, HostPageTableRootPtr: t.root, IR: true, IW: true, DomainID: 1 });
tb.sync();
const io = tb.iommu, out = new TranslationResult(), req = { deviceId: 0x10, address: 0 };
function run(n) { const at = io.timedIssue; for (let k = 0; k < n; k++) { req.address = 0x10_0000 + (k & 65535) * 4096; at[0] += 1000; io.translateTimedAt(req, out); } }
let sum = 0;
while (sum <= 2 ** 31) { run(100000); sum = io.stats().timing.histograms.walkerService.sum; }
console.log(JSON.stringify({ sum }));
`;

/** Compile files with the repository's tsc as a user project would (strict, no skipLibCheck), emitting even with errors. */
function compile(files: string[]): { status: number | null; out: string } {
  const r = spawnSync(TSC, ["--module", "NodeNext", "--moduleResolution", "NodeNext", "--target", "ES2022", "--strict", "--types", "node",
    "--typeRoots", join(REPO, "node_modules/@types"), "--outDir", join(consumer, "out"), ...files], { cwd: consumer, encoding: "utf8", timeout: 120_000 });
  return { status: r.status, out: r.stdout + r.stderr };
}

describe("the installed package", () => {
  let compiled: { status: number | null; out: string } = { status: null, out: "" };
  beforeAll(() => {
    writeFileSync(join(consumer, "main.ts"), CONSUMER_TS);
    writeFileSync(join(consumer, "bad.ts"), BAD_TS);
    compiled = compile([join(consumer, "main.ts"), join(consumer, "bad.ts")]); // one program: main.ts must be clean, bad.ts must not
  }, 120_000);

  it("installs from npm pack output with its bin, its compiled code, its type declarations and the spec tables", () => {
    const root = join(consumer, "node_modules/amd-iommu-v2-model");
    for (const f of ["dist/src/index.js", "dist/src/index.d.ts", "dist/src/cli.js", "dist/src/cli/serve.js", "dist/spec-tables/registers.json", "README.md", "schema/snapshot.schema.json", "schema/pipe-protocol.schema.json"]) {
      expect(existsSync(join(root, f)), `${f}\n${buildLog}`).toBe(true);
    }
    expect(existsSync(join(consumer, "node_modules/.bin/amd-iommu-model"))).toBe(true);
    // two runtime dependencies (README "Dependencies"): the schema library and the progress display, installed beside the package
    expect(Object.keys(JSON.parse(readFileSync(join(root, "package.json"), "utf8")).dependencies ?? {})).toEqual(["@sinclair/typebox", "cli-progress"]);
    expect(existsSync(join(consumer, "node_modules/@sinclair/typebox/package.json"))).toBe(true);
  });

  it("a TypeScript file using the public API type-checks against the installed declarations (no skipLibCheck) and runs", () => {
    const errors = compiled.out.split("\n").filter((l) => l.includes("error TS"));
    expect(errors.filter((l) => !l.startsWith("bad.ts"))).toEqual([]);
    const out = JSON.parse(execFileSync(process.execPath, [join(consumer, "out/main.js")], { cwd: consumer, encoding: "utf8" }));
    expect(out).toEqual({ spa: 0x30_0004, maps: 1, stepped: 0x30_0008, requests: out.requests, unmaps: 1, twin: 0x30_0010 });
    expect(out.requests).toBeGreaterThan(0);
  });

  it("importing the package raises V8's inlining limits and V8 honours them (a 660-byte function is inlined into its hot caller); AMD_IOMMU_MODEL_V8_INLINING=default keeps V8's own; another value is refused", () => {
    writeFileSync(join(consumer, "inlining.mjs"), INLINING_JS);
    const run = (value: string | undefined) => {
      const env = { ...process.env };
      delete env.AMD_IOMMU_MODEL_V8_INLINING;
      if (value !== undefined) env.AMD_IOMMU_MODEL_V8_INLINING = value;
      // (optimizing compiles on the main thread: on a loaded machine a background compile could finish after the loop)
      return spawnSync(process.execPath, ["--no-concurrent-recompilation", "--trace-turbo-inlining", join(consumer, "inlining.mjs")], { cwd: consumer, encoding: "utf8", env, timeout: 60_000 });
    };
    const inlined = (out: string) => /Inlining \S+ \{\S+ <SharedFunctionInfo big>\} into \S+ \{\S+ <SharedFunctionInfo hot>\}/.test(out);
    const flags = (out: string) => (JSON.parse(out.trim().split("\n").pop()!) as { flags: string[] }).flags;
    const raised = run(undefined);
    expect(raised.status, raised.stderr).toBe(0);
    expect(flags(raised.stdout)).toEqual(["--max-inlined-bytecode-size=3000", "--max-inlined-bytecode-size-cumulative=16000", "--max-inlined-bytecode-size-absolute=32000"]);
    expect(inlined(raised.stdout)).toBe(true);
    const kept = run("default");
    expect(kept.status, kept.stderr).toBe(0);
    expect(flags(kept.stdout)).toEqual([]);
    expect(inlined(kept.stdout)).toBe(false);
    const bad = run("fast");
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toMatch(/AMD_IOMMU_MODEL_V8_INLINING must be "raised" .* got "fast"/);
  }, 120_000);

  it("a timed loop keeps its optimized code while its statistics' sums of cycles pass 2^31 and new maxima come: no deoptimization in the histograms (small-integer speculation, never-run stores)", () => {
    writeFileSync(join(consumer, "timed-sums.mjs"), TIMED_SUMS_JS);
    const r = spawnSync(process.execPath, ["--no-concurrent-recompilation", "--trace-deopt-verbose", join(consumer, "timed-sums.mjs")], { cwd: consumer, encoding: "utf8", timeout: 120_000, maxBuffer: 64 << 20 });
    expect(r.status, r.stderr).toBe(0);
    const last = r.stdout.trim().split("\n").pop()!;
    expect((JSON.parse(last) as { sum: number }).sum).toBeGreaterThan(2 ** 31);
    const sites = r.stdout.split("\n").filter((l) => l.includes("deoptimize at") && l.includes("timing/latency-histogram.js"));
    expect(sites).toEqual([]);
  }, 120_000);

  it("the declarations are real types: misuse of the API does not compile", () => {
    expect(compiled.status).not.toBe(0);
    expect(compiled.out).toMatch(/bad\.ts\(4,7\).*not assignable to type 'number'/);
    expect(compiled.out).toMatch(/bad\.ts\(5,.*'device' does not exist/);
  });

  it("`amd-iommu-model serve` is driven from a child process over stdin/stdout", async () => {
    const child = spawn(join(consumer, "node_modules/.bin/amd-iommu-model"), ["serve", "--memory", String(16 << 20), "--iommus", "1"], { cwd: consumer }) as ChildProcessWithoutNullStreams;
    const lines: Record<string, unknown>[] = [];
    const waiting = new Map<unknown, (m: Record<string, unknown>) => void>();
    createInterface({ input: child.stdout }).on("line", (l) => {
      const m = JSON.parse(l) as Record<string, unknown>;
      lines.push(m);
      if ("id" in m) waiting.get(m.id)?.(m);
    });
    let n = 0;
    const ask = (m: Record<string, unknown>) => new Promise<Record<string, unknown>>((res) => {
      const id = ++n;
      waiting.set(id, res);
      child.stdin.write(JSON.stringify({ id, ...m }) + "\n");
    });
    const exited = new Promise<number | null>((res) => child.on("close", (code) => res(code)));
    expect(await ask({ op: "hello" })).toMatchObject({ ok: true, protocol: 2 });
    // a device table with one entry: V=1, TV=1, Mode 0, IR=1 (identity, read-only)
    const dte = Buffer.from(spec.encodeDte({ V: true, TV: true, Mode: 0, IR: true, DomainID: 3 }).buffer);
    expect(await ask({ op: "write-memory", pa: 0x10_0000 + 0x10 * 32, data: dte.toString("base64") })).toMatchObject({ ok: true, bytes: 32 });
    await ask({ op: "mmio-write", offset: spec.MMIO_DEVICE_TABLE_BASE, value: "0x100000" });
    await ask({ op: "mmio-write", offset: spec.MMIO_CONTROL, value: spec.CONTROL.IommuEn.mask });
    expect(await ask({ op: "translate", deviceId: 0x10, address: "0xabc000" })).toMatchObject({ ok: true, allowed: true, path: "mode0", spa: "0xabc000" });
    expect(await ask({ op: "translate", deviceId: 0x10, address: "0xabc000", write: true })).toMatchObject({ ok: true, allowed: false, fault: "permission" });
    expect(await ask({ op: "quit" })).toMatchObject({ ok: true });
    expect(await exited).toBe(0);
    expect(lines.every((l) => typeof l === "object")).toBe(true);
  });
});
