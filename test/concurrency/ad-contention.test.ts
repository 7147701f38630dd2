/**
 * A/D under contention (docs/ARCHITECTURE.md section 5): the host clears A and D, flips
 * permissions and remaps entries in one worker thread while devices translate reads,
 * writes and executes through the IOMMU in another, over one SharedArrayBuffer.
 * Agents: ad-agents.ts. Bounded by operation counts; IOMMU_FUZZ_LONG=1 soaks 10x longer.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { V1PageTable } from "../../src/builders/v1-page-table.js";
import { LongModeTable } from "../../src/builders/long-mode-table.js";
import { Gcr3Table } from "../../src/builders/gcr3-table.js";
import { startAgent } from "../../src/shared/agent-worker.js";
import { LM_A, LM_D, V1_A, V1_D } from "../../src/spec/page-tables.js";
import { buildAgents, removeBuiltAgents, type Mutation } from "./agent-build.js";
import { CONTROL_WORDS, NP, STRIDE, entryFor, type AdData, type deviceAgent, type hostAgent } from "./ad-agents.js";
import { LONG, sharedRig } from "./shared-setup.js";

const IOVA = 0x4000_0000;
const GVA = 0x7f00_0000_0000;
const AD = [(V1_A | V1_D) >>> 0, (LM_A | LM_D) >>> 0];
const A = [V1_A, LM_A];
const D = [V1_D, LM_D];

type DeviceResult = ReturnType<typeof deviceAgent>;
type HostResult = ReturnType<typeof hostAgent>;

const AGENTS = "test/concurrency/ad-agents.ts";
let agents: Record<string, string>;
beforeAll(() => { agents = buildAgents([AGENTS]); });

function setUp(seed: number, deviceOps: number, pagesUsed = NP, hostPace = 2, stopWhenCaught = false) {
  const rig = sharedRig();
  const { memory, pages, deviceTable } = rig;
  const v1 = new V1PageTable(memory, pages, 3);
  const lm = new LongModeTable(memory, pages, 4);
  for (let p = 0; p < NP; p++) {
    v1.map(IOVA + p * STRIDE * 4096, 0);
    lm.map(GVA + p * STRIDE * 4096, 0);
  }
  const leaf = [v1.entryAddress(IOVA, 1), lm.entryAddress(GVA, 1)];
  for (let dev = 0; dev < 2; dev++) {
    for (let p = 0; p < NP; p++) {
      const [lo, hi] = entryFor(dev, p, true);
      memory.write32(leaf[dev]! + p * STRIDE * 8 + 4, hi);
      memory.write32(leaf[dev]! + p * STRIDE * 8, lo);
    }
  }
  const gcr3 = new Gcr3Table(memory, pages, 0);
  gcr3.set(1, lm.root);
  deviceTable.set(0x10, { V: true, TV: true, Mode: 3, HostPageTableRootPtr: v1.root, IR: true, IW: true, HAD: 3, DomainID: 1, SA: true });
  deviceTable.set(0x20, { V: true, TV: true, GV: true, GLX: 0, GCR3TableRootPtr: gcr3.root, IR: true, IW: true, DomainID: 2, SA: true });
  const control = new SharedArrayBuffer(4 * CONTROL_WORDS);
  const data: AdData = {
    layout: rig.layout, control,
    v1: { deviceId: 0x10, leafTable: leaf[0]!, iovaBase: IOVA },
    guest: { deviceId: 0x20, pasid: 1, leafTable: leaf[1]!, gvaBase: GVA },
    deviceOps, hostMaxOps: 1e9, hostPace, pages: pagesUsed, stopWhenCaught, seed,
  };
  return { rig, leaf, data };
}

/**
 * Lost A or D: a page accessed (written) at clock t whose bit is clear at the end although
 * no host clear logged at clock >= t found it set. Sound: the device reads the clock before
 * it translates and the host bumps it after its compare-exchange, so a clear that came after
 * the IOMMU set the bit carries a clock value >= t.
 */
