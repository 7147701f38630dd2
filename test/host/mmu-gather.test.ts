import { describe, expect, it } from "vitest";
import { MmuGather } from "../../src/host/mmu-gather.js";
import { PAGE_4K } from "../../src/host/x86-page-table.js";

function gather(fastMode: boolean, capacity?: number) {
  const log: string[] = [];
  const g = new MmuGather({
    fastMode,
    ...(capacity !== undefined ? { capacity } : {}),
    flushTlb: (s, e, t) => log.push(`flush ${s.toString(16)}-${e.toString(16)}${t ? " tables" : ""}`),
    releasePage: (pa) => log.push(`page ${pa.toString(16)}`),
    releaseTable: (pa) => log.push(`table ${pa.toString(16)}`),
  });
  return { g, log };
}

describe("MmuGather", () => {
  it("flushes the TLB over the gathered range before it frees pages and tables", () => {
    const { g, log } = gather(false);
    g.removePage(0xa000, 0x5000, PAGE_4K);
    g.removePage(0xb000, 0x2000, PAGE_4K);
    g.removeTable(0xc000, 0, 0x20_0000);
    expect(log).toEqual([]);
    g.finish();
    expect(log).toEqual(["flush 0-200000 tables", "page a000", "page b000", "table c000"]);
    expect(g.stats).toMatchObject({ flushes: 1, pagesReleased: 2, tablesReleased: 1, releasedBeforeFlush: 0 });
    expect(() => g.removePage(0xd000, 0, PAGE_4K)).toThrow(/after finish/);
  });

  it("fast mode frees each page as it is handed over, before the TLB flush", () => {
    const { g, log } = gather(true);
    g.removePage(0xa000, 0x5000, PAGE_4K);
    g.removeTable(0xc000, 0, 0x20_0000);
    expect(log).toEqual(["page a000", "table c000"]);
    g.finish();
    expect(log).toEqual(["page a000", "table c000", "flush 0-200000 tables"]);
    expect(g.stats.releasedBeforeFlush).toBe(2);
  });

  it("a full batch flushes and frees in the middle, then starts a new range", () => {
    const { g, log } = gather(false, 2);
    g.removePage(0xa000, 0x1000, PAGE_4K);
    g.removePage(0xb000, 0x2000, PAGE_4K);
    g.removePage(0xc000, 0x9000, PAGE_4K);
    expect(log).toEqual(["flush 1000-3000", "page a000", "page b000"]);
    g.finish();
    expect(log.slice(3)).toEqual(["flush 9000-a000", "page c000"]);
  });

  it("does not flush when nothing changed", () => {
    const { g, log } = gather(false);
    g.finish();
    expect(log).toEqual([]);
    expect(() => gather(false, 0)).toThrow(/capacity/);
  });
});
