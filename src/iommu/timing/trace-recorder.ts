/**
 * A trace of every translation, walk, command and page request in the Chrome trace-event
 * JSON format (the "JSON Object Format" with a traceEvents array), which Perfetto and
 * chrome://tracing open (docs/ARCHITECTURE.md section 6).
 *
 * One timeline, two processes:
 *   pid 1 "IOMMU":   the command processor, one track per walker, IOTLB hits, the event and
 *                    PPR logs
 *   pid 2 "devices": per PCIe function (DeviceID) its translations and page requests from
 *                    issue to completion
 *
 * Rules the document keeps so that Perfetto's importer raises no error stat
 * (test/timing/trace-format.test.ts checks each one on written traces):
 *   - Complete ("X") events on one track never overlap without nesting. Work that overlaps
 *     (a device with several translations in flight, IOTLB hits of several devices) goes on
 *     one track per outstanding slot ("device 01:00.0 #2"): an event takes the first slot
 *     that is free at its start. A walker is a slot already.
 *   - Timestamps are whole nanoseconds: cycles are converted to ns and rounded once, and ts
 *     and dur are written as ns / 1000 (microseconds, the format's unit), which prints with at
 *     most three decimals (no float noise) and which Perfetto's importer turns back into the
 *     same integer ns. There is no displayTimeUnit key (Perfetto counts it as a stat and
 *     older importers let it change how ts was read).
 *   - Events are written sorted by time (metadata first).
 *   - Flows: a translation that walked is bound to its walk (bind_id / flow_out on the
 *     translation, flow_in on the walk); a translation whose IOTLB entry an invalidation
 *     command covered starts a flow ("s", inside the translation) that ends in that command
 *     ("f" with bp "e", inside the command).
 *
 * The recorder exists only while tracing: when it is off the IOMMU pays one null test.
 */
import { decodeCommand } from "../../spec/commands.js";
import type { TranslationResult } from "../translation/request.js";

export interface TraceEvent {
  name: string; ph: "X" | "i" | "M" | "s" | "f"; pid: number; tid: number; ts: number;
  dur?: number; cat?: string; s?: "t" | "p" | "g"; args?: Record<string, unknown>;
  /** Flow id of an "s"/"f" event. */
  id?: number;
  /** "e": an "f" event binds to the slice that encloses it. */
  bp?: "e";
  /** Flow id of a complete event taking part in a flow (Perfetto's flow v2 fields). */
  bind_id?: number; flow_in?: boolean; flow_out?: boolean;
}

/** The document stopTrace() returns: JSON.stringify it to a .json file and open it in Perfetto. */
export interface TraceDocument {
  traceEvents: TraceEvent[];
  otherData: {
    clockHz: number; droppedEvents: number; model: string;
    /** How ts and dur are written: microseconds holding whole nanoseconds. */
    timeUnit: "us (whole ns)";
  };
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
/** Walker i is on tid TID_WALKER0 + i. */
export const TID_WALKER0 = 16;
/** IOTLB-hit slot i is on tid TID_IOTLB0 + i. */
export const TID_IOTLB0 = 1024;
/** Slots per device (and for IOTLB hits); an event finding none free is dropped and counted. */
export const MAX_SLOTS = 1023;
/** Slot i of device d is on tid deviceTid(d, i). */
export const deviceTid = (deviceId: number, slot: number): number => (deviceId + 1) * 1024 + slot;

const hex = (v: number | bigint) => "0x" + v.toString(16);
export const bdf = (id: number) => `${(id >>> 8).toString(16).padStart(2, "0")}:${((id >>> 3) & 31).toString(16).padStart(2, "0")}.${id & 7}`;

/** Tracks of one kind (a device's, the IOTLB hits'): slot i holds events up to ends[i]. */
class Slots {
  readonly ends: number[] = [];
  /** The first slot free at `start` (taken until `end`), a new one, or -1 when all MAX_SLOTS are busy. */
  take(start: number, end: number): number {
    const e = this.ends;
    for (let i = 0; i < e.length; i++) if (e[i]! <= start) { e[i] = end; return i; }
    if (e.length >= MAX_SLOTS) return -1;
    e.push(end);
    return e.length - 1;
  }
}

/** An IOTLB entry a traced walk filled: the flow source if an invalidation covers it. */
interface Fill { domain: number; gn: boolean; pasid: number; start: bigint; size: bigint; tid: number; from: number; to: number }

/** Remembered fills (the most recent ones; older are forgotten first). */
const MAX_FILLS = 1 << 16;

export class TraceRecorder {
  readonly events: TraceEvent[] = [];
  dropped = 0;
  private readonly maxEvents: number;
  private readonly nsPerCycle: number;
  private readonly deviceSlots = new Map<number, Slots>();
  private readonly hitSlots = new Slots();
  private nextFlow = 1;
  private readonly fills = new Map<string, Fill>();
  /** Fills the current command invalidated (flows end in its slice). */
  private invalidated: Fill[] = [];
  /** Per device: the end of its last untimed call (untimed calls are laid end to end). */
  private readonly untimedEnd = new Map<number, number>();