function lostAd(maxSaw: Int32Array, lastT: Int32Array, finalLo: (key: number) => number, bit: (dev: number) => number): number {
  let lost = 0;
  for (let key = 0; key < 2 * NP; key++) {
    const t = lastT[key]!;
    if (t < 0) continue;
    const setAtEnd = (finalLo(key) & bit(Math.floor(key / NP))) !== 0;
    if (!setAtEnd && maxSaw[key]! < t) lost++;
  }
  return lost;
}

const totals = { deviceOps: 0, hostOps: 0, lost: 0, torn: 0 };
afterAll(() => {
  removeBuiltAgents();
  // eslint-disable-next-line no-console
  console.log(`[ad-contention] device translations ${totals.deviceOps}, host PTE updates ${totals.hostOps}, lost updates ${totals.lost}, torn reads ${totals.torn}`);
});

const WALK = "src/iommu/translation/walk-context.ts";
/**
 * Slow walker memory: a pause before and after the read of the high word and before each
 * compare-exchange, as when the 32-bit accesses are separate bus transactions with memory
 * latency between them, and a host that pauses between the two stores of a remap (an
 * interrupt). It changes no result, but widens every race window from nanoseconds to a few
 * hundred, so that the races the protocol guards against happen thousands of times per run.
 */
const SLOW_MEMORY: Mutation[] = [
  { file: WALK, find: "export const MAX_WALK_RETRIES = 64;", replace: "const SLOW = new Int32Array(new SharedArrayBuffer(4)); function pause() { for (let s = 0; s < 40; s++) Atomics.load(SLOW, 0); }\nexport const MAX_WALK_RETRIES = 64;" },
  { file: WALK, find: "let hi = mem.load32(pa + 4);", replace: "pause(); let hi = mem.load32(pa + 4); pause();" },
  { file: WALK, find: "this.adWrites++;", replace: "this.adWrites++; pause();" }, // latency before the locked update
  // and a host interrupted between the two stores of a remap
  { file: "src/shared/pte-protocol.ts", find: "Atomics.store(memory.u32, pa / 4 + 1, hi >>> 0);", replace: "Atomics.store(memory.u32, pa / 4 + 1, hi >>> 0); for (let s = 0; s < 40; s++) Atomics.load(memory.u32, 0);" },
];

interface Run { h: HostResult; dv: DeviceResult; lostD: number; lostA: number; finalMismatch: number }

async function run(url: string, seed: number, deviceOps: number, pages = NP, hostPace = 2, stopWhenCaught = false): Promise<Run> {
  const { rig, leaf, data } = setUp(seed, deviceOps, pages, hostPace, stopWhenCaught);
  const [h, dv] = await Promise.all([startAgent<HostResult>(url, "hostAgent", data).result, startAgent<DeviceResult>(url, "deviceAgent", data).result]);
  const entry = (key: number) => leaf[Math.floor(key / NP)]! + (key % NP) * STRIDE * 8;
  const finalLo = (key: number) => rig.memory.read32(entry(key));
  const finalHi = (key: number) => rig.memory.read32(entry(key) + 4);
  let finalMismatch = 0;
  for (let key = 0; key < 2 * NP; key++) {
    const dev = Math.floor(key / NP);
    if (((finalLo(key) & ~AD[dev]!) >>> 0) !== h.shadowLo[key] || finalHi(key) !== h.shadowHi[key]) finalMismatch++;
  }
  const lostD = lostAd(h.maxSawD, dv.lastWriteT, finalLo, (dev) => D[dev]!);
  const lostA = lostAd(h.maxSawA, dv.lastAccessT, finalLo, (dev) => A[dev]!);
  return { h, dv, lostD, lostA, finalMismatch };
}

