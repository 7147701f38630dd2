/**
 * The translation process of an untranslated DMA request or an ATS translation request
 * (spec: "Translation", DTE behaviour matrix of docs/spec-readings.md reg 3.3).
 *
 *   IommuEn = 0            -> forwarded untranslated
 *   DTE fetch              -> DEV_TAB_HARDWARE_ERROR / ILLEGAL_DEV_TABLE_ENTRY
 *   V = 0                  -> forwarded untranslated, no checks
 *   exclusion range        -> forwarded (Allow = 1 or DTE.EX = 1)
 *   TV = 0                 -> IO_PAGE_FAULT (reading: quirks.tvZero)
 *   PASID present          -> guest (GV = 1, GTEn = 1) or INVALID_DEVICE_REQUEST (quirks.pasidWithoutGuest)
 *   no PASID, GV and GIoV  -> guest walk through PASID 0, user mode, no sign extension
 *   no PASID otherwise     -> Mode 0 (IR/IW only), Mode 1-6 v1 walk, Mode 7 / > HATS reserved
 *
 * Successful translations fill the IOTLB; faults of untranslated requests write events
 * (suppressed by DTE.SA, and by DTE.SE after the first one); ATS requests never log page
 * faults and return the permissions found. No allocation on any path that does not log.
 *
 * Untranslated requests first try the fast path (fastHit: IOTLB hits from the device served
 * last; fastWalk: the v1 walk of a host-path miss), which serves the common case in few
 * instructions and hands everything else, before any side effect, to the general path
 * (general, hostPath, guestPath), which decides every case above. README, "The translation
 * hot path", says how the fast path is kept equal to the general one.
 */
import type { MemoryPort } from "../../memory/memory-port.js";
import {
  EV_DEV_TAB_HARDWARE_ERROR, EV_ILLEGAL_DEV_TABLE_ENTRY, EV_INVALID_DEVICE_REQUEST, EV_IO_PAGE_FAULT,
  EV_PAGE_TAB_HARDWARE_ERROR, EVT_GN, EVT_NX, EVT_PE, EVT_PR, EVT_RW, EVT_RZ, EVT_TR, EVT_US, EVT_TYPE_SHIFT,
  INVALID_DEVICE_REQUEST_TYPE,
} from "../../spec/events.js";
import { CONTROL, MMIO_CONTROL, MMIO_EXCLUSION_BASE, MMIO_EXCLUSION_LIMIT, RegWord } from "../../spec/registers.js";
import { DTE_HARDWARE_ERROR, type DeviceTable, type Dte } from "../device-table.js";
import { PasidKey, Perm, type Iotlb } from "../caches/iotlb.js";
import { V1 } from "../../spec/page-tables.js";
import type { PdeCache } from "../caches/pde-cache.js";
import { POW2, type CacheStats, type TagStore } from "../caches/tag-store.js";
import type { Gcr3Cache } from "../caches/gcr3-cache.js";
import type { LogRing } from "../log-ring.js";
import type { MmioRegisters } from "../mmio-registers.js";
import type { FeatureOptions, QuirkOptions } from "../options.js";
import type { TimingProfile } from "../timing-profile.js";
import { HostWalker } from "./host-walk.js";
import { GuestFlag, GuestWalker } from "./guest-walk.js";
import { flagsOk, Kind, TranslationResult, type FaultReason, type TranslationRequest } from "./request.js";
import { newTranslationStats, type TranslationStats } from "./translation-stats.js";
import { WalkContext } from "./walk-context.js";
import { FaultEventResult, FaultEventWriter } from "./fault-event.js";
import { TableLineCache } from "../timing/table-line-cache.js";

const TWO32 = 4294967296;
const TWO64 = 1n << 64n;

/** The paths that look the IOTLB up (a translation is priced with an IOTLB look-up). */
function isTranslatedPath(path: string): boolean {
  return path === "host" || path === "guest" || path === "nested";
}


export class Translator {
  readonly ctx: WalkContext;
  readonly host: HostWalker;
  readonly guest: GuestWalker;
  readonly stats: TranslationStats = newTranslationStats();
  /** The Event Log entries of refused requests (fault-event.ts). */
  private readonly faultEvents: FaultEventWriter;
  /** The guest walk's flags that do not change per request (GuestFlag.Nx, Gcr3RsvdCheck). */
  private readonly gconst: number;
  // request being served
  private aHi = 0;
  private aLo = 0;
  private noEvents = false;
  /** EVT_RW when INVALID_DEVICE_REQUEST events carry RW (quirks.invalidDeviceRequestRw), else 0. */
  private readonly idrRw: number;
  /** The kind of request general() serves (Kind). */
  private kind = 0;
  /** The request being served is user mode (no PASID, or a PASID without Privileged-Mode-Requested). */
  private reqUser = true;
  /** The fast path's IOTLB look-up missed: the general path does not look again. */
  private iotlbMissed = false;
  private readonly regWords: Uint32Array;
  private readonly hitCycles: number;
  /** Cycles of a host walk besides its references: DTE-cache hit, IOTLB look-up, walk overhead. */
  private readonly walkBaseCycles: number;
  private readonly pow2 = POW2;
  // what the fast paths read of other blocks, one load each (fixed for the IOMMU's life)
  private readonly iotlbOn: boolean;
  private readonly pdeOn: boolean;
  private readonly dteStats: CacheStats;
  /**
   * The DTE the general path resolved last (the fast path's device), and the DTE cache's
   * version then: while the version is unchanged, no way of the cache was refilled or
   * invalidated, so the DTE is still cached.
   */
  private readonly dteTags: TagStore;
  private frontDte: Dte | null = null;
  private frontVersion = -1;
  private readonly refCycles: number;
  private readonly llcCycles: number;
  /** The table lines walk reads go through (profile.tableCacheLines; null = off, every read costs memoryReference). */
  readonly lines: TableLineCache | null;
  /** fastWalk's entries, by level (word indices), priced through `lines` once the walk completes. */
  private readonly trail = new Int32Array(8);
  private readonly adCycles: number;
  private readonly pdeHitCycles: number;
  /** The profile's costs price() adds, read once into fields (as fastWalk's are). */
  private readonly dteHitCycles: number;
  private readonly iotlbLookupCycles: number;
  private readonly walkOverheadCycles: number;
  private readonly gcr3HitCycles: number;
  /**
   * EFR.USSup advertised (features.userSupervisor): guest-table U/S bits are checked against a
   * user-mode request. Without it the IOMMU has no user/supervisor protection: every request
   * is checked as a supervisor one (R/W and NX still apply), and no U/S fault is raised.
   */
  private readonly usCheck: boolean;
  /** Control high-word masks of GAUpdateDis, GDUpdateDis and GCR3TRPMode (0 when the feature is absent). */
  private readonly gaDisMask: number;
  private readonly gdDisMask: number;
  private readonly gcr3TrpMask: number;

