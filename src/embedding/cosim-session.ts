/**
 * The co-simulation protocol: one session of newline-delimited JSON messages between a host
 * simulator (C, C++, anything that can run a child process) and IOMMU models over a shared
 * physical address space. `npm start -- serve` (src/cli/serve.ts) connects it to stdin and
 * stdout; tests drive it directly.
 *
 * Request:       {"id": 1, "op": "translate", "iommu": "0", "deviceId": 256, "address": "0x10000000"}
 * Answer:        {"id": 1, "ok": true, ...result}  or  {"id": 1, "ok": false, "error": "..."}
 * Notification:  {"notify": "unmap", "iommu": "0", ...}   (written before the answer of the request that caused it)
 *
 * 64-bit quantities (addresses, register values) are written as "0x..." strings and accepted
 * as strings ("0x..." or decimal) or safe-integer numbers; memory blocks are base64. A bad
 * message gets an error answer and the session goes on: nothing the host sends ends it but
 * "quit" or the end of input.
 */
import { AmdIommu } from "../iommu/amd-iommu.js";
import type { AmdIommuOptions } from "../iommu/options.js";
import type { AtsInvalidation, EndpointPort, PrgResponse } from "../iommu/endpoint-port.js";
import type { TranslationRequest, TranslationResult } from "../iommu/translation/request.js";
import type { NotifierKind } from "./invalidation-notifiers.js";
import type { IommuSnapshot } from "./iommu-snapshot.js";
import { RegionMemory } from "./memory-regions.js";

export const PROTOCOL_VERSION = 1;
type Msg = Record<string, unknown>;
type Out = (line: Msg) => void;

const NOTIFIER_KINDS: readonly NotifierKind[] = ["unmap", "device-tlb-unmap", "map"];
const EVENTS = [...NOTIFIER_KINDS, "interrupt", "prg-response"] as const;
type EventName = (typeof EVENTS)[number];

/** JSON for bigints: "0x..." strings. */
export function hex(v: number | bigint): string { return "0x" + v.toString(16); }

function int(m: Msg, k: string, o: { optional?: boolean; max?: number } = {}): number {
  const v = m[k];
  if (v === undefined && o.optional) return NaN;
  const n = typeof v === "string" && /^(0x[0-9a-f]+|\d+)$/i.test(v.trim()) ? Number(BigInt(v.trim())) : v;
  if (typeof n !== "number" || !Number.isSafeInteger(n) || n < 0 || (o.max !== undefined && n > o.max)) {
    throw new RangeError(`${k} must be an integer${o.max !== undefined ? ` 0..${o.max}` : " >= 0"} (number or "0x..." string), got ${JSON.stringify(v)}`);
  }
  return n;
}
function big(m: Msg, k: string): bigint {
  const v = m[k];
  if (typeof v === "string" && /^(0x[0-9a-f]+|\d+)$/i.test(v.trim())) return BigInt(v.trim());
  if (typeof v === "number" && Number.isSafeInteger(v) && v >= 0) return BigInt(v);
  throw new RangeError(`${k} must be a non-negative integer (number or "0x..." string), got ${JSON.stringify(v)}`);
}
function bool(m: Msg, k: string): boolean | undefined {
  const v = m[k];
  if (v === undefined || typeof v === "boolean") return v;
  throw new TypeError(`${k} must be true or false, got ${JSON.stringify(v)}`);
}

function resultJson(r: TranslationResult): Msg {
  return {
    allowed: r.ok, spa: hex(r.spa), pageSize: r.pageSize, cycles: r.cycles, completionCycle: r.completionCycle,
    readable: r.readable, writable: r.writable, executable: r.executable, user: r.user, fault: r.fault, event: r.event,
    path: r.path, iotlbHit: r.iotlbHit, memoryReferences: r.memoryReferences,
  };
}

/** Bigints to "0x..." strings, recursively (notifications, replay, statistics). */
function jsonable(x: unknown): unknown {
  if (typeof x === "bigint") return hex(x);
  if (Array.isArray(x)) return x.map(jsonable);
  if (x !== null && typeof x === "object") return Object.fromEntries(Object.entries(x).map(([k, v]) => [k, jsonable(v)]));
  return x;
}

/** An endpoint whose ATS Invalidate Completions come back after a fixed latency; PRG responses become notifications. */
class PipeEndpoint implements EndpointPort {
  constructor(private readonly latency: number | null, private readonly onPrg: (r: PrgResponse) => void) {}
  atsInvalidate(_req: AtsInvalidation): number | null { return this.latency; }
  prgResponse(resp: PrgResponse): void { this.onPrg(resp); }
}