describe("A/D bits under contention between a host thread and the IOMMU thread", () => {
  const deviceOps = LONG ? 5_000_000 : 1_000_000;
  const variants = [
    { name: "walker at full speed", slow: false },
    { name: "slow walker memory (wide race windows)", slow: true },
  ];
  const rounds = LONG ? 5 : 1;
  for (const v of variants) {
    for (let round = 0; round < rounds; round++) {
      it(`${v.name}, round ${round}: no lost A/D or host update, no torn entry, the IOMMU writes only A and D`, async () => {
        const url = v.slow ? buildAgents([AGENTS], SLOW_MEMORY)[AGENTS]! : agents[AGENTS]!;
        const { h, dv, lostD, lostA, finalMismatch } = await run(url, 0x1234 + round * 7919 + (v.slow ? 1 : 0), v.slow ? deviceOps / 5 : deviceOps);
        // the workload really contended: both agents did each kind of work
        expect(dv.writesOk).toBeGreaterThan(0);
        expect(dv.execOk).toBeGreaterThan(0);
        expect(dv.faults).toBeGreaterThan(0); // translations that met a remap in flight or a read-only version
        expect(h.clears).toBeGreaterThan(0);
        expect(h.remaps).toBeGreaterThan(0);
        expect(h.rwFlips).toBeGreaterThan(0);
        // no translation used an entry value that never existed (low and high word of one version)
        expect(dv.torn).toBe(0);
        expect(dv.permViolations).toBe(0);
        // the IOMMU changed nothing but A and D: every value the host replaced matched its shadow
        expect(h.lostUpdates).toBe(0);
        expect(finalMismatch).toBe(0);
        // every successful write left D set (every access A) unless a later host clear saw it
        expect(lostD).toBe(0);
        expect(lostA).toBe(0);
        totals.deviceOps += dv.ops; totals.hostOps += h.ops;
        totals.lost += lostD + lostA + h.lostUpdates + finalMismatch;
        totals.torn += dv.torn + dv.permViolations;
      }, LONG ? 600_000 : 60_000);
    }
  }
});

describe("mutation checks: the checker catches each protecting mechanism removed", () => {
  // a race is caught within a few thousand translations; each run stops at its first violation (cap 2M)
  const mutants: { name: string; mutations: Mutation[]; caught: (r: Run) => number; ops?: number }[] = [
    {
      name: "A/D set with a plain store instead of compare-exchange: host updates are lost",
      mutations: [{ file: WALK, find: "} else found = this.mem.cas32(pa, expected, value);", replace: "} else { this.mem.store32(pa, value); found = expected >>> 0; }" }],
      caught: (r) => r.h.lostUpdates + r.finalMismatch + r.lostA + r.lostD,
    },
    {
      name: "walker without the low-high-low re-read: torn entries are used",
      mutations: [{ file: WALK, find: "if (this.shared) {", replace: "if (false) {" }],
      caught: (r) => r.dv.torn + r.dv.permViolations,
    },
    {
      name: "host remap that does not clear P first: torn entries are used",
      mutations: [{ file: "src/shared/pte-protocol.ts", find: "const old = updateLowWord(memory, pa, present, 0);", replace: "const old = Atomics.load(memory.u32, pa / 4);" }],
      caught: (r) => r.dv.torn + r.dv.permViolations + r.lostA + r.lostD,
    },
    {
      name: "walker that never sets D: dirty bits are lost",
      mutations: [
        { file: "src/iommu/translation/host-walk.ts", find: "const want = V1.A | (write && had === 3 && w && dteW ? V1.D : 0);", replace: "const want = V1.A;" },
        { file: "src/iommu/translation/translator.ts", find: "const want = write && had === 3 ? V1.A | V1.D : V1.A;", replace: "const want = V1.A;" },
        { file: "src/iommu/translation/guest-walk.ts", find: "if (i === n - 1 && wantD) want |= Lm.D;", replace: "" },
      ],
      caught: (r) => r.lostD,
      ops: 50_000, // no race needed: every page written loses D
    },
  ];
  for (const m of mutants) {
    it(m.name, async () => {
      const url = buildAgents([AGENTS], [...SLOW_MEMORY, ...m.mutations])[AGENTS]!;
      const r = await run(url, 0xbad, m.ops ?? 2_000_000, 4, 4, m.ops === undefined);
      // eslint-disable-next-line no-console
      console.log(`[mutant] ${m.name}: after ${r.dv.ops} translations: lostUpdates ${r.h.lostUpdates} final ${r.finalMismatch} torn ${r.dv.torn} perm ${r.dv.permViolations} lostA ${r.lostA} lostD ${r.lostD}`);
      expect(m.caught(r)).toBeGreaterThan(0);
    }, 60_000);
  }
});