  constructor(
    mem: MemoryPort,
    private readonly regs: MmioRegisters,
    private readonly features: FeatureOptions,
    private readonly quirks: QuirkOptions,
    private readonly deviceTable: DeviceTable,
    private readonly iotlb: Iotlb,
    readonly pde: PdeCache,
    readonly gcr3: Gcr3Cache,
    eventLog: LogRing,
    private readonly profile: TimingProfile,
    shared: boolean,
  ) {
    this.ctx = new WalkContext(mem, shared);
    this.faultEvents = new FaultEventWriter(eventLog, quirks.seSuppressesRepeats);
    this.regWords = regs.words;
    this.hitCycles = profile.dteCacheHit + profile.iotlbHit;
    this.walkBaseCycles = profile.dteCacheHit + profile.iotlbHit + profile.walkOverhead;
    this.iotlbOn = iotlb.tags.entries !== 0;
    this.pdeOn = pde.tags.entries !== 0;
    this.dteStats = deviceTable.cache.stats;
    this.dteTags = deviceTable.cache;
    this.refCycles = profile.memoryReference;
    this.llcCycles = profile.memoryReferenceLlc;
    this.lines = profile.tableCacheLines > 0 ? new TableLineCache(profile.tableCacheLines, profile.tableCacheWays) : null;
    this.ctx.lines = this.lines;
    this.adCycles = profile.adUpdate;
    this.pdeHitCycles = profile.pdeCacheHit;
    this.dteHitCycles = profile.dteCacheHit;
    this.iotlbLookupCycles = profile.iotlbHit;
    this.walkOverheadCycles = profile.walkOverhead;
    this.gcr3HitCycles = profile.gcr3CacheHit;
    this.usCheck = features.userSupervisor === true;
    const hiMask = (b: { half: number; mask: number }, on: boolean) => {
      if (b.half !== 1) throw new Error("Translator: a guest Control bit is expected in the high word");
      return on ? b.mask : 0;
    };
    this.gaDisMask = hiMask(CONTROL.GAUpdateDis, features.guestAdUpdateDisable);
    this.gdDisMask = hiMask(CONTROL.GDUpdateDis, features.guestAdUpdateDisable);
    this.gcr3TrpMask = hiMask(CONTROL.GCR3TRPMode, features.gcr3TrpMode);
    this.host = new HostWalker(this.ctx, pde, features.hats + 4, quirks.v1AccessedInPde, quirks.v1EncodingFaultRz ? EVT_RZ : 0);
    this.idrRw = quirks.invalidDeviceRequestRw ? EVT_RW : 0;
    this.guest = new GuestWalker(this.ctx, this.host, iotlb, pde, gcr3, this.stats, features.pasMax);
    this.gconst = (features.nx ? GuestFlag.Nx : 0) | (quirks.gcr3ReservedBitsFault ? GuestFlag.Gcr3RsvdCheck : 0);
  }

  /** Split and check the request's address (embedder misuse throws). */
  private address(a: number | bigint): void {
    if (typeof a === "number") {
      if (!(a >= 0 && a <= Number.MAX_SAFE_INTEGER) || Math.floor(a) !== a) {
        throw new RangeError(`translate: request.address must be a non-negative integer (bigint above 2^53), got ${a}`);
      }
      const lo = a >>> 0;
      this.aLo = lo;
      this.aHi = (a - lo) * 2.3283064365386963e-10; // / 2^32, exact for an integer below 2^53 (no division)
    } else if (typeof a === "bigint") {
      if (a < 0n || a >= TWO64) throw new RangeError(`translate: request.address must be below 2^64, got ${a}`);
      this.aHi = Number(a >> 32n);
      this.aLo = Number(a & 0xffffffffn);
    } else {
      throw new TypeError(`translate: request.address must be a number or bigint, got ${typeof a}`);
    }
  }

  /**
   * The common cases in few instructions: an untranslated request (address a number) from
   * the device served last, whose DTE is cached, that hits the IOTLB with the permissions it
   * needs; a host-path IOTLB miss goes on in fastWalk(). Returns null when any condition fails; the general
   * path then decides everything (and skips a second IOTLB look-up when this one already
   * missed). V8 loads a module-level binding and checks it at every use, so this path reads
   * only locals, `this` fields and const enums; and it is kept under V8's inlining size, so
   * that a hit runs inside the caller's loop without a call.
   */
  private fastHit(req: TranslationRequest, out: TranslationResult): TranslationResult | null {
    // (one body on purpose: larger than V8's inlining limit, it stays a call of its own and
    // inlines its callees; inlined into a caller's loop, it used up the caller's inlining
    // budget and left its callees as calls, about 4 ns slower per hit)
    this.iotlbMissed = false;
    // (a primitive request has no address property: refused below, and the general path throws)
    if (req === null || req === undefined) return null;
    const a = req.address;
    if (typeof a !== "number" || !(a >= 0 && a <= 9007199254740991)) return null;
    const write = req.write, execute = req.execute, privileged = req.privileged;
    // absent or booleans; anything else is left to the general path, which throws naming the field
    if (!((write === undefined || typeof write === "boolean") && (execute === undefined || typeof execute === "boolean") &&
      (privileged === undefined || typeof privileged === "boolean"))) return null;
    const words = this.regWords;
    const control = words[RegWord.Control]!;
    if ((control & RegWord.IommuEn) === 0 || (words[RegWord.ExclusionBase]! & RegWord.ExEn) !== 0) return null; // IommuEn clear / exclusion range on
    // the DTE the general path resolved last, if the DTE cache's version has not changed since:
    // no way refilled or invalidated, and the device table's front entry (whose look-up changes
    // no replacement state) still this device; strict equality keeps a non-number DeviceID out
    const d = this.frontDte;
    if (d === null || d.deviceId !== req.deviceId || this.dteTags.version !== this.frontVersion) return null;
    const aLo = a >>> 0;
    const aHi = (a - aLo) * 2.3283064365386963e-10; // / 2^32, exact
    if ((aHi | 0) !== aHi) return null; // not an integer: the general path refuses it, naming the field
    const it = this.iotlb;
    const pasid = req.pasid;
    let s: number, need: number;
    if (pasid === undefined) {
      if (d.hostWalk !== true) { // (a boolean field tested with === / !==: one compare, not a general truth test)
        // GIoV (GV and GIoV, GTEn): the guest path through PASID 0, user mode, no execute, no
        // sign extension (bits 63..48, or 63..57 with 5 levels, must be zero)
        if (d.guestWalk !== true || d.f.GIoV !== true || (control & RegWord.GTEn) === 0 || (aHi >>> (d.guestLevels === 5 ? 25 : 16)) !== 0) return null;
        it.page[0] = aHi; it.page[1] = aLo;
        s = it.tags.entries === 0 ? -1 : it.probe(d.domain, 0);
        if (s < 0) { this.aHi = aHi; this.aLo = aLo; return this.guestMiss(out, d, 0, write === true, this.usCheck, true, false, false); }
        return this.hitAnswer(out, d, aHi, aLo | 0, s, (write === true ? Perm.W | Perm.Dirty : Perm.R) | (this.usCheck === true ? Perm.U : 0), 0);
      }
      s = it.probeHinted(d.hostKey, aHi, aLo | 0);
      if (s < 0) { it.page[0] = aHi; it.page[1] = aLo; this.aHi = aHi; this.aLo = aLo; return this.hostLookup(req, out, d); } // (the address for the probes: see page-tag-cache.ts)
      need = write === true ? Perm.W | Perm.Dirty : Perm.R; // R, or W with D already set
    } else {
      if (d.guestWalk !== true || typeof pasid !== "number" || !(pasid >= 0 && pasid <= 0xfffff) || (pasid | 0) !== pasid ||
        (control & RegWord.GTEn) === 0) return null;
      // canonical check before any cache look-up: bits 63..vaBits-1 all equal
      if (!this.guest.canonical(d, aHi)) return null;
      it.page[0] = aHi; it.page[1] = aLo;
      s = it.tags.entries === 0 ? -1 : it.probe(d.domain, pasid);
      if (s < 0) { this.aHi = aHi; this.aLo = aLo; return this.guestMiss(out, d, pasid, write === true, privileged !== true && this.usCheck === true, privileged !== true, execute === true, false); }
      // also U for a user-mode request, X for an execute request
      need = (write === true ? Perm.W | Perm.Dirty : Perm.R) | (privileged === true || this.usCheck !== true ? 0 : Perm.U) | (execute === true ? Perm.X : 0);
    }
    return this.hitAnswer(out, d, aHi, aLo | 0, s, need, pasid);
  }