  /**
   * `domainOf(deviceId)` gives the DomainID a translation of that device was tagged with in
   * the IOTLB (or -1 when unknown): it ties invalidation commands to the translations whose
   * entries they removed.
   */
  constructor(private readonly clockHz: number, walkers: number, o: TraceOptions = {},
    private readonly domainOf: (deviceId: number) => number = () => -1) {
    if (o === null || typeof o !== "object") throw new TypeError("startTrace: options must be an object like { maxEvents: 1e6 }");
    const max = o.maxEvents ?? 1_000_000;
    if (!Number.isInteger(max) || max < 1) throw new RangeError(`startTrace: options.maxEvents must be a positive integer, got ${String(max)}`);
    this.maxEvents = max;
    this.nsPerCycle = 1e9 / clockHz;
    this.meta("process_name", PID_IOMMU, 0, { name: "IOMMU" });
    this.meta("process_name", PID_DEVICES, 0, { name: "devices" });
    this.meta("process_sort_index", PID_IOMMU, 0, { sort_index: 0 });
    this.meta("process_sort_index", PID_DEVICES, 0, { sort_index: 1 });
    this.thread(PID_IOMMU, TID_COMMANDS, "command processor", 0);
    for (let i = 0; i < walkers; i++) this.thread(PID_IOMMU, TID_WALKER0 + i, `walker ${i}`, 1 + i);
    this.thread(PID_IOMMU, TID_EVENT_LOG, "event log", 1 + walkers);
    this.thread(PID_IOMMU, TID_PPR_LOG, "PPR log", 2 + walkers);
  }

  private meta(name: string, pid: number, tid: number, args: Record<string, unknown>): void {
    this.events.push({ name, ph: "M", pid, tid, ts: 0, args });
  }
  private thread(pid: number, tid: number, name: string, sort: number): void {
    this.meta("thread_name", pid, tid, { name });
    this.meta("thread_sort_index", pid, tid, { sort_index: sort });
  }

  /** Whole nanoseconds of a cycle count (rounded once; every ts and end is derived from it). */
  private ns(cycles: number): number { return Math.round(cycles * this.nsPerCycle); }
  /** Microseconds holding whole ns: n / 1000 prints with at most three decimals. */
  private static us(ns: number): number { return ns / 1000; }

  private push(e: TraceEvent): boolean {
    if (this.events.length >= this.maxEvents) { this.dropped++; return false; }
    this.events.push(e);
    return true;
  }

  /** A complete event from cycle `start` to `end` (whole ns). */
  private complete(name: string, cat: string, pid: number, tid: number, start: number, end: number, args?: Record<string, unknown>,
    flow?: { id: number; dir: "in" | "out" }): TraceEvent | null {
    const a = this.ns(start), b = Math.max(a, this.ns(end));
    const e: TraceEvent = { name, cat, ph: "X", pid, tid, ts: TraceRecorder.us(a), dur: TraceRecorder.us(b - a) };
    if (args !== undefined) e.args = args;
    if (flow !== undefined) { e.bind_id = flow.id; if (flow.dir === "out") e.flow_out = true; else e.flow_in = true; }
    return this.push(e) ? e : null;
  }

  /** The tid of a free slot of device `id` from `start` to `end` (cycles), or -1 (dropped). */
  private deviceSlot(id: number, start: number, end: number): number {
    let s = this.deviceSlots.get(id);
    if (s === undefined) { s = new Slots(); this.deviceSlots.set(id, s); }
    const a = this.ns(start), b = Math.max(a, this.ns(end));
    const slot = s.take(a, b);
    if (slot < 0) { this.dropped++; return -1; }
    const tid = deviceTid(id, slot);
    this.nameSlot(id, slot, tid);
    return tid;
  }

