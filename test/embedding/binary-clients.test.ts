/**
 * The shipped clients against the server as a child process (issue 15): the C client
 * (clients/c/amd_iommu_client.h) compiled with the system compiler, the Python client
 * (clients/python/amd_iommu_client.py), clients/c/throughput.c and
 * clients/python/throughput.py on both channels, and the SimPy example
 * (clients/python/examples/simpy_dma.py; Debian python3-simpy, installed by .ci/run).
 *
 * The server is this checkout compiled to a scratch directory (not the shared dist/) and
 * run as `node <tmp>/src/cli.js serve --binary`, stdin/stdout pipes, exactly as a simulator
 * starts it. A missing tool (C compiler, python3, SimPy) skips its tests with a note naming it.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { connect } from "node:net";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { spec } from "../../src/index.js";
import * as L from "../../src/embedding/binary-channel/frame-layout.js";

const REPO = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const TSC = join(REPO, "node_modules", "typescript", "bin", "tsc");
let tmp = "";
let server: string[] = [];
let json: string[] = [];

function has(cmd: string, args: string[]): boolean {
  const r = spawnSync(cmd, args, { encoding: "utf8" });
  return r.status === 0;
}
const CC = ["cc", "gcc", "clang"].find((c) => has(c, ["--version"])) ?? null;
const PY = ["python3"].find((p) => has(p, ["-c", "import struct, subprocess"])) ?? null;
/** SimPy 2 (Debian python3-simpy) is in the system python's dist-packages. */
const SIMPY = ["/usr/bin/python3", "python3"].find((p) => has(p, ["-c", "import SimPy.Simulation"])) ?? null;
if (!CC) console.warn("[binary-clients] no C compiler (cc, gcc, clang): the C client tests are skipped. Install one: apt-get install gcc");
if (!PY) console.warn("[binary-clients] no python3: the Python client tests are skipped");
if (!SIMPY) console.warn("[binary-clients] SimPy not found (Debian package python3-simpy; .ci/run installs it): the SimPy example is skipped");

const hex4 = (w: Uint32Array) => [...w].map((x) => x.toString(16)).join(",");
const INVAL = hex4(spec.buildInvalidateIommuPages({ domainId: 5, address: 0x1000_0000 }));
const CWAIT = hex4(spec.buildCompletionWait({ store: true, address: 0x7000, data: 0x1234n }));

beforeAll(() => {
  // inside the checkout's node_modules, so the build resolves the runtime dependencies (@sinclair/typebox) as the package does
  mkdirSync(join(REPO, "node_modules", ".cache"), { recursive: true });
  tmp = mkdtempSync(join(REPO, "node_modules", ".cache", "amd-iommu-clients-"));
  writeFileSync(join(tmp, "tsconfig.json"), JSON.stringify({
    compilerOptions: {
      target: "ES2022", module: "NodeNext", moduleResolution: "NodeNext", lib: ["ES2023"], types: ["node"], typeRoots: [join(REPO, "node_modules/@types")],
      strict: true, resolveJsonModule: true, rootDir: REPO, outDir: join(tmp, "out"), skipLibCheck: true, esModuleInterop: true,
    },
    include: [join(REPO, "src/**/*.ts"), join(REPO, "spec-tables/**/*.json")],
  }));
  spawnSync(process.execPath, [TSC, "-p", join(tmp, "tsconfig.json")], { encoding: "utf8", timeout: 240_000 });
  // a JSON module needs a package.json with "type": "module" above it
  writeFileSync(join(tmp, "out", "package.json"), JSON.stringify({ type: "module" }));
  server = [process.execPath, join(tmp, "out", "src", "cli.js"), "serve", "--binary"];
  json = [process.execPath, join(tmp, "out", "src", "cli.js"), "serve"];
}, 300_000);
afterAll(() => { if (tmp) rmSync(tmp, { recursive: true, force: true }); });

