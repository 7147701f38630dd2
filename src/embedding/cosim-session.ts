/**
 * The co-simulation protocol: one session of newline-delimited JSON messages between a host
 * simulator (C, C++, anything that can run a child process) and IOMMU models over a shared
 * physical address space. `npm start -- serve` (src/cli/serve.ts) connects it to stdin and
 * stdout; tests drive it directly.
 *
 * Request:       {"id": 1, "op": "translate", "iommu": "0", "deviceId": 256, "address": "0x10000000"}
 * Answer:        {"id": 1, "ok": true, ...result}  or  {"id": 1, "ok": false, "error": "deviceId: ...", "field": "deviceId"}
 * Notification:  {"notify": "unmap", "iommu": "0", "cycle": 1234, ...}   (written before the answer of the request that caused it)
 *
 * The protocol is declared: every op's request and answer is a TypeBox schema in OPS below
 * (published as schema/pipe-protocol.schema.json by `npm run schemas`). A request is checked
 * against its op's schema before anything runs: unknown fields, out-of-range values and bad
 * base64 get an error answer naming the field. 64-bit quantities (addresses, SPAs, page
 * sizes, register values) go out as "0x..." strings and come in as strings ("0x..." or
 * decimal) or safe-integer numbers. Every line gets exactly one answer (lines longer than
 * PIPE_LIMITS.lineBytes or nested deeper than PIPE_LIMITS.depth an error answer with id null);
 * nothing the host sends ends the session but "quit" or the end of input.
 *
 * Adding an op is one entry in OPS: its name, summary, request fields, answer fields and handler.
 */
import { Type, type Static, type TProperties, type TObject } from "@sinclair/typebox";
import { AmdIommu } from "../iommu/amd-iommu.js";
import type { AmdIommuOptions } from "../iommu/options.js";
import type { AtsInvalidation, EndpointPort, PrgResponse } from "../iommu/endpoint-port.js";
import type { TranslationRequest, TranslationResult } from "../iommu/translation/request.js";
import type { InterruptRemapResult, InterruptRequest } from "../iommu/interrupts/interrupt-request.js";
import type { Mapping, NotifierKind } from "./invalidation-notifiers.js";
import type { IommuSnapshot } from "./iommu-snapshot.js";
import { RegionMemory } from "./memory-regions.js";
import type { MemoryPort } from "../memory/memory-port.js";
import {
  BASE64_IN, BOOL, COUNT_OUT, ERROR_ANSWER, NAME, PIPE_LIMITS, PipeFieldError, TARGET, U64_OUT, answerSchema, compileCheck,
  hex, jsonDepthExceeds, protocolJsonSchema, requestSchema, toBig, toUint, u64In, uintIn, type OpSchema,
} from "./pipe-schema.js";
import { SNAPSHOT_IN, SNAPSHOT_OUT, IOMMU_OPTIONS_IN } from "./snapshot-schema.js";

export { hex, PIPE_LIMITS };
/** 2: the protocol is declared (schema/pipe-protocol.schema.json); pageSize is a "0x..." string; notifications carry `cycle`. */
export const PROTOCOL_VERSION = 2;
type Msg = Record<string, unknown>;

const NOTIFIER_KINDS: readonly NotifierKind[] = ["unmap", "device-tlb-unmap", "map"];
const EVENTS = [...NOTIFIER_KINDS, "interrupt", "prg-response"] as const;
type EventName = (typeof EVENTS)[number];

const DEVICE_ID = uintIn(0xffff, "DeviceID");
const PASID = uintIn(0xfffff, "PASID");
const CYCLE = uintIn(Number.MAX_SAFE_INTEGER, "cycle");
const opt = Type.Optional;

/** An endpoint whose ATS Invalidate Completions come back after a fixed latency; PRG responses become notifications. */
class PipeEndpoint implements EndpointPort {
  constructor(private readonly latency: number | null, private readonly onPrg: (r: PrgResponse) => void) {}
  atsInvalidate(_req: AtsInvalidation): number | null { return this.latency; }
  prgResponse(resp: PrgResponse): void { this.onPrg(resp); }
}

interface Entry { name: string; io: AmdIommu; subs: Set<EventName>; off: (() => void)[] }