  /** fastHit()'s IOTLB look-up when the hinted one did not decide it: the full look-up, then a hit or the walk. */
  private hostLookup(req: TranslationRequest, out: TranslationResult, d: Dte): TranslationResult | null {
    const it = this.iotlb;
    const aHi = this.aHi, aLo = this.aLo;
    const s = it.tags.entries === 0 ? -1 : it.probe(d.domain, PasidKey.Host); // (page[0..1] set by fastHit)
    if (s >= 0) return this.hitAnswer(out, d, aHi, aLo | 0, s, req.write === true ? Perm.W | Perm.Dirty : Perm.R, undefined);
    this.iotlbMiss();
    return this.fastWalk(out, d, req.deviceId, req.write === true);
  }

  /**
   * The answer of an IOTLB hit in probed slot s for a request that needs the permission bits
   * `need` (pasid undefined: the host space), or null when the entry and the DTE do not allow
   * it: nothing is committed then, and the general path looks up (counts, touches) and walks.
   * aLo is the low word as an int32 (`| 0`: a small integer, never a heap number, should V8
   * leave this call out of line).
   */
  private hitAnswer(out: TranslationResult, d: Dte, aHi: number, aLo: number, s: number, need: number, pasid: number | undefined): TranslationResult | null {
    const it = this.iotlb;
    const p = it.perms[s]! & d.permMask;
    if ((p & need) !== need) return null;
    it.hit(s);
    const k = it.hitLog2;
    this.stats.requests++;
    this.dteStats.hits++;
    return out.iotlbHitResult(it.spa[s]! + this.pageOffset(aHi, aLo, k), this.pow2[k]!, pasid === undefined ? p | Perm.U | Perm.X : p,
      pasid === undefined ? "host" : d.f.Mode !== 0 ? "nested" : "guest", this.hitCycles);
  }

  /**
   * fastHit()'s guest-path IOTLB miss (a PASID request, or GIoV through PASID 0): every front
   * check general() and guestPath() make is done (the address width too), so set up what they
   * set up (counts, scratch state, the request's address, the path), walk with the one guest
   * walker, and write the answer directly: what guestWalk(), success() and price() do for an
   * untranslated request, without out.reset() before a walk that succeeds and without the
   * general answer's branches (ATS, hits, paths); a fault takes guestWalk()'s route. The
   * guest half of the differential property test holds the two equal.
   */
  private guestMiss(out: TranslationResult, d: Dte, pasid: number, write: boolean, user: boolean, reqUser: boolean, execute: boolean,
    ats: boolean): TranslationResult {
    const aHi = this.aHi, aLo = this.aLo; // (set by the caller: a number above 2^30 passed to a call is a heap number)
    this.iotlbMiss();
    const ctx = this.ctx;
    ctx.reset();
    ctx.peek = false;
    this.noEvents = false;
    this.reqUser = reqUser; // (the request's mode, as general() records it; `user` is what the walk checks: false without EFR.USSup)
    const stats = this.stats;
    stats.requests++;
    if (ats === true) stats.atsRequests++;
    stats.walks++;
    this.dteStats.hits++;
    const f = d.f;
    // guestWalk()'s flags (an ATS request accumulates permissions instead of faulting), then the walk
    const g = this.guestFlags(write, user, execute, ats);
    const gw = this.guest;
    const path = f.Mode !== 0 ? "nested" : "guest"; // (TV = 1: d.guestWalk)
    gw.aHi = aHi; gw.aLo = aLo;
    const ok = gw.walk(d, pasid, g);
    if (!ok || (ats !== true && !(write ? f.IW : f.IR))) {
      // a fault: guestWalk()'s answer and event (none for ATS), from a reset out
      out.reset();
      out.dteCacheHit = true; out.path = path; out.gcr3CacheHit = gw.gcr3Hit;
      if (!ok) return this.walkFault(out, d, d.deviceId, write, ats, true, pasid);
      return this.pageFault(out, d, d.deviceId, "permission", EVT_PE | EVT_PR, write, false, true, pasid); // (DTE.IR / IW)
    }
    // the fill and the answer: guestWalk(), success() and price() for a completed walk, in one place
    const log2 = gw.log2, spaBase = gw.spaBase, perms = gw.perms, gcr3Hit = gw.gcr3Hit;
    if (this.iotlbOn === true) { const it = this.iotlb; it.page[0] = aHi; it.page[1] = aLo; it.page[2] = spaBase; it.fill(d.domain, pasid, log2, perms); }
    out.ok = true;
    out.spa = spaBase + this.pageOffset(aHi, aLo, log2);
    out.pageSize = this.pow2[log2]!;
    out.readable = (perms & Perm.R) !== 0 && f.IR;
    out.writable = (perms & Perm.W) !== 0 && f.IW;
    out.executable = (perms & Perm.X) !== 0;
    out.user = (perms & Perm.U) !== 0;
    out.fault = null; out.event = 0; out.path = path;
    // success()'s ATS answer: what the walk granted ("no access" when nothing; a guest walk never
    // marks its page untranslated-only, which only a v1 leaf's U bit does)
    if (ats === true) out.ok = out.readable || out.writable;
    out.iotlbHit = false; out.dteCacheHit = true; out.gcr3CacheHit = gcr3Hit;
    const refs = ctx.refs, ad = ctx.adWrites, lineHits = ctx.lineHits, pdeHits = ctx.pdeHits, walkRefs = ctx.walkRefs;
    out.pdeHits = pdeHits; out.memoryReferences = refs; out.walkReferences = walkRefs; out.tableLineHits = lineHits; out.adUpdates = ad;
    out.completionCycle = 0;
    out.cycles = this.walkBaseCycles + (refs - ad - lineHits) * this.refCycles + lineHits * this.llcCycles + ad * this.adCycles +
      pdeHits * this.pdeHitCycles + (gcr3Hit === true ? this.gcr3HitCycles : 0);
    stats.adUpdates += ad;
    stats.walkRetries += ctx.retries;
    stats.referencesPerWalk[walkRefs < 40 ? walkRefs : 40]!++;
    return out;
  }