function run(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: "utf8", timeout: 120_000, stdio: ["ignore", "pipe", "pipe"] });
}
function keyValues(text: string): Record<string, string> {
  const o: Record<string, string> = {};
  for (const line of text.split("\n")) for (const m of line.matchAll(/(\w+)=(.*?)(?= \w+=|$)/g)) o[m[1]!] = m[2]!;
  return o;
}

describe("JSON channel from a child process (the same server without --binary)", () => {
  it("every op answers over real pipes; stdout carries protocol lines only", () => {
    const img = Buffer.alloc(8192);
    const lines = [
      { id: "hello", op: "hello" }, { id: "mem", op: "add-memory", base: 0, bytes: 1 << 22 }, { id: "create", op: "create-iommu", iommu: "0" },
      { id: "w", op: "write-memory", pa: 0x1000, data: img.toString("base64") }, { id: "r", op: "read-memory", pa: 0x1000, bytes: 16 },
      { id: "mw", op: "mmio-write", iommu: "0", offset: 0, value: "0x1001" }, { id: "mr", op: "mmio-read", iommu: "0", offset: 0 },
      { id: "sub", op: "subscribe", iommu: "0", events: ["unmap"] }, { id: "unsub", op: "unsubscribe", iommu: "0", events: ["unmap"] },
      { id: "t", op: "translate", iommu: "0", deviceId: 16, address: "0x1000" }, { id: "ats", op: "translate", iommu: "0", deviceId: 16, address: "0x1000", kind: "ats" },
      { id: "peek", op: "translate", iommu: "0", deviceId: 16, address: "0x1000", kind: "peek" },
      { id: "timed", op: "translate", iommu: "0", deviceId: 16, address: "0x1000", cycle: 100 },
      { id: "adv", op: "advance", iommu: "0" }, { id: "ep", op: "attach-endpoint", iommu: "0", deviceId: 16, atsLatency: null },
      { id: "pr", op: "page-request", iommu: "0", deviceId: 16, address: "0x1000", prgIndex: 1 },
      { id: "replay", op: "replay", iommu: "0", deviceId: 16 }, { id: "stats", op: "stats", iommu: "0" }, { id: "snap", op: "snapshot", iommu: "0" },
    ];
    const first = spawnSync(json[0]!, json.slice(1), { input: lines.map((l) => JSON.stringify(l)).join("\n") + "\n", encoding: "utf8", timeout: 120_000 });
    const out = first.stdout.trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(out.map((a) => a.id)).toEqual(lines.map((l) => l.id));
    expect(out.filter((a) => a.ok !== true), JSON.stringify(out.filter((a) => a.ok !== true))).toEqual([]);
    const snap = out.find((a) => a.id === "snap")!.snapshot;
    const restore = [...lines.slice(0, 3), { id: "restore", op: "restore", iommu: "0", snapshot: snap }, { id: "q", op: "quit" }, { id: "after", op: "hello" }];
    const second = spawnSync(json[0]!, json.slice(1), { input: restore.map((l) => JSON.stringify(l)).join("\n") + "\n", encoding: "utf8", timeout: 120_000 });
    const out2 = second.stdout.trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(out2.map((a) => [a.id, a.ok])).toEqual([["hello", true], ["mem", true], ["create", true], ["restore", true], ["q", true]]);
    expect(second.status).toBe(0);
  }, 300_000);
});