// ---- answers' shapes --------------------------------------------------------------------

const FAULT = Type.Union([Type.String(), Type.Null()]);
const TRANSLATION_OUT = {
  allowed: BOOL, spa: U64_OUT, pageSize: U64_OUT, cycles: Type.Number({ minimum: 0 }), completionCycle: Type.Number({ minimum: 0 }),
  readable: BOOL, writable: BOOL, executable: BOOL, user: BOOL, fault: FAULT, event: COUNT_OUT, path: Type.String(),
  iotlbHit: BOOL, memoryReferences: COUNT_OUT,
};
const MAPPING_OUT = Type.Object({
  deviceId: COUNT_OUT, domainId: COUNT_OUT, pasid: Type.Union([COUNT_OUT, Type.Null()]), gn: BOOL, nested: BOOL,
  address: U64_OUT, pageSize: U64_OUT, spa: U64_OUT, readable: BOOL, writable: BOOL, executable: BOOL, user: BOOL,
}, { additionalProperties: false });

function translationJson(r: TranslationResult): Msg {
  return {
    allowed: r.ok, spa: hex(r.spa), pageSize: hex(r.pageSize), cycles: r.cycles, completionCycle: r.completionCycle,
    readable: r.readable, writable: r.writable, executable: r.executable, user: r.user, fault: r.fault, event: r.event,
    path: r.path, iotlbHit: r.iotlbHit, memoryReferences: r.memoryReferences,
  };
}
const INTERRUPT_OUT = {
  delivered: BOOL, address: U64_OUT, data: COUNT_OUT, vector: COUNT_OUT, destination: COUNT_OUT, deliveryMode: COUNT_OUT, destinationMode: COUNT_OUT,
  posted: BOOL, fault: FAULT, event: COUNT_OUT, path: Type.String(), index: Type.Integer({ minimum: -1 }), requestEoi: BOOL, doorbell: BOOL,
  gaLogged: BOOL, irteCacheHit: BOOL, cycles: Type.Number({ minimum: 0 }), completionCycle: Type.Number({ minimum: 0 }),
};
function interruptJson(r: InterruptRemapResult): Msg {
  return {
    delivered: r.ok, address: hex(r.address), data: r.data, vector: r.vector, destination: r.destination, deliveryMode: r.deliveryMode,
    destinationMode: r.destinationMode, posted: r.posted, fault: r.fault, event: r.event, path: r.path, index: r.index, requestEoi: r.requestEoi,
    doorbell: r.doorbell, gaLogged: r.gaLogged, irteCacheHit: r.irteCacheHit, cycles: r.cycles, completionCycle: r.completionCycle,
  };
}
function mappingJson(x: Mapping): Msg {
  return {
    deviceId: x.deviceId, domainId: x.domainId, pasid: x.pasid, gn: x.gn, nested: x.nested, address: hex(x.address),
    pageSize: hex(BigInt(x.pageSize)), spa: hex(x.spa), readable: x.readable, writable: x.writable, executable: x.executable, user: x.user,
  };
}
/** Bigints to "0x..." strings, recursively (statistics). */
function jsonable(x: unknown): unknown {
  if (typeof x === "bigint") return hex(x);
  if (Array.isArray(x)) return x.map(jsonable);
  if (x !== null && typeof x === "object") return Object.fromEntries(Object.entries(x).map(([k, v]) => [k, jsonable(v)]));
  return x;
}

// ---- notifications ----------------------------------------------------------------------

const NOTE = (kind: string, props: TProperties) => Type.Object({ notify: Type.Literal(kind), iommu: NAME, cycle: Type.Number({ minimum: 0 }), ...props }, { additionalProperties: false });
const NULLABLE_INT = Type.Union([COUNT_OUT, Type.Null()]);
export const NOTIFICATION = Type.Union([
  NOTE("unmap", { command: Type.String(), domainId: NULLABLE_INT, deviceId: NULLABLE_INT, gn: BOOL, pasid: NULLABLE_INT, start: U64_OUT, size: U64_OUT, all: BOOL, pde: BOOL }),
  NOTE("device-tlb-unmap", { deviceId: COUNT_OUT, gn: BOOL, pasid: NULLABLE_INT, start: U64_OUT, size: U64_OUT, all: BOOL }),
  NOTE("map", { ...MAPPING_OUT.properties, cause: Type.String() }),
  NOTE("interrupt", { source: Type.String() }),
  NOTE("prg-response", { deviceId: COUNT_OUT, pasid: COUNT_OUT, gn: BOOL, prgIndex: COUNT_OUT, responseCode: COUNT_OUT }),
], { $id: "notification" });