  /** The fast path's IOTLB probe missed (cache on): counted once, and the general path does not look up again. */
  private iotlbMiss(): void {
    const t = this.iotlb.tags;
    if (t.entries === 0) return;
    t.stats.misses++;
    this.iotlbMissed = true;
  }

  /** The offset of (aHi, aLo) in its page of 2^k bytes, with integer masks (-1 >>> (32 - k): the low k bits for 12 <= k < 32). */
  private pageOffset(aHi: number, aLo: number, k: number): number {
    return k < 32 ? aLo & (-1 >>> (32 - k)) : (aHi & ((1 << (k - 32)) - 1)) * 4294967296 + (aLo >>> 0); // (aLo as uint32 or int32: its bits)
  }

  /**
   * The host-path IOTLB miss of fastHit(): every front check of the general path is done.
   * The v1 walk's common case (HostWalker.walkOnce with plain loads from the memory's words:
   * single mode, no access log; every level in order, NextLevel-0 leaves, permissions
   * enforced, tables below 8 GiB), the IOTLB fill and the answer, in one function: split
   * across the walker and the translator, the calls and the hand-over of the walk's outputs
   * through fields cost a third of the whole translation. Checks that do not steer the walk
   * are accumulated and made once at the leaf. Any other case goes to slowWalk() before a
   * side effect (page-directory-cache look-ups are probes, committed on completion), and the
   * walker's general walk decides it; the differential property test holds the two equal.
   */
  private fastWalk(out: TranslationResult, d: Dte, deviceId: number, write: boolean): TranslationResult {
    const aHi = this.aHi, aLo = this.aLo; // (set by the caller, as guestMiss's)
    const ctx = this.ctx;
    const h = this.host;
    const u32 = ctx.direct();
    if (u32 === null || h.accessedInPde === true || aHi * 4294967296 + aLo >= d.hostLimit || (d.permMask & (write ? Perm.W : Perm.R)) === 0) {
      return this.slowWalk(out, d, deviceId, write, 0);
    }
    // word indices stay int32 (tables below 8 GiB); the index shift of level L is 9L + 3
    let table = d.rootWord;
    let level = d.mode;
    let ph = V1.IrHi | V1.IwHi; // IR, IW (bits 61, 62 = bits 29, 30 of the high word) ANDed along the path
    const pde = this.pde;
    const pdeOn = this.pdeOn;
    // the page-directory cache, probed from its lowest cached level up (no side effect yet: the
    // look-ups are committed when the walk completes); a cached entry that skips levels or
    // points above 8 GiB is the general walk's
    let probes = 0, pdeSlot = -1;
    if (pdeOn === true) {
      for (let L = pde.minLevel; L <= level; L++) {
        probes++;
        const sh = 9 * L + 3; // pde.prefixOf(), written out (a call V8 does not inline takes a low word above 2^30 as a heap number)
        const slot = pde.probe(d.domain, PasidKey.Host, L, sh >= 32 ? aHi >>> (sh - 32) : aHi * (1 << (32 - sh)) + (aLo >>> sh));
        if (slot < 0) continue;
        const next = pde.next[slot]!;
        if (pde.nextLevel[slot] !== L - 1 || next >= 8589934592) return this.slowWalk(out, d, deviceId, write, 0);
        pdeSlot = slot;
        table = (next * 0.25) | 0;
        level = L - 1;
        ph = (pde.perms[slot]! & (Perm.R | Perm.W)) << 29;
        break;
      }
    }
    if (table < 0) return this.slowWalk(out, d, deviceId, write, 0);
    const keepFrom = pdeOn === true ? pde.minLevel : 7;
    const last = ctx.lastWord; // the entry's high word must be in memory too
    // (the references are counted after the loop as top - leaf level + 1: one variable fewer
    // live across the loop keeps its values in registers, about 2 ns per walk)
    const top = level;
    let n = 0, present: number = V1.PR, pdeHi = 0;
    let lo = 0, hi = 0, e = 0;
    const trail = this.trail;
    for (;;) {
      const sh = 9 * level + 3;
      e = table + 2 * (sh >= 32 ? (aHi >>> (sh - 32)) & 0x1ff : sh <= 23 ? (aLo >>> sh) & 0x1ff : ((aLo >>> sh) | (aHi << (32 - sh))) & 0x1ff);
      if (e >= last) return this.slowWalk(out, d, deviceId, write, 0);
      trail[level] = e;
      lo = u32[e]!;
      hi = u32[e + 1]!;
      present &= lo;
      ph &= hi;
      const nl = (lo >>> 9) & 7;
      if (nl === 0) break;
      // NextLevel 7 (a large page), level skipping and invalid levels are the general walk's
      if (nl !== level - 1) return this.slowWalk(out, d, deviceId, write, 0);
      pdeHi |= hi;
      table = ((hi & 1) << 30) | ((lo & V1.AddrLo) >>> 2);
      if (level >= keepFrom) h.keep(n++, level, (ph >>> 29) & (Perm.R | Perm.W), table * 4, nl);
      level--; // = nl, known without waiting for the entry: the next index is off the dependent chain
    }
    const refs = top - level + 1;
    // every entry present, no reserved bit (and no directory entry pointing above 8 GiB), a
    // leaf below level 6, and the permission the request needs at every level
    if (present === 0 || (pdeHi & (V1.PdeRsvdHi | (V1.AddrHi & ~1))) !== 0 || (hi & V1.PteRsvdHi) !== 0 || level === 6 ||
      (ph & (write ? V1.IwHi : V1.IrHi)) === 0) return this.slowWalk(out, d, deviceId, write, 0);
    // the walk completes (or loses an A/D race): commit what it did
    const stats = this.stats;
    stats.requests++;
    stats.walks++;
    this.dteStats.hits++;
    let pdeHits = 0;
    if (pdeOn === true) {
      pde.commitLookups(probes, pdeSlot);
      if (pdeSlot >= 0) pdeHits = 1;
    }
    const had = d.had;
    let ad = 0;
    if ((had & 1) !== 0) {
      const want = write && had === 3 ? V1.A | V1.D : V1.A;
      if ((lo & want) !== want) {
        ctx.reset();
        ctx.refs = refs; ctx.walkRefs = refs; ctx.pdeHits = pdeHits;
        if (!ctx.cas(e * 4, lo, (lo | want) >>> 0, "v1-ad")) { ctx.retries = 1; return this.slowWalk(out, d, deviceId, write, 1); }
        ad = 1;
      }
    }
    if (n !== 0) { h.aHi = aHi; h.aLo = aLo; h.fillPde(d, n); }
    // the table reads, priced through the table-line cache (LLC hit or DRAM) now that the walk completed
    let lineHits = 0;
    const lines = this.lines;
    if (lines !== null) for (let L = top; L >= level; L--) lineHits += lines.touchWord(trail[L]!); // in walk order, as the general walk
    const log2 = 9 * level + 3;
    const spaBase = log2 < 32 ? (hi & V1.AddrHi) * 4294967296 + ((lo & V1.AddrLo & (-1 << log2)) >>> 0)
      : ((hi & V1.AddrHi & (-1 << (log2 - 32))) >>> 0) * 4294967296;
    // IOTLB fill: R/W found, D already set (or now set, or not tracked), PTE.U
    const perms = ((ph >>> 29) & (Perm.R | Perm.W)) | ((hi & V1.UHi) !== 0 ? Perm.NoAts : 0) |
      (had !== 3 || (lo & V1.D) !== 0 || write ? Perm.Dirty : 0);
    if (this.iotlbOn === true) { const it = this.iotlb; it.page[0] = aHi; it.page[1] = aLo; it.page[2] = spaBase; it.fill(d.domain, PasidKey.Host, log2, perms); }
    out.ok = true;
    out.spa = spaBase + this.pageOffset(aHi, aLo, log2);
    out.pageSize = this.pow2[log2]!;
    out.readable = (perms & d.permMask & Perm.R) !== 0;
    out.writable = (perms & d.permMask & Perm.W) !== 0;
    out.executable = true; out.user = true;
    out.fault = null; out.event = 0;
    out.path = "host";
    out.iotlbHit = false; out.dteCacheHit = true; out.gcr3CacheHit = false;
    out.pdeHits = pdeHits; out.memoryReferences = refs + ad; out.walkReferences = refs; out.tableLineHits = lineHits; out.adUpdates = ad; out.completionCycle = 0;
    // price(): DTE-cache hit + IOTLB look-up + walk overhead + what the walk touched
    out.cycles = this.walkBaseCycles + (refs - lineHits) * this.refCycles + lineHits * this.llcCycles + ad * this.adCycles + pdeHits * this.pdeHitCycles;
    stats.adUpdates += ad;
    stats.referencesPerWalk[refs < 40 ? refs : 40]!++;
    return out;
  }