describe.skipIf(!CC)("C client (clients/c/amd_iommu_client.h, compiled with the system compiler)", () => {
  it("drives every op of the binary channel, simulator-owned memory included", () => {
    expect(existsSync(server[1]!), "server build").toBe(true);
    const exe = join(tmp, "every-op");
    run(CC!, ["-O2", "-Wall", "-Werror", "-o", exe, join(REPO, "test/embedding/binary-client-every-op.c")]);
    const o = keyValues(run(exe, [INVAL, CWAIT, "--", ...server]));
    expect(o).toMatchObject({
      hello: "1", add_memory: "0", add_memory_overlap: "-1", create_iommu: "0", create_iommu_bad_options: "-1",
      write_image: "0", mmio_write: "0", mmio_read: "0", control: "0x1005", dtb_low: "0x100001", mmio_bad_width: "-1", subscribe: "0",
      translate: "0", translate_allowed: "1", translate_spa: "0x3000abc", peek_spa: "0x3000abc", sim_spa: "0x300abc", page_shift: "12", path: "6", writable: "1",
      ats: "0", ats_status: "0", peek: "0", peek_allowed: "1", maps_added: "0",
      timed: "0", timed_completion: "5005", miss: "0", miss_allowed: "0", fault: "8", event: "2",
      batch: "0", batch_status: "0,1,0", read_events: "2", event_code: "2", event_address: "0x20000000",
      mem_read: "0", pte_accessed: "1", pte_dirty: "1", mem_read_hole: "-1", mem_write: "0", tail: "0", advance: "0",
      unmaps: "1", unmap_domain: "5", unmap_start: "0x10000000", unmap_size: "0x1000", unmap_command: "0",
      advance_to: "0", advance_to_now: "100000", attach_endpoint: "0", page_request: "0", page_request_outcome: "1",
      json: "0", json_has_stats: "1", json_refused: "-1",
      unknown_roundtrip: "0", unknown_status: "1", short_status: "1", bad_device_status: "1", no_iommu: "0", no_iommu_status: "1",
      create_simmem: "0", sim_mmio: "0", sim_reads_at_mmio: "0", sim_translate: "0", sim_allowed: "1",
      sim_pte_accessed: "1", sim_pte_dirty: "1", sim_timed: "0", sim_timed_status: "1", sim_miss: "0", sim_miss_fault: "8",
      sim_tail: "0", sim_advance: "0", sim_completion: "1", sim_mem_read_refused: "-1", close: "0",
    });
    expect(o.add_memory_overlap_error).toMatch(/overlaps/);
    expect(o.mmio_bad_width_error).toMatch(/width must be 4 or 8/);
    expect(o.batch_error).toMatch(/pasid/);
    expect(o.bad_device_error).toMatch(/deviceId must be 0\.\.65535, got 70000/);
    expect(o.no_iommu_error).toMatch(/"9" does not exist/);
    // unknown op: ErrorCode.UnknownOp (4); a record shorter than its op: BadRecord (2)
    expect(o).toMatchObject({ unknown_code: "4", short_code: "2" });
    // the walk of a translation on simulator-owned memory: the 32-byte DTE, three 8-byte table reads, the A/D compare-exchange
    expect(o).toMatchObject({ reads: "4", cas: "1", requests: "5" });
    // the completion-wait store reached the simulator as one flagged write of the store data
    expect(o).toMatchObject({ pa: "0x7000", value: "0x1234" });
  }, 300_000);

  it("aic_remap_interrupt / aic_remap_interrupt_batch (op 0x20): remapped through a 32-bit IRTE, IRTE-cache hit, peek, timed, IRTE faults, a refusal naming the field, the JSON op agreeing", () => {
    const exe = join(tmp, "remap-interrupt");
    run(CC!, ["-O2", "-Wall", "-Werror", "-o", exe, join(REPO, "test/embedding/binary-client-remap-interrupt.c")]);
    const o = keyValues(run(exe, ["--", ...server]));
    expect(o).toMatchObject({ setup: "0", program: "0", close: "0" });
    // IRTE 2 (RemapEn, vector 0x71, APIC 0x0d, physical): delivered, path 4 remapped, the MSI rebuilt from the IRTE
    expect(o).toMatchObject({ remap: "0", remap_status: "0", remap_flags: String(L.IAFlag.Delivered), remap_address: "0xfee0d000", remap_data: "0x71",
      remap_destination: "0xd", remap_vector: "0x71", remap_mode: "0", remap_event: "0", remap_fault: "0", remap_path: String(L.INTERRUPT_PATHS.indexOf("remapped")), remap_index: "2" });
    // the same MSI again: served from the IRTE cache
    expect(Number(o.again_flags)).toBe(L.IAFlag.Delivered | L.IAFlag.IrteCacheHit);
    expect(Number(o.again_cycles)).toBeLessThan(Number(o.remap_cycles));
    // peek: the remapping without the IRTE cache; timed: completion = issue cycle + cycles
    expect(o).toMatchObject({ peek: "0", peek_flags: String(L.IAFlag.Delivered), peek_vector: "0x71", peek_cycles: o.remap_cycles });
    expect(Number(o.timed_completion)).toBe(7000 + Number(o.timed_cycles));
    // RemapEn = 0 and an index past IntTabLen (4 entries): not delivered, IO_PAGE_FAULT logged, the fault named
    expect(o).toMatchObject({ not_remapped_flags: "0", not_remapped_event: String(spec.EV_IO_PAGE_FAULT), not_remapped_index: "1",
      out_of_range_flags: "0", out_of_range_event: String(spec.EV_IO_PAGE_FAULT) });
    expect(L.INTERRUPT_FAULTS[Number(o.not_remapped_fault)]).toBe("irte-not-remapped");
    expect(L.INTERRUPT_FAULTS[Number(o.out_of_range_fault)]).toBe("index-out-of-range");
    // peek + timed: an error record; the call still returns 0 (as aic_translate), status 1, the text names the field
    expect(o).toMatchObject({ refused: "0", refused_status: "1", refused_index: "-1" });
    expect(o.refused_error).toMatch(/^cycle:/);
    expect(o).toMatchObject({ batch: "0", batch_status: "0,1,0", batch_vectors: "0x71,0x71", no_iommu: "0", no_iommu_status: "1" });
    expect(o.no_iommu_error).toMatch(/"9" does not exist/);
    // the JSON protocol's remap-interrupt (peek) gives the same answer
    const j = JSON.parse(o.json_answer!) as Record<string, unknown>;
    expect(j).toMatchObject({ ok: true, delivered: true, address: "0xfee0d000", data: 0x71, vector: 0x71, destination: 0x0d, path: "remapped", index: 2, cycles: Number(o.peek_cycles) });
  }, 300_000);

  it("clients/c/throughput.c builds with `cc -O2 -o throughput clients/c/throughput.c` and ends with round-trip percentiles and translations_per_second=N: both channels, the binary one over a pipe and over a Unix socket (-s)", () => {
    const exe = join(tmp, "throughput");
    run(CC!, ["-O2", "-o", exe, join(REPO, "clients/c/throughput.c")]);
    const sock = join(tmp, "throughput.sock");
    const cases = [[["-b", "256", "-n", "20000"], server], [["-b", "1", "-n", "2000"], server], [["-j", "-b", "32", "-n", "2000"], json],
      [["-b", "1", "-n", "2000", "-s", sock], [...server, "--socket", sock]]] as const;
    for (const [args, cmd] of cases) {
      const out = run(exe, [...args, "--", ...cmd]).trim().split("\n");
      expect(out.at(-1), out.join("\n")).toMatch(/^translations_per_second=\d+$/);
      expect(out.at(-2)).toMatch(/refused_or_wrong=0$/);
      expect(out.at(-2)!.includes("transport=socket")).toBe((args as readonly string[]).includes("-s"));
      expect(out.at(-3)).toMatch(/^round_trip_us min=[\d.]+ p50=[\d.]+ p90=[\d.]+ p99=[\d.]+ p99\.9=[\d.]+ max=[\d.]+ over_20us_share_of_time=\d+%$/);
    }
  }, 300_000);

  it("aic_set_spin: aic_start/aic_connect_unix leave the read descriptor non-blocking (AIC_DEFAULT_SPIN_US), 0 makes it blocking, > 10000 is refused; a spin that runs out blocks in poll() and makes the next 1, then 2 reads block at once; a spin that finds the bytes resets that; a window of reads preempted more than AIC_SPIN_PREEMPTIONS times turns spinning off for the next; a write on the non-blocking socket waits for room", () => {
    const exe = join(tmp, "spin");
    run(CC!, ["-O2", "-Wall", "-Werror", "-o", exe, join(REPO, "test/embedding/binary-client-spin.c")]);
    const o = keyValues(run(exe, []));
    expect(o).toMatchObject({ default: "1", off: "1", refused: "1", ranout: "1", skip: "1", backoff: "1", woke: "1", contended: "1", uncontended: "1", write: "1" });
    // the default spin drives a real server: every op's test above runs with it
  }, 120_000);
});

