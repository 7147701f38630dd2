/**
 * How the driver turns an invalidated virtual range [start, end) into the Address/S fields of
 * INVALIDATE_IOMMU_PAGES / INVALIDATE_IOTLB_PAGES (spec: S-bit range encoding,
 * docs/spec-readings.md cmd 1.4 and 5.d):
 *
 *   "page-or-all"  the old iommu_v2 driver (mn_invalidate_range, docs/calibration.md A10): a range inside
 *                  one page flushes that page (S = 0); anything larger flushes the whole PASID
 *   "exact"        Linux 6.x: one command with the smallest naturally aligned power-of-two
 *                  block that covers the range (encodeInvalidationRange); "all" above bit 51
 *   "threshold"    one S = 0 command per page up to `threshold` pages, the whole PASID above
 *                  (the SMMUv3 SVA rule, CMDQ_MAX_TLBI_OPS = 512, docs/calibration.md C3)
 */
import { ALL_PAGES_ADDRESS, encodeInvalidationRange } from "../../spec/commands.js";

export type RangePolicy = "page-or-all" | "exact" | "threshold";
export const RANGE_POLICIES: readonly RangePolicy[] = ["page-or-all", "exact", "threshold"];
/** Default page count of the "threshold" policy (docs/calibration.md C3). */
export const DEFAULT_FLUSH_THRESHOLD = 512;

export interface InvalidationRange {
  /** Address field value (bits 63:12 meaningful). */
  address: bigint;
  s: boolean;
}

/** The whole address space of a PASID: S = 1 with the all-pages address. */
export const ALL_PAGES: Readonly<InvalidationRange> = Object.freeze({ address: ALL_PAGES_ADDRESS, s: true });

const PAGE = 4096;

export function checkRangePolicy(name: string, v: unknown): RangePolicy {
  if (typeof v !== "string" || !(RANGE_POLICIES as readonly string[]).includes(v)) {
    throw new RangeError(`${name} must be one of ${RANGE_POLICIES.join(", ")}, got ${String(v)}`);
  }
  return v as RangePolicy;
}

/** The invalidation commands' ranges for [start, end) under `policy`. */
export function invalidationRanges(policy: RangePolicy, start: number, end: number, threshold = DEFAULT_FLUSH_THRESHOLD): InvalidationRange[] {
  if (!(end > start)) return [];
  const first = Math.floor(start / PAGE);
  const last = Math.floor((end - 1) / PAGE);
  const pages = last - first + 1;
  switch (policy) {
    case "page-or-all":
      return pages === 1 ? [{ address: BigInt(first * PAGE), s: false }] : [{ ...ALL_PAGES }];
    case "exact":
      return [encodeInvalidationRange(BigInt(start), BigInt(end - start))];
    case "threshold": {
      if (pages > threshold) return [{ ...ALL_PAGES }];
      const out: InvalidationRange[] = [];
      for (let p = first; p <= last; p++) out.push({ address: BigInt(p * PAGE), s: false });
      return out;
    }
  }
}
