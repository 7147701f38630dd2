/**
 * Timed mode's issue cycle through the IOMMU's typed array (AmdIommu.timedIssue,
 * translateTimedAt): the same translation as translateTimed(request, issueCycle), without a
 * number argument that V8 would allocate as a heap number above 2^31 (README "Allocation").
 */
import { describe, expect, it } from "vitest";
import { IommuTestbench, V1PageTable } from "../../src/builders/index.js";
import { TranslationResult, type InterruptSource } from "../../src/index.js";
import { buildCompletionWait } from "../../src/spec/commands.js";

const HIGH = 2 ** 33; // a cycle count above 2^31, as in a simulation past 8.6 s of a 1 GHz clock

function host(tb: IommuTestbench, deviceId: number, pages: number): void {
  const t = new V1PageTable(tb.memory, tb.pages, 4);
  for (let p = 0; p < pages; p++) t.map(0x10_0000 + p * 4096, 0x40_0000 + p * 4096);
  tb.deviceTable.set(deviceId, { V: true, TV: true, Mode: 4, HostPageTableRootPtr: t.root, IR: true, IW: true, DomainID: deviceId });
  tb.sync();
}

/** A testbench whose interrupt callback records each interrupt and, when `reenter`, makes a timed translation of device 0x10 at `address`, issued at cycle 7. */
function reentrantBench(reenter: boolean, address: number): { tb: IommuTestbench; seen: InterruptSource[] } {
  const seen: InterruptSource[] = [];
  const tb: IommuTestbench = new IommuTestbench({
    iommu: {
      onInterrupt: (s) => {
        seen.push(s);
        if (reenter) tb.iommu.translateTimed({ deviceId: 0x10, address }, 7);
      },
    },
  });
  return { tb, seen };
}

describe("timed translations issued through timedIssue (translateTimedAt)", () => {
  it("give the results, completion cycles and timing statistics translateTimed gives for the same issue cycles (hits, walks, queueing)", () => {
    const a = new IommuTestbench(), b = new IommuTestbench();
    host(a, 0x10, 64); host(b, 0x10, 64);
    const ra = new TranslationResult(), rb = new TranslationResult();
    for (let i = 0; i < 400; i++) {
      const req = { deviceId: 0x10, address: 0x10_0000 + ((i * 37) % 64) * 4096 + 8, write: (i & 3) === 0 };
      const cycle = HIGH + i * 3; // closer than a walk: walks queue for the walkers
      a.iommu.translateTimed(req, cycle, ra);
      b.iommu.timedIssue[0] = cycle;
      b.iommu.translateTimedAt(req, rb);
      expect([rb.ok, rb.spa, rb.iotlbHit, rb.cycles, rb.completionCycle]).toEqual([ra.ok, ra.spa, ra.iotlbHit, ra.cycles, ra.completionCycle]);
    }
    expect(b.iommu.timedIssue[0]).toBe(HIGH + 399 * 3);
    expect(b.iommu.now).toBe(a.iommu.now);
    expect(JSON.stringify(b.iommu.stats().timing)).toBe(JSON.stringify(a.iommu.stats().timing));
    expect([a.iommu.stats().timing.timedTranslations, a.iommu.stats().timing.maxWalkerQueue > 0]).toEqual([400, true]);
  });

  it("translateTimed hands its issue cycle over in timedIssue", () => {
    const tb = new IommuTestbench();
    host(tb, 0x10, 1);
    const r = tb.iommu.translateTimed({ deviceId: 0x10, address: 0x10_0000 }, HIGH + 5);
    expect(tb.iommu.timedIssue[0]).toBe(HIGH + 5);
    expect(r.completionCycle).toBeGreaterThan(HIGH + 5);
  });

  it("a timedIssue[0] that is negative, NaN or infinite is refused, naming it", () => {
    const tb = new IommuTestbench();
    host(tb, 0x10, 1);
    for (const bad of [-1, Number.NaN, Number.POSITIVE_INFINITY]) {
      tb.iommu.timedIssue[0] = bad;
      expect(() => tb.iommu.translateTimedAt({ deviceId: 0x10, address: 0x10_0000 })).toThrow(/translateTimedAt: timedIssue\[0\] must be a finite non-negative number/);
    }
    expect(() => tb.iommu.translateTimed({ deviceId: 0x10, address: 0x10_0000 }, -1)).toThrow(/translateTimed: issueCycle must be a finite non-negative number/);
  });

  it("a timed translation made from an interrupt callback during a timed walk does not move the walk's issue cycle", () => {
    // device 1 faults (no table entries) and writes an event; with EventIntEn the callback runs
    // inside that translation, and issues a timed translation of its own at another cycle
    const run = (reenter: boolean) => {
      const { tb, seen } = reentrantBench(reenter, 0x10_0000);
      host(tb, 0x10, 1);
      tb.deviceTable.set(1, { V: true, TV: true, Mode: 1, HostPageTableRootPtr: tb.pages.alloc(), IR: true, IW: true, DomainID: 1 });
      tb.sync();
      tb.control(["EventIntEn"]);
      const r = tb.iommu.translateTimed({ deviceId: 1, address: 0x1000 }, HIGH);
      return { seen, ok: r.ok, completion: r.completionCycle };
    };
    const alone = run(false), reentered = run(true);
    expect(alone.seen).toEqual(["event-log"]);
    expect(reentered.seen).toEqual(["event-log"]);
    expect(alone.ok).toBe(false);
    // the walk completes after its own issue cycle, not the callback's (7); (the translator is not
    // reentrant: the callback's translation adds its references to the walk's cost, 300 cycles here,
    // as before timedIssue existed)
    for (const c of [alone.completion, reentered.completion]) expect(c > HIGH && c < HIGH + 10_000).toBe(true);
  });

  it("a timed translation made from an interrupt callback of a command run before the translation (its issue cycle is later) does not move its issue cycle", () => {
    // a COMPLETION_WAIT with i = 1 waits in the command buffer; the timed translation first runs
    // the commands due by its issue cycle, whose completion-wait interrupt issues another at cycle 7
    const run = (reenter: boolean) => {
      const { tb, seen } = reentrantBench(reenter, 0x10_1000);
      host(tb, 0x10, 2);
      tb.control(["ComWaitIntEn"]);
      tb.submit(buildCompletionWait({ interrupt: true }));
      const r = tb.iommu.translateTimed({ deviceId: 0x10, address: 0x10_0000 }, HIGH);
      return { seen, ok: r.ok, completion: r.completionCycle, issue: tb.iommu.timedIssue[0] };
    };
    const alone = run(false), reentered = run(true);
    expect(alone.seen).toEqual(["completion-wait"]);
    expect(reentered.seen).toEqual(["completion-wait"]);
    expect([alone.ok, reentered.ok]).toEqual([true, true]);
    for (const r of [alone, reentered]) {
      expect(r.completion > HIGH && r.completion < HIGH + 10_000, String(r.completion)).toBe(true);
      expect(r.issue).toBe(HIGH); // timedIssue[0] holds the caller's cycle again
    }
  });
});
