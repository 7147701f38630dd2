/**
 * The two agents of the log-flood stress test (run by log-flood.test.ts).
 *
 * Device agent (IOMMU thread): DEVICES functions each fault on page `seq` of an empty v1
 * table (one IO_PAGE_FAULT per request, seq counting up per function) and, when the IOMMU
 * has page requests (iommu.pageRequest), send a PRI Page Request for page `seq` with PRG
 * Index seq mod 512, L = 1, PASID = function number + 1. It publishes the registers now and
 * then so the host sees Tail move, and serves the mailbox (Head writes, log restarts).
 * Host agent (CPU thread): drains both logs as Linux does (SharedLogConsumer), checks every
 * entry is whole (code, DeviceID, DomainID/PASID, address, PRG Index agree with one
 * request) and in order per function, records the sequence numbers it saw, and restarts a
 * log after an overflow.
 */
import { PhysicalMemory } from "../../src/memory/physical-memory.js";
import { SharedIommuAgent } from "../../src/shared/iommu-agent.js";
import { EVENT_LOG_REGISTERS, PPR_LOG_REGISTERS, SharedHostDriver, SharedLogConsumer } from "../../src/shared/host-driver.js";
import { TranslationResult } from "../../src/iommu/translation/request.js";
import { EV_IO_PAGE_FAULT } from "../../src/spec/events.js";
import { PPR_CODE_PAGE_SERVICE_REQUEST, decodePprEntry } from "../../src/spec/ppr.js";
import type { SharedLayout } from "./shared-setup.js";

export const DEVICES = 4;
export const FIRST_DEVICE = 0x60;
export const DOMAIN_BASE = 0x100;
export const C_DEVICE_DONE = 0;
export const CONTROL_WORDS = 4;

export interface LogData {
  layout: SharedLayout;
  control: SharedArrayBuffer;
  requestsPerDevice: number;
  /** Send page requests too (when the IOMMU has them). */
  ppr: boolean;
  seed: number;
}

interface PageRequester { pageRequest(r: { deviceId: number; pasid?: number; address: number; prgIndex: number; last: boolean; read?: boolean; write?: boolean }): string }

export function deviceAgent(d: LogData) {
  const agent = new SharedIommuAgent({ memory: d.layout.memoryBuffer, mailbox: d.layout.mailboxBuffer });
  agent.service();
  const io = agent.iommu;
  const ppr = d.ppr && typeof (io as unknown as Partial<PageRequester>).pageRequest === "function" ? io as unknown as PageRequester : null;
  const ctl = new Int32Array(d.control);
  const out = new TranslationResult();
  const req = { deviceId: 0, address: 0, write: false };
  const preq = { deviceId: 0, pasid: 0, address: 0, prgIndex: 0, last: true, read: true, write: false };
  let faults = 0, faultEventsMissing = 0, pageRequests = 0;
  const outcomes: Record<string, number> = {};
  let s = d.seed >>> 0 || 1;
  for (let seq = 0; seq < d.requestsPerDevice; seq++) {
    for (let k = 0; k < DEVICES; k++) {
      s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
      req.deviceId = FIRST_DEVICE + k; req.address = seq * 4096; req.write = (s & 1) === 1;
      io.translateInto(req, out);
      if (out.ok || out.fault !== "not-present") faultEventsMissing++;
      faults++;
      if (ppr !== null) {
        preq.deviceId = FIRST_DEVICE + k; preq.pasid = k + 1; preq.address = seq * 4096; preq.prgIndex = seq & 0x1ff;
        const o = ppr.pageRequest(preq);
        outcomes[o] = (outcomes[o] ?? 0) + 1;
        pageRequests++;
      }
    }
    if ((seq & 15) === 0) agent.publish();
    agent.poll();
    if ((s & 0xff) === 0) Atomics.wait(ctl, CONTROL_WORDS - 1, 0, 0.05); // now and then a short pause: the host catches up, Tail wraps
  }
  Atomics.store(ctl, C_DEVICE_DONE, 1);
  agent.serve(() => false, 5); // until the host stops the mailbox
  const pprStats = (io as unknown as { ppr?: { stats: Record<string, number> } }).ppr?.stats ?? null;
  return {
    faults, faultEventsMissing, pageRequests, outcomes, pprEnabled: ppr !== null,
    eventLog: { ...io.eventLog.stats }, pprLog: { ...io.pprLog.stats }, pprStats: pprStats ? { ...pprStats } : null,
  };
}