interface Entry { io: AmdIommu; subs: Set<EventName>; off: (() => void)[] }

export class CosimSession {
  readonly memory = new RegionMemory();
  private readonly iommus = new Map<string, Entry>();
  /** Set by "quit". */
  done = false;

  constructor(private readonly out: Out) {}

  /** Handle one input line; writes notifications and exactly one answer. */
  line(text: string): void {
    if (text.trim() === "") return;
    let msg: unknown;
    try { msg = JSON.parse(text); } catch { this.out({ id: null, ok: false, error: "not a JSON object: " + text.slice(0, 80) }); return; }
    if (msg === null || typeof msg !== "object" || Array.isArray(msg)) { this.out({ id: null, ok: false, error: "a message must be a JSON object with \"op\"" }); return; }
    this.out(this.request(msg as Msg));
  }

  /** Handle one parsed request and return its answer (notifications are written as they happen). */
  request(m: Msg): Msg {
    const id = m.id ?? null;
    try {
      return { id, ok: true, ...this.handle(m) };
    } catch (e) {
      return { id, ok: false, error: e instanceof Error ? e.message : String(e) };
    }
  }

  private entry(m: Msg): Entry {
    const name = String(m.iommu ?? "0");
    const e = this.iommus.get(name);
    if (!e) throw new RangeError(`iommu "${name}" does not exist (create-iommu first; known: ${[...this.iommus.keys()].join(", ") || "none"})`);
    return e;
  }

  private handle(m: Msg): Msg {
    switch (m.op) {
      case "hello":
        return { protocol: PROTOCOL_VERSION, ops: OPS };
      case "add-memory": {
        const r = this.memory.add(int(m, "base"), int(m, "bytes"));
        return { base: hex(r.base), bytes: r.bytes };
      }
      case "write-memory": {
        if (typeof m.data !== "string") throw new TypeError("data must be a base64 string");
        const data = Buffer.from(m.data, "base64");
        this.memory.writeBytes(int(m, "pa"), data);
        return { bytes: data.length };
      }
      case "read-memory":
        return { data: Buffer.from(this.memory.readBytes(int(m, "pa"), int(m, "bytes", { max: 1 << 24 }))).toString("base64") };
      case "create-iommu":
        return this.createIommu(m);
      case "mmio-read": {
        const io = this.entry(m).io;
        const off = int(m, "offset");
        return { value: m.width === 32 ? hex(io.mmioRead32(off)) : hex(io.mmioRead64(off)) };
      }
      case "mmio-write": {
        const io = this.entry(m).io;
        const off = int(m, "offset");
        if (m.width === 32) io.mmioWrite32(off, Number(big(m, "value") & 0xffff_ffffn));
        else io.mmioWrite64(off, big(m, "value"));
        return {};
      }
      case "translate":
        return this.translate(m);
      case "advance": {
        const list = m.iommu === undefined ? [...this.iommus.values()] : [this.entry(m)];
        const to = int(m, "cycle", { optional: true });
        const cycles = list.map((e) => (Number.isNaN(to) ? e.io.runUntilIdle() : e.io.advanceTo(to)));
        return { cycle: cycles.length === 0 ? 0 : Math.max(...cycles) };
      }
      case "subscribe":
      case "unsubscribe": {
        const e = this.entry(m);
        const names = m.events;
        if (!Array.isArray(names) || names.some((n) => !(EVENTS as readonly unknown[]).includes(n))) throw new RangeError(`events must be a list of ${EVENTS.join(", ")}`);
        for (const n of names as EventName[]) { if (m.op === "subscribe") e.subs.add(n); else e.subs.delete(n); }
        return { events: [...e.subs] };
      }
      case "attach-endpoint": {
        const e = this.entry(m);
        const name = String(m.iommu ?? "0");
        const latency = m.atsLatency === null ? null : int(m, "atsLatency");
        e.io.attachEndpoint(int(m, "deviceId", { max: 0xffff }), new PipeEndpoint(latency, (r) => this.notify(e, name, "prg-response", { ...r })));
        return {};
      }
      case "page-request": {
        const io = this.entry(m).io as unknown as { pageRequest?: (r: unknown) => string };
        if (typeof io.pageRequest !== "function") throw new Error("page-request: this build of the IOMMU has no PRI");
        const req: Msg = { deviceId: int(m, "deviceId", { max: 0xffff }), address: big(m, "address"), prgIndex: int(m, "prgIndex", { max: 511 }), last: bool(m, "last") ?? true };
        if (m.pasid !== undefined) req.pasid = int(m, "pasid", { max: 0xfffff });
        for (const k of ["read", "write", "execute", "privileged"]) if (m[k] !== undefined) req[k] = bool(m, k);
        return { outcome: io.pageRequest(req) };
      }
      case "replay": {
        const e = this.entry(m);
        const limit = Number.isNaN(int(m, "limit", { optional: true })) ? 4096 : int(m, "limit");
        const opts = m.pasid === undefined ? {} : { pasid: m.pasid === null ? null : int(m, "pasid", { max: 0xfffff }) };
        const mappings: unknown[] = [];
        let truncated = false;
        for (const x of e.io.replay(int(m, "deviceId", { max: 0xffff }), opts)) {
          if (mappings.length === limit) { truncated = true; break; }
          mappings.push(jsonable({ ...x, spa: hex(x.spa) }));
        }
        return { mappings, truncated };
      }
      case "stats":
        return { stats: jsonable(this.entry(m).io.stats()) as Msg };
      case "snapshot":
        return { snapshot: this.entry(m).io.snapshot() as unknown as Msg };
      case "restore":
        this.entry(m).io.restore(m.snapshot as IommuSnapshot);
        return {};
      case "quit":
        this.done = true;
        return {};
      default:
        throw new RangeError(`unknown op ${JSON.stringify(m.op)} (known: ${OPS.join(", ")})`);
    }
  }

