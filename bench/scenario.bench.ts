/**
 * Host time of the RFC scenario per notifier policy (issue 5): one operation = one munmap of
 * 1-4 pages of a bound process (then its re-mmap and touch), with two devices (one
 * untranslated, one with ATS + PRI) doing DMA at every notifier point and frame free, the
 * policy's flushes through the command ring, and the PPR service afterwards. Modelled cycles
 * per operation = host cycles the policy spent flushing (driver flushCycles).
 */
import type { BenchCase } from "./bench-case.js";
import { NOTIFIER_POLICY_NAMES, notifierPolicy } from "../src/host/driver/notifier-policy.js";
import { runHostOperation } from "../src/scenarios/host-workload.js";
import { RaceWorld } from "../src/scenarios/race-world.js";

export const cases: BenchCase[] = NOTIFIER_POLICY_NAMES.map((name) => ({
  name: `scenario/munmap/${name}`,
  group: "scenario",
  measures: `one munmap of 1-4 pages with the ${name} notifier policy (its flushes, DMA from two devices at every notifier point, re-mmap and touch)`,
  setup() {
    const w = new RaceWorld({ policy: notifierPolicy(name), seed: 1, devices: 2, ats: "mixed", pages: 32, dmaPerHook: 2, reuse: 0.5 });
    let ops = 0;
    return {
      run: () => { runHostOperation(w, "munmap"); ops++; },
      modelledCycles: () => (ops === 0 ? 0 : w.driver.stats.flushCycles / ops),
    };
  },
}));
