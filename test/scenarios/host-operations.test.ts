/**
 * What each notifier policy does with each host operation (docs/ARCHITECTURE.md section 7): one
 * workload per operation, every policy, the same seed.
 */
import { describe, expect, it } from "vitest";
import { runAllPolicies, summary, isSafe, type RaceResult } from "../../src/scenarios/race-scenario.js";
import type { WorkloadName } from "../../src/scenarios/host-workload.js";
import type { NotifierPolicyName } from "../../src/host/driver/notifier-policy.js";
import type { GatherOrder } from "../../src/scenarios/race-world.js";

function run(workload: WorkloadName, gatherOrder: GatherOrder = "after-end"): Record<NotifierPolicyName, RaceResult> {
  return Object.fromEntries(runAllPolicies({ workload, seed: 1, operations: 24, gatherOrder }).map((r) => [r.policy, r])) as Record<NotifierPolicyName, RaceResult>;
}
const same = (a: RaceResult, b: RaceResult) => expect({ ...summary(a), policy: "" }).toEqual({ ...summary(b), policy: "" });

describe("munmap and MADV_DONTNEED (pages and page tables freed through the mmu_gather)", () => {
  for (const op of ["munmap", "madvise"] as const) {
    const r = run(op);
    const other = run(op, "before-end");
    it(`${op}: none and fast mode let DMA reach freed or reused frames under both orders; the flush-at-TLB-flush policies and empty-table do not`, () => {
      for (const x of [r, other]) {
        expect(x.none.staleAccesses).toBeGreaterThan(0);
        expect(x["invalidate-range-fast-mode"].staleAccesses).toBeGreaterThan(0);
        for (const p of ["invalidate-range", "secondary-tlbs", "empty-table"] as const) expect(isSafe(x[p]), p).toBe(true);
      }
    });
    it(`${op}: start-end is late only when the frees come before invalidate_range_end (tlb_finish_mmu before-end); in Linux's order its end flush precedes tlb_finish_mmu's frees`, () => {
      expect(other["start-end"].staleAccesses).toBeGreaterThan(0);
      expect(isSafe(r["start-end"])).toBe(true);
      // the accesses between the end callback and the CPU TLB flush reach frames the process still owns: the window
      expect(r["secondary-tlbs"].details.checker.windowAccesses).toBeGreaterThan(0);
      expect(other["secondary-tlbs"].details.checker.windowAccesses).toBe(0);
    });
    it(`${op}: empty-table pays with device faults and page requests on pages outside the range too`, () => {
      expect(r["empty-table"].deviceFaults).toBeGreaterThan(r["invalidate-range"].deviceFaults);
      expect(r["empty-table"].pageRequests).toBeGreaterThan(r["invalidate-range"].pageRequests);
    });
  }
});

describe("mprotect (write -> read-only; nothing is freed)", () => {
  const r = run("mprotect");
  it("none and start-end let the device write through a permission the host removed; nothing is stale", () => {
    expect(r.none.stalePermissionAccesses).toBeGreaterThan(0);
    expect(r["start-end"].stalePermissionAccesses).toBeGreaterThan(0);
    for (const p of Object.keys(r) as NotifierPolicyName[]) expect(r[p].staleAccesses, p).toBe(0);
  });
  it("invalidate-range, secondary-tlbs and empty-table flush the downgrade; fast mode changes nothing without frees", () => {
    for (const p of ["invalidate-range", "secondary-tlbs", "empty-table", "invalidate-range-fast-mode"] as const) expect(r[p].stalePermissionAccesses, p).toBe(0);
    same(r["invalidate-range-fast-mode"], r["invalidate-range"]);
  });
});

describe("page migration (copy to a new frame, free the old one)", () => {
  const r = run("migrate");
  it("none and start-end reach the old frame after it was freed, and device writes after the copy are lost", () => {
    for (const p of ["none", "start-end"] as const) {
      expect(r[p].staleAccesses, p).toBeGreaterThan(0);
      expect(r[p].details.checker.lostWrites, p).toBeGreaterThan(0);
    }
  });
  it("flushing at the TLB flush (before the copy) loses nothing; fast mode is irrelevant; empty-table faults most", () => {
    for (const p of ["invalidate-range", "secondary-tlbs", "empty-table", "invalidate-range-fast-mode"] as const) {
      expect(isSafe(r[p]), p).toBe(true);
      expect(r[p].details.checker.lostWrites, p).toBe(0);
    }
    same(r["invalidate-range-fast-mode"], r["invalidate-range"]);
    expect(r["empty-table"].deviceFaults).toBeGreaterThan(r["invalidate-range"].deviceFaults);
  });
});

describe("copy-on-write after fork", () => {
  const r = run("cow");
  it("none writes into frames shared with the child (stale permission) and keeps using the parent's old frames after the break (stale)", () => {
    expect(r.none.stalePermissionAccesses).toBeGreaterThan(0);
    expect(r.none.staleAccesses).toBeGreaterThan(0);
  });
  it("start-end misses the write-protect at fork: the refill after the start flush still grants write after the CPU TLB flush, and reaches the old frame after the break", () => {
    expect(r["start-end"].stalePermissionAccesses).toBeGreaterThan(0);
    expect(r["start-end"].staleAccesses).toBeGreaterThan(0);
  });
  it("invalidate-range, secondary-tlbs and empty-table are safe; the device's writes break COW through page requests", () => {
    for (const p of ["invalidate-range", "secondary-tlbs", "empty-table", "invalidate-range-fast-mode"] as const) expect(isSafe(r[p]), p).toBe(true);
    expect(r["invalidate-range"].details.pprResponses.success).toBeGreaterThan(0);
  });
});

describe("reclaim with access-bit aging (clear_flush_young)", () => {
  const r = run("reclaim");
  it("none and start-end reach reclaimed frames", () => {
    expect(r.none.staleAccesses).toBeGreaterThan(0);
    expect(r["start-end"].staleAccesses).toBeGreaterThan(0);
  });
  it("the old-era clear_flush_young flush makes the device's next access set A again, so pages it uses stay; secondary-tlbs reclaims them and the device faults", () => {
    for (const p of ["empty-table", "invalidate-range", "invalidate-range-fast-mode"] as const) {
      expect(isSafe(r[p]), p).toBe(true);
      expect(r[p].deviceFaults, p).toBe(0);
    }
    expect(isSafe(r["secondary-tlbs"])).toBe(true);
    expect(r["secondary-tlbs"].deviceFaults).toBeGreaterThan(0);
  });
});

describe("exit (release)", () => {
  const r = run("exit");
  it("without a release callback the device keeps walking the dead process's freed tables and frames", () => {
    expect(r.none.staleAccesses).toBeGreaterThan(0);
    expect(r.none.details.checker.staleTableWalks + r.none.details.checker.staleIntoOtherOwner).toBeGreaterThan(0);
  });
  it("every other policy stops the device and clears the PASID at release, before the teardown frees anything", () => {
    for (const p of ["start-end", "empty-table", "invalidate-range", "invalidate-range-fast-mode", "secondary-tlbs"] as const) {
      expect(isSafe(r[p]), p).toBe(true);
      expect(r[p].details.events.IO_PAGE_FAULT ?? 0, p).toBe(0);
    }
  });
});
