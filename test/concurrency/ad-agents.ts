/**
 * The two agents of the A/D stress test (run in worker threads by ad-contention.test.ts).
 *
 * Pages: NP leaf entries of a host (v1, HAD = 11b) table and NP of a guest (long-mode,
 * PASID 1) table. Each mapping has a version k = n * NP + p (n = how often page p was
 * remapped): its frame address carries k in both halves of the entry (address bits 51:32
 * and 31:12), and the permission that lives in the high word follows n: v1 IW = 1 when n
 * is even, guest NX = 1 when n is odd. So the SPA a translation returns names the exact
 * (low, high) pair it used, and a pair that never existed is visible.
 *
 * Device agent (IOMMU thread): reads the logical clock, translates a random read, write or
 * execute, and records per page the latest clock value before a successful access/write.
 * Host agent (CPU thread): clears A and D (compare-exchange), flips guest R/W
 * (compare-exchange) and remaps (not present, high word, low word), checks every value it
 * replaces against its own shadow of the entry (only A and D may differ: any other
 * difference is a lost host update), then bumps the clock and logs (clock, page, old low word).
 */
import { PhysicalMemory } from "../../src/memory/physical-memory.js";
import { SharedIommuAgent } from "../../src/shared/iommu-agent.js";
import { replaceEntry, updateLowWord } from "../../src/shared/pte-protocol.js";
import { TranslationResult } from "../../src/iommu/translation/request.js";
import { LM_A, LM_D, LM_NX_HI, LM_P, LM_RW, LM_US, V1_A, V1_D, V1_IR_HI, V1_IW_HI, V1_PR } from "../../src/spec/page-tables.js";
import type { SharedLayout } from "./shared-setup.js";

export const NP = 16;
export const C_CLOCK = 0;
export const C_DEVICE_DONE = 1;
export const C_READY = 2;
/** Device operations done, published every 256. */
export const C_PROGRESS = 3;
/** Set by an agent that saw a violation (mutation checks stop early on it). */
export const C_CAUGHT = 4;
export const CONTROL_WORDS = 8;
/** Leaf entries between two pages used (8 entries = one 64-byte cache line per page). */
export const STRIDE = 8;
const TWO32 = 4294967296;

export interface AdData {
  layout: SharedLayout;
  control: SharedArrayBuffer;
  /** Page p is at base + p * STRIDE * 4 KiB; its leaf entry at leafTable + p * STRIDE * 8. */
  v1: { deviceId: number; leafTable: number; iovaBase: number };
  guest: { deviceId: number; pasid: number; leafTable: number; gvaBase: number };
  deviceOps: number;
  hostMaxOps: number;
  /** Host updates allowed per device translation: the host waits when ahead, so the agents overlap for the whole run. */
  hostPace: number;
  /** Pages used per device (at most NP): fewer pages, more collisions. */
  pages: number;
  /** Stop as soon as either agent sees a violation (mutation checks). */
  stopWhenCaught: boolean;
  seed: number;
}

/** Version k's entry for dev 0 (v1) or 1 (guest); `rw` is the guest R/W bit to use. */
export function entryFor(dev: number, k: number, rw: boolean): [number, number] {
  const n = Math.floor(k / NP);
  if (dev === 0) {
    return [((k & 0xfffff) * 4096 + V1_PR) >>> 0, ((k & 0xfffff) | V1_IR_HI | ((n & 1) === 0 ? V1_IW_HI : 0)) >>> 0];
  }
  return [((k & 0xfffff) * 4096 + (LM_P | LM_US | (rw ? LM_RW : 0))) >>> 0, ((k & 0xfffff) | ((n & 1) === 1 ? LM_NX_HI : 0)) >>> 0];
}

function xorshift(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => { s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0; return s; };
}

function rendezvous(ctl: Int32Array): void {
  Atomics.add(ctl, C_READY, 1);
  while (Atomics.load(ctl, C_READY) < 2) Atomics.wait(ctl, C_READY, 1, 5);
  Atomics.notify(ctl, C_READY);
}

