/**
 * The MMU-notifier policies of the IOMMU driver shim, one named option each
 * (docs/ARCHITECTURE.md section 7; docs/spec-readings.md cmd 5.d):
 *
 *   none                        no subscriber: the IOMMU TLB is never flushed (and with no
 *                               notifier on the mm, mmu_gather fast mode stays on)
 *   start-end                   flush at invalidate_range_start and invalidate_range_end only
 *                               (too early and too late: the RFC's argument)
 *   empty-table                 the 2012 iommu_v2: at range start point GCR3[PASID] at a
 *                               shared empty table and flush the PASID; at range end restore
 *                               mm->pgd and flush again; clear_flush_young flushes per page
 *   invalidate-range            the 2014 RFC (v3.19 .. v6.5): flush where the CPU TLB is
 *                               flushed (after the PTE change, before the frees), and again
 *                               from invalidate_range_end (the implicit call removed in 6.6);
 *                               clear_flush_young flushes per page; fast mode off because the
 *                               mm has a notifier
 *   invalidate-range-fast-mode  the same with mmu_gather fast mode forced on (the reason for
 *                               the RFC's first patch)
 *   secondary-tlbs              the 2023 design (v6.6+ / SVA): arch_invalidate_secondary_tlbs
 *                               only, permission changes included; one COMPLETION_WAIT after
 *                               the IOMMU and device invalidations
 *
 * Every policy but none unbinds at release (context invalidation, GCR3 cleared, full flush).
 */
import type { Mm } from "../address-space.js";
import type { FastModePolicy } from "../address-space.js";
import type { MmuNotifierSubscriber } from "../mmu-notifier.js";
import type { FlushOrder, IommuDriver, PasidBinding } from "./iommu-driver.js";
import { ALL_PAGES, DEFAULT_FLUSH_THRESHOLD, invalidationRanges, type RangePolicy } from "./range-policy.js";

export type NotifierPolicyName =
  | "none" | "start-end" | "empty-table" | "invalidate-range" | "invalidate-range-fast-mode" | "secondary-tlbs";

export interface NotifierPolicyInfo {
  name: NotifierPolicyName;
  /** Linux era the policy stands for. */
  era: string;
  /** When the IOMMU TLB is flushed (docs/ARCHITECTURE.md section 7). */
  flushes: string;
  /** The Mm's mmu_gather fast-mode setting this policy runs with. */
  fastMode: FastModePolicy;
  /** Range policy the driver of that era used. */
  defaultRange: RangePolicy;
  order: FlushOrder;
}

export const NOTIFIER_POLICIES: readonly NotifierPolicyInfo[] = [
  { name: "none", era: "no notifier", flushes: "never", fastMode: "auto", defaultRange: "page-or-all", order: "iommu-v2" },
  { name: "start-end", era: "KVM-style software TLB", flushes: "invalidate_range_start and invalidate_range_end", fastMode: "auto", defaultRange: "page-or-all", order: "iommu-v2" },
  { name: "empty-table", era: "Linux v3.3-v3.18 (2012)", flushes: "start: GCR3 -> empty table + flush; end: restore + flush", fastMode: "auto", defaultRange: "page-or-all", order: "iommu-v2" },
  { name: "invalidate-range", era: "Linux v3.19-v6.5 (the 2014 RFC)", flushes: "at the CPU TLB flush (and from invalidate_range_end)", fastMode: "auto", defaultRange: "page-or-all", order: "iommu-v2" },
  { name: "invalidate-range-fast-mode", era: "the RFC without its first patch", flushes: "at the CPU TLB flush, pages already freed", fastMode: "forced", defaultRange: "page-or-all", order: "iommu-v2" },
  { name: "secondary-tlbs", era: "Linux v6.6+ (2023)", flushes: "arch_invalidate_secondary_tlbs only", fastMode: "auto", defaultRange: "exact", order: "sva" },
];
export const NOTIFIER_POLICY_NAMES: readonly NotifierPolicyName[] = NOTIFIER_POLICIES.map((p) => p.name);

export function notifierPolicy(name: string): NotifierPolicyInfo {
  const p = NOTIFIER_POLICIES.find((x) => x.name === name);
  if (!p) throw new RangeError(`policy must be one of ${NOTIFIER_POLICY_NAMES.join(", ")}, got ${String(name)}`);
  return p;
}