  private readonly named = new Set<number>();
  private nameSlot(id: number, slot: number, tid: number): void {
    if (this.named.has(tid)) return;
    this.named.add(tid);
    this.thread(PID_DEVICES, tid, slot === 0 ? `device ${bdf(id)}` : `device ${bdf(id)} #${slot}`, id * 1024 + slot);
  }

  translation(deviceId: number, address: number | bigint, pasid: number | undefined, write: boolean, issue: number, end: number, r: TranslationResult,
    walker: number, walkStart: number, walkEnd: number, breakdown: Record<string, number>, timed = true): void {
    const tid = this.deviceSlot(deviceId, issue, end);
    if (tid < 0) return;
    const addr = hex(address);
    const args: Record<string, unknown> = {
      deviceId: bdf(deviceId), address: addr, pasid: pasid ?? null, write, ok: r.ok, spa: hex(r.spa), pageSize: r.pageSize, path: r.path, fault: r.fault,
      iotlbHit: r.iotlbHit, memoryReferences: r.memoryReferences, walkReferences: r.walkReferences, pdeHits: r.pdeHits,
      adUpdates: r.adUpdates, event: r.event, cycles: r.cycles, latency: end - issue, breakdown, timed,
    };
    const walked = walker >= 0;
    const flow = walked ? this.nextFlow++ : 0;
    const t = this.complete(`${write ? "write" : "read"} ${addr}`, "translation", PID_DEVICES, tid, issue, end, args,
      walked ? { id: flow, dir: "out" } : undefined);
    if (t === null) return;
    if (walked) {
      this.complete(`walk ${bdf(deviceId)} ${addr}`, "walk", PID_IOMMU, TID_WALKER0 + walker, walkStart, walkEnd,
        { deviceId: bdf(deviceId), address: addr, walkReferences: r.walkReferences, pdeHits: r.pdeHits, adUpdates: r.adUpdates, fault: r.fault },
        { id: flow, dir: "in" });
    } else if (r.iotlbHit) {
      const slot = this.hitSlots.take(this.ns(issue), Math.max(this.ns(issue), this.ns(end)));
      if (slot < 0) this.dropped++;
      else {
        const hitTid = TID_IOTLB0 + slot;
        if (!this.named.has(hitTid)) { this.named.add(hitTid); this.thread(PID_IOMMU, hitTid, slot === 0 ? "IOTLB hits" : `IOTLB hits #${slot}`, 100 + slot); }
        this.complete(`hit ${bdf(deviceId)} ${addr}`, "iotlb", PID_IOMMU, hitTid, issue, end);
      }
    }
    if (r.ok && !r.iotlbHit && r.pageSize > 0 && (r.path === "host" || r.path === "guest" || r.path === "nested")) {
      this.rememberFill(deviceId, address, pasid, r, tid, issue, end);
    }
    if (r.event !== 0) {
      this.push({ name: `event ${r.fault ?? r.event}`, cat: "event-log", ph: "i", s: "t", pid: PID_IOMMU, tid: TID_EVENT_LOG,
        ts: TraceRecorder.us(this.ns(end)), args: { deviceId: bdf(deviceId), code: r.event } });
    }
  }

  /**
   * A translation made through the untimed calls (translate, translateInto, translateAts,
   * pageRequest): placed at the IOMMU clock, after the same device's previous untimed call
   * (a device's untimed calls are laid end to end; args.timed = false says so).
   */
  untimedStart(deviceId: number, now: number): number {
    const prev = this.untimedEnd.get(deviceId) ?? 0;
    return prev > now ? prev : now;
  }
  untimedDone(deviceId: number, end: number): void { this.untimedEnd.set(deviceId, end); }

  private rememberFill(deviceId: number, address: number | bigint, pasid: number | undefined, r: TranslationResult, tid: number, issue: number, end: number): void {
    const size = BigInt(r.pageSize);
    const start = BigInt(address) & ~(size - 1n);
    const gn = r.path === "guest" || r.path === "nested";
    const domain = this.domainOf(deviceId);
    const key = `${domain}:${gn ? pasid ?? 0 : -1}:${start}`;
    this.fills.delete(key);
    if (this.fills.size >= MAX_FILLS) this.fills.delete(this.fills.keys().next().value!);
    const a = this.ns(issue), b = Math.max(a, this.ns(end));
    if (b - a < 2) return; // a flow start needs a point strictly inside the slice
    this.fills.set(key, { domain, gn, pasid: gn ? pasid ?? 0 : -1, start, size, tid, from: a, to: b });
  }

