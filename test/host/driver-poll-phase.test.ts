/**
 * The phase of wait_on_sem's polls against the IOMMU (src/host/driver/command-queue.ts): the
 * check at once, then checks after each udelay(1). Without a pollPhase source they fall on
 * whole intervals from the wait's start; with one, each wait draws a phase in [0, interval)
 * and the store is seen at the first of phase + k x interval at or after it.
 */
import { describe, expect, it } from "vitest";
import { IommuDriver } from "../../src/host/driver/iommu-driver.js";
import type { PollPhaseSource } from "../../src/host/driver/command-queue.js";
import { HostClock } from "../../src/host/host-clock.js";
import { AmdIommu } from "../../src/iommu/amd-iommu.js";
import { PhysicalMemory } from "../../src/memory/physical-memory.js";
import { BumpAllocator } from "../../src/builders/page-allocator.js";
import { buildInvalidateIommuAll } from "../../src/spec/commands.js";
import { Prng } from "../../src/scenarios/prng.js";
import { PAGE } from "./driver-fixture.js";

function driverWith(pollPhase?: PollPhaseSource) {
  const memory = new PhysicalMemory({ bytes: 16 * 1024 * 1024 });
  const clock = new HostClock();
  const iommu = new AmdIommu({ memory });
  const driver = new IommuDriver({ iommu, memory, clock, pages: new BumpAllocator(memory, PAGE, 0x10_0000), ...(pollPhase === undefined ? {} : { pollPhase }) });
  driver.init();
  const q = driver.queue;
  /** One INVALIDATE_IOMMU_ALL and its wait: the IOMMU's part (to its store) and what the host waited. */
  const flush = () => {
    const w0 = q.stats.waitCycles, s0 = q.stats.storeCycles;
    q.queue(buildInvalidateIommuAll());
    expect(q.sync()).toBe(true);
    return { store: q.stats.storeCycles - s0, waited: q.stats.waitCycles - w0 };
  };
  return { driver, clock, flush, interval: driver.cost.pollInterval };
}

/** A source whose value the test sets before each wait. */
const settable = () => { const s = { value: 0, next: () => s.value }; return s; };

describe("wait_on_sem's poll phase (command-queue.ts)", () => {
  it("without a phase source the host sees the store at the first whole interval after it, every time", () => {
    const { flush, interval } = driverWith();
    const a = flush(), b = flush();
    expect(a.store).toBeGreaterThan(0);
    expect(a.store).toBeLessThan(interval);
    expect(a.waited).toBe(interval);
    expect(b).toEqual(a);
  });

  it("with a phase the store is seen at the first check of phase + k x interval at or after it", () => {
    const phase = settable();
    const { flush, interval } = driverWith(phase);
    phase.value = 0.9; const late = flush();
    phase.value = 0.1; const early = flush();
    phase.value = 0; const zero = flush();
    const d = late.store;
    expect(early.store).toBe(d);
    expect(d).toBeGreaterThan(0.1 * interval); // so phase 100 comes before the store and phase 900 after it
    expect(d).toBeLessThan(0.9 * interval);
    expect(late.waited).toBe(0.9 * interval); // the check at phase 900 sees it
    expect(early.waited).toBe(0.1 * interval + interval); // the check at phase 100 is too early; the next one sees it
    expect(zero.waited).toBe(interval); // phase 0 is the grid without a phase
  });

  it("over many waits the host lags the store by half an interval on average, not by the rest of a whole interval", () => {
    const n = 4096;
    const seeded = driverWith(new Prng(7)), aligned = driverWith();
    let lag = 0, lagAligned = 0, store = 0;
    for (let i = 0; i < n; i++) {
      const a = seeded.flush(), b = aligned.flush();
      expect(a.waited - a.store).toBeGreaterThanOrEqual(0);
      expect(a.waited - a.store).toBeLessThan(seeded.interval);
      lag += a.waited - a.store; lagAligned += b.waited - b.store; store = a.store;
    }
    const interval = seeded.interval;
    // uniform phases: mean lag (interval - 1) / 2 = 499.5; the standard error of 4,096 is 4.5 cycles
    expect(lag / n).toBeGreaterThan(interval / 2 - 20);
    expect(lag / n).toBeLessThan(interval / 2 + 20);
    expect(lagAligned / n).toBe(interval - store);
  });

  it("the same seed gives the same waits, another seed other ones", () => {
    const run = (seed: number) => { const { flush } = driverWith(new Prng(seed)); return Array.from({ length: 32 }, () => flush().waited); };
    expect(run(3)).toEqual(run(3));
    expect(run(4)).not.toEqual(run(3));
  });

  it("a pollPhase that is not a source of numbers is refused", () => {
    const memory = new PhysicalMemory({ bytes: 16 * 1024 * 1024 });
    const iommu = new AmdIommu({ memory });
    const make = (pollPhase: unknown) => new IommuDriver({ iommu, memory, clock: new HostClock(), pages: new BumpAllocator(memory, PAGE, 0x10_0000), pollPhase: pollPhase as PollPhaseSource });
    expect(() => make(0.5)).toThrow(TypeError);
    expect(() => make({})).toThrow(TypeError);
    expect(() => make(null)).toThrow(TypeError);
  });
});