  /**
   * fastWalk()'s other cases: the walker's general walk, from attempt `attempt` (1 after the
   * fast walk lost its A/D compare-exchange, with its counts in ctx), then hostWalk's tail.
   */
  private slowWalk(out: TranslationResult, d: Dte, deviceId: number, write: boolean, attempt: number): TranslationResult {
    const ctx = this.ctx;
    if (attempt === 0) {
      ctx.reset();
      this.stats.requests++;
      this.stats.walks++;
      this.dteStats.hits++;
    }
    ctx.peek = false;
    this.noEvents = false;
    const h = this.host;
    h.aHi = this.aHi; h.aLo = this.aLo;
    out.reset();
    out.dteCacheHit = true;
    out.path = "host";
    if (!h.walk(d, write, true, attempt)) return this.walkFault(out, d, deviceId, write, false, false, 0);
    return this.hostWalkDone(out, d, false);
  }

  translate(req: TranslationRequest, out: TranslationResult, kind: number): TranslationResult {
    if (kind === Kind.Untranslated) return this.translateUntranslated(req, out);
    this.iotlbMissed = false;
    return this.general(req, out, kind);
  }

  /**
   * An untranslated request: fastHit() (which hands a host IOTLB miss to fastWalk()), else
   * the general path. The fast path counts a DTE and an IOTLB look-up only when it serves the request;
   * when it falls back the general path counts its own (a fast-path IOTLB miss stays counted:
   * it is not looked up again). Small enough for V8 to inline into the caller's loop.
   */
  translateUntranslated(req: TranslationRequest, out: TranslationResult): TranslationResult {
    const r = this.fastHit(req, out);
    return r !== null ? r : this.general(req, out, Kind.Untranslated);
  }

  /**
   * An ATS Translation Request: fastAtsHit() (an IOTLB hit of the device served last), else
   * the general path, which decides every case (and looks the IOTLB up itself).
   */
  translateAts(req: TranslationRequest, out: TranslationResult): TranslationResult {
    const r = this.fastAtsHit(req, out);
    if (r !== null) return r;
    this.iotlbMissed = false;
    return this.general(req, out, Kind.Ats);
  }

  /**
   * The common ATS request in few instructions: number address, the device served last with
   * its DTE cached, DTE.I = 1, and an IOTLB entry to answer from. What the general path then
   * does: hostPath's or guestPath's look-up (an ATS request is answered from any entry it
   * hits, with the permissions the entry and the DTE grant; a write to a writable guest page
   * whose D is clear walks again to set it), and success() with the answer's permissions (a
   * v1 PTE.U page is not handed out: no access, "untranslated-only"). Anything else returns
   * null before a side effect; the differential property test holds the two equal.
   */
  private fastAtsHit(req: TranslationRequest, out: TranslationResult): TranslationResult | null {
    if (req === null || req === undefined) return null;
    const a = req.address;
    if (typeof a !== "number" || !(a >= 0 && a <= 9007199254740991)) return null;
    const write = req.write, execute = req.execute, privileged = req.privileged;
    if (!((write === undefined || typeof write === "boolean") && (execute === undefined || typeof execute === "boolean") &&
      (privileged === undefined || typeof privileged === "boolean"))) return null;
    const control = this.regWords[RegWord.Control]!;
    if ((control & RegWord.IommuEn) === 0) return null;
    const d = this.frontDte;
    if (d === null || d.deviceId !== req.deviceId || this.dteTags.version !== this.frontVersion || d.f.I !== true) return null;
    const aLo = a >>> 0;
    const aHi = (a - aLo) * 2.3283064365386963e-10; // / 2^32, exact
    if ((aHi | 0) !== aHi) return null;
    const it = this.iotlb;
    const pasid = req.pasid;
    let s: number;
    if (pasid === undefined) {
      if (it.tags.entries === 0 || d.hostWalk !== true) return null; // (GIoV: the general path)
      s = it.probeHinted(d.hostKey, aHi, aLo | 0);
      if (s < 0) { it.page[0] = aHi; it.page[1] = aLo; s = it.probe(d.domain, PasidKey.Host); }
      if (s < 0) return null;
    } else {
      if (d.guestWalk !== true || typeof pasid !== "number" || !(pasid >= 0 && pasid <= 0xfffff) || (pasid | 0) !== pasid ||
        (control & RegWord.GTEn) === 0) return null;
      // (no canonical check before the look-up: entries are filled by walks of canonical addresses
      // and tagged with the whole page number, so a non-canonical address misses)
      it.page[0] = aHi; it.page[1] = aLo;
      s = it.tags.entries === 0 ? -1 : it.probe(d.domain, pasid);
      if (s < 0) {
        // a miss (or no IOTLB) walks on fastHit()'s guest route (guestMiss), after the front check it
        // makes there and guestPath() makes here; a non-canonical address goes to the general path, which faults
        if (!this.guest.canonical(d, aHi)) return null;
        this.aHi = aHi; this.aLo = aLo;
        return this.guestMiss(out, d, pasid, write === true, privileged !== true && this.usCheck === true, privileged !== true, execute === true, true);
      }
      const p = it.perms[s]!;
      if (write === true && (p & Perm.Dirty) === 0 && (p & Perm.W) !== 0) return null; // walks again to set D
    }
    it.hit(s);
    const stats = this.stats;
    stats.requests++;
    stats.atsRequests++;
    this.dteStats.hits++;
    const p = pasid === undefined ? it.perms[s]! | Perm.U | Perm.X : it.perms[s]!;
    const k = it.hitLog2;
    const f = d.f;
    out.spa = it.spa[s]! + this.pageOffset(aHi, aLo, k);
    out.pageSize = this.pow2[k]!;
    out.executable = (p & Perm.X) !== 0;
    out.user = (p & Perm.U) !== 0;
    if ((p & Perm.NoAts) !== 0) {
      out.readable = false; out.writable = false; out.fault = "untranslated-only";
    } else {
      out.readable = (p & Perm.R) !== 0 && f.IR; out.writable = (p & Perm.W) !== 0 && f.IW; out.fault = null;
    }
    out.ok = out.readable || out.writable;
    out.event = 0;
    out.path = pasid === undefined ? "host" : f.Mode !== 0 ? "nested" : "guest";
    out.iotlbHit = true; out.dteCacheHit = true; out.gcr3CacheHit = false;
    out.pdeHits = 0; out.memoryReferences = 0; out.walkReferences = 0; out.tableLineHits = 0; out.adUpdates = 0; out.completionCycle = 0;
    out.cycles = this.hitCycles;
    return out;
  }