  /** The command running now invalidates IOTLB entries (INVALIDATE_IOMMU_PAGES; all = every entry). */
  invalidatePages(domain: number, gn: boolean, pasid: number, start: bigint, size: bigint, all: boolean): void {
    for (const [k, f] of this.fills) {
      if (!all) {
        if (f.domain !== domain || f.gn !== gn || (gn && f.pasid !== pasid)) continue;
        if (f.start + f.size <= start || f.start >= start + size) continue;
      } else if (f.domain !== domain) continue;
      this.invalidated.push(f);
      this.fills.delete(k);
    }
  }
  /** The command running now invalidates every cached translation (INVALIDATE_IOMMU_ALL). */
  invalidateAll(): void {
    for (const f of this.fills.values()) this.invalidated.push(f);
    this.fills.clear();
  }

  command(dw: Uint32Array, addr: number, start: number, end: number): void {
    const c = decodeCommand(dw);
    const fields: Record<string, string> = {};
    for (const [k, v] of Object.entries(c.fields)) fields[k] = "0x" + v.toString(16);
    const inv = this.invalidated;
    this.invalidated = [];
    const e = this.complete(c.name, "command", PID_IOMMU, TID_COMMANDS, start, end,
      { address: hex(addr), ...fields, ...(inv.length > 0 ? { invalidatedTranslations: inv.length } : {}) });
    if (e === null || inv.length === 0) return;
    const a = Math.round(e.ts * 1000), b = a + Math.round(e.dur! * 1000);
    if (b - a < 2) return; // no point strictly inside the command to bind the flow ends to
    const mid = Math.floor((a + b) / 2);
    for (const f of inv) {
      // the start: inside the translation's slice (its middle, or earlier when the command came
      // while it was still in flight: its IOTLB fill happened at issue), before the command's middle
      const at = Math.max(f.from + 1, Math.min(Math.floor((f.from + f.to) / 2), mid - 1));
      if (at >= f.to || at >= mid) continue; // the translation began after the command: no flow backwards in time
      const id = this.nextFlow++;
      this.push({ name: "invalidated by", cat: "flow", ph: "s", id, pid: PID_DEVICES, tid: f.tid, ts: TraceRecorder.us(at) });
      this.push({ name: "invalidated by", cat: "flow", ph: "f", bp: "e", id, pid: PID_IOMMU, tid: TID_COMMANDS, ts: TraceRecorder.us(mid) });
    }
  }

  pageRequest(deviceId: number, address: number | bigint, prgIndex: number, outcome: string, issue: number, done: number, timed = true): void {
    const tid = this.deviceSlot(deviceId, issue, done);
    if (tid < 0) return;
    const addr = hex(address);
    this.complete(`page request ${addr}`, "ppr", PID_DEVICES, tid, issue, done, { deviceId: bdf(deviceId), address: addr, prgIndex, outcome, timed });
    this.push({ name: `PPR ${outcome}`, cat: "ppr", ph: "i", s: "t", pid: PID_IOMMU, tid: TID_PPR_LOG, ts: TraceRecorder.us(this.ns(done)),
      args: { deviceId: bdf(deviceId), address: addr, prgIndex } });
  }

  /** An instant on a device's first track (device models: PRG responses, replays, ATS invalidations). */
  deviceMark(deviceId: number, name: string, cycle: number, args: Record<string, unknown> = {}): void {
    const tid = deviceTid(deviceId, 0);
    this.nameSlot(deviceId, 0, tid);
    this.push({ name, cat: "device", ph: "i", s: "t", pid: PID_DEVICES, tid, ts: TraceRecorder.us(this.ns(cycle)), args });
  }

  /** The events sorted by time (metadata first; a stable sort keeps each slice before the flow points inside it). */
  document(): TraceDocument {
    const meta = this.events.filter((e) => e.ph === "M");
    const timed = this.events.filter((e) => e.ph !== "M").sort((x, y) => x.ts - y.ts);
    return {
      traceEvents: [...meta, ...timed],
      otherData: { clockHz: this.clockHz, droppedEvents: this.dropped, model: "amd-iommu-v2-model", timeUnit: "us (whole ns)" },
    };
  }
}
