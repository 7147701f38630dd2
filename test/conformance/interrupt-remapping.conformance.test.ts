/**
 * Conformance matrix for interrupt remapping (docs/spec-readings.md irq 1.4, 1.5, 1.7):
 * each IRTE format (32-bit, 128-bit, 128-bit with XTEn) x each MSI delivery mode (data[10:8]
 * = 0..7) x MSI destination mode x DTE pass bits (all set / all clear) x IntCtl (00b, 01b, 10b)
 * x table bound (index inside / at 2^IntTabLen) x 2048-entry mode off/on. Every case is
 * compared with the decision table of the digest, written out below independently of the
 * model's code.
 */
import { describe, expect, it } from "vitest";
import { spec } from "../../src/index.js";
import { DEV, MSI, irSetup } from "../iommu/interrupts/ir-setup.js";

type Fmt = "32" | "128" | "128-xt";
const FORMATS: Fmt[] = ["32", "128", "128-xt"];
const LEN = 4; // 16 entries
const DEST = 0x0304_0506;

interface Expect { ok: boolean; path?: string; vector?: number; destination?: number; fault?: string; event: number }

/** The digest's decision table (1.4 steps 5-11) for one case. */
function oracle(c: { fmt: Fmt; mode: number; dm: boolean; pass: boolean; intCtl: number; index: number; twoK: boolean }): Expect {
  const remap = (): Expect => {
    if (c.index >= 2 ** LEN) return { ok: false, fault: "index-out-of-range", event: spec.EV_IO_PAGE_FAULT };
    const dest = c.fmt === "128-xt" ? DEST : DEST & 0xff;
    return { ok: true, path: "remapped", vector: 0x80 + (c.index & 0xf), destination: dest, event: 0 };
  };
  if (c.twoK && c.dm) {
    if (c.intCtl === 0) return { ok: false, fault: "remapping-blocked", event: 0 };
    if (c.intCtl === 1) return { ok: true, path: "forwarded", event: 0 };
    return remap();
  }
  switch (c.mode) {
    case 0: case 1:
      if (c.intCtl === 0) return { ok: false, fault: "remapping-blocked", event: 0 };
      if (c.intCtl === 1) return { ok: true, path: "forwarded", event: 0 };
      return remap();
    case 4: case 5: case 7:
      if (c.dm) return { ok: false, fault: "logical-pass-through", event: 0 };
      return c.pass ? { ok: true, path: "forwarded", event: 0 } : { ok: false, fault: "pass-blocked", event: 0 };
    case 2: // SMI with DTE.SysMgt = 01b when the pass bits are set (quirks.smiInterrupts = "sysmgt")
      if (c.dm) return { ok: false, fault: "logical-pass-through", event: 0 };
      return c.pass ? { ok: true, path: "forwarded", event: 0 } : { ok: false, fault: "pass-blocked", event: 0 };
    default:
      return { ok: false, fault: "reserved-delivery-mode", event: 0 };
  }
}

describe("interrupt remapping conformance matrix", () => {
  for (const fmt of FORMATS) {
    for (const twoK of [false, true]) {
      it(`${fmt}-bit IRTEs, 2048-entry mode ${twoK ? "on" : "off"}: 8 delivery modes x DM x pass bits x IntCtl x table bound`, () => {
        const s = irSetup({ format: fmt === "32" ? "32" : "128", xt: fmt === "128-xt", intTabLen: LEN });
        const io = s.tb.iommu;
        for (let i = 0; i < 2 ** LEN; i++) s.table.set(i, { RemapEn: true, Vector: 0x80 + i, Destination: fmt === "32" ? DEST & 0xff : DEST });
        if (twoK) io.mmioWrite64(spec.MMIO_CONTROL, io.mmioRead64(spec.MMIO_CONTROL) | (1n << 43n));
        let cases = 0;
        for (const pass of [false, true]) {
          for (const intCtl of [0, 1, 2]) {
            s.setDte({ IntCtl: intCtl, NMIPass: pass, InitPass: pass, EIntPass: pass, SysMgt: pass ? 1 : 0 });
            for (let mode = 0; mode < 8; mode++) {
              for (const dm of [false, true]) {
                for (const low of [3, 2 ** LEN]) {
                  const data = (mode << 8) | low; // index data[10:0]: an arbitrated 0x103 is beyond the table too
                  const e = oracle({ fmt, mode, dm, pass, intCtl, index: data & 0x7ff, twoK });
                  const r = io.remapInterrupt({ deviceId: DEV, address: MSI + (dm ? 4 : 0), data });
                  const label = `mode ${mode} dm ${dm} pass ${pass} intCtl ${intCtl} data 0x${data.toString(16)}`;
                  expect(r.ok, label).toBe(e.ok);
                  expect(r.fault, label).toBe(e.fault ?? null);
                  expect(r.event, label).toBe(e.event);
                  if (e.path) expect(r.path, label).toBe(e.path);
                  if (e.path === "forwarded") expect([r.address, r.data], label).toEqual([MSI + (dm ? 4 : 0), data]);
                  if (e.vector !== undefined) expect([r.vector, r.destination, r.deliveryMode, r.destinationMode], label).toEqual([e.vector, e.destination, 0, 0]);
                  cases++;
                }
              }
            }
          }
        }
        expect(cases).toBe(2 * 3 * 8 * 2 * 2);
        s.tb.events(); // drain
      });
    }
  }
});
