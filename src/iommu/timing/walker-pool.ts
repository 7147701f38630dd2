/**
 * The page-table walkers (docs/ARCHITECTURE.md section 6: "number of concurrent walkers";
 * profile.walkers, docs/calibration.md B10/B11). A translation that misses the IOTLB needs one walker
 * for the whole walk (table reads, A/D updates, the fault report); with every walker busy
 * it queues for the first one to come free, so misses issued faster than the walkers can
 * serve them show up as queueing delay. IOTLB hits never take a walker.
 *
 * Each slot holds the cycle at which it comes free; acquire() picks the earliest free slot
 * (lowest index on ties, so runs are deterministic). No allocation.
 */
export class WalkerPool {
  readonly freeAt: Float64Array;
  /** Slot of the last acquire (trace track). */
  lastSlot = 0;

  /**
   * `busy` sums the service cycles handed out (the timing statistics keep that sum as the
   * walkerService histogram), so acquire() need not.
   */
  constructor(readonly walkers: number, private readonly busy: () => number = () => 0) {
    if (!Number.isInteger(walkers) || walkers < 1) throw new RangeError(`WalkerPool: walkers must be a positive integer, got ${String(walkers)}`);
    this.freeAt = new Float64Array(walkers);
  }

  /**
   * Latest completion of any walk handed out: a COMPLETION_WAIT fence for translations in
   * flight. A slot's free cycle only grows, so it is the latest of them. (Derived: setting it,
   * as a snapshot restore does, changes nothing.)
   */
  get latestEnd(): number {
    const f = this.freeAt;
    let m = 0;
    for (let i = 0; i < f.length; i++) if (f[i]! > m) m = f[i]!;
    return m;
  }
  set latestEnd(_v: number) { /* derived from freeAt */ }

  /** Sum of walker service cycles (utilisation = busyCycles / (walkers x elapsed)). (Derived, like latestEnd.) */
  get busyCycles(): number { return this.busy(); }
  set busyCycles(_v: number) { /* derived from the walks' statistics */ }

  /**
   * Take a walker for `service` cycles for a walk that is ready at cycle `ready`. Returns the
   * cycle at which the walk starts (>= ready; the difference is the queueing delay).
   */
  acquire(ready: number, service: number): number {
    const f = this.freeAt;
    if (f[0]! <= ready) { // walker 0 is free: the common case, kept small so it inlines
      f[0] = ready + service;
      this.lastSlot = 0;
      return ready;
    }
    return this.acquireBusy(ready, service);
  }

  /** acquire() with walker 0 busy: the first walker free at `ready`, else the first to come free. */
  private acquireBusy(ready: number, service: number): number {
    const f = this.freeAt;
    let best = 0;
    let bestAt = f[0]!;
    for (let i = 1; i < f.length; i++) {
      const t = f[i]!;
      if (t < bestAt) { best = i; bestAt = t; if (t <= ready) break; }
    }
    const start = bestAt > ready ? bestAt : ready;
    f[best] = start + service;
    this.lastSlot = best;
    return start;
  }

  /** Walkers still busy at cycle t. */
  busyAt(t: number): number {
    let n = 0;
    for (let i = 0; i < this.freeAt.length; i++) if (this.freeAt[i]! > t) n++;
    return n;
  }

  reset(): void {
    this.freeAt.fill(0);
    this.lastSlot = 0;
  }
}