export interface PolicyOptions {
  /** Range policy; default the era's (NotifierPolicyInfo.defaultRange). */
  rangePolicy?: RangePolicy;
  /** Page count of the "threshold" range policy. */
  threshold?: number;
  /** Called first in release (the device driver's "invalidate context" callback). */
  onInvalidateContext?: (b: PasidBinding) => void;
}

/**
 * Register the policy's subscriber(s) for `bindings` (all on one mm) on the mm's notifier
 * chain. Old-era policies register one subscriber per binding, as iommu_v2 did per
 * pasid_state; secondary-tlbs one per mm, as the SVA layer does. Returns the subscribers.
 */
export function registerNotifierPolicy(driver: IommuDriver, policy: NotifierPolicyName, bindings: readonly PasidBinding[], o: PolicyOptions = {}): MmuNotifierSubscriber[] {
  const info = notifierPolicy(policy);
  if (bindings.length === 0) return [];
  const mm = bindings[0]!.mm;
  if (bindings.some((b) => b.mm !== mm)) throw new RangeError("registerNotifierPolicy: bindings must all share one mm");
  if (info.name === "none") return [];
  const range = o.rangePolicy ?? info.defaultRange;
  const threshold = o.threshold ?? DEFAULT_FLUSH_THRESHOLD;
  const groups = info.name === "secondary-tlbs" ? [bindings.slice()] : bindings.map((b) => [b]);
  const subs = groups.map((g) => makeSubscriber(driver, info, g, range, threshold, o.onInvalidateContext));
  for (const s of subs) mm.notifier.register(s);
  return subs;
}

function makeSubscriber(driver: IommuDriver, info: NotifierPolicyInfo, bs: PasidBinding[], range: RangePolicy, threshold: number,
  onInvalidateContext: ((b: PasidBinding) => void) | undefined): MmuNotifierSubscriber {
  const live = () => bs.filter((b) => b.valid);
  const flushRange = (start: number, end: number) => driver.flushPasid(live(), invalidationRanges(range, start, end, threshold), info.order);
  const flushPages = (start: number, end: number) => {
    for (let p = Math.floor(start / 4096); p * 4096 < end; p++) driver.flushPasid(live(), invalidationRanges("page-or-all", p * 4096, p * 4096 + 1), info.order);
  };
  const release = (_mm: Mm) => {
    for (const b of bs) {
      if (!b.valid) continue;
      onInvalidateContext?.(b);
      driver.timed(() => driver.unbindPasid(b));
    }
  };
  const name = `amd-iommu:${info.name}`;
  switch (info.name) {
    case "start-end":
      return {
        name,
        invalidateRangeStart: (_mm, s, e) => flushRange(s, e),
        invalidateRangeEnd: (_mm, s, e) => flushRange(s, e),
        release,
      };
    case "empty-table": {
      let depth = 0;
      return {
        name,
        invalidateRangeStart: () => {
          if (depth++ > 0) return;
          driver.timed(() => { for (const b of live()) driver.setGcr3(b, driver.emptyPageTable()); });
          driver.flushPasid(live(), [ALL_PAGES], info.order);
        },
        invalidateRangeEnd: () => {
          if (depth === 0 || --depth > 0) return;
          driver.timed(() => { for (const b of live()) driver.setGcr3(b, b.mm.cr3); });
          driver.flushPasid(live(), [ALL_PAGES], info.order);
        },
        clearFlushYoung: (_mm, s, e) => { flushPages(s, e); return false; },
        release,
      };
    }
    case "invalidate-range":
    case "invalidate-range-fast-mode":
      return {
        name,
        archInvalidateSecondaryTlbs: (_mm, s, e) => flushRange(s, e),
        invalidateRangeEnd: (_mm, s, e) => flushRange(s, e),
        clearFlushYoung: (_mm, s, e) => { flushPages(s, e); return false; },
        release,
      };
    case "secondary-tlbs":
      return {
        name,
        archInvalidateSecondaryTlbs: (_mm, s, e) => flushRange(s, e),
        release,
      };
    default:
      return { name };
  }
}