describe.skipIf(!PY)("Python client (clients/python/amd_iommu_client.py, standard library only)", () => {
  it("drives every op of the binary channel, simulator-owned memory included", () => {
    const o = JSON.parse(run(PY!, [join(REPO, "test/embedding/binary-client-every-op.py"), INVAL, CWAIT, "--", ...server]).trim().split("\n").at(-1)!);
    expect(o).toMatchObject({
      hello: 1, control: 0x1005, dtb32: 0x100001, translate: [1, 0x3000abc, 12, "host"], maps: 1, ats: [0, "ats-disabled"],
      peek: [1, 0x3000abc], timed: [5005, 5], miss: [0, "not-present", 2], pte: 0x60, advance_to: 100000,
      page_request: "invalid", json: true, json_refused: false, sim_translate: [1, 0x300abc], sim_pte_ad: 0x60, close: 0,
    });
    expect(o.overlap).toMatch(/overlaps/);
    expect(o.batch.slice(0, 3)).toEqual([0, 1, 0]);
    expect(o.batch[3]).toMatch(/pasid/);
    expect(o.events.at(-1)).toBe(2); // IO_PAGE_FAULT of the miss, last
    expect(o.unmap).toEqual([{ domain_id: 5, device_id: 0, pasid: 0, command: 0, start: 0x1000_0000, size: 4096, cycle: 5000, all: false }]);
    expect(o.no_iommu).toMatch(/"9" does not exist/);
    // simulator-owned memory: the stepped walk's requests in hardware order (DTE, PML3..PML1 entries, A/D on the leaf)
    expect(o.sim_log.map((x: unknown[]) => x[0])).toEqual(["read", "read", "read", "read", "cas"]);
    expect(o.sim_log[0][2]).toBe(32);
    expect(o.sim_timed).toMatch(/simulator-owned memory is functional only/);
    expect(o.sim_completion.at(-1)).toEqual(["write", 0x7000, 0x1234, true]);
  }, 300_000);

  it("Client.remap_interrupt / remap_interrupt_batch (op 0x20): remapped through a 32-bit IRTE, IRTE-cache hit, peek, timed, IRTE faults, a refusal naming the field, the JSON op agreeing", () => {
    const o = JSON.parse(run(PY!, [join(REPO, "test/embedding/binary-client-remap-interrupt.py"), "--", ...server]).trim().split("\n").at(-1)!);
    expect(o.remap).toEqual({ status: 0, flags: L.IAFlag.Delivered, address: 0xfee0d000, data: 0x71, destination: 0x0d, vector: 0x71, delivery_mode: 0, event: 0,
      fault: 0, path: L.INTERRUPT_PATHS.indexOf("remapped"), index: 2, cycles: o.remap.cycles, completion_cycle: 0, error: null });
    expect(o.remap.cycles).toBeGreaterThan(0);
    expect(o.again.flags).toBe(L.IAFlag.Delivered | L.IAFlag.IrteCacheHit);
    expect([o.peek.flags, o.peek.vector, o.peek.cycles]).toEqual([L.IAFlag.Delivered, 0x71, o.remap.cycles]);
    expect(o.timed.completion_cycle).toBe(7000 + o.timed.cycles);
    expect([o.not_remapped.flags, o.not_remapped.event, o.not_remapped.index]).toEqual([0, spec.EV_IO_PAGE_FAULT, 1]);
    expect([o.out_of_range.flags, o.out_of_range.event]).toEqual([0, spec.EV_IO_PAGE_FAULT]);
    expect(o.names).toEqual(["remapped", "index-out-of-range", "irte-not-remapped"]);
    expect([o.refused.status, o.refused.index]).toEqual([1, -1]);
    expect(o.refused.error).toMatch(/^cycle:/);
    expect(o.batch.map((b: unknown[]) => b.slice(0, 2))).toEqual([[0, 0x71], [1, 0], [0, 0x71]]);
    expect(o.batch[1][2]).toMatch(/^cycle:/);
    expect(o.no_iommu).toMatch(/"9" does not exist/);
    expect(o.json).toMatchObject({ ok: true, delivered: true, address: "0xfee0d000", vector: 0x71, destination: 0x0d, path: "remapped", index: 2, cycles: o.peek.cycles });
    expect(o.close).toBe(0);
  }, 300_000);

  it("Client.set_spin: start/connect_unix leave the read descriptor non-blocking (DEFAULT_SPIN_US), 0 makes it blocking, > 10000 is refused; a spin that runs out blocks in select() and makes the next 1, then 2 reads block at once; a spin that finds the bytes resets that; a window of reads preempted more than SPIN_PREEMPTIONS times turns spinning off for the next; a write on the non-blocking socket waits for room", () => {
    const o = JSON.parse(run(PY!, [join(REPO, "test/embedding/binary-client-spin.py")]).trim().split("\n").at(-1)!);
    expect(o).toEqual({ default: true, off: true, refused: true, ranout: true, skip: true, backoff: true, woke: true, contended: true, uncontended: true, write: true });
  }, 120_000);

  it("clients/python/throughput.py ends with round-trip percentiles and translations_per_second=N: both channels, the binary one over a pipe and over a Unix socket (-s)", () => {
    const sock = join(tmp, "py-throughput.sock");
    const cases = [[["-b", "256", "-n", "5120"], server], [["-b", "1", "-n", "500"], server], [["-j", "-b", "32", "-n", "640"], json],
      [["-b", "1", "-n", "500", "-s", sock], [...server, "--socket", sock]]] as const;
    for (const [args, cmd] of cases) {
      const out = run(PY!, [join(REPO, "clients/python/throughput.py"), ...args, "--", ...cmd]).trim().split("\n");
      expect(out.at(-1), out.join("\n")).toMatch(/^translations_per_second=\d+$/);
      expect(out.at(-2)).toMatch(/refused_or_wrong=0$/);
      expect(out.at(-2)!.includes("transport=socket")).toBe((args as readonly string[]).includes("-s"));
      expect(out.at(-3)).toMatch(/^round_trip_us min=[\d.]+ p50=[\d.]+ .* over_20us_share_of_time=\d+%$/);
    }
  }, 300_000);
});