// ---- ops --------------------------------------------------------------------------------

/** An op as the session keeps it (the handler's request type is its schema's). */
export interface AnyOp extends OpSchema { handle(s: CosimSession, m: never): Msg }
interface OpDef<P extends TProperties> extends OpSchema {
  handle(s: CosimSession, m: Static<TObject<P>>): Msg;
}
function op<P extends TProperties>(name: string, summary: string, request: P, answer: TProperties, handle: (s: CosimSession, m: Static<TObject<P>>) => Msg): OpDef<P> {
  return { name, summary, request: requestSchema(name, request), answer: answerSchema(name, answer), handle };
}

/** Every op of the protocol: name, summary, request fields, answer fields, handler. */
export const OPS: readonly AnyOp[] = [
  op("hello", "protocol version, op names and limits", {}, {
    protocol: Type.Integer(), ops: Type.Array(Type.String()), limits: Type.Record(Type.String(), Type.Number()),
  }, () => ({ protocol: PROTOCOL_VERSION, ops: OPS.map((o) => o.name), limits: { ...PIPE_LIMITS } })),

  op("add-memory", "add a zeroed RAM region [base, base + bytes), 4 KiB aligned", {
    base: u64In(), bytes: uintIn(PIPE_LIMITS.memoryBytes, "bytes"),
  }, { base: U64_OUT, bytes: COUNT_OUT }, (s, m) => {
    const base = toUint(m.base, "base", Number.MAX_SAFE_INTEGER), bytes = toUint(m.bytes, "bytes", PIPE_LIMITS.memoryBytes);
    const total = s.memory.regions.reduce((t, r) => t + r.bytes, 0);
    if (total + bytes > PIPE_LIMITS.memoryBytes) throw new PipeFieldError("bytes", `the session's regions would exceed ${PIPE_LIMITS.memoryBytes} bytes (${total} in use)`);
    const r = s.memory.add(base, bytes);
    return { base: hex(r.base), bytes: r.bytes };
  }),

  op("write-memory", "write a base64 block at physical address pa", { pa: u64In(), data: BASE64_IN }, { bytes: COUNT_OUT }, (s, m) => {
    const data = Buffer.from(m.data, "base64");
    if (data.length > PIPE_LIMITS.memoryBlockBytes) throw new PipeFieldError("data", `at most ${PIPE_LIMITS.memoryBlockBytes} bytes, got ${data.length}`);
    s.memory.writeBytes(toUint(m.pa, "pa", Number.MAX_SAFE_INTEGER), data);
    return { bytes: data.length };
  }),

  op("read-memory", "read `bytes` bytes at physical address pa, as base64", {
    pa: u64In(), bytes: uintIn(PIPE_LIMITS.memoryBlockBytes, "bytes"),
  }, { data: Type.String({ contentEncoding: "base64" }) }, (s, m) => ({
    data: Buffer.from(s.memory.readBytes(toUint(m.pa, "pa", Number.MAX_SAFE_INTEGER), toUint(m.bytes, "bytes", PIPE_LIMITS.memoryBlockBytes))).toString("base64"),
  })),

  op("create-iommu", "a new IOMMU over the session's memory", {
    ...TARGET, segment: opt(uintIn(0xffff, "segment")), options: opt(IOMMU_OPTIONS_IN),
  }, { iommu: NAME, segment: COUNT_OUT }, (s, m) => s.createIommu(m.iommu ?? "0", m.segment === undefined ? undefined : toUint(m.segment, "segment", 0xffff), m.options as Omit<AmdIommuOptions, "memory"> | undefined)),

  op("mmio-read", "read a register (width 64 by default)", {
    ...TARGET, offset: uintIn(0xffff_ffff, "offset"), width: opt(Type.Union([Type.Literal(32), Type.Literal(64)], { description: "32 or 64" })),
  }, { value: U64_OUT }, (s, m) => {
    const io = s.entry(m.iommu).io, off = toUint(m.offset, "offset", 0xffff_ffff);
    return { value: m.width === 32 ? hex(io.mmioRead32(off)) : hex(io.mmioRead64(off)) };
  }),

  op("mmio-write", "write a register (width 64 by default; a 32-bit write's value must fit 32 bits)", {
    ...TARGET, offset: uintIn(0xffff_ffff, "offset"), value: u64In(), width: opt(Type.Union([Type.Literal(32), Type.Literal(64)], { description: "32 or 64" })),
  }, {}, (s, m) => {
    const io = s.entry(m.iommu).io, off = toUint(m.offset, "offset", 0xffff_ffff);
    if (m.width === 32) io.mmioWrite32(off, toUint(m.value, "value", 0xffff_ffff));
    else io.mmioWrite64(off, toBig(m.value, "value"));
    return {};
  }),

  op("translate", "a DMA request: untranslated (functional, or timed with cycle), ats, or peek (no side effects)", {
    ...TARGET, deviceId: DEVICE_ID, address: u64In(), pasid: opt(PASID), write: opt(BOOL), execute: opt(BOOL), privileged: opt(BOOL),
    kind: opt(Type.Union([Type.Literal("untranslated"), Type.Literal("ats"), Type.Literal("peek")], { description: "\"untranslated\", \"ats\" or \"peek\"" })),
    cycle: opt(CYCLE),
  }, TRANSLATION_OUT, (s, m) => {
    const io = s.entry(m.iommu).io;
    const req: TranslationRequest = { deviceId: toUint(m.deviceId, "deviceId", 0xffff), address: toBig(m.address, "address") };
    if (m.pasid !== undefined) req.pasid = toUint(m.pasid, "pasid", 0xfffff);
    if (m.write !== undefined) req.write = m.write;
    if (m.execute !== undefined) req.execute = m.execute;
    if (m.privileged !== undefined) req.privileged = m.privileged;
    const kind = m.kind ?? "untranslated";
    if (m.cycle !== undefined && kind !== "untranslated") throw new PipeFieldError("cycle", `timed mode is for kind "untranslated" only`);
    if (kind === "ats") return translationJson(io.translateAts(req));
    if (kind === "peek") return translationJson(io.peek(req));
    return translationJson(m.cycle === undefined ? io.translate(req) : io.translateTimed(req, toUint(m.cycle, "cycle", Number.MAX_SAFE_INTEGER)));
  }),

  op("remap-interrupt", "an MSI write from deviceId (interrupt remapping): remapped (functional, or timed with cycle) or peek (no side effects)", {
    ...TARGET, deviceId: DEVICE_ID, address: u64In(), data: uintIn(0xffff_ffff, "MSI data"), pasid: opt(PASID),
    kind: opt(Type.Union([Type.Literal("remap"), Type.Literal("peek")], { description: "\"remap\" or \"peek\"" })),
    cycle: opt(CYCLE),
  }, INTERRUPT_OUT, (s, m) => {
    const io = s.entry(m.iommu).io;
    const req: InterruptRequest = { deviceId: toUint(m.deviceId, "deviceId", 0xffff), address: toBig(m.address, "address"), data: toUint(m.data, "data", 0xffff_ffff) };
    if (m.pasid !== undefined) req.pasid = toUint(m.pasid, "pasid", 0xfffff);
    const kind = m.kind ?? "remap";
    if (m.cycle !== undefined && kind !== "remap") throw new PipeFieldError("cycle", `timed mode is for kind "remap" only`);
    if (kind === "peek") return interruptJson(io.peekInterrupt(req));
    return interruptJson(m.cycle === undefined ? io.remapInterrupt(req) : io.remapInterruptTimed(req, toUint(m.cycle, "cycle", Number.MAX_SAFE_INTEGER)));
  }),

  op("advance", "run one IOMMU (or all) until idle, or to `cycle`", { iommu: opt(NAME), cycle: opt(CYCLE) }, { cycle: Type.Number({ minimum: 0 }) }, (s, m) => {
    const list = m.iommu === undefined ? [...s.iommus.values()] : [s.entry(m.iommu)];
    const to = m.cycle === undefined ? undefined : toUint(m.cycle, "cycle", Number.MAX_SAFE_INTEGER);
    const cycles = list.map((e) => (to === undefined ? e.io.runUntilIdle() : e.io.advanceTo(to)));
    return { cycle: cycles.length === 0 ? 0 : Math.max(...cycles) };
  }),

  ...(["subscribe", "unsubscribe"] as const).map((name) => op(name, `${name} to notifications`, {
    ...TARGET, events: Type.Array(Type.Union(EVENTS.map((e) => Type.Literal(e)), { description: EVENTS.join(", ") }), { maxItems: 16 }),
  }, { events: Type.Array(Type.String()) }, (s, m) => {
    const e = s.entry(m.iommu);
    for (const n of m.events) { if (name === "subscribe") e.subs.add(n as EventName); else e.subs.delete(n as EventName); }
    return { events: [...e.subs] };
  })),

  op("attach-endpoint", "an ATS endpoint for deviceId whose invalidations complete after atsLatency cycles (null: never)", {
    ...TARGET, deviceId: DEVICE_ID, atsLatency: Type.Union([uintIn(Number.MAX_SAFE_INTEGER, "cycles"), Type.Null()], { description: "cycles (number) or null" }),
  }, {}, (s, m) => {
    const e = s.entry(m.iommu);
    const latency = m.atsLatency === null ? null : toUint(m.atsLatency, "atsLatency", Number.MAX_SAFE_INTEGER);
    e.io.attachEndpoint(toUint(m.deviceId, "deviceId", 0xffff), new PipeEndpoint(latency, (r) => s.notify(e, "prg-response", { ...r })));
    return {};
  }),

  op("page-request", "a PRI page request from deviceId", {
    ...TARGET, deviceId: DEVICE_ID, address: u64In(), prgIndex: uintIn(511, "PRG index"), last: opt(BOOL), pasid: opt(PASID),
    read: opt(BOOL), write: opt(BOOL), execute: opt(BOOL), privileged: opt(BOOL),
  }, { outcome: Type.String() }, (s, m) => {
    const io = s.entry(m.iommu).io;
    const req: Parameters<AmdIommu["pageRequest"]>[0] = {
      deviceId: toUint(m.deviceId, "deviceId", 0xffff), address: toBig(m.address, "address"), prgIndex: toUint(m.prgIndex, "prgIndex", 511), last: m.last ?? true,
    };
    if (m.pasid !== undefined) req.pasid = toUint(m.pasid, "pasid", 0xfffff);
    for (const k of ["read", "write", "execute", "privileged"] as const) if (m[k] !== undefined) req[k] = m[k];
    return { outcome: io.pageRequest(req) };
  }),

  op("replay", "the device's valid mappings (at most `limit`, default 4096; truncated: stopped at the limit or the table-read bound)", {
    ...TARGET, deviceId: DEVICE_ID, pasid: opt(Type.Union([PASID, Type.Null()], { description: "PASID 0..1048575 or null" })),
    limit: opt(uintIn(PIPE_LIMITS.replayMappings, "limit")),
  }, { mappings: Type.Array(MAPPING_OUT), truncated: BOOL }, (s, m) => {
    const e = s.entry(m.iommu);
    const limit = m.limit === undefined ? 4096 : toUint(m.limit, "limit", PIPE_LIMITS.replayMappings);
    const opts = m.pasid === undefined ? {} : { pasid: m.pasid === null ? null : toUint(m.pasid, "pasid", 0xfffff) };
    const it = e.io.replay(toUint(m.deviceId, "deviceId", 0xffff), { ...opts, limit: limit + 1 });
    const mappings: Msg[] = [];
    for (const x of it) mappings.push(mappingJson(x));
    const more = mappings.length > limit; // one past the limit: there are more
    if (more) mappings.pop();
    return { mappings, truncated: more || it.truncated };
  }),

  op("stats", "the IOMMU's counters (AmdIommu.stats())", { ...TARGET }, { stats: Type.Record(Type.String(), Type.Unknown()) },
    (s, m) => ({ stats: jsonable(s.entry(m.iommu).io.stats()) as Msg })),

  op("snapshot", "the IOMMU's state (schema/snapshot.schema.json)", { ...TARGET }, { snapshot: SNAPSHOT_OUT },
    (s, m) => ({ snapshot: s.entry(m.iommu).io.snapshot() as unknown as Msg })),

  op("restore", "put a snapshot's state into the IOMMU (checked completely first; a refused restore changes nothing)", {
    ...TARGET, snapshot: SNAPSHOT_IN,
  }, {}, (s, m) => { s.entry(m.iommu).io.restore(m.snapshot as unknown as IommuSnapshot); return {}; }),

  op("trace", "start recording a Perfetto trace of the IOMMU (translations, walks, commands, page requests), or stop and answer it as a Chrome trace-event JSON document", {
    ...TARGET, action: Type.Union([Type.Literal("start"), Type.Literal("stop")], { description: "\"start\" or \"stop\"" }),
    maxEvents: opt(uintIn(PIPE_LIMITS.traceEvents, "events")),
  }, { trace: opt(Type.Object({ traceEvents: Type.Array(Type.Record(Type.String(), Type.Unknown())), otherData: Type.Record(Type.String(), Type.Unknown()) })) }, (s, m) => {
    const io = s.entry(m.iommu).io;
    if (m.action === "stop") {
      if (io.timingModel.trace === null) throw new PipeFieldError("action", "no trace is being recorded (send action \"start\" first)");
      if (m.maxEvents !== undefined) throw new PipeFieldError("maxEvents", "goes with action \"start\"");
      return { trace: io.stopTrace() as unknown as Msg };
    }
    if (io.timingModel.trace !== null) throw new PipeFieldError("action", "a trace is already being recorded (send action \"stop\" first)");
    io.startTrace({ maxEvents: m.maxEvents === undefined ? 100_000 : toUint(m.maxEvents, "maxEvents", PIPE_LIMITS.traceEvents) });
    return {};
  }),

  op("quit", "end the session after this answer", {}, {}, (s) => { s.done = true; return {}; }),
]
const BY_NAME = new Map<string, AnyOp & { check: (v: unknown) => PipeFieldError | null }>(
  OPS.map((o) => [o.name, { ...o, check: compileCheck(o.request, o.name) }]),
);
const OP_NAMES = OPS.map((o) => o.name);
const checkId = compileCheck(Type.Object({ id: ERROR_ANSWER.properties.id }), "id");