  private createIommu(m: Msg): Msg {
    const name = String(m.iommu ?? "0");
    if (this.iommus.has(name)) throw new RangeError(`iommu "${name}" exists already`);
    if (this.memory.regions.length === 0) throw new Error("create-iommu: add a memory region first (add-memory)");
    const options = (m.options ?? {}) as Omit<AmdIommuOptions, "memory" | "onInterrupt">;
    if (options === null || typeof options !== "object") throw new TypeError("options must be an object of AmdIommu options");
    const entry: Entry = { io: null as unknown as AmdIommu, subs: new Set(), off: [] };
    entry.io = new AmdIommu({
      ...options, memory: this.memory, segment: m.segment === undefined ? options.segment : int(m, "segment", { max: 0xffff }),
      onInterrupt: (source) => this.notify(entry, name, "interrupt", { source }),
    });
    for (const k of NOTIFIER_KINDS) entry.off.push(entry.io.notifiers.on(k, (ev) => this.notify(entry, name, k, ev as unknown as Msg)));
    this.iommus.set(name, entry);
    return { iommu: name, segment: entry.io.segment };
  }

  private translate(m: Msg): Msg {
    const io = this.entry(m).io;
    const req: TranslationRequest = { deviceId: int(m, "deviceId", { max: 0xffff }), address: big(m, "address") };
    if (m.pasid !== undefined) req.pasid = int(m, "pasid", { max: 0xfffff });
    for (const k of ["write", "execute", "privileged"] as const) { const b = bool(m, k); if (b !== undefined) req[k] = b; }
    const kind = m.kind ?? "untranslated";
    const cycle = int(m, "cycle", { optional: true });
    if (kind === "untranslated") return resultJson(Number.isNaN(cycle) ? io.translate(req) : io.translateTimed(req, cycle));
    if (!Number.isNaN(cycle)) throw new RangeError(`cycle (timed mode) is for kind "untranslated" only`);
    if (kind === "ats") return resultJson(io.translateAts(req));
    if (kind === "peek") return resultJson(io.peek(req));
    throw new RangeError(`kind must be "untranslated", "ats" or "peek", got ${JSON.stringify(kind)}`);
  }

  private notify(e: Entry, name: string, kind: EventName, body: Msg): void {
    if (!e.subs.has(kind)) return;
    const { type: _t, ...rest } = body;
    if (typeof rest.spa === "number") rest.spa = hex(rest.spa);
    this.out({ notify: kind, iommu: name, ...(jsonable(rest) as Msg) });
  }
}

export const OPS = [
  "hello", "add-memory", "write-memory", "read-memory", "create-iommu", "mmio-read", "mmio-write", "translate", "advance",
  "subscribe", "unsubscribe", "attach-endpoint", "page-request", "replay", "stats", "snapshot", "restore", "quit",
] as const;