  /** Everything translate() decides besides the fast path (iotlbMissed says whether its IOTLB look-up already missed). */
  private general(req: TranslationRequest, out: TranslationResult, kind: number): TranslationResult {
    if (req === null || typeof req !== "object") throw new TypeError("translate: request must be an object { deviceId, address, ... }");
    const deviceId = req.deviceId;
    if (typeof deviceId !== "number" || !(deviceId >= 0 && deviceId <= 0xffff) || (deviceId | 0) !== deviceId) {
      throw new RangeError(`translate: request.deviceId must be an integer 0..65535 (bus << 8 | dev << 3 | fn), got ${String(deviceId)}`);
    }
    const pasid = req.pasid;
    const hasPasid = pasid !== undefined;
    if (hasPasid && (typeof pasid !== "number" || !(pasid >= 0 && pasid <= 0xfffff) || (pasid | 0) !== pasid)) {
      throw new RangeError(`translate: request.pasid must be an integer 0..1048575, got ${String(pasid)}`);
    }
    this.address(req.address);
    if (!flagsOk(req)) {
      for (const k of ["write", "execute", "privileged"] as const) {
        if (req[k] !== undefined && typeof req[k] !== "boolean") throw new TypeError(`translate: request.${k} must be a boolean, got ${typeof req[k]}`);
      }
    }
    const write = req.write === true;
    const execute = req.execute === true;
    const user = !(hasPasid && req.privileged === true);
    this.reqUser = user;
    out.reset();
    const ctx = this.ctx;
    ctx.reset();
    this.kind = kind;
    ctx.peek = kind === Kind.Peek;
    this.noEvents = kind === Kind.Prefetch;
    const ats = kind === Kind.Ats;
    if (!ctx.peek) { this.stats.requests++; if (ats) this.stats.atsRequests++; }
    const regs = this.regs;
    const words = this.regWords; // (Control and Exclusion Base through const enum word indices, as fastHit reads them)
    if ((words[RegWord.Control]! & RegWord.IommuEn) === 0) return this.passthrough(out, "iommu-disabled");
    // ---- DTE ----
    const d = this.deviceTable.lookup(deviceId, ctx.peek);
    if (d !== null && d.slot >= 0) { this.frontDte = d; this.frontVersion = this.dteTags.version; }
    out.dteCacheHit = this.deviceTable.hit;
    if (!this.deviceTable.hit) ctx.refs++;
    if (d === null) {
      if (this.deviceTable.status === DTE_HARDWARE_ERROR) {
        const a = this.deviceTable.dteAddress;
        return this.fail(out, null, deviceId, "dte-hardware-error", EV_DEV_TAB_HARDWARE_ERROR,
          (1 << EVT_TYPE_SHIFT) | (write ? EVT_RW : 0) | (ats ? EVT_TR : 0), false, 0, Math.floor(a / TWO32), a >>> 0, false);
      }
      return this.fail(out, null, deviceId, "illegal-dte", EV_ILLEGAL_DEV_TABLE_ENTRY,
        EVT_RZ | (hasPasid ? EVT_GN : 0) | (write ? EVT_RW : 0) | (ats ? EVT_TR : 0), hasPasid, pasid ?? 0, this.aHi, (this.aLo & ~3) >>> 0, false);
    }
    const f = d.f;
    if (!f.V) return this.passthrough(out, "untranslated");
    if (kind === Kind.Translated) {
      // pre-translated requests are accepted only from a device whose DTE allows ATS (DTE.I = 1)
      if (f.I) return this.passthrough(out, "pretranslated");
      return this.fail(out, d, deviceId, "ats-disabled", EV_INVALID_DEVICE_REQUEST,
        (INVALID_DEVICE_REQUEST_TYPE.TranslatedRequestWithIZero << EVT_TYPE_SHIFT) | (write ? this.idrRw : 0), false, 0, this.aHi, this.aLo, false);
    }
    // ---- exclusion range ----
    if (!ats && (words[RegWord.ExclusionBase]! & RegWord.ExEn) !== 0 && ((words[RegWord.ExclusionBase]! & 2) !== 0 || f.EX)) { // ExEn, Allow
      const addr = this.aHi * TWO32 + this.aLo;
      const base = regs.base(MMIO_EXCLUSION_BASE);
      const limit = regs.base(MMIO_EXCLUSION_LIMIT) + 0xfff;
      if (!hasPasid && addr >= base && addr <= limit) return this.passthrough(out, "exclusion");
    }
    const gtOn = this.features.guestTranslation && (words[RegWord.Control]! & RegWord.GTEn) !== 0 && f.GV;
    if (!f.TV && !(this.quirks.tvGatesHostTableOnly && gtOn && (hasPasid || (f.GIoV && this.features.guestIo)))) {
      if (this.quirks.tvZero === "abort") { out.fault = "translation-disabled"; return this.price(out, false); }
      return this.pageFault(out, d, deviceId, "translation-disabled", 0, write, ats, false, 0);
    }
    if (ats && !f.I) {
      return this.fail(out, d, deviceId, "ats-disabled", EV_INVALID_DEVICE_REQUEST,
        EVT_TR | (INVALID_DEVICE_REQUEST_TYPE.TranslationRequestWithIZero << EVT_TYPE_SHIFT) | (hasPasid ? EVT_GN : 0) | (write ? this.idrRw : 0),
        hasPasid, pasid ?? 0, this.aHi, this.aLo, false);
    }
    if (hasPasid) {
      if (!gtOn) {
        if (this.quirks.pasidWithoutGuest === "io-page-fault") return this.pageFault(out, d, deviceId, "pasid-not-allowed", 0, write, ats, true, pasid);
        return this.fail(out, d, deviceId, "pasid-not-allowed", EV_INVALID_DEVICE_REQUEST,
          (INVALID_DEVICE_REQUEST_TYPE.PasidNotAllowed << EVT_TYPE_SHIFT) | EVT_GN | (write ? this.idrRw : 0) | (ats ? EVT_TR : 0),
          true, pasid, this.aHi, this.aLo, false);
      }
      return this.guestPath(out, d, deviceId, pasid, write, user && this.usCheck, execute, ats, false);
    }
    if (gtOn && f.GIoV && this.features.guestIo) return this.guestPath(out, d, deviceId, 0, write, this.usCheck, false, ats, true);
    return this.hostPath(out, d, deviceId, write, ats);
  }

