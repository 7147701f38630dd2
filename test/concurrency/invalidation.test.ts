/**
 * Invalidation across threads (docs/spec-readings.md cmd 4.3): once the host has observed the
 * store of its COMPLETION_WAIT queued after an invalidation, no translation that starts
 * later returns the old mapping, whatever cached it (IOTLB, page-directory cache). The host
 * remaps and invalidates from one worker thread, rings the doorbell through the MMIO
 * mailbox and blocks in Atomics.wait; the IOMMU and its devices run in another.
 * Agents: invalidation-agents.ts. IOMMU_FUZZ_LONG=1 soaks 10x longer.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { V1PageTable } from "../../src/builders/v1-page-table.js";
import { LongModeTable } from "../../src/builders/long-mode-table.js";
import { Gcr3Table } from "../../src/builders/gcr3-table.js";
import { startAgent } from "../../src/shared/agent-worker.js";
import { buildAgents, removeBuiltAgents, type Mutation } from "./agent-build.js";
import { CONTROL_WORDS, C_MIN, NP, leafFor, type InvalidationData, type deviceAgent, type hostAgent } from "./invalidation-agents.js";
import { LONG, sharedRig } from "./shared-setup.js";

const AGENTS = "test/concurrency/invalidation-agents.ts";
const IOVA = 0x8000_0000;
const GVA = 0x5555_0000_0000;
type DeviceResult = ReturnType<typeof deviceAgent>;
type HostResult = ReturnType<typeof hostAgent>;

let agents: Record<string, string>;
beforeAll(() => { agents = buildAgents([AGENTS]); });

function setUp(seed: number, rounds: number, stopWhenCaught: boolean) {
  const rig = sharedRig();
  const { memory, pages, deviceTable } = rig;
  const v1 = new V1PageTable(memory, pages, 4);
  const lm = new LongModeTable(memory, pages, 4);
  for (let p = 0; p < NP; p++) { v1.map(IOVA + p * 4096, 0); lm.map(GVA + p * 4096, 0); }
  const leaf = [v1.entryAddress(IOVA, 1), lm.entryAddress(GVA, 1)];
  for (let dev = 0; dev < 2; dev++) {
    for (let p = 0; p < NP; p++) {
      const [lo, hi] = leafFor(dev, p);
      memory.write32(leaf[dev]! + p * 8 + 4, hi);
      memory.write32(leaf[dev]! + p * 8, lo);
    }
  }
  const gcr3 = new Gcr3Table(memory, pages, 0);
  gcr3.set(1, lm.root);
  deviceTable.set(0x30, { V: true, TV: true, Mode: 4, HostPageTableRootPtr: v1.root, IR: true, IW: true, DomainID: 3 });
  deviceTable.set(0x40, { V: true, TV: true, GV: true, GLX: 0, GCR3TableRootPtr: gcr3.root, IR: true, IW: true, DomainID: 4 });
  const control = new SharedArrayBuffer(4 * CONTROL_WORDS);
  const ctl = new Int32Array(control);
  for (let i = 0; i < 2 * NP; i++) ctl[C_MIN + i] = i % NP;
  const data: InvalidationData = {
    layout: rig.layout, control,
    v1: { deviceId: 0x30, domainId: 3, leafTable: leaf[0]!, iovaBase: IOVA },
    guest: { deviceId: 0x40, domainId: 4, pasid: 1, leafTable: leaf[1]!, gvaBase: GVA },
    rounds, maxDeviceOps: 50_000_000, stopWhenCaught, seed,
  };
  return data;
}

async function run(url: string, seed: number, rounds: number, stopWhenCaught = false) {
  const data = setUp(seed, rounds, stopWhenCaught);
  const [h, dv] = await Promise.all([startAgent<HostResult>(url, "hostAgent", data).result, startAgent<DeviceResult>(url, "deviceAgent", data).result]);
  return { h, dv };
}

const totals = { roundTrips: 0, translations: 0, stale: 0 };
afterAll(() => {
  removeBuiltAgents();
  // eslint-disable-next-line no-console
  console.log(`[invalidation] remap + invalidate + completion-wait round trips ${totals.roundTrips}, concurrent translations ${totals.translations}, stale translations ${totals.stale}`);
});

describe("COMPLETION_WAIT observed by a host thread orders every later translation after the invalidation", () => {
  const rounds = LONG ? 200_000 : 20_000;
  it("no translation returns the old mapping once the completion store was seen (page, range, domain and IOMMU-wide invalidations)", async () => {
    const { h, dv } = await run(agents[AGENTS]!, 0xfeed, rounds);
    totals.roundTrips += h.completionWaits; totals.translations += dv.ops; totals.stale += dv.stale;
    expect(h.timeouts).toBe(0);
    expect(h.completionWaits).toBe(rounds);
    expect(Math.min(...h.kinds)).toBeGreaterThan(0); // every kind of invalidation was used
    expect(dv.completionWaits).toBe(rounds); // every COMPLETION_WAIT ran in the IOMMU thread
    expect(dv.hits).toBeGreaterThan(0); // the IOTLB really held mappings the host changed
    expect(dv.torn).toBe(0);
    expect(dv.stale).toBe(0);
  }, LONG ? 600_000 : 60_000);
});

describe("mutation checks: the invalidation checker catches a broken mechanism", () => {
  const mutants: { name: string; mutations: Mutation[] }[] = [
    {
      name: "INVALIDATE_IOMMU_PAGES that leaves the IOTLB alone: stale translations",
      mutations: [
        { file: "src/iommu/amd-iommu.ts", find: "this.iotlb.invalidate(domain, gn, pasid, first, pages);", replace: "" },
        { file: "src/iommu/amd-iommu.ts", find: "this.iotlb.invalidateAll();", replace: "" },
      ],
    },
    {
      name: "a host that does not wait for the completion store: stale translations",
      mutations: [{ file: "src/shared/host-driver.ts", find: "return this.waitSemaphore(want, this.timeoutMs);", replace: "return true;" }],
    },
  ];
  for (const m of mutants) {
    it(m.name, async () => {
      const url = buildAgents([AGENTS], m.mutations)[AGENTS]!;
      const { h, dv } = await run(url, 0xbad, 200_000, true); // stops at the first stale translation
      // eslint-disable-next-line no-console
      console.log(`[mutant] ${m.name}: stale ${dv.stale} after ${dv.ops} translations, ${h.completionWaits} host round trips`);
      expect(dv.stale).toBeGreaterThan(0);
    }, 60_000);
  }
});
