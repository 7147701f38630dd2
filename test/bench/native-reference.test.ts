/**
 * The benchmark's native reference (bench/native/iommu_ref.c) builds the same memory image as
 * the model's workload and gives the same answers, for every translation case with a native
 * twin (scaled down to at most 1,024 pages), the table-line hits of every request included (the
 * native side keeps the same table-line cache): without this the bench's model/native ratios
 * would compare different work. Needs a C compiler (.ci/run installs gcc); without one these
 * tests are reported as skipped, by name.
 */
import type { ChildProcess } from "node:child_process";
import { describe, expect, it } from "vitest";
import { NativeProcess, compileNative, imageHash, type NativeSpec } from "../../bench/native-reference.js";
import { cases } from "../../bench/translation.bench.js";
import { workloadFor } from "../../bench/sva-workload.js";
import { TranslationResult } from "../../src/index.js";

const comp = compileNative();
const native = cases.filter((c) => c.native !== undefined);

describe.skipIf(!comp.ok)(`native reference ${comp.ok ? "" : `(SKIPPED: ${comp.ok ? "" : comp.note})`}`, () => {
  it("covers v1, guest, GIoV, nested, ATS, timed, first-touch and 5-level cases", () => {
    const specs = native.map((c) => c.native!);
    expect(specs.some((s) => s.kind === "v1") && specs.some((s) => s.kind === "guest") && specs.some((s) => s.kind === "nested")).toBe(true);
    expect(specs.some((s) => s.giov === true) && specs.some((s) => s.firstTouch === true) && specs.some((s) => s.guestLevels === 5)).toBe(true);
    expect(native.some((c) => c.name.includes("timed")) && native.some((c) => c.name.includes("ats"))).toBe(true);
  });

  // every case with the profile's table-line cache; four also with a 16-line one, whose sets
  // overflow (misses, LRU order and evictions must agree too)
  const small = new Set(["translate/miss-4level-nopde", "translate/guest-miss-5level-pde", "translate/nested-miss-4x4", "translate/guest-working-set-4096"]);
  const runs = [...native.map((c) => ({ c, lines: undefined as number | undefined })), ...native.filter((c) => small.has(c.name)).map((c) => ({ c, lines: 16 }))];
  for (const { c, lines } of runs) {
    it(`${c.name}${lines === undefined ? "" : ` (a ${lines}-line table cache)`}: same memory image and same answers (SPA, table-line hits) as the model`, { timeout: 60_000 }, async () => {
      const s: NativeSpec = { ...c.native!, pages: Math.min(c.native!.pages, 1024), span: Math.min(c.native!.span, 1024) };
      const w = workloadFor(s, lines === undefined ? undefined : { tableCacheLines: lines, tableCacheWays: 4 });
      const tb = w.tb;
      const lc = w.io.translator.lines;
      const layout = { bytes: tb.memory.bytes, deviceTable: tb.deviceTable.base, tableStart: tb.semaphore + 4096, tableCache: (lc === null ? [0, 1] : [lc.lines, lc.ways]) as [number, number] };
      const p = new NativeProcess((comp as { binary: string }).binary, s, layout);
      try {
        const img = await p.image();
        expect(img.tableEnd).toBe(tb.pages.used);
        expect(img.hash).toBe(imageHash(tb.memory.u32, tb.deviceTable.address(0x100), layout.tableStart, tb.pages.used));
        // the same request sequence as the bench's loop, answered by the model
        const out = new TranslationResult();
        const req = w.pasid === undefined ? { deviceId: 0x100, address: 0, write: false } : { deviceId: 0x100, address: 0, pasid: w.pasid, write: false };
        const u32 = tb.memory.u32;
        const ats = c.name.includes("ats"), timed = c.name.includes("timed");
        let h = 2166136261, i = 0, t = 0;
        const mix = (x: number) => { h = Math.imul((h ^ x) >>> 0, 16777619) >>> 0; };
        for (let k = 0; k < 2 * s.span; k++) {
          const j = k % s.span;
          if (s.firstTouch === true) { const li = w.leaf(i) / 4; u32[li] = u32[li]! & ~0x60; }
          req.address = w.address(i, 64);
          req.write = (s.writeEvery ?? 0) > 0 && j % s.writeEvery! === 0;
          if (timed) w.io.translateTimed(req, (t += 1000), out); else if (ats) w.io.translateAts(req, out); else w.io.translateInto(req, out);
          expect(out.ok).toBe(true);
          const spa = out.spa;
          mix(spa >>> 0); mix(Math.floor(spa / 4294967296)); mix(1); mix(out.tableLineHits);
          i += s.stride ?? 1; if (i >= s.span) i -= s.span;
        }
        expect(await p.verify(2 * s.span)).toBe(h);
      } finally {
        p.close();
      }
    });
  }

  it("a native process keeps one exit listener however many rounds it answers (the bench's 10 rounds a case warned of a listener leak)", { timeout: 60_000 }, async () => {
    const c = native[0]!;
    const s: NativeSpec = { ...c.native!, pages: Math.min(c.native!.pages, 64), span: Math.min(c.native!.span, 64) };
    const w = workloadFor(s);
    const tb = w.tb;
    const lc = w.io.translator.lines;
    const layout = { bytes: tb.memory.bytes, deviceTable: tb.deviceTable.base, tableStart: tb.semaphore + 4096, tableCache: (lc === null ? [0, 1] : [lc.lines, lc.ways]) as [number, number] };
    const p = new NativeProcess((comp as { binary: string }).binary, s, layout);
    const child = (p as unknown as { child: ChildProcess }).child;
    try {
      await p.image();
      const before = child.listenerCount("exit");
      for (let k = 0; k < 25; k++) await p.round(1);
      expect(child.listenerCount("exit")).toBe(before);
    } finally {
      p.close();
    }
  });
});