describe("Unix socket transport (serve --binary --socket PATH) from the clients", () => {
  it.skipIf(!CC && !PY)("aic_connect_unix / Client.connect_unix: hello, memory, an IOMMU, a translation; quit stops the server", async () => {
    const path = join(tmp, "sock");
    const child = spawn(server[0]!, [...server.slice(1), "--socket", path], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    child.stdout.on("data", (d: Buffer) => { stdout += d.toString(); });
    const exited = new Promise<number | null>((res) => child.on("exit", (code) => res(code)));
    for (let i = 0; i < 600 && !existsSync(path); i++) await new Promise((r) => setTimeout(r, 50));
    expect(existsSync(path), "the server made its socket").toBe(true);
    if (CC) {
      const src = join(tmp, "socket-client.c"), exe = join(tmp, "socket-client");
      writeFileSync(src, `#include "${join(REPO, "clients/c/amd_iommu_client.h")}"
int main(int argc, char **argv) {
  (void)argc; aic_client c;
  if (aic_connect_unix(&c, argv[1]) != 0) { printf("error=%s\\n", c.error); return 1; }
  aic_translation_req q = { 0x10, 0, 0, 0x1000, 0 }; aic_translation t;
  int h = aic_hello(&c), a = aic_add_memory(&c, 0, 1 << 20), k = aic_create_iommu(&c, 0, 0, NULL), r = aic_translate(&c, AIC_OP_TRANSLATE, 0, &q, &t);
  printf("hello=%d add=%d create=%d translate=%d allowed=%d spa=0x%llx\\n", h, a, k, r, !!(t.flags & AIC_A_ALLOWED), (unsigned long long)t.spa);
  /* the session ends without quit: the server waits for the next client */
  close(c.rfd); return 0;
}
`);
      run(CC, ["-O2", "-o", exe, src]);
      // IOMMU off: untranslated requests pass through (SPA = address)
      expect(run(exe, [path]).trim()).toBe("hello=1 add=0 create=0 translate=0 allowed=1 spa=0x1000");
    }
    if (PY) {
      const script = `import sys; sys.path.insert(0, ${JSON.stringify(join(REPO, "clients/python"))})
import amd_iommu_client as aic
c = aic.Client.connect_unix(${JSON.stringify(path)})
c.add_memory(0, 1 << 20); c.create_iommu(0)
t = c.translate(aic.OP_TRANSLATE, 0, 0x10, 0x2000)
print(c.hello(), t.flags & aic.A_ALLOWED, hex(t.spa), c.close())`;
      expect(run(PY, ["-c", script]).trim()).toBe("1 1 0x2000 0");
    } else {
      const s2 = connect(path);
      await new Promise<void>((res) => s2.on("connect", () => res()));
      s2.end(Buffer.from([0x49, 0x4f, 0x4d, 0x42, 24, 0, 0, 0, 1, 0, 0, 0, 1, 1, 0, 0, 0x10, 0, 0, 0, 8, 0, 0, 0]));
    }
    expect(await exited).toBe(0);
    expect(stdout).toBe(""); // the protocol goes over the socket; stdout stays empty
  }, 300_000);
});

describe.skipIf(!SIMPY)("a real simulator as the client: SimPy DMA devices sharing the IOMMU (clients/python/examples/simpy_dma.py)", () => {
  it("four devices stream DMA; the unmapped page of the listening device is skipped, the ignoring device's DMAs to its unmapped page fault and are logged", () => {
    const text = run(SIMPY!, [join(REPO, "clients/python/examples/simpy_dma.py"), "--", ...server]);
    const s = JSON.parse(text.trim().split("\n").at(-1)!);
    expect(s.server_ok).toBe(true);
    expect(s.server_exit).toBe(0);
    expect(s.unmap_notifications).toBe(2);
    expect(s.devices).toHaveLength(4);
    const [d0, d1, d2, d3] = s.devices;
    expect(d0.unmaps_seen).toBe(1);
    expect(d0.skipped).toBeGreaterThan(0);
    expect(d0.faults).toBe(0);
    expect(d1.faults).toBeGreaterThan(0);
    expect(s.io_page_faults_logged).toBe(d1.faults);
    expect(s.fault_addresses).toEqual([0x1000_0000 + 4 * 4096]);
    for (const d of [d2, d3]) { expect(d.faults).toBe(0); expect(d.translations).toBe(400); expect(d.bytes).toBe(400 * 4096); }
    expect(s.simulated_cycles).toBeGreaterThan(s.unmap_cycle);
  }, 300_000);
});