  private hostPath(out: TranslationResult, d: Dte, deviceId: number, write: boolean, ats: boolean): TranslationResult {
    const f = d.f;
    const mode = f.Mode;
    if (mode === 0) {
      const allowed = write ? f.IW : f.IR;
      if (!ats && !allowed) return this.pageFault(out, d, deviceId, "permission", EVT_PE | EVT_PR, write, ats, false, 0);
      out.path = "mode0";
      if (this.kind === Kind.Untranslated) this.stats.passUntranslated++; // (event 01h: a memory request, not ATS, prefetch or peek)
      return this.success(out, this.aHi * TWO32 + this.aLo, 12, (f.IR ? Perm.R : 0) | (f.IW ? Perm.W : 0) | Perm.U | Perm.X, ats, false);
    }
    if (mode === 7 || mode > this.features.hats + 4) return this.pageFault(out, d, deviceId, "reserved-mode", 0, write, ats, false, 0);
    out.path = "host";
    const it = this.iotlb;
    const ctx = this.ctx;
    if (it.enabled && !ctx.peek && !this.iotlbMissed) {
      const s = it.lookup(f.DomainID, PasidKey.Host, this.aHi, this.aLo);
      if (s >= 0) {
        const p = it.perms[s]!;
        const granted = (p & (write ? Perm.W : Perm.R)) !== 0 && (write ? f.IW : f.IR) && (!write || (p & Perm.Dirty) !== 0);
        if (granted || ats) {
          out.iotlbHit = true;
          return this.success(out, it.spa[s]! + this.offset(it.hitLog2), it.hitLog2, p | Perm.U | Perm.X, ats, true, d);
        }
        if (!this.quirks.rewalkOnCachedPermissionFault && (p & (write ? Perm.W : Perm.R)) === 0) {
          return this.pageFault(out, d, deviceId, "permission", EVT_PE | EVT_PR, write, ats, false, 0);
        }
      }
    }
    return this.hostWalk(out, d, deviceId, write, ats);
  }

  /** The v1 walk of an IOTLB miss, the fill, and the answer (host path after the look-up). */
  private hostWalk(out: TranslationResult, d: Dte, deviceId: number, write: boolean, ats: boolean): TranslationResult {
    if (!this.ctx.peek) this.stats.walks++;
    const h = this.host;
    h.aHi = this.aHi; h.aLo = this.aLo;
    if (!h.walk(d, write, !ats)) {
      return this.walkFault(out, d, deviceId, write, ats, false, 0);
    }
    return this.hostWalkDone(out, d, ats);
  }

  /** After a successful v1 walk: the IOTLB fill and the answer. */
  private hostWalkDone(out: TranslationResult, d: Dte, ats: boolean): TranslationResult {
    const h = this.host;
    const perms = h.perms | (h.lastLeafDirty ? Perm.Dirty : 0);
    const it = this.iotlb;
    if (it.enabled && !this.ctx.peek) it.insert(d.f.DomainID, PasidKey.Host, this.aHi, this.aLo, h.log2, h.spaBase, perms);
    return this.success(out, h.spaBase + this.offset(h.log2), h.log2, perms | Perm.U | Perm.X, ats, false, d);
  }

  private guestPath(out: TranslationResult, d: Dte, deviceId: number, pasid: number, write: boolean, user: boolean,
    execute: boolean, ats: boolean, giov: boolean): TranslationResult {
    const f = d.f;
    out.path = f.Mode !== 0 && f.TV ? "nested" : "guest";
    const it = this.iotlb;
    const ctx = this.ctx;
    if (!this.guest.addressOk(d, this.aHi, giov)) return this.walkFault(out, d, deviceId, write, ats, true, pasid);
    if (it.enabled && !ctx.peek && !this.iotlbMissed) {
      const s = it.lookup(f.DomainID, pasid, this.aHi, this.aLo);
      if (s >= 0) {
        const p = it.perms[s]!;
        const permOk = (write ? (p & Perm.W) !== 0 && f.IW : (p & Perm.R) !== 0 && f.IR) && (!user || (p & Perm.U) !== 0) && (!execute || (p & Perm.X) !== 0);
        if ((permOk && (!write || (p & Perm.Dirty) !== 0)) || (ats && (!write || (p & Perm.Dirty) !== 0 || (p & Perm.W) === 0))) {
          out.iotlbHit = true;
          return this.success(out, it.spa[s]! + this.offset(it.hitLog2), it.hitLog2, p, ats, true, d);
        }
        if (!ats && !permOk && !this.quirks.rewalkOnCachedPermissionFault) {
          const why: FaultReason = execute && (p & Perm.X) === 0 ? "no-execute" : user && (p & Perm.U) === 0 ? "user-supervisor" : "permission";
          const fl = EVT_PE | EVT_PR | (why === "no-execute" ? EVT_NX : 0) | (why === "user-supervisor" ? EVT_US : 0);
          return this.pageFault(out, d, deviceId, why, fl, write, ats, true, pasid);
        }
      }
    }
    return this.guestWalk(out, d, deviceId, pasid, write, user, execute, ats);
  }

  /** The guest path after its IOTLB look-up (out.path set): the walk, the fill and the answer. */
  private guestWalk(out: TranslationResult, d: Dte, deviceId: number, pasid: number, write: boolean, user: boolean,
    execute: boolean, ats: boolean): TranslationResult {
    const f = d.f;
    const it = this.iotlb;
    const ctx = this.ctx;
    if (!ctx.peek) this.stats.walks++;
    const g = this.guestFlags(write, user, execute, ats);
    const gw = this.guest;
    gw.aHi = this.aHi; gw.aLo = this.aLo;
    const ok = gw.walk(d, pasid, g);
    out.gcr3CacheHit = this.guest.gcr3Hit;
    if (!ok) return this.walkFault(out, d, deviceId, write, ats, true, pasid);
    if (!ats && !(write ? f.IW : f.IR)) return this.pageFault(out, d, deviceId, "permission", EVT_PE | EVT_PR, write, ats, true, pasid);
    if (it.enabled && !ctx.peek) it.insert(f.DomainID, pasid, this.aHi, this.aLo, gw.log2, gw.spaBase, gw.perms);
    return this.success(out, gw.spaBase + this.offset(gw.log2), gw.log2, gw.perms, ats, false, d);
  }