/** The protocol's JSON Schema (what `npm run schemas` writes to schema/pipe-protocol.schema.json). */
export function pipeProtocolSchema(): object { return protocolJsonSchema(PROTOCOL_VERSION, OPS, NOTIFICATION); }

export class CosimSession {
  readonly memory = new RegionMemory();
  /** @internal */ readonly iommus = new Map<string, Entry>();
  /** Set by "quit". */
  done = false;
  /** @internal The memory port of the next create-iommu instead of the regions (the binary channel's simulator-owned memory). */
  nextMemory: MemoryPort | null = null;

  /** `write` receives each output line (an answer or a notification) as JSON text without the newline. */
  constructor(private readonly write: (line: string) => void) {}

  /** Handle one input line: writes its notifications and exactly one answer. Never throws. */
  line(text: string): void {
    let answer: Msg;
    try {
      answer = this.lineAnswer(text);
    } catch (e) {
      answer = { id: null, ok: false, error: "internal: " + (e instanceof Error ? e.message : String(e)) };
    }
    this.emit(answer);
  }

  /** A line that was longer than PIPE_LIMITS.lineBytes (the server dropped it unread): its error answer. */
  lineTooLong(bytes: number): void {
    this.emit({ id: null, ok: false, error: `line longer than ${PIPE_LIMITS.lineBytes} bytes (${bytes} or more); dropped` });
  }

