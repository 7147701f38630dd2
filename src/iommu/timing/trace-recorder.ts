/**
 * A trace of every translation, walk, command and page request in the Chrome trace-event
 * JSON format (the "JSON Object Format" with a traceEvents array), which Perfetto and
 * chrome://tracing open (docs/ARCHITECTURE.md section 6).
 *
 * One timeline, two processes:
 *   pid 1 "IOMMU":   the command processor, one track per walker, the event and PPR logs
 *   pid 2 "devices": one track per PCIe function (DeviceID) with its translations and
 *                    page requests from issue to completion
 * Timestamps are IOMMU cycles converted to microseconds with the profile's clock. The
 * recorder exists only while tracing: when it is off the IOMMU pays one null test.
 */
import { decodeCommand } from "../../spec/commands.js";
import type { TranslationResult } from "../translation/request.js";

export interface TraceEvent {
  name: string; ph: "X" | "i" | "M"; pid: number; tid: number; ts: number;
  dur?: number; cat?: string; s?: "t" | "p" | "g"; args?: Record<string, unknown>;
}

/** The document stopTrace() returns: JSON.stringify it to a .json file and open it in Perfetto. */
export interface TraceDocument {
  traceEvents: TraceEvent[];
  displayTimeUnit: "ns" | "ms";
  otherData: { clockHz: number; droppedEvents: number; model: string };
}

export interface TraceOptions {
  /** Stop recording (and count drops) after this many events; default 1,000,000. */
  maxEvents?: number;
}

export const PID_IOMMU = 1;
export const PID_DEVICES = 2;
export const TID_COMMANDS = 1;
export const TID_EVENT_LOG = 2;
export const TID_PPR_LOG = 3;
export const TID_IOTLB = 4;
/** Walker i is on tid TID_WALKER0 + i. */
export const TID_WALKER0 = 16;

const hex = (v: number) => "0x" + v.toString(16);
const bdf = (id: number) => `${(id >>> 8).toString(16).padStart(2, "0")}:${((id >>> 3) & 31).toString(16).padStart(2, "0")}.${id & 7}`;

export class TraceRecorder {
  readonly events: TraceEvent[] = [];
  dropped = 0;
  private readonly maxEvents: number;
  private readonly devices = new Set<number>();
  private readonly usPerCycle: number;

  constructor(private readonly clockHz: number, private readonly walkers: number, o: TraceOptions = {}) {
    if (o === null || typeof o !== "object") throw new TypeError("startTrace: options must be an object like { maxEvents: 1e6 }");
    const max = o.maxEvents ?? 1_000_000;
    if (!Number.isInteger(max) || max < 1) throw new RangeError(`startTrace: options.maxEvents must be a positive integer, got ${String(max)}`);
    this.maxEvents = max;
    this.usPerCycle = 1e6 / clockHz;
    const meta = (pid: number, tid: number, name: string, sort: number) => {
      this.events.push({ name: "thread_name", ph: "M", pid, tid, ts: 0, args: { name } });
      this.events.push({ name: "thread_sort_index", ph: "M", pid, tid, ts: 0, args: { sort_index: sort } });
    };
    this.events.push({ name: "process_name", ph: "M", pid: PID_IOMMU, tid: 0, ts: 0, args: { name: "IOMMU" } });
    this.events.push({ name: "process_name", ph: "M", pid: PID_DEVICES, tid: 0, ts: 0, args: { name: "devices" } });
    meta(PID_IOMMU, TID_COMMANDS, "command processor", 0);
    meta(PID_IOMMU, TID_IOTLB, "IOTLB hits", 1);
    for (let i = 0; i < walkers; i++) meta(PID_IOMMU, TID_WALKER0 + i, `walker ${i}`, 2 + i);
    meta(PID_IOMMU, TID_EVENT_LOG, "event log", 2 + walkers);
    meta(PID_IOMMU, TID_PPR_LOG, "PPR log", 3 + walkers);
  }

  private us(cycles: number): number { return cycles * this.usPerCycle; }

  private push(e: TraceEvent): void {
    if (this.events.length >= this.maxEvents) { this.dropped++; return; }
    this.events.push(e);
  }

