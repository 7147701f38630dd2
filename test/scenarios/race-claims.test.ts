/**
 * The RFC's argument as tests (issue 5, "Done when"): for a fixed seed and across seeds, which
 * notifier policies let a device use a translation the host had already taken away, under
 * both orders of the zap operations (issue 18): Linux's (tlb_finish_mmu after
 * invalidate_range_end, the default) and the other (tlb_finish_mmu before it).
 */
import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { runAllPolicies, runRace, isSafe, type RaceResult, type AtsMode } from "../../src/scenarios/race-scenario.js";
import type { NotifierPolicyName } from "../../src/host/driver/notifier-policy.js";
import { GATHER_ORDERS, RaceWorld } from "../../src/scenarios/race-world.js";
import { notifierPolicy } from "../../src/host/driver/notifier-policy.js";

const byPolicy = (rs: RaceResult[]) => Object.fromEntries(rs.map((r) => [r.policy, r])) as Record<NotifierPolicyName, RaceResult>;

for (const gatherOrder of GATHER_ORDERS) describe(`fixed seed (seed 1, two devices: one untranslated, one with ATS + PRI), tlb_finish_mmu ${gatherOrder} invalidate_range_end`, () => {
  const mixed = byPolicy(runAllPolicies({ workload: "mixed", seed: 1, gatherOrder }));
  const munmap = byPolicy(runAllPolicies({ workload: "munmap", seed: 1, gatherOrder }));

  it("start-end has stale accesses under concurrent DMA: the device refills its TLB after the start flush and uses it after a free that precedes invalidate_range_end", () => {
    // migration, reclaim and COW free before the end callback in both orders; munmap does only when tlb_finish_mmu runs first
    expect(mixed["start-end"].staleAccesses).toBeGreaterThan(0);
    expect(mixed["start-end"].details.checker.staleIntoOtherOwner).toBeGreaterThan(0);
    if (gatherOrder === "before-end") {
      expect(munmap["start-end"].staleAccesses).toBeGreaterThan(0);
      expect(munmap["start-end"].details.checker.corruptedWords).toBeGreaterThan(0);
    } else expect(isSafe(munmap["start-end"])).toBe(true);
  });

  it("invalidate-range and secondary-tlbs have no stale and no stale-permission access, on every host operation", () => {
    for (const p of ["invalidate-range", "secondary-tlbs"] as const) {
      for (const r of [mixed[p], munmap[p]]) {
        expect(r.staleAccesses, p).toBe(0);
        expect(r.stalePermissionAccesses, p).toBe(0);
        expect(r.details.checker.lostWrites, p).toBe(0);
        expect(r.details.checker.corruptedWords, p).toBe(0);
        expect(r.details.completedDma, p).toBeGreaterThan(0);
      }
    }
  });

  it("invalidate-range with mmu_gather fast mode has stale accesses: pages are freed before the flush", () => {
    expect(munmap["invalidate-range-fast-mode"].staleAccesses).toBeGreaterThan(0);
    expect(mixed["invalidate-range-fast-mode"].staleAccesses).toBeGreaterThan(0);
  });

  it("empty-table has no stale access but more device faults than the policies that flush at the TLB flush, and more page requests than invalidate-range", () => {
    const et = mixed["empty-table"];
    expect(et.staleAccesses).toBe(0);
    expect(et.stalePermissionAccesses).toBe(0);
    for (const p of ["invalidate-range", "secondary-tlbs"] as const) expect(et.deviceFaults, p).toBeGreaterThan(mixed[p].deviceFaults);
    // against its own era (same clear_flush_young handling), the empty table alone adds page requests
    // (in the munmap workload, where nothing else asks for pages)
    expect(munmap["empty-table"].pageRequests).toBeGreaterThan(munmap["invalidate-range"].pageRequests);
  });

  it("none has stale accesses and stale-permission accesses", () => {
    expect(mixed.none.staleAccesses).toBeGreaterThan(0);
    expect(mixed.none.stalePermissionAccesses).toBeGreaterThan(0);
    expect(mixed.none.flushCycles).toBe(0);
  });

  it("secondary-tlbs issues fewer commands and spends fewer flush cycles than invalidate-range (one wait per flush, no flush at range end)", () => {
    expect(mixed["secondary-tlbs"].commands).toBeLessThan(mixed["invalidate-range"].commands);
    expect(mixed["secondary-tlbs"].flushCycles).toBeLessThan(mixed["invalidate-range"].flushCycles);
  });

  it("the run records the order it used", () => {
    expect(mixed["secondary-tlbs"].details.gatherOrder).toBe(gatherOrder);
  });

  it("a run is reproducible bit for bit from its seed", () => {
    const again = runRace({ policy: "start-end", workload: "munmap", seed: 1, gatherOrder });
    expect(again).toEqual(munmap["start-end"]);
  });
});

describe("across seeds (fast-check; ATS on, off and mixed; 25 seeds per workload in Linux's order, 12 in the other)", () => {
  const atsOf = (seed: number): AtsMode => (["on", "off", "mixed"] as const)[seed % 3]!;
  for (const gatherOrder of GATHER_ORDERS) for (const workload of ["munmap", "mixed"] as const) {
    it(`${workload}, tlb_finish_mmu ${gatherOrder} invalidate_range_end: start-end and fast mode unsafe, invalidate-range, secondary-tlbs and empty-table safe, empty-table faulting most`, () => {
      fc.assert(
        fc.property(fc.integer({ min: 0, max: 0xffff_ffff }), (seed) => {
          const ats = atsOf(seed);
          const r = byPolicy(runAllPolicies({ workload, seed, ats, gatherOrder, operations: workload === "mixed" ? 24 : 12 }));
          // munmap alone: start-end is late only when tlb_finish_mmu frees before invalidate_range_end
          if (workload === "mixed" || gatherOrder === "before-end") expect(r["start-end"].staleAccesses).toBeGreaterThan(0);
          else expect(r["start-end"].staleAccesses).toBe(0);
          expect(r["invalidate-range-fast-mode"].staleAccesses).toBeGreaterThan(0);
          for (const p of ["invalidate-range", "secondary-tlbs", "empty-table"] as const) expect(isSafe(r[p]), p).toBe(true);
          expect(r["empty-table"].deviceFaults).toBeGreaterThan(r["invalidate-range"].deviceFaults);
          // page requests: munmap isolates the empty table's effect; in the mixed workload the
          // endpoint's per-access page requests for reclaimed and zapped pages dominate
          if (ats === "off") expect(r["empty-table"].pageRequests).toBe(0);
          else if (workload === "munmap") expect(r["empty-table"].pageRequests).toBeGreaterThan(r["invalidate-range"].pageRequests);
          if (workload === "mixed") {
            expect(r.none.staleAccesses).toBeGreaterThan(0);
            expect(r.none.stalePermissionAccesses).toBeGreaterThan(0);
          }
        }),
        { numRuns: gatherOrder === "after-end" ? 25 : 12, seed: 5 },
      );
    }, 180_000);
  }
});

describe("the driver's completion polls in the race world", () => {
  it("fall at phases drawn from the seed (the host's polling is not synchronised with the IOMMU), not on whole intervals from each wait's start", () => {
    const world = new RaceWorld({ policy: notifierPolicy("secondary-tlbs"), seed: 1, devices: 2, ats: "mixed", pages: 32, dmaPerHook: 2, reuse: 0.5 });
    const q = world.driver.queue.stats;
    expect(q.syncs).toBeGreaterThan(2); // init, attach and bind wait
    expect(q.waitCycles % world.driver.cost.pollInterval).not.toBe(0);
  });
});
