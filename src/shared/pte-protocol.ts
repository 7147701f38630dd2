/**
 * The writer side of the page-table sharing protocol (docs/ARCHITECTURE.md section 5), for a
 * host agent that changes host (v1) or guest (AMD64 long-mode) entries while an IOMMU in
 * another thread walks them:
 *
 * - every access is a 32-bit access to one half of the 64-bit entry;
 * - bits of the low word (present, R/W, U/S, A, D, address 31:12) change with a
 *   compare-exchange loop, so an Accessed or Dirty bit the IOMMU sets at the same moment is
 *   never lost (the value replaced is returned: it holds the final A/D);
 * - a change of the high word of a present entry (v1 IR/IW, NX, address 51:32) first makes
 *   the entry not present with a compare-exchange (capturing A/D), then stores the high
 *   word, then publishes the new low word; the walker reads low, high, low and retries
 *   when the two low reads differ.
 *
 * `present` is the present bit of the format (V1_PR or LM_P from src/spec/page-tables.ts).
 */
import type { PhysicalMemory } from "../memory/physical-memory.js";

function checkEntry(name: string, memory: PhysicalMemory, pa: number): void {
  if (typeof pa !== "number" || !Number.isInteger(pa) || pa < 0 || pa % 8 !== 0 || !memory.contains(pa, 8)) {
    throw new RangeError(`${name}: pa must be an 8-byte aligned entry address inside memory, got ${String(pa)}`);
  }
}

/** Atomically replace the low word with (old & ~clear) | set; returns the old low word. */
export function updateLowWord(memory: PhysicalMemory, pa: number, clear: number, set: number): number {
  checkEntry("updateLowWord", memory, pa);
  const u32 = memory.u32;
  const i = pa / 4;
  for (;;) {
    const old = Atomics.load(u32, i);
    const next = ((old & ~clear) | set) >>> 0;
    if (next === old || Atomics.compareExchange(u32, i, old, next) === old) return old;
  }
}

/**
 * Replace a whole entry: not present first (compare-exchange, so the final A/D are
 * captured), then the high word, then the low word. Returns the low word that was replaced.
 */
export function replaceEntry(memory: PhysicalMemory, pa: number, lo: number, hi: number, present: number): number {
  checkEntry("replaceEntry", memory, pa);
  const old = updateLowWord(memory, pa, present, 0);
  Atomics.store(memory.u32, pa / 4 + 1, hi >>> 0);
  Atomics.store(memory.u32, pa / 4, lo >>> 0);
  return old;
}

/** Make an entry not present and clear it (low word first); returns the low word replaced. */
export function clearEntry(memory: PhysicalMemory, pa: number): number {
  checkEntry("clearEntry", memory, pa);
  const old = Atomics.exchange(memory.u32, pa / 4, 0);
  Atomics.store(memory.u32, pa / 4 + 1, 0);
  return old;
}

/** Read an entry as the walker does in shared mode (low, high, low until stable): [lo, hi]. */
export function readEntry(memory: PhysicalMemory, pa: number): [number, number] {
  checkEntry("readEntry", memory, pa);
  const u32 = memory.u32;
  const i = pa / 4;
  let lo = Atomics.load(u32, i), hi = Atomics.load(u32, i + 1), again = Atomics.load(u32, i);
  while (again !== lo) { lo = again; hi = Atomics.load(u32, i + 1); again = Atomics.load(u32, i); }
  return [lo, hi];
}
