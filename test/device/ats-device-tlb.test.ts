/**
 * The ATS device TLB (ATC) of a PCIe function: its own capacity and replacement, entries
 * tagged by PASID and page size, and ATS Invalidate Requests scoped by PASID and range.
 */
import { describe, expect, it } from "vitest";
import { ATC_NO_PASID, ATC_R, ATC_W, AtsDeviceTlb } from "../../src/device/ats-device-tlb.js";

const P = 4096;
const hi = (a: number) => Math.floor(a / 2 ** 32);
const lo = (a: number) => a >>> 0;

function fill(atc: AtsDeviceTlb, pasid: number, pages: number[], log2 = 12): void {
  for (const a of pages) atc.insert(pasid, hi(a), lo(a), log2, 0x100_0000 + a, ATC_R | ATC_W);
}
const present = (atc: AtsDeviceTlb, pasid: number, a: number) => atc.lookup(pasid, hi(a), lo(a)) >= 0;
const held = (atc: AtsDeviceTlb) => [...atc.entries()].map((e) => [e.pasid, Number(e.address)]).sort((x, y) => (x[0] ?? -1) - (y[0] ?? -1) || x[1]! - y[1]!);

describe("ATC capacity and replacement", () => {
  it("holds at most `entries` translations; LRU evicts the least recently used", () => {
    const atc = new AtsDeviceTlb({ entries: 4, ways: 4 });
    fill(atc, 1, [0, P, 2 * P, 3 * P]);
    expect(present(atc, 1, 0)).toBe(true); // page 0 is now the most recent
    fill(atc, 1, [4 * P]);
    expect(atc.occupancy).toBe(4);
    expect(present(atc, 1, P)).toBe(false);
    expect([0, 2 * P, 3 * P, 4 * P].every((a) => present(atc, 1, a))).toBe(true);
    expect(atc.stats.evictions).toBe(1);
  });

  it("FIFO evicts the oldest fill regardless of use", () => {
    const atc = new AtsDeviceTlb({ entries: 4, ways: 4, replacement: "fifo" });
    fill(atc, 1, [0, P, 2 * P, 3 * P]);
    present(atc, 1, 0);
    fill(atc, 1, [4 * P]);
    expect(present(atc, 1, 0)).toBe(false);
    expect(present(atc, 1, P)).toBe(true);
  });

  it("random replacement is reproducible from the seed", () => {
    const victims = (seed: number) => {
      const atc = new AtsDeviceTlb({ entries: 8, ways: 8, replacement: "random", seed });
      fill(atc, 1, Array.from({ length: 40 }, (_, i) => i * P));
      return held(atc);
    };
    expect(victims(7)).toEqual(victims(7));
    expect(victims(7)).not.toEqual(victims(8));
  });

  it("entries: 0 is no ATC: nothing is kept", () => {
    const atc = new AtsDeviceTlb({ entries: 0 });
    fill(atc, 1, [0]);
    expect(atc.enabled).toBe(false);
    expect(present(atc, 1, 0)).toBe(false);
  });

  it("a 2 MiB completion is one entry covering the whole 2 MiB page", () => {
    const atc = new AtsDeviceTlb({ entries: 4 });
    fill(atc, 1, [0x20_0000], 21);
    expect(present(atc, 1, 0x20_0000 + 0x1f_f000)).toBe(true);
    expect(atc.hitLog2).toBe(21);
    expect(present(atc, 1, 0x40_0000)).toBe(false);
    expect(atc.occupancy).toBe(1);
  });

  it("a translation fetched with a PASID is not used for another PASID or for requests without one", () => {
    const atc = new AtsDeviceTlb({ entries: 4 });
    fill(atc, 1, [0]);
    expect(present(atc, 2, 0)).toBe(false);
    expect(present(atc, ATC_NO_PASID, 0)).toBe(false);
  });

  it("bad geometry is embedder misuse and throws, naming the field", () => {
    expect(() => new AtsDeviceTlb({ entries: 6, ways: 4 })).toThrow(/ats.ways/);
    expect(() => new AtsDeviceTlb({ entries: -1 })).toThrow(/ats.entries/);
    expect(() => new AtsDeviceTlb({ entries: 4, seed: 1.5 })).toThrow(/seed/);
  });
});

describe("ATC: ATS Invalidate Requests", () => {
  it("with a PASID: the PASID's entries overlapping the range go; the page after, and other PASIDs, stay", () => {
    const atc = new AtsDeviceTlb({ entries: 16, ways: 16 });
    fill(atc, 1, [0, P, 2 * P, 3 * P]);
    fill(atc, 2, [P]);
    expect(atc.invalidate(true, 1, 1, 2)).toBe(2);
    expect(held(atc)).toEqual([[1, 0], [1, 3 * P], [2, P]]);
  });

  it("a large-page entry that overlaps the range goes whole", () => {
    const atc = new AtsDeviceTlb({ entries: 4 });
    fill(atc, 1, [0x20_0000], 21);
    atc.invalidate(true, 1, (0x20_0000 + 0x10_0000) / P, 1);
    expect(atc.occupancy).toBe(0);
  });

  it("all pages (pages = Infinity) drops every entry of the space", () => {
    const atc = new AtsDeviceTlb({ entries: 8 });
    fill(atc, 1, [0, 0x7fff_f000]);
    fill(atc, 3, [0]);
    atc.invalidate(true, 1, 0, Infinity);
    expect(held(atc)).toEqual([[3, 0]]);
  });

  it("without a PASID, by default (every-pasid) matching entries of every space go", () => {
    const atc = new AtsDeviceTlb({ entries: 8 });
    fill(atc, 1, [0]); fill(atc, ATC_NO_PASID, [0]); fill(atc, 2, [P]);
    atc.invalidate(false, 0, 0, 1);
    expect(held(atc)).toEqual([[2, P]]);
  });

  it("without a PASID and untaggedScope = untagged-only, only entries fetched without a PASID go", () => {
    const atc = new AtsDeviceTlb({ entries: 8 });
    atc.untaggedScope = "untagged-only";
    fill(atc, 1, [0]); fill(atc, ATC_NO_PASID, [0]);
    atc.invalidate(false, 0, 0, 1);
    expect(held(atc)).toEqual([[1, 0]]);
  });
});