  private device(id: number): number {
    if (!this.devices.has(id)) {
      this.devices.add(id);
      this.events.push({ name: "thread_name", ph: "M", pid: PID_DEVICES, tid: id + 1, ts: 0, args: { name: `device ${bdf(id)}` } });
    }
    return id + 1;
  }

  translation(deviceId: number, address: number | bigint, pasid: number | undefined, write: boolean, issue: number, r: TranslationResult,
    walker: number, walkStart: number, walkEnd: number, breakdown: Record<string, number>): void {
    const tid = this.device(deviceId);
    const addr = typeof address === "bigint" ? "0x" + address.toString(16) : hex(address);
    const args = {
      address: addr, pasid: pasid ?? null, write, ok: r.ok, spa: hex(r.spa), pageSize: r.pageSize, path: r.path, fault: r.fault,
      iotlbHit: r.iotlbHit, memoryReferences: r.memoryReferences, walkReferences: r.walkReferences, pdeHits: r.pdeHits,
      adUpdates: r.adUpdates, event: r.event, cycles: r.cycles, latency: r.completionCycle - issue, breakdown,
    };
    this.push({ name: `${write ? "write" : "read"} ${addr}`, cat: "translation", ph: "X", pid: PID_DEVICES, tid, ts: this.us(issue),
      dur: this.us(r.completionCycle - issue), args });
    if (walker >= 0) {
      this.push({ name: `walk ${bdf(deviceId)} ${addr}`, cat: "walk", ph: "X", pid: PID_IOMMU, tid: TID_WALKER0 + walker,
        ts: this.us(walkStart), dur: this.us(walkEnd - walkStart),
        args: { deviceId: bdf(deviceId), address: addr, walkReferences: r.walkReferences, pdeHits: r.pdeHits, adUpdates: r.adUpdates, fault: r.fault } });
    } else if (r.iotlbHit) {
      this.push({ name: `hit ${bdf(deviceId)} ${addr}`, cat: "iotlb", ph: "X", pid: PID_IOMMU, tid: TID_IOTLB, ts: this.us(issue),
        dur: this.us(r.completionCycle - issue) });
    }
    if (r.event !== 0) {
      this.push({ name: `event ${r.fault ?? r.event}`, cat: "event-log", ph: "i", s: "t", pid: PID_IOMMU, tid: TID_EVENT_LOG,
        ts: this.us(r.completionCycle), args: { deviceId: bdf(deviceId), code: r.event } });
    }
  }

  command(dw: Uint32Array, addr: number, start: number, end: number): void {
    const c = decodeCommand(dw);
    const fields: Record<string, string> = {};
    for (const [k, v] of Object.entries(c.fields)) fields[k] = "0x" + v.toString(16);
    this.push({ name: c.name, cat: "command", ph: "X", pid: PID_IOMMU, tid: TID_COMMANDS, ts: this.us(start), dur: this.us(end - start),
      args: { address: hex(addr), ...fields } });
  }

  pageRequest(deviceId: number, address: number | bigint, prgIndex: number, outcome: string, issue: number, done: number): void {
    const tid = this.device(deviceId);
    const addr = typeof address === "bigint" ? "0x" + address.toString(16) : hex(address);
    this.push({ name: `page request ${addr}`, cat: "ppr", ph: "X", pid: PID_DEVICES, tid, ts: this.us(issue), dur: this.us(done - issue),
      args: { address: addr, prgIndex, outcome } });
    this.push({ name: `PPR ${outcome}`, cat: "ppr", ph: "i", s: "t", pid: PID_IOMMU, tid: TID_PPR_LOG, ts: this.us(done),
      args: { deviceId: bdf(deviceId), address: addr, prgIndex } });
  }

  /** An instant on a device track (device models: PRG responses, replays, ATS invalidations). */
  deviceMark(deviceId: number, name: string, cycle: number, args: Record<string, unknown> = {}): void {
    const tid = this.device(deviceId);
    this.push({ name, cat: "device", ph: "i", s: "t", pid: PID_DEVICES, tid, ts: this.us(cycle), args });
  }

  document(): TraceDocument {
    return { traceEvents: this.events, displayTimeUnit: "ns", otherData: { clockHz: this.clockHz, droppedEvents: this.dropped, model: "amd-iommu-v2-model" } };
  }
}
