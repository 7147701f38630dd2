/**
 * The RFC's race as a measurement: run a seeded host workload against devices doing DMA into
 * the same address space, under one MMU-notifier policy, and report what the race checker
 * saw and what the policy cost (docs/ARCHITECTURE.md sections 1 and 7).
 *
 *   const r = runRace({ policy: "start-end", workload: "munmap", seed: 1 });
 *   r.staleAccesses          // DMAs into frames freed or re-owned after their translation
 *
 * Result keys (also the `--json` output of `npm start`): policy, staleAccesses,
 * stalePermissionAccesses, deviceFaults, pageRequests, commands (driver commands issued
 * during the workload), flushCycles (host cycles in the policy's flushes and GCR3 swaps),
 * deviceStallCycles (walks of IOTLB misses, ATS round trips, and host cycles an access waited
 * on a page request).
 */
import type { TraceDocument } from "../iommu/timing/trace-recorder.js";
import { NOTIFIER_POLICY_NAMES, notifierPolicy, type NotifierPolicyName } from "../host/driver/notifier-policy.js";
import { checkRangePolicy, type RangePolicy } from "../host/driver/range-policy.js";
import { runHostOperation, WORKLOAD_NAMES, workloadPlan, type WorkloadName } from "./host-workload.js";
import type { CheckerStats } from "./race-checker.js";
import { GATHER_ORDERS, RaceWorld, type GatherOrder } from "./race-world.js";

export type AtsMode = "on" | "off" | "mixed";
export const ATS_MODES: readonly AtsMode[] = ["on", "off", "mixed"];

export interface RaceOptions {
  policy: NotifierPolicyName;
  /** Default "mixed". */
  workload?: WorkloadName;
  /** Default 1. */
  seed?: number;
  /** DMA devices bound to the process. Default 2. */
  devices?: number;
  /** Which devices use ATS and PRI: all, none, or every second one (default "mixed"). */
  ats?: AtsMode;
  /** Range policy of the driver; default the policy era's. */
  rangePolicy?: RangePolicy;
  /** Page count of the "threshold" range policy. */
  threshold?: number;
  /** Host operations in the workload. Default 24. */
  operations?: number;
  /** Pages in the process's working region. Default 32. */
  pages?: number;
  /** Accesses per device at each interleaving point. Default 2. */
  dmaPerHook?: number;
  /** Probability that a freed page is taken by another owner at once. Default 0.5. */
  reuse?: number;
  /**
   * Where munmap, MADV_DONTNEED and exit run tlb_finish_mmu (CPU TLB flush and the frees):
   * "after-end" (default) after invalidate_range_end, Linux's order (unmap_region,
   * zap_page_range); "before-end" before it.
   */
  gatherOrder?: GatherOrder;
  /** Record a Perfetto trace of the workload (result.trace); default false. */
  trace?: boolean;
}

export interface RaceSummary {
  policy: NotifierPolicyName;
  staleAccesses: number;
  stalePermissionAccesses: number;
  deviceFaults: number;
  pageRequests: number;
  commands: number;
  flushCycles: number;
  deviceStallCycles: number;
}

export interface RaceResult extends RaceSummary {
  details: {
    workload: WorkloadName;
    seed: number;
    gatherOrder: GatherOrder;
    operations: string[];
    checker: CheckerStats;
    dma: number;
    completedDma: number;
    hostCycles: number;
    commandsByName: Record<string, number>;
    completionWaitTimeouts: number;
    events: Record<string, number>;
    pprResponses: { success: number; invalid: number; failure: number };
    frameReuses: number;
  };
  /** The workload's trace (options.trace): JSON.stringify it and open it in Perfetto. */
  trace?: TraceDocument;
}

function intOption(name: string, v: unknown, def: number, lo: number, hi: number): number {
  if (v === undefined) return def;
  if (typeof v !== "number" || !Number.isInteger(v) || v < lo || v > hi) throw new RangeError(`${name} must be an integer ${lo}..${hi}, got ${String(v)}`);
  return v;
}