export function deviceAgent(d: AdData) {
  const agent = new SharedIommuAgent({
    memory: d.layout.memoryBuffer, mailbox: d.layout.mailboxBuffer,
    iommu: { iotlb: { entries: 0 }, pdeCache: { entries: 0 } },
  });
  agent.service(); // the driver's enable sequence
  const io = agent.iommu;
  const ctl = new Int32Array(d.control);
  const rng = xorshift(d.seed);
  const lastAccessT = new Int32Array(2 * NP).fill(-1);
  const lastWriteT = new Int32Array(2 * NP).fill(-1);
  const out = new TranslationResult();
  const reqV1 = { deviceId: d.v1.deviceId, address: 0, write: false };
  const reqG = { deviceId: d.guest.deviceId, address: 0, pasid: d.guest.pasid, write: false, execute: false, privileged: false };
  let ok = 0, writesOk = 0, execOk = 0, torn = 0, permViolations = 0, faults = 0, done = d.deviceOps;
  rendezvous(ctl);
  for (let i = 0; i < d.deviceOps; i++) {
    if ((i & 255) === 0) {
      Atomics.store(ctl, C_PROGRESS, i);
      if ((i & 1023) === 0) agent.poll();
      if (d.stopWhenCaught && (torn + permViolations > 0 || Atomics.load(ctl, C_CAUGHT) !== 0)) { done = i; break; }
    }
    const r = rng();
    const dev = r & 1;
    const p = (r >>> 1) % d.pages;
    const write = ((r >>> 8) & 1) === 1;
    const execute = !write && ((r >>> 9) & 3) === 0;
    const t = Atomics.load(ctl, C_CLOCK);
    if (dev === 0) {
      reqV1.address = d.v1.iovaBase + p * STRIDE * 4096 + 8;
      reqV1.write = write;
      io.translateInto(reqV1, out);
    } else {
      reqG.address = d.guest.gvaBase + p * STRIDE * 4096 + 8;
      reqG.write = write; reqG.execute = execute;
      io.translateInto(reqG, out);
    }
    if (!out.ok) { faults++; continue; }
    ok++;
    const spa = out.spa - 8;
    const hiPart = Math.floor(spa / TWO32);
    const loPart = (spa % TWO32) / 4096;
    if (hiPart !== loPart || hiPart % NP !== p) { torn++; continue; }
    const n = Math.floor(hiPart / NP);
    if (dev === 0 && write && (n & 1) === 1) permViolations++; // IW = 0 in that version
    if (dev === 1 && execute && (n & 1) === 1) permViolations++; // NX = 1 in that version
    const key = dev * NP + p;
    if (t > lastAccessT[key]!) lastAccessT[key] = t;
    if (write) { writesOk++; if (t > lastWriteT[key]!) lastWriteT[key] = t; }
    if (execute) execOk++;
  }
  Atomics.store(ctl, C_DEVICE_DONE, 1);
  agent.poll();
  const st = io.translator.stats;
  return {
    ops: done, ok, faults, writesOk, execOk, torn, permViolations,
    lastAccessT, lastWriteT,
    adUpdates: st.adUpdates, walks: st.walks,
  };
}

export function hostAgent(d: AdData) {
  const memory = new PhysicalMemory({ buffer: d.layout.memoryBuffer });
  const ctl = new Int32Array(d.control);
  const rng = xorshift(d.seed ^ 0x9e3779b9);
  const leaf = [d.v1.leafTable, d.guest.leafTable];
  const A = [V1_A, LM_A], D = [V1_D, LM_D];
  const AD = [(V1_A | V1_D) >>> 0, (LM_A | LM_D) >>> 0];
  const PRESENT = [V1_PR, LM_P];
  // shadow: what the host last wrote (A and D masked out), and the version per page
  const shadowLo = new Uint32Array(2 * NP), shadowHi = new Uint32Array(2 * NP), version = new Int32Array(2 * NP);
  const rw = new Uint8Array(2 * NP).fill(1);
  for (let dev = 0; dev < 2; dev++) {
    for (let p = 0; p < NP; p++) {
      const key = dev * NP + p;
      version[key] = p;
      const [lo, hi] = entryFor(dev, p, true);
      shadowLo[key] = (lo & ~AD[dev]!) >>> 0; shadowHi[key] = hi;
    }
  }
  // the clear log (clock, page, old low word), folded as it is written into what the check
  // needs: per page, the latest clock value of a clear that found A (D) set
  const maxSawA = new Int32Array(2 * NP).fill(-1), maxSawD = new Int32Array(2 * NP).fill(-1);
  let clears = 0, remaps = 0, rwFlips = 0, lostUpdates = 0, ops = 0, logged = 0;
  const checkOld = (key: number, dev: number, old: number) => {
    if (((old & ~AD[dev]!) >>> 0) !== shadowLo[key]) { lostUpdates++; Atomics.store(ctl, C_CAUGHT, 1); }
  };
  rendezvous(ctl);
  while (ops < d.hostMaxOps && Atomics.load(ctl, C_DEVICE_DONE) === 0) {
    if (ops > d.hostPace * (Atomics.load(ctl, C_PROGRESS) + 256)) continue;
    ops++;
    const r = rng();
    const dev = r & 1;
    const p = (r >>> 1) % d.pages;
    const key = dev * NP + p;
    const pa = leaf[dev]! + p * STRIDE * 8;
    const op = (r >>> 8) & 7;
    let old: number;
    if (op < 4) { // clear A and D
      old = updateLowWord(memory, pa, AD[dev]!, 0);
      checkOld(key, dev, old);
      clears++;
    } else if (op < 6 || dev === 0) { // remap: next version, high-word permission follows it
      const k = (version[key]! + NP) % (1 << 20);
      version[key] = k;
      const [lo, hi] = entryFor(dev, k, rw[key] === 1);
      old = replaceEntry(memory, pa, lo, hi, PRESENT[dev]!);
      checkOld(key, dev, old);
      shadowLo[key] = (lo & ~AD[dev]!) >>> 0; shadowHi[key] = hi;
      remaps++;
    } else { // guest permission change: flip R/W with a compare-exchange
      rw[key] ^= 1;
      old = updateLowWord(memory, pa, LM_RW, rw[key] ? LM_RW : 0);
      checkOld(key, dev, old);
      shadowLo[key] = ((shadowLo[key]! & ~LM_RW) | (rw[key] ? LM_RW : 0)) >>> 0;
      rwFlips++;
      continue; // not a clear: no log entry
    }
    const t = Atomics.add(ctl, C_CLOCK, 1);
    logged++;
    if ((old & A[dev]!) !== 0) maxSawA[key] = t;
    if ((old & D[dev]!) !== 0) maxSawD[key] = t;
  }
  return { ops, clears, remaps, rwFlips, lostUpdates, logged, maxSawA, maxSawD, shadowLo, shadowHi };
}