export function hostAgent(d: LogData) {
  const memory = new PhysicalMemory({ buffer: d.layout.memoryBuffer });
  const ctl = new Int32Array(d.control);
  const driver = new SharedHostDriver({
    memory, mailbox: d.layout.mailboxBuffer, semaphore: d.layout.semaphore,
    commandBuffer: { base: d.layout.commandBase, bytes: d.layout.commandBytes },
  });
  const mb = driver.mailbox;
  mb.waitApplied(mb.postBarrier()); // the enable sequence has been applied: Head/Tail published
  const events = new SharedLogConsumer(driver, d.layout.eventLogBase, d.layout.eventLogBytes, EVENT_LOG_REGISTERS);
  const pprs = new SharedLogConsumer(driver, d.layout.pprLogBase, d.layout.pprLogBytes, PPR_LOG_REGISTERS);
  // per function: sequence numbers seen, in the order seen
  const seenEvents: number[][] = Array.from({ length: DEVICES }, () => []);
  const seenPprs: number[][] = Array.from({ length: DEVICES }, () => []);
  let malformed = 0, outOfOrder = 0;
  const lastEv = new Int32Array(DEVICES).fill(-1), lastPpr = new Int32Array(DEVICES).fill(-1);
  const onEvent = (dw: Uint32Array) => {
    const code = dw[1]! >>> 28, k = (dw[0]! & 0xffff) - FIRST_DEVICE, domain = dw[1]! & 0xffff;
    const seq = dw[2]! / 4096;
    if (code !== EV_IO_PAGE_FAULT || k < 0 || k >= DEVICES || domain !== DOMAIN_BASE + k || dw[3] !== 0 || !Number.isInteger(seq) || seq >= d.requestsPerDevice) { malformed++; return; }
    if (seq <= lastEv[k]!) outOfOrder++;
    lastEv[k] = seq;
    seenEvents[k]!.push(seq);
  };
  const onPpr = (dw: Uint32Array) => {
    const e = decodePprEntry(dw);
    const k = e.deviceId - FIRST_DEVICE;
    const seq = Number(e.address) / 4096;
    if (e.code !== PPR_CODE_PAGE_SERVICE_REQUEST || k < 0 || k >= DEVICES || !e.gn || e.pasid !== k + 1 || !e.last || !Number.isInteger(seq) ||
      seq >= d.requestsPerDevice || e.prgIndex !== (seq & 0x1ff)) { malformed++; return; }
    if (seq <= lastPpr[k]!) outOfOrder++;
    lastPpr[k] = seq;
    seenPprs[k]!.push(seq);
  };
  let evSeen = mb.interrupts("event-log");
  let overflowsSeen = 0;
  for (;;) {
    const done = Atomics.load(ctl, C_DEVICE_DONE) !== 0;
    if (done) mb.waitApplied(mb.postBarrier()); // a fresh mirror for the final drain
    events.drain(onEvent);
    pprs.drain(onPpr);
    for (const c of [events, pprs]) if (c.overflowed()) { overflowsSeen++; c.drain(c === events ? onEvent : onPpr); c.restart(); }
    if (done && !events.overflowed() && !pprs.overflowed()) {
      mb.waitApplied(mb.postBarrier());
      if (events.drain(onEvent) + pprs.drain(onPpr) === 0) break;
      continue;
    }
    evSeen = mb.waitInterrupt("event-log", evSeen, 1); // the event-log MSI, or 1 ms
  }
  mb.stop();
  return {
    seenEvents, seenPprs, malformed, outOfOrder, overflowsSeen,
    events: { ...events.stats }, pprs: { ...pprs.stats },
  };
}