  private lineAnswer(text: string): Msg {
    if (typeof text !== "string") return { id: null, ok: false, error: "a line must be text" };
    if (text.length > PIPE_LIMITS.lineBytes) return { id: null, ok: false, error: `line longer than ${PIPE_LIMITS.lineBytes} bytes` };
    if (text.trim() === "") return { id: null, ok: false, error: "empty line: a request is one JSON object" };
    if (jsonDepthExceeds(text, PIPE_LIMITS.depth)) return { id: null, ok: false, error: `nesting deeper than ${PIPE_LIMITS.depth} levels` };
    let msg: unknown;
    try { msg = JSON.parse(text); } catch { return { id: null, ok: false, error: "not JSON: " + text.slice(0, 80) }; }
    if (msg === null || typeof msg !== "object" || Array.isArray(msg)) return { id: null, ok: false, error: "a message must be a JSON object with \"op\"" };
    return this.request(msg as Msg);
  }

  /** Handle one parsed request and return its answer (notifications are written as they happen). Never throws. */
  request(m: Msg): Msg {
    let id: unknown = null;
    try {
      const idError = checkId({ id: m.id ?? null });
      if (idError !== null) throw idError;
      id = m.id ?? null;
      const o = typeof m.op === "string" ? BY_NAME.get(m.op) : undefined;
      if (o === undefined) throw new PipeFieldError("op", `unknown op ${short(m.op)} (known: ${OP_NAMES.join(", ")})`);
      const bad = o.check(m);
      if (bad !== null) throw bad;
      return { id, ok: true, ...o.handle(this, m as never) };
    } catch (e) {
      const a: Msg = { id, ok: false, error: e instanceof Error ? e.message : String(e) };
      if (e instanceof PipeFieldError) a.field = e.field;
      return a;
    }
  }

