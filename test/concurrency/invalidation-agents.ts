/**
 * The two agents of the invalidation stress test (run by invalidation.test.ts).
 *
 * Host agent (CPU thread): remaps a page to a new frame (protocol of pte-protocol.ts),
 * queues an invalidation of it (INVALIDATE_IOMMU_PAGES by page, by range, for the whole
 * domain, or INVALIDATE_IOMMU_ALL), then COMPLETION_WAIT, rings the doorbell through the
 * MMIO mailbox and blocks in Atomics.wait until the completion store lands. Only then does
 * it publish the new frame's version as the page's minimum.
 * Device agent (IOMMU thread): serves the mailbox between requests, reads a page's minimum
 * version, translates, and counts a stale translation when the frame it got is older than
 * the minimum it read before starting: the old mapping after the completion was observed.
 */
import { PhysicalMemory } from "../../src/memory/physical-memory.js";
import { SharedIommuAgent } from "../../src/shared/iommu-agent.js";
import { SharedHostDriver } from "../../src/shared/host-driver.js";
import { replaceEntry } from "../../src/shared/pte-protocol.js";
import { TranslationResult } from "../../src/iommu/translation/request.js";
import { ALL_PAGES_ADDRESS, buildInvalidateIommuAll, buildInvalidateIommuPages, encodeInvalidationRange } from "../../src/spec/commands.js";
import { LM_P, LM_RW, LM_US, V1_IR_HI, V1_IW_HI, V1_PR } from "../../src/spec/page-tables.js";
import type { SharedLayout } from "./shared-setup.js";

export const NP = 8;
const TWO32 = 4294967296;
/** Control words: host done, then one minimum version per (device, page). */
export const C_HOST_DONE = 0;
export const C_READY = 1;
export const C_CAUGHT = 2;
export const C_MIN = 8;
export const CONTROL_WORDS = C_MIN + 2 * NP;

export interface InvalidationData {
  layout: SharedLayout;
  control: SharedArrayBuffer;
  v1: { deviceId: number; domainId: number; leafTable: number; iovaBase: number };
  guest: { deviceId: number; domainId: number; pasid: number; leafTable: number; gvaBase: number };
  rounds: number;
  maxDeviceOps: number;
  stopWhenCaught: boolean;
  seed: number;
}

/** The leaf of version k (frame address k in both halves) for device 0 (v1) or 1 (guest). */
export function leafFor(dev: number, k: number): [number, number] {
  if (dev === 0) return [((k & 0xfffff) * 4096 + V1_PR) >>> 0, ((k & 0xfffff) | V1_IR_HI | V1_IW_HI) >>> 0];
  return [((k & 0xfffff) * 4096 + (LM_P | LM_US | LM_RW)) >>> 0, k & 0xfffff];
}

function xorshift(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => { s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0; return s; };
}

function rendezvous(ctl: Int32Array): void {
  Atomics.add(ctl, C_READY, 1);
  while (Atomics.load(ctl, C_READY) < 2) Atomics.wait(ctl, C_READY, 1, 5);
}

