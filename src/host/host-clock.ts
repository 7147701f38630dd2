/**
 * Host-side time: a sequence counter that orders host events (frame allocations and frees,
 * MMU-notifier calls), and a cycle counter that host operations advance with fixed costs.
 *
 * Models no single Linux structure; it stands in for "when" in the host flows of
 * docs/spec-readings.md cmd 5 so that a race scenario can order host events against
 * DMA. Nothing here reads a wall clock: time moves only when an operation charges a cost.
 */

/** Fixed host costs in cycles of the model clock (1 GHz default, so 1 cycle = 1 ns). */
export interface HostCost {
  /** One PTE write by the host (map, unmap, permission change): docs/calibration.md section 2, A16 (62-89 ns). */
  pteUpdate: number;
  /** Copying one 4 KiB page (COW break, migration, swap-in): docs/calibration.md C7 (1,500 ns). */
  pageCopy: number;
  /** Servicing one CPU-side fault in handle_mm_fault: docs/calibration.md A3 (about 1.7 us). */
  faultService: number;
  /**
   * The CPU's own TLB flush at flush_tlb_mm_range. No anchor was found, so 0 by default;
   * the secondary-TLB cost belongs to whoever subscribes to the notifier.
   */
  tlbFlush: number;
}

export const DEFAULT_HOST_COST: Readonly<HostCost> = Object.freeze({
  pteUpdate: 80,
  pageCopy: 1500,
  faultService: 1700,
  tlbFlush: 0,
});

export type HostCostCategory = keyof HostCost;

/** Merge a partial cost object over the defaults; every value must be a finite number >= 0. */
export function resolveHostCost(cost: Partial<HostCost> | undefined): HostCost {
  const out: HostCost = { ...DEFAULT_HOST_COST };
  if (cost === undefined) return out;
  if (cost === null || typeof cost !== "object") throw new TypeError("cost: must be an object like { pteUpdate: 80 }");
  for (const key of Object.keys(cost) as HostCostCategory[]) {
    if (!(key in DEFAULT_HOST_COST)) throw new RangeError(`cost.${String(key)}: unknown host cost (known: ${Object.keys(DEFAULT_HOST_COST).join(", ")})`);
    const v = cost[key];
    if (v === undefined) continue;
    if (typeof v !== "number" || !Number.isFinite(v) || v < 0) throw new RangeError(`cost.${key}: must be a finite number >= 0, got ${String(v)}`);
    out[key] = v;
  }
  return out;
}

/** A monotonic event counter shared by the frame allocator and the notifier trace. */
export class HostSequence {
  private value = 0;
  /** The next sequence number (1, 2, 3, ...). */
  next(): number {
    return ++this.value;
  }
  /** The last number handed out (0 before the first). */
  get current(): number {
    return this.value;
  }
}

/** Host cycle counter: operations add fixed costs; `now()` is the running total. */
export class HostClock {
  private total = 0;
  /** Cycles charged per cost category. */
  readonly byCategory: Record<HostCostCategory, number> = { pteUpdate: 0, pageCopy: 0, faultService: 0, tlbFlush: 0 };
  readonly cost: HostCost;

  constructor(cost?: Partial<HostCost>) {
    this.cost = resolveHostCost(cost);
  }

  /** Charge `count` units of a category's fixed cost; returns the new time. */
  charge(category: HostCostCategory, count = 1): number {
    const c = this.cost[category] * count;
    this.byCategory[category] += c;
    this.total += c;
    return this.total;
  }

  /** Advance by an arbitrary number of cycles (for example a subscriber's own work). */
  advance(cycles: number): number {
    if (typeof cycles !== "number" || !Number.isFinite(cycles) || cycles < 0) {
      throw new RangeError(`advance: cycles must be a finite number >= 0, got ${String(cycles)}`);
    }
    this.total += cycles;
    return this.total;
  }

  /** Cycles elapsed on the host. */
  now(): number {
    return this.total;
  }
}