  /**
   * A guest walk's flags (GuestFlag) for a request: its kind, the IOMMU's constant ones, and
   * Control's guest bits (GAUpdateDis, GDUpdateDis, GCR3TRPMode: high word), each honoured when
   * its feature is present. An ATS request accumulates permissions instead of faulting.
   */
  private guestFlags(write: boolean, user: boolean, execute: boolean, ats: boolean): number {
    const ctlHi = this.regWords[RegWord.Control + 1]!;
    return this.gconst | (write ? GuestFlag.Write : 0) | (user ? GuestFlag.User : 0) | (execute ? GuestFlag.Execute : 0) |
      (ats ? 0 : GuestFlag.Enforce) | ((ctlHi & this.gaDisMask) === 0 ? GuestFlag.AUpdate : 0) |
      ((ctlHi & this.gdDisMask) === 0 ? GuestFlag.DUpdate : 0) | ((ctlHi & this.gcr3TrpMask) !== 0 ? GuestFlag.Gcr3IsGpa : 0);
  }

  /** Offset of the request address inside a page of 2^log2 bytes. */
  private offset(log2: number): number {
    return this.pageOffset(this.aHi, this.aLo, log2);
  }

  private passthrough(out: TranslationResult, path: TranslationResult["path"]): TranslationResult {
    out.path = path;
    // performance events 01h-03h: memory requests (untranslated or translated; not ATS, prefetch or peek) passed
    if (this.kind === Kind.Untranslated || this.kind === Kind.Translated) {
      const st = this.stats;
      if (path === "untranslated") st.passUntranslated++; else if (path === "pretranslated") st.passPretranslated++; else if (path === "exclusion") st.passExcluded++;
    }
    out.ok = true;
    out.spa = this.aHi * TWO32 + this.aLo;
    out.pageSize = 4096;
    out.readable = out.writable = out.executable = out.user = true;
    return this.price(out, false, false);
  }

  private success(out: TranslationResult, spa: number, log2: number, perms: number, ats: boolean, hit: boolean, d?: Dte): TranslationResult {
    const dr = d ? d.f.IR : true, dw = d ? d.f.IW : true;
    out.spa = spa;
    out.pageSize = POW2[log2]!;
    out.readable = (perms & Perm.R) !== 0 && dr;
    out.writable = (perms & Perm.W) !== 0 && dw;
    out.executable = (perms & Perm.X) !== 0;
    out.user = (perms & Perm.U) !== 0;
    if (ats && (perms & Perm.NoAts) !== 0) {
      out.readable = out.writable = false;
      out.fault = "untranslated-only";
    }
    out.ok = ats ? out.readable || out.writable : true;
    return this.price(out, !hit, out.path !== "mode0");
  }

  /** A walk failed: log its fault (IO_PAGE_FAULT or PAGE_TAB_HARDWARE_ERROR) as the hardware would. */
  private walkFault(out: TranslationResult, d: Dte, deviceId: number, write: boolean, ats: boolean, gn: boolean, pasid: number): TranslationResult {
    const ctx = this.ctx;
    const reason = ctx.reason ?? "not-present";
    if (ctx.code === EV_PAGE_TAB_HARDWARE_ERROR) {
      const g = gn && !ctx.hostFault;
      return this.fail(out, d, deviceId, reason, EV_PAGE_TAB_HARDWARE_ERROR,
        ctx.flags | (g ? EVT_GN : 0) | (write ? EVT_RW : 0) | (ats ? EVT_TR : 0), g, pasid, ctx.faultHi, ctx.faultLo, true);
    }
    if (ctx.hostFault) {
      // a host-table fault while walking guest tables or translating the final GPA: GN = 0, GPA (docs/spec-readings.md reg 5.6)
      return this.pageFault(out, d, deviceId, reason, ctx.flags, write, ats, false, 0, ctx.faultHi, ctx.faultLo);
    }
    return this.pageFault(out, d, deviceId, reason, ctx.flags, write, ats, gn, pasid);
  }

  private pageFault(out: TranslationResult, d: Dte, deviceId: number, reason: FaultReason, flags: number, write: boolean,
    ats: boolean, gn: boolean, pasid: number, addrHi = this.aHi, addrLo = this.aLo): TranslationResult {
    out.fault = reason;
    if (ats) return this.price(out, true); // ATS: the completion grants nothing, no event (docs/spec-readings.md reg 4.5)
    // US: the privilege of this request (a fault before the guest walk must not read the last walk's)
    const fl = flags | (gn ? EVT_GN : 0) | (write ? EVT_RW : 0) | (gn && this.reqUser ? EVT_US : 0);
    return this.fail(out, d, deviceId, reason, EV_IO_PAGE_FAULT, fl, gn, pasid, addrHi, addrLo, true);
  }

  /** Record a refused request and write its event (unless suppressed). */
  private fail(out: TranslationResult, d: Dte | null, deviceId: number, reason: FaultReason, code: number, flags: number,
    gn: boolean, pasid: number, addrHi: number, addrLo: number, walked: boolean): TranslationResult {
    out.ok = false;
    out.fault = reason;
    if (this.ctx.peek) return this.price(out, walked);
    this.stats.faults++;
    if (this.noEvents) return this.price(out, walked);
    const r = this.faultEvents.write(d, deviceId, code, flags, gn, pasid, addrHi, addrLo);
    if (r === FaultEventResult.Suppressed) this.stats.eventsSuppressed++;
    // the event write is a memory reference only when it happens (log on, not full, in memory)
    else if (r === FaultEventResult.Written) { this.ctx.refs++; out.event = code; this.stats.eventsLogged++; }
    return this.price(out, walked);
  }

  /**
   * Modelled latency of what the translation touched (functional mode: a sum of profile costs).
   * `translated`: the request took a path with an IOTLB look-up (host, guest, nested); callers
   * that know it pass it, the others let it be read from out.path. (An IOMMU that is off looks
   * nothing up: its answer has no DTE-cache hit, so it costs 0.)
   */
  private price(out: TranslationResult, walked: boolean, translated: boolean = isTranslatedPath(out.path)): TranslationResult {
    const ctx = this.ctx;
    const refs = ctx.refs, ad = ctx.adWrites, lineHits = ctx.lineHits, pdeHits = ctx.pdeHits;
    out.memoryReferences = refs;
    out.walkReferences = ctx.walkRefs;
    out.tableLineHits = lineHits;
    out.pdeHits = pdeHits;
    out.adUpdates = ad;
    let c = out.dteCacheHit === true ? this.dteHitCycles : 0;
    if (translated === true) c += this.iotlbLookupCycles;
    if (walked === true && out.iotlbHit === false) c += this.walkOverheadCycles;
    c += (refs - ad - lineHits) * this.refCycles + lineHits * this.llcCycles + ad * this.adCycles + pdeHits * this.pdeHitCycles;
    if (out.gcr3CacheHit === true) c += this.gcr3HitCycles;
    out.cycles = c;
    if (ctx.peek === false) {
      const stats = this.stats;
      stats.adUpdates += ad;
      stats.walkRetries += ctx.retries;
      if (walked === true && out.iotlbHit === false) { const w = ctx.walkRefs; stats.referencesPerWalk[w < 40 ? w : 40]!++; }
    }
    return out;
  }
}