export function deviceAgent(d: InvalidationData) {
  const agent = new SharedIommuAgent({ memory: d.layout.memoryBuffer, mailbox: d.layout.mailboxBuffer, iommu: { iotlb: { entries: 16, ways: 4 } } });
  agent.service();
  const io = agent.iommu;
  const ctl = new Int32Array(d.control);
  const rng = xorshift(d.seed);
  const out = new TranslationResult();
  const reqV1 = { deviceId: d.v1.deviceId, address: 0, write: false };
  const reqG = { deviceId: d.guest.deviceId, address: 0, pasid: d.guest.pasid, write: false };
  let ops = 0, ok = 0, hits = 0, stale = 0, torn = 0, services = 0;
  rendezvous(ctl);
  while (ops < d.maxDeviceOps && Atomics.load(ctl, C_HOST_DONE) === 0) {
    if (agent.poll()) services++;
    ops++;
    const r = rng();
    const dev = r & 1;
    const p = (r >>> 1) % NP;
    const write = ((r >>> 5) & 1) === 1;
    const min = Atomics.load(ctl, C_MIN + dev * NP + p);
    if (dev === 0) { reqV1.address = d.v1.iovaBase + p * 4096; reqV1.write = write; io.translateInto(reqV1, out); }
    else { reqG.address = d.guest.gvaBase + p * 4096; reqG.write = write; io.translateInto(reqG, out); }
    if (!out.ok) continue;
    ok++;
    if (out.iotlbHit) hits++;
    const k = Math.floor(out.spa / TWO32);
    if (k !== (out.spa % TWO32) / 4096 || k % NP !== p) { torn++; continue; }
    if (k < min) { stale++; Atomics.store(ctl, C_CAUGHT, 1); if (d.stopWhenCaught) break; }
  }
  agent.serve(() => Atomics.load(ctl, C_HOST_DONE) !== 0); // let a blocked host finish
  const st = io.commands.stats;
  return { ops, ok, hits, stale, torn, services, commands: st.executed, completionWaits: st.completionWaits };
}

export function hostAgent(d: InvalidationData) {
  const memory = new PhysicalMemory({ buffer: d.layout.memoryBuffer });
  const ctl = new Int32Array(d.control);
  const driver = new SharedHostDriver({
    memory, mailbox: d.layout.mailboxBuffer, semaphore: d.layout.semaphore,
    commandBuffer: { base: d.layout.commandBase, bytes: d.layout.commandBytes },
  });
  const rng = xorshift(d.seed ^ 0x5bd1e995);
  const version = new Int32Array(2 * NP);
  for (let i = 0; i < 2 * NP; i++) version[i] = i % NP;
  const kinds = [0, 0, 0, 0];
  let timeouts = 0;
  rendezvous(ctl);
  for (let round = 0; round < d.rounds; round++) {
    const r = rng();
    const dev = r & 1;
    const p = (r >>> 1) % NP;
    const key = dev * NP + p;
    const k = (version[key]! + NP) % (1 << 20);
    version[key] = k;
    const [lo, hi] = leafFor(dev, k);
    const g = dev === 0 ? d.v1 : d.guest;
    replaceEntry(memory, (dev === 0 ? d.v1.leafTable : d.guest.leafTable) + p * 8, lo, hi, dev === 0 ? V1_PR : LM_P);
    const va = (dev === 0 ? d.v1.iovaBase : d.guest.gvaBase) + p * 4096;
    const gn = dev === 1;
    const pasid = gn ? d.guest.pasid : 0;
    const kind = (r >>> 8) & 3;
    kinds[kind]!++;
    let cmd: Uint32Array;
    if (kind === 0) cmd = buildInvalidateIommuPages({ domainId: g.domainId, gn, pasid, address: va });
    else if (kind === 1) { const e = encodeInvalidationRange(BigInt(va - 4096 * (p & 1)), 8192n); cmd = buildInvalidateIommuPages({ domainId: g.domainId, gn, pasid, s: e.s, address: e.address, pde: true }); }
    else if (kind === 2) cmd = buildInvalidateIommuPages({ domainId: g.domainId, gn, pasid, s: true, address: ALL_PAGES_ADDRESS });
    else cmd = buildInvalidateIommuAll();
    if (!driver.completionWait(cmd)) { timeouts++; break; }
    Atomics.store(ctl, C_MIN + key, k); // the completion was observed: the old frame may now be reused
    if (d.stopWhenCaught && Atomics.load(ctl, C_CAUGHT) !== 0) break;
  }
  Atomics.store(ctl, C_HOST_DONE, 1);
  driver.mailbox.postBarrier(); // wake the agent
  return { rounds: d.rounds, kinds, timeouts, ...driver.stats };
}