  private emit(msg: Msg): void {
    let text: string;
    try { text = JSON.stringify(msg); } catch (e) {
      text = JSON.stringify({ id: null, ok: false, error: "answer could not be written: " + (e instanceof Error ? e.message : String(e)) });
    }
    this.write(text);
  }

  /** @internal */
  entry(name: string | undefined): Entry {
    const e = this.iommus.get(name ?? "0");
    if (!e) throw new PipeFieldError("iommu", `"${name ?? "0"}" does not exist (create-iommu first; known: ${[...this.iommus.keys()].join(", ") || "none"})`);
    return e;
  }

  /** @internal */
  createIommu(name: string, segment: number | undefined, options: Omit<AmdIommuOptions, "memory"> | undefined): Msg {
    if (this.iommus.has(name)) throw new PipeFieldError("iommu", `"${name}" exists already`);
    if (this.iommus.size >= PIPE_LIMITS.iommus) throw new PipeFieldError("iommu", `a session has at most ${PIPE_LIMITS.iommus} IOMMUs`);
    // nextMemory: set by the binary channel for one create-iommu on simulator-owned memory (binary-channel/simulator-memory.ts)
    const memory = this.nextMemory ?? this.memory;
    this.nextMemory = null;
    if (memory === this.memory && this.memory.regions.length === 0) throw new Error("create-iommu: add a memory region first (add-memory)");
    const o = options ?? {};
    const entry: Entry = { name, io: null as unknown as AmdIommu, subs: new Set(), off: [] };
    entry.io = new AmdIommu({
      ...o, memory, segment: segment ?? o.segment,
      onInterrupt: (source) => this.notify(entry, "interrupt", { source, cycle: entry.io.now }),
    });
    for (const k of NOTIFIER_KINDS) {
      entry.off.push(entry.io.notifiers.on(k, (ev) => this.notify(entry, k, k === "map" ? { ...mappingJson(ev as Mapping), cause: (ev as { cause: string }).cause, cycle: ev.cycle } : ev as unknown as Msg)));
    }
    this.iommus.set(name, entry);
    return { iommu: name, segment: entry.io.segment };
  }

  /** @internal Write a notification (only when subscribed); every notification carries the cycle it happened at. */
  notify(e: Entry, kind: EventName, body: Msg): void {
    if (!e.subs.has(kind)) return;
    const { type: _t, ...rest } = body;
    this.emit({ notify: kind, iommu: e.name, ...(jsonable(rest) as Msg), cycle: typeof rest.cycle === "number" ? rest.cycle : e.io.now });
  }
}

function short(v: unknown): string {
  let s: string;
  try { s = JSON.stringify(v) ?? String(v); } catch { s = typeof v; }
  return s.length > 60 ? s.slice(0, 57) + "..." : s;
}
