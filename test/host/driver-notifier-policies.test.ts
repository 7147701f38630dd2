import { describe, expect, it } from "vitest";
import { NOTIFIER_POLICY_NAMES, registerNotifierPolicy, type NotifierPolicyName, notifierPolicy } from "../../src/host/driver/notifier-policy.js";
import { PAGE, boundFixture } from "./driver-fixture.js";

/** Commands the policy issued at each notifier callback of one munmap of one page. */
function commandsPerCallback(policy: NotifierPolicyName, op: "munmap" | "mprotect" | "reclaim-young" = "munmap") {
  const b = boundFixture({ fastMode: notifierPolicy(policy).fastMode });
  registerNotifierPolicy(b.driver, policy, [b.binding]);
  const seen: string[] = [];
  b.mm.notifier.addHook((e) => {
    const n = b.commands.filter((c) => c.name === "INVALIDATE_IOMMU_PAGES").length;
    seen.push(`${e.callback}:${n}`);
    b.commands.length = 0;
  });
  if (op === "munmap") b.mm.munmap(b.va + PAGE, PAGE);
  else if (op === "mprotect") b.mm.mprotect(b.va, PAGE, "r--");
  else b.mm.clearFlushYoung(b.va);
  return seen;
}

describe("notifier policies: where each one flushes (docs/ARCHITECTURE.md section 7)", () => {
  it("none registers nothing, so the mm keeps mmu_gather fast mode", () => {
    const b = boundFixture();
    expect(registerNotifierPolicy(b.driver, "none", [b.binding])).toEqual([]);
    expect(b.mm.gatherFastMode()).toBe(true);
    // munmap in Linux's order: the end callback, then tlb_finish_mmu's flush
    expect(commandsPerCallback("none")).toEqual(["invalidateRangeStart:0", "invalidateRangeEnd:0", "archInvalidateSecondaryTlbs:0"]);
  });

  it("start-end flushes at invalidate_range_start and invalidate_range_end, not at the CPU TLB flush", () => {
    expect(commandsPerCallback("start-end")).toEqual(["invalidateRangeStart:1", "invalidateRangeEnd:1", "archInvalidateSecondaryTlbs:0"]);
  });

  it("invalidate-range flushes at the CPU TLB flush and again from invalidate_range_end; fast mode is off", () => {
    expect(commandsPerCallback("invalidate-range")).toEqual(["invalidateRangeStart:0", "invalidateRangeEnd:1", "archInvalidateSecondaryTlbs:1"]);
    const b = boundFixture();
    registerNotifierPolicy(b.driver, "invalidate-range", [b.binding]);
    expect(b.mm.gatherFastMode()).toBe(false);
  });

  it("invalidate-range-fast-mode runs with the mmu_gather in fast mode although the mm has a notifier", () => {
    const b = boundFixture({ fastMode: notifierPolicy("invalidate-range-fast-mode").fastMode });
    registerNotifierPolicy(b.driver, "invalidate-range-fast-mode", [b.binding]);
    expect(b.mm.gatherFastMode()).toBe(true);
  });

  it("secondary-tlbs flushes only at the CPU TLB flush, and for a permission downgrade too", () => {
    expect(commandsPerCallback("secondary-tlbs")).toEqual(["invalidateRangeStart:0", "invalidateRangeEnd:0", "archInvalidateSecondaryTlbs:1"]);
    expect(commandsPerCallback("secondary-tlbs", "mprotect")).toEqual(["invalidateRangeStart:0", "archInvalidateSecondaryTlbs:1", "invalidateRangeEnd:0"]);
  });

  it("clear_flush_young flushes the page under the old-era policies (empty-table, invalidate-range) and not under secondary-tlbs", () => {
    for (const p of NOTIFIER_POLICY_NAMES) {
      const flushed = commandsPerCallback(p, "reclaim-young").some((s) => s === "clearFlushYoung:1");
      expect(flushed, p).toBe(p === "empty-table" || p === "invalidate-range" || p === "invalidate-range-fast-mode");
    }
  });

  it("empty-table points GCR3[PASID] at an empty table from range start to range end, then restores the mm's CR3", () => {
    const b = boundFixture();
    registerNotifierPolicy(b.driver, "empty-table", [b.binding]);
    const entry = () => Number(b.memory.read64(b.dev.gcr3.root + 8) & ~0xfffn);
    const seen: [string, number, boolean][] = [];
    b.mm.notifier.register({
      invalidateRangeStart: () => seen.push(["start", entry(), b.dma(b.va).ok]),
      invalidateRangeEnd: () => seen.push(["end", entry(), b.dma(b.va).ok]),
    });
    b.mm.munmap(b.va + PAGE, PAGE);
    const empty = b.driver.emptyPageTable();
    expect(empty).not.toBe(b.mm.cr3);
    // during the range every access of the PASID faults, even to pages not being unmapped
    expect(seen).toEqual([["start", empty, false], ["end", b.mm.cr3, true]]);
    expect(entry()).toBe(b.mm.cr3);
    expect(b.names().filter((n) => n === "INVALIDATE_IOMMU_PAGES")).toHaveLength(2);
  });

  it("release unbinds (GCR3 cleared, full flush) after the device driver's invalidate-context callback", () => {
    const b = boundFixture();
    const order: string[] = [];
    registerNotifierPolicy(b.driver, "secondary-tlbs", [b.binding], { onInvalidateContext: () => order.push(`context valid=${b.binding.valid}`) });
    b.mm.exit();
    expect(order).toEqual(["context valid=true"]);
    expect(b.binding.valid).toBe(false);
    expect(b.memory.read64(b.dev.gcr3.root + 8)).toBe(0n);
    expect(b.dma(b.va).fault).toBe("gcr3-not-valid");
  });

  it("the policy's range policy decides the commands: exact sends one S = 1 command for a 2-page munmap, page-or-all flushes all", () => {
    for (const [range, all] of [["exact", false], ["page-or-all", true]] as const) {
      const b = boundFixture();
      registerNotifierPolicy(b.driver, "secondary-tlbs", [b.binding], { rangePolicy: range });
      b.mm.munmap(b.va, 2 * PAGE);
      const inv = b.commands.filter((c) => c.name === "INVALIDATE_IOMMU_PAGES");
      expect(inv).toHaveLength(1);
      expect(inv[0]!.fields.S).toBe(1n);
      expect(inv[0]!.fields.Address_63_32 === 0x7fffffffn, range).toBe(all);
    }
  });

  it("unknown policy names and bindings of two mms are refused naming the argument", () => {
    const b = boundFixture();
    expect(() => registerNotifierPolicy(b.driver, "bogus" as NotifierPolicyName, [b.binding])).toThrow(/policy/);
    const other = { ...b.binding, mm: b.newMm("q") };
    expect(() => registerNotifierPolicy(b.driver, "start-end", [b.binding, other])).toThrow(/one mm/);
  });
});