/** Run one policy. */
export function runRace(o: RaceOptions): RaceResult {
  if (o === null || typeof o !== "object") throw new TypeError("runRace: options must be an object { policy, ... }");
  const policy = notifierPolicy(o.policy);
  const workload = o.workload ?? "mixed";
  if (!WORKLOAD_NAMES.includes(workload)) throw new RangeError(`runRace: options.workload must be one of ${WORKLOAD_NAMES.join(", ")}, got ${String(workload)}`);
  const ats = o.ats ?? "mixed";
  if (!ATS_MODES.includes(ats)) throw new RangeError(`runRace: options.ats must be one of ${ATS_MODES.join(", ")}, got ${String(ats)}`);
  const seed = intOption("runRace: options.seed", o.seed, 1, 0, 0xffffffff);
  const gatherOrder = o.gatherOrder ?? "after-end";
  if (!GATHER_ORDERS.includes(gatherOrder)) throw new RangeError(`runRace: options.gatherOrder must be one of ${GATHER_ORDERS.join(", ")}, got ${String(gatherOrder)}`);
  const reuse = o.reuse ?? 0.5;
  if (typeof reuse !== "number" || !(reuse >= 0 && reuse <= 1)) throw new RangeError(`runRace: options.reuse must be a probability 0..1, got ${String(reuse)}`);
  const world = new RaceWorld({
    policy, seed, ats, reuse, gatherOrder,
    devices: intOption("runRace: options.devices", o.devices, 2, 1, 8),
    pages: intOption("runRace: options.pages", o.pages, 32, 4, 512),
    dmaPerHook: intOption("runRace: options.dmaPerHook", o.dmaPerHook, 2, 0, 64),
    ...(o.rangePolicy !== undefined ? { rangePolicy: checkRangePolicy("runRace: options.rangePolicy", o.rangePolicy) } : {}),
    ...(o.threshold !== undefined ? { threshold: intOption("runRace: options.threshold", o.threshold, 512, 1, 1 << 20) } : {}),
  });
  const q = world.driver.queue.stats;
  const base = { commands: q.commands, flush: world.driver.stats.flushCycles, stall: 0, faults: 0, requests: 0, host: world.clock.now() };
  for (const d of world.devices) { base.stall += d.stats.stallCycles; base.faults += d.stats.faults; base.requests += d.stats.pageRequests; }
  const checkerBase = { ...world.checker.stats };
  const plan = workloadPlan(world, workload, intOption("runRace: options.operations", o.operations, 24, 1, 10_000));
  if (o.trace !== undefined && typeof o.trace !== "boolean") throw new TypeError(`runRace: options.trace must be a boolean, got ${typeof o.trace}`);
  if (o.trace === true) world.iommu.startTrace();
  for (const op of plan) runHostOperation(world, op);
  const trace = o.trace === true ? world.iommu.stopTrace() : undefined;
  const sum = (f: (d: (typeof world.devices)[number]) => number) => world.devices.reduce((a, d) => a + f(d), 0);
  const ck = world.checker.stats;
  const checker = Object.fromEntries(Object.entries(ck).map(([k, v]) => [k, v - checkerBase[k as keyof CheckerStats]])) as unknown as CheckerStats;
  const responses = { success: 0, invalid: 0, failure: 0 };
  for (const d of world.devices) { responses.success += d.stats.prgResponses.success; responses.invalid += d.stats.prgResponses.invalid; responses.failure += d.stats.prgResponses.failure; }
  return {
    policy: policy.name,
    staleAccesses: checker.staleAccesses,
    stalePermissionAccesses: checker.stalePermissionAccesses,
    deviceFaults: sum((d) => d.stats.faults) - base.faults,
    pageRequests: sum((d) => d.stats.pageRequests) - base.requests,
    commands: q.commands - base.commands,
    flushCycles: world.driver.stats.flushCycles - base.flush,
    deviceStallCycles: sum((d) => d.stats.stallCycles) - base.stall,
    details: {
      workload, seed, gatherOrder, operations: plan, checker,
      dma: sum((d) => d.stats.dma), completedDma: sum((d) => d.stats.completed),
      hostCycles: world.clock.now() - base.host,
      commandsByName: { ...q.byName },
      completionWaitTimeouts: q.waitTimeouts,
      events: { ...world.driver.stats.events },
      pprResponses: responses,
      frameReuses: world.frames.stats.reuses,
    },
    ...(trace === undefined ? {} : { trace }),
  };
}

/** Run every policy (or the given ones) with the same options and seed. */
export function runAllPolicies(o: Omit<RaceOptions, "policy">, policies: readonly NotifierPolicyName[] = NOTIFIER_POLICY_NAMES): RaceResult[] {
  return policies.map((policy) => runRace({ ...o, policy }));
}

/** The eight reported numbers of a result, in the order of the `--json` keys. */
export function summary(r: RaceResult): RaceSummary {
  return {
    policy: r.policy, staleAccesses: r.staleAccesses, stalePermissionAccesses: r.stalePermissionAccesses, deviceFaults: r.deviceFaults,
    pageRequests: r.pageRequests, commands: r.commands, flushCycles: r.flushCycles, deviceStallCycles: r.deviceStallCycles,
  };
}

/** A policy is safe in a run when no DMA used a freed, re-owned or downgraded translation. */
export function isSafe(r: RaceSummary): boolean {
  return r.staleAccesses === 0 && r.stalePermissionAccesses === 0;
}
