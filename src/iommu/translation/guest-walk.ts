/**
 * Guest (v2) translation: GCR3 table walk by PASID, then the AMD64 long-mode table (4 or 5
 * levels), optionally nested through the host (v1) table (spec: "Guest Translation",
 * "Nested Translation"; docs/spec-readings.md reg 5.1-5.8).
 *
 * Permissions: write needs R/W = 1 at every level, a user request U/S = 1 at every level, an
 * execute request NX = 0 at every level (when NXSup). A supervisor request may use U = 1 pages
 * and still honours R/W and NX (the safe reading of docs/spec-readings.md reg 6.11). Reserved bits (PS in a
 * PML4E/PML5E, low address bits of a large page) fault with RZ. A is set in every entry
 * traversed and D in the leaf for a write, with a compare-exchange on the low word, only when
 * the translation succeeds; a lost race re-walks. In nested mode every guest table address
 * and the final GPA are translated by the host table (table reads need IR, A/D writes IW);
 * the final permission is the intersection and the page size the smaller of the two.
 *
 * walk() tries the common case of each format in one pass first, without a side effect until
 * it completes: walkDirect() for a guest table alone, walkNested() for one nested in the host
 * table. Every other case is the general walk's (walkTables(), walkOnce()), which is the
 * reference the fast-path differential property holds them to.
 */
import { Gcr3, Lm } from "../../spec/page-tables.js";
import { EVT_NX, EVT_PE, EVT_US } from "../../spec/events.js";
import type { Dte } from "../device-table.js";
import type { Gcr3Cache } from "../caches/gcr3-cache.js";
import { PasidKey, Perm, type Iotlb } from "../caches/iotlb.js";
import type { PdeCache } from "../caches/pde-cache.js";
import { levelIndex, type HostWalker } from "./host-walk.js";
import { offsetIn } from "./address-math.js";
import { F_PR, F_RZ, MAX_WALK_RETRIES, Pending, Walk, type WalkContext } from "./walk-context.js";
import type { TranslationStats } from "./translation-stats.js";

const SHIFT = [0, 12, 21, 30, 39, 48];
/** eBits: the host grants write to the entry's table (nested walks); a const enum, inlined (a module binding is loaded and checked at each use). */
const enum EBit { HostW = 0x80 }
/** walkDirect()'s answer when the walk is not its case (nothing done: walkTables() decides); else a Walk code. A const enum: inlined. */
const enum Direct { NotTaken = 3 }
const TWO32 = 4294967296;

/**
 * The flags of a guest walk (GuestWalker.walk's `fl`), one bit each (a const enum: inlined; a
 * number, not an object whose fields the miss route would write per request).
 */
export const enum GuestFlag {
  /** The request writes; is a user-mode request (U/S checked); executes. */
  Write = 1, User = 2, Execute = 4,
  /** Untranslated request: fault on missing permission. ATS: accumulate only. */
  Enforce = 8,
  /** EFR.NXSup: NX honoured. */
  Nx = 16,
  /** Control.GAUpdateDis / GDUpdateDis clear (or not supported): A / D are set. */
  AUpdate = 32, DUpdate = 64,
  /** Control.GCR3TRPMode: the GCR3 table's pointers are GPAs (with a host table). */
  Gcr3IsGpa = 128,
  /** quirks.gcr3ReservedBitsFault: reserved bits of a GCR3 entry fault. */
  Gcr3RsvdCheck = 256,
}

export class GuestWalker {
  /**
   * Input: the guest virtual address, as 32-bit halves, set by the caller before walk()
   * (fields, not arguments: V8 passes a number that is not a small integer to a call it does
   * not inline as a heap number, allocated per call; the same for cr3 and tGpa below).
   */
  aHi = 0;
  aLo = 0;
  /** The guest CR3 of the current walk (walkTables() to walkOnce()). */
  private cr3 = 0;
  /** tableSpa()'s input: the guest-physical address of a guest table, as 32-bit halves. */
  private tHi = 0;
  private tLo = 0;
  /** Output: SPA page base, log2 size, permissions (PERM_*). */
  spaBase = 0;
  log2 = 12;
  perms = 0;
  gcr3Hit = false;
  /**
   * The entries of the current walk, in walk order (entry i is at level top - i): the SPA and
   * low word the A/D step compare-exchanges, and what the page-directory-cache fill and the
   * nested A/D check need (EBit.HostW: the host grants write to the entry's table; the
   * permissions accumulated down to the entry, Perm.R/W/U/X). A level and the next table's
   * SPA are derived from these where needed, not stored per level.
   */
  private readonly ePa = new Float64Array(6);
  private readonly eLo = new Uint32Array(6);
  private readonly eBits = new Uint8Array(6);
  /** walkDirect()'s entries by level: word index (SPA / 4) and low word. */
  private readonly dWord = new Int32Array(7);
  private readonly dLo = new Uint32Array(7);
  /** walkNested()'s entries by level: the host grants write to the entry's table (1) or not (0). */
  private readonly dHostW = new Uint8Array(7);
  /** Host translation of a table GPA: SPA and whether the host grants write. */
  private tSpa = 0;
  private tW = false;

  constructor(
    private readonly ctx: WalkContext,
    private readonly host: HostWalker,
    private readonly iotlb: Iotlb,
    private readonly pde: PdeCache,
    private readonly gcr3: Gcr3Cache,
    /** guestTableReads and nestedTableReads (performance events 0Eh, 0Dh) are counted here. */
    private readonly stats: Pick<TranslationStats, "guestTableReads" | "nestedTableReads">,
    /** EFR.PASmax: PASIDs below 2^(PASmax + 1). */
    private readonly pasMax: number,
  ) {}

  /** Host-table reads of the current walk (nested: guest table addresses and the final GPA). */
  private hostReads = 0;

  walk(d: Dte, pasid: number, fl: number): boolean {
    const ctx = this.ctx;
    const before = ctx.walkRefs;
    this.hostReads = 0;
    // the common cases first: a guest table alone, or nested (TV = 0 with a Mode, quirks.tvGatesHostTableOnly, is walkTables()')
    const f = d.f;
    const r = ctx.peek === true ? Direct.NotTaken : f.Mode === 0 ? this.walkDirect(d, pasid, fl) : f.TV === true ? this.walkNested(d, pasid, fl) : Direct.NotTaken;
    const ok = r === Direct.NotTaken ? this.walkTables(d, pasid, fl) : r === Walk.Ok;
    if (ctx.peek === false) { // performance events 0Eh (guest tables) and 0Dh (host tables of a nested walk)
      const st = this.stats, host = this.hostReads;
      st.nestedTableReads += host;
      st.guestTableReads += ctx.walkRefs - before - host;
    }
    return ok;
  }

  /** walk(): the GCR3 table, then the long-mode table (retried while an A/D update loses a race). */
  private walkTables(d: Dte, pasid: number, fl: number): boolean {
    const ctx = this.ctx;
    const f = d.f;
    const nested = f.Mode !== 0 && f.TV; // (TV = 0 reaches here only with quirks.tvGatesHostTableOnly: no host table)
    const glxLevels = f.GLX + 1;
    if (!this.pasidInRange(glxLevels, pasid)) { ctx.fault("pasid-out-of-range", 0); return false; }
    // ---- GCR3 table: PASID -> guest CR3 ----
    let cr3 = -1;
    this.gcr3Hit = false;
    const g3 = this.gcr3;
    if (g3.tags.entries !== 0 && ctx.peek === false) {
      const s = g3.lookup(d.deviceId, pasid, f.DomainID);
      if (s >= 0) { cr3 = this.gcr3.cr3[s]!; this.gcr3Hit = true; }
    }
    if (cr3 < 0) {
      cr3 = this.gcr3Walk(d, pasid, glxLevels, nested && (fl & GuestFlag.Gcr3IsGpa) !== 0, (fl & GuestFlag.Gcr3RsvdCheck) !== 0);
      if (cr3 < 0) return false;
    }
    this.cr3 = cr3;
    return this.walkAttempts(d, pasid, fl, nested, 0);
  }

  /**
   * The PASID is below 2^(9 x GCR3 levels) and 2^(PASmax + 1), with integer shifts (a `2 **` here
   * was a call to Math.pow, a third of a guest walk): 9 x levels <= 36 and PASmax <= 19, and a
   * PASID is below 2^20, so a width of 31 bits or more never refuses one.
   */
  private pasidInRange(glxLevels: number, pasid: number): boolean {
    const glxBits = 9 * glxLevels;
    return !((glxBits < 31 && pasid >= 1 << glxBits) || pasid > (1 << (this.pasMax + 1)) - 1);
  }

  /** The walk of the long-mode table from this.cr3, attempts `first` onwards (retried while an A/D update loses a race). */
  private walkAttempts(d: Dte, pasid: number, fl: number, nested: boolean, first: number): boolean {
    const ctx = this.ctx;
    const levels = d.guestLevels;
    for (let i = first; i < MAX_WALK_RETRIES; i++) {
      const r = this.walkOnce(d, pasid, fl, nested, levels);
      if (r !== Walk.Retry) return r === Walk.Ok;
      ctx.retries++;
    }
    ctx.fault("ad-contention", 0);
    return false;
  }

  /**
   * walk()'s common case in one pass, as Translator.fastWalk is the v1 walk's: a guest (not
   * nested) walk of an untranslated or ATS request in single mode with the memory's words for plain
   * loads, the guest CR3 from the GCR3 cache's front slot, tables below 8 GiB, a 4 KiB, 2 MiB or 1 GiB leaf,
   * the permissions an untranslated request needs (an ATS request's are accumulated, as
   * walkOnce() does), and no page-directory-cache entry to fill. The caches
   * are probed (GCR3 front slot, page-directory cache) and the reads made without a side
   * effect; any other case returns Direct.NotTaken before one, and walkTables() decides it. Once the
   * walk completes, what it did is committed in the order walkTables() does it (GCR3 and
   * page-directory look-ups, the reads and their table lines, then the A/D compare-exchanges,
   * top-down); an A/D update that loses a race goes on as walkTables()'s next attempt.
   * test/iommu/fast-path-differential.test.ts holds the two equal (number addresses take this
   * walk, bigint addresses with the memory-access log the general one).
   */
  private walkDirect(d: Dte, pasid: number, fl: number): number {
    const ctx = this.ctx;
    const u32 = ctx.direct();
    if (u32 === null) return Direct.NotTaken;
    const f = d.f;
    if (!this.pasidInRange(f.GLX + 1, pasid)) return Direct.NotTaken; // (walkTables()' fault)
    const g3 = this.gcr3;
    const gs = g3.probeFront(d.deviceId, pasid, f.DomainID);
    if (gs < 0) return Direct.NotTaken;
    const cr3 = g3.cr3[gs]!;
    if (!(cr3 < 8589934592)) return Direct.NotTaken;
    const aHi = this.aHi, aLo = this.aLo;
    const pde = this.pde;
    const pdeOn = pde.tags.entries !== 0;
    let w = 1, u = 1, nx = 0, level = d.guestLevels, tw = (cr3 * 0.25) | 0, probes = 0, pdeSlot = -1;
    if (pdeOn) {
      // walkOnce()'s look-ups, as probes: committed once the walk completes
      for (let L = pde.minLevel; L <= level; L++) {
        probes++;
        const sh = 9 * L + 3; // pde.prefixOf(), written out
        const slot = pde.probe(d.domain, pasid, L, sh >= 32 ? aHi >>> (sh - 32) : aHi * (1 << (32 - sh)) + (aLo >>> sh));
        if (slot < 0) continue;
        const next = pde.next[slot]!;
        if (!(next < 8589934592)) return Direct.NotTaken;
        const p = pde.perms[slot]!;
        w = (p >>> 1) & 1; u = (p >>> 3) & 1; nx = ((p >>> 2) & 1) ^ 1; // Perm.W, Perm.U, Perm.X
        pdeSlot = slot; tw = (next * 0.25) | 0; level = L - 1;
        break;
      }
    }
    const last = ctx.lastWord; // the entry's high word must be in memory too
    const dWord = this.dWord, dLo = this.dLo;
    const top = level;
    let lo = 0, hi = 0, aAll = -1, nxHi = 0;
    for (;;) {
      const sh = 9 * level + 3;
      const e = tw + 2 * (sh >= 32 ? (aHi >>> (sh - 32)) & 0x1ff : sh <= 23 ? (aLo >>> sh) & 0x1ff : ((aLo >>> sh) | (aHi << (32 - sh))) & 0x1ff);
      if (e >= last) return Direct.NotTaken;
      dWord[level] = e;
      lo = u32[e]!; hi = u32[e + 1]!;
      dLo[level] = lo;
      if ((lo & Lm.P) === 0) return Direct.NotTaken;
      aAll &= lo;
      w &= lo >>> 1; // R/W, ANDed over the levels
      u &= lo >>> 2; // U/S, ANDed over the levels
      nxHi |= hi;
      if (level === 1) break;
      if ((lo & Lm.PS) !== 0) {
        // a 2 MiB or 1 GiB leaf with its reserved low address bits clear; PS in a PML4E / PML5E or a
        // reserved bit set is the general walk's fault
        if (level >= 4 || (lo & (level === 3 ? Lm.Rsvd1GLo : Lm.Rsvd2MLo)) !== 0) return Direct.NotTaken;
        break;
      }
      if ((hi & Lm.AddrHi & ~1) !== 0) return Direct.NotTaken; // the next table at or above 8 GiB: the general walk
      tw = ((hi & 1) << 30) | ((lo & Lm.AddrLo) >>> 2);
      level--;
    }
    w &= 1; u &= 1;
    if ((fl & GuestFlag.Nx) !== 0 && (nxHi & Lm.NxHi) !== 0) nx = 1;
    // a permission the request lacks is walkTables()' fault; an ATS request (enforce false) only accumulates
    if ((fl & GuestFlag.Enforce) !== 0 && (((fl & GuestFlag.Write) !== 0 && w === 0) || ((fl & GuestFlag.User) !== 0 && u === 0) || ((fl & GuestFlag.Execute) !== 0 && nx === 1))) return Direct.NotTaken;
    if (pdeOn && top > level && top >= pde.minLevel) return Direct.NotTaken; // directory entries to fill: the general walk
    // the walk completes (or loses an A/D race): commit what it did, in walkTables()'s order
    this.cr3 = cr3;
    this.gcr3Hit = true;
    g3.commitHit(gs);
    if (pdeOn) {
      pde.commitLookups(probes, pdeSlot);
      if (pdeSlot >= 0) ctx.pdeHits++;
    }
    const reads = top - level + 1; // levels top .. the leaf's
    ctx.refs += reads; ctx.walkRefs += reads;
    const lines = ctx.lines;
    if (lines !== null) {
      let h = 0;
      for (let L = top; L >= level; L--) h += lines.touchWord(dWord[L]!); // in walk order
      ctx.lineHits += h;
    }
    // Accessed / Dirty, top-down (walkOnce's step)
    const wantD = (fl & GuestFlag.DUpdate) !== 0 && (fl & GuestFlag.Write) !== 0 && w === 1;
    const wantA = (fl & GuestFlag.AUpdate) !== 0 ? Lm.A : 0;
    if ((wantA !== 0 && (aAll & Lm.A) === 0) || (wantD && (lo & Lm.D) === 0)) {
      for (let L = top; L >= level; L--) {
        const el = dLo[L]!;
        let want = wantA;
        if (L === level && wantD) want |= Lm.D;
        if ((el & want) === want) continue;
        if (!ctx.cas(dWord[L]! * 4, el, (el | want) >>> 0, "guest-ad")) {
          ctx.retries++; // lost a race: the general walk's next attempt
          return this.walkAttempts(d, pasid, fl, false, 1) ? Walk.Ok : Walk.Fault;
        }
      }
    }
    const log2 = 9 * level + 3; // 12, 21 or 30
    this.spaBase = (hi & Lm.AddrHi) * TWO32 + ((lo & Lm.AddrLo & (-1 << log2)) >>> 0);
    this.log2 = log2;
    const leafDirty = (lo & Lm.D) !== 0 || wantD || (fl & GuestFlag.DUpdate) === 0;
    this.perms = Perm.R | (w === 1 ? Perm.W : 0) | (u === 1 ? Perm.U : 0) | (nx === 0 ? Perm.X : 0) | (leafDirty ? Perm.Dirty : 0);
    return Walk.Ok;
  }

  /**
   * walkDirect() for a nested walk (DTE Mode 1-6 with TV): the guest table of an untranslated
   * or ATS request in single mode, guest CR3 from the GCR3 cache's front slot, each guest table's GPA
   * translated through an IOTLB hit (the IOTLB on) or HostWalker.walkDirect (off), a 4 KiB,
   * 2 MiB or 1 GiB guest leaf, the final GPA through HostWalker.walkDirect, the permissions the
   * request needs, and nothing to fill (no page-directory-cache entry, guest or host, and no
   * IOTLB entry for a guest table: a look-up that misses is walkTables()'s). The reads and
   * look-ups are made without a side effect and deferred (WalkContext.pending); any other case
   * returns Direct.NotTaken before one. Once the walk completes they are committed in the
   * order walkTables() makes them (GCR3 look-up; guest page-directory look-ups; per guest
   * level, its table's translation, then its read; the final GPA's host walk), then the guest
   * A/D compare-exchanges, top-down; an A/D update that loses a race goes on as walkTables()'s
   * next attempt. test/iommu/fast-path-differential.test.ts holds the two equal.
   */
  private walkNested(d: Dte, pasid: number, fl: number): number {
    const ctx = this.ctx;
    const u32 = ctx.direct();
    if (u32 === null) return Direct.NotTaken;
    const f = d.f;
    if (!this.pasidInRange(f.GLX + 1, pasid)) return Direct.NotTaken; // (walkTables()' fault)
    const g3 = this.gcr3;
    const gs = g3.probeFront(d.deviceId, pasid, f.DomainID);
    if (gs < 0) return Direct.NotTaken;
    const cr3 = g3.cr3[gs]!; // a GPA
    const aHi = this.aHi, aLo = this.aLo;
    const pde = this.pde;
    const pdeOn = pde.tags.entries !== 0;
    ctx.pendingCount = 0;
    let w = 1, u = 1, nx = 0, level = d.guestLevels, tw = -1;
    // the current table's GPA as halves (tHi, tLo) while tw = -1
    let tLo = cr3 >>> 0, tHi = (cr3 - tLo) * 2.3283064365386963e-10;
    if (pdeOn) {
      // walkOnce()'s look-ups, as probes (a hit's next table is an SPA)
      let probes = 0, pdeSlot = -1;
      for (let L = pde.minLevel; L <= level; L++) {
        probes++;
        const sh = 9 * L + 3; // pde.prefixOf(), written out
        const slot = pde.probe(d.domain, pasid, L, sh >= 32 ? aHi >>> (sh - 32) : aHi * (1 << (32 - sh)) + (aLo >>> sh));
        if (slot < 0) continue;
        const next = pde.next[slot]!;
        if (!(next < 8589934592)) return Direct.NotTaken;
        const p = pde.perms[slot]!;
        w = (p >>> 1) & 1; u = (p >>> 3) & 1; nx = ((p >>> 2) & 1) ^ 1; // Perm.W, Perm.U, Perm.X
        pdeSlot = slot; tw = (next * 0.25) | 0; level = L - 1;
        break;
      }
      ctx.pend(Pending.Pde, probes, pdeSlot);
    }
    const it = this.iotlb;
    const itOn = it.tags.entries !== 0;
    const host = this.host;
    const irOk = f.IR === true, iwOk = f.IW === true;
    const last = ctx.lastWord;
    const dWord = this.dWord, dLo = this.dLo, dHostW = this.dHostW;
    const top = level;
    let lo = 0, hi = 0, aAll = -1, nxHi = 0, hostReads = 0;
    for (;;) {
      let hostW = 1;
      if (tw < 0) {
        // tableSpa(): the table's GPA through an IOTLB hit, or the host walk when the IOTLB is off:
        // the host page's SPA (base) and size (2^k), and its write grant
        let base: number, k: number, p: number;
        if (itOn) {
          it.page[0] = tHi; it.page[1] = tLo;
          const s = it.probe(f.DomainID, PasidKey.Host);
          if (s < 0) return Direct.NotTaken;
          p = it.perms[s]!;
          if ((p & Perm.R) === 0 || !irOk) return Direct.NotTaken;
          ctx.pend(Pending.Iotlb, s, 0);
          base = it.spa[s]!; k = it.hitLog2;
        } else {
          host.aHi = tHi; host.aLo = tLo;
          if (!host.walkDirect(d, false)) return Direct.NotTaken;
          hostReads += host.directReads;
          base = host.spaBase; k = host.log2; p = host.perms;
        }
        hostW = (p & Perm.W) !== 0 && iwOk ? 1 : 0;
        const tspa = base + (k < 32 ? tLo & (-1 >>> (32 - k)) : (tHi & ((1 << (k - 32)) - 1)) * TWO32 + tLo);
        if (!(tspa < 8589934592)) return Direct.NotTaken;
        tw = (tspa * 0.25) | 0;
      }
      const sh = 9 * level + 3;
      const e = tw + 2 * (sh >= 32 ? (aHi >>> (sh - 32)) & 0x1ff : sh <= 23 ? (aLo >>> sh) & 0x1ff : ((aLo >>> sh) | (aHi << (32 - sh))) & 0x1ff);
      if (e >= last) return Direct.NotTaken;
      ctx.pend(Pending.Line, e, 0);
      dWord[level] = e;
      lo = u32[e]!; hi = u32[e + 1]!;
      dLo[level] = lo;
      dHostW[level] = hostW;
      if ((lo & Lm.P) === 0) return Direct.NotTaken;
      aAll &= lo;
      w &= lo >>> 1; // R/W, ANDed over the guest levels
      u &= lo >>> 2; // U/S, ANDed over the guest levels
      nxHi |= hi;
      if (level === 1) break;
      if ((lo & Lm.PS) !== 0) {
        if (level >= 4 || ((level === 3 ? Lm.Rsvd1GLo : Lm.Rsvd2MLo) & lo) !== 0) return Direct.NotTaken; // (walkTables()' fault)
        break;
      }
      tHi = hi & Lm.AddrHi; tLo = (lo & Lm.AddrLo) >>> 0; tw = -1; // the next table's GPA
      level--;
    }
    w &= 1; u &= 1;
    if ((fl & GuestFlag.Nx) !== 0 && (nxHi & Lm.NxHi) !== 0) nx = 1; // NX in any guest level
    const denied = ((fl & GuestFlag.Write) !== 0 && w === 0) || ((fl & GuestFlag.User) !== 0 && u === 0) || ((fl & GuestFlag.Execute) !== 0 && nx === 1);
    if (denied && (fl & GuestFlag.Enforce) !== 0) return Direct.NotTaken; // walkTables()' fault (an ATS request only accumulates)
    if (pdeOn && top > level && top >= pde.minLevel) return Direct.NotTaken; // guest directory entries to fill: the general walk
    // ---- the final GPA through the host table ----
    const log2 = 9 * level + 3; // the guest page: 12, 21 or 30
    const low = -1 << log2;
    const gHi = hi & Lm.AddrHi, gLo = ((lo & Lm.AddrLo & low) | (aLo & ~low)) >>> 0;
    host.aHi = gHi; host.aLo = gLo;
    if (!host.walkDirect(d, (fl & GuestFlag.Write) !== 0 && w === 1)) return Direct.NotTaken;
    hostReads += host.directReads;
    const hostPerms = host.perms & (Perm.R | Perm.W);
    const hk = host.log2;
    const outLog2 = hk < log2 ? hk : log2;
    const x = host.spaBase + (hk < 32 ? gLo & (-1 >>> (32 - hk)) : (gHi & ((1 << (hk - 32)) - 1)) * TWO32 + gLo);
    const wantD = (fl & GuestFlag.DUpdate) !== 0 && (fl & GuestFlag.Write) !== 0 && w === 1 && (hostPerms & Perm.W) !== 0;
    const wantA = (fl & GuestFlag.AUpdate) !== 0 ? Lm.A : 0;
    const adNeeded = (wantA !== 0 && (aAll & Lm.A) === 0) || (wantD && (lo & Lm.D) === 0);
    if (adNeeded) {
      // a table the host maps read-only refuses the update: walkTables()'s fault
      for (let L = top; L >= level; L--) {
        const want = wantA | (L === level && wantD ? Lm.D : 0);
        if ((dLo[L]! & want) !== want && dHostW[L] === 0) return Direct.NotTaken;
      }
    }
    // the walk completes (or loses an A/D race): commit what it did, in walkTables()'s order
    this.cr3 = cr3;
    this.gcr3Hit = true;
    g3.commitHit(gs); // the GCR3 look-up
    this.commitPending();
    const reads = top - level + 1 + hostReads;
    ctx.refs += reads; ctx.walkRefs += reads;
    this.hostReads += hostReads;
    if (adNeeded) {
      for (let L = top; L >= level; L--) {
        const entry = dLo[L]!;
        let want = wantA;
        if (L === level && wantD) want |= Lm.D;
        if ((entry & want) === want) continue;
        if (!ctx.cas(dWord[L]! * 4, entry, (entry | want) >>> 0, "guest-ad")) {
          ctx.retries++; // lost a race: the general walk's next attempt
          return this.walkAttempts(d, pasid, fl, true, 1) ? Walk.Ok : Walk.Fault;
        }
      }
    }
    this.spaBase = x - ((x >>> 0) & ((1 << outLog2) - 1));
    this.log2 = outLog2;
    const leafDirty = (lo & Lm.D) !== 0 || wantD || (fl & GuestFlag.DUpdate) === 0;
    this.perms = (hostPerms & Perm.R) | (w === 1 && (hostPerms & Perm.W) !== 0 ? Perm.W : 0) | (u === 1 ? Perm.U : 0) | (nx === 0 ? Perm.X : 0) |
      (leafDirty ? Perm.Dirty : 0) | Perm.Nested;
    return Walk.Ok;
  }

  /** walkNested()'s deferred steps (ctx.pending), committed in walk order: table-line touches, page-directory-cache and IOTLB look-ups. */
  private commitPending(): void {
    const ctx = this.ctx;
    const p = ctx.pending, n = 3 * ctx.pendingCount;
    const lines = ctx.lines;
    let lineHits = 0;
    for (let i = 0; i < n; i += 3) {
      const kind = p[i]!;
      if (kind === Pending.Line) { if (lines !== null) lineHits += lines.touchWord(p[i + 1]!); }
      else if (kind === Pending.Pde) {
        const slot = p[i + 2]!;
        this.pde.commitLookups(p[i + 1]!, slot);
        if (slot >= 0) ctx.pdeHits++;
      } else this.iotlb.hit(p[i + 1]!);
    }
    ctx.lineHits += lineHits;
  }

  /**
   * walkTables()'s GCR3-cache miss (a method of its own, so walkTables stays small enough to
   * be inlined): the GCR3 table walk by PASID, levels GLX + 1, each table through the host
   * table when GCR3TRPMode makes its pointers GPAs; fills the GCR3 cache. The guest CR3, or
   * -1 after a fault.
   */
  private gcr3Walk(d: Dte, pasid: number, glxLevels: number, viaHost: boolean, rsvdCheck: boolean): number {
    const ctx = this.ctx;
    const f = d.f;
    let table = f.GCR3TableRootPtr;
    for (let k = glxLevels - 1; k >= 0; k--) {
      let tspa = table;
      if (viaHost) { this.tLo = table >>> 0; this.tHi = (table - this.tLo) * 2.3283064365386963e-10; if (!this.tableSpa(d, false)) return -1; tspa = this.tSpa; }
      const pa = tspa + ((pasid >>> (9 * k)) & 0x1ff) * 8;
      if (!ctx.read(pa, "gcr3")) return -1;
      const lo = ctx.lo, hi = ctx.hi;
      if ((lo & Gcr3.V) === 0) { ctx.fault("gcr3-not-valid", 0); return -1; }
      if (rsvdCheck && ((lo & Gcr3.RsvdLo) !== 0 || (hi & Gcr3.RsvdHi) !== 0)) { ctx.fault("reserved-bit", F_PR | F_RZ); return -1; }
      table = (hi & Gcr3.AddrHi) * TWO32 + ((lo & Gcr3.AddrLo) >>> 0);
    }
    if (this.gcr3.enabled && !ctx.peek) this.gcr3.insert(d.deviceId, pasid, f.DomainID, table);
    return table;
  }

  /**
   * The GVA width check, done before any cache look-up: with a real PASID the address must be
   * canonical (sign-extended from bit 47 or 56); through GIoV (PASID 0, no PASID prefix) there
   * is no sign extension and bits 63:48 (63:57) must be zero (docs/spec-readings.md reg 5.3).
   */
  addressOk(d: Dte, aHi: number, noSignExtend: boolean): boolean {
    const vaBits = d.guestLevels === 5 ? 57 : 48;
    if (noSignExtend) {
      if ((aHi >>> (vaBits - 32)) === 0) return true;
      this.ctx.fault("address-out-of-range", 0);
      return false;
    }
    if (this.canonical(d, aHi)) return true;
    this.ctx.fault("non-canonical", 0);
    return false;
  }

  /**
   * addressOk() of an address with a PASID, without the fault (the translator's fast paths check
   * it before any cache look-up): bits 63..47 (63..56 with 5 levels) all equal, from the high word.
   */
  canonical(d: Dte, aHi: number): boolean {
    const top = d.guestLevels === 5 ? aHi >>> 24 : aHi >>> 15;
    return top === 0 || top === (d.guestLevels === 5 ? 0xff : 0x1ffff); // 2^(64 - vaBits + 1) - 1: all ones
  }

  /** Translate a guest-table GPA (this.tHi, this.tLo) through the host table (nested TLB first); fault = host space. */
  private tableSpa(d: Dte, needWrite: boolean): boolean {
    const gHi = this.tHi, gLo = this.tLo;
    const it = this.iotlb;
    if (it.enabled && !this.ctx.peek) {
      it.page[0] = gHi; it.page[1] = gLo; // (see page-tag-cache.ts)
      const s = it.lookupAt(d.f.DomainID, PasidKey.Host);
      if (s >= 0 && (it.perms[s]! & Perm.R) !== 0 && d.f.IR && (!needWrite || ((it.perms[s]! & Perm.W) !== 0 && d.f.IW))) {
        this.tSpa = it.spa[s]! + offsetIn(gHi, gLo, it.hitLog2);
        this.tW = (it.perms[s]! & Perm.W) !== 0 && d.f.IW;
        return true;
      }
    }
    const r0 = this.ctx.walkRefs;
    this.host.aHi = gHi; this.host.aLo = gLo;
    const hostOk = this.host.walk(d, needWrite, true);
    this.hostReads += this.ctx.walkRefs - r0;
    if (!hostOk) {
      this.ctx.hostFault = true; this.ctx.faultHi = gHi; this.ctx.faultLo = gLo;
      return false;
    }
    const h = this.host;
    if (it.enabled && !this.ctx.peek) {
      it.page[0] = gHi; it.page[1] = gLo; it.page[2] = h.spaBase; // (see page-tag-cache.ts)
      it.fill(d.f.DomainID, PasidKey.Host, h.log2, h.perms | (h.lastLeafDirty ? Perm.Dirty : 0));
    }
    this.tSpa = h.spaBase + offsetIn(gHi, gLo, h.log2);
    this.tW = (h.perms & Perm.W) !== 0 && d.f.IW;
    return true;
  }

  /**
   * One walk of the long-mode table from cr3 (a GPA when nested). The index of level L is
   * taken from the address halves with integer shifts (the shift of level L is 9L + 3, below
   * 32 up to level 3), R/W and U/S are ANDed as 0/1 integers, and the leaf's SPA is built from
   * the entry's halves and the address's low word (guest pages are at most 1 GiB): no
   * floating-point division, Math.pow or table look-up on the way.
   */
  private walkOnce(d: Dte, pasid: number, fl: number, nested: boolean, levels: number): number {
    const aHi = this.aHi, aLo = this.aLo, cr3 = this.cr3;
    const ctx = this.ctx;
    const domain = d.domain;
    let w = 1, u = 1, nx = 0;
    let level = levels;
    let table = cr3;
    let tableIsSpa = !nested;
    const pde = this.pde;
    const pdeOn = pde.tags.entries !== 0 && ctx.peek === false;
    if (pdeOn) {
      for (let L = pde.minLevel; L <= levels; L++) {
        const s = pde.lookup(domain, pasid, L, pde.prefixOf(aHi, aLo, L));
        if (s < 0) continue;
        const p = pde.perms[s]!;
        w = (p >>> 1) & 1; u = (p >>> 3) & 1; nx = ((p >>> 2) & 1) ^ 1; // Perm.W, Perm.U, Perm.X
        table = pde.next[s]!; tableIsSpa = true; level = L - 1;
        ctx.pdeHits++;
        break;
      }
    }
    const nxOn = (fl & GuestFlag.Nx) !== 0;
    const u32 = ctx.direct();
    const last = ctx.lastWord;
    const ePa = this.ePa, eLo = this.eLo, eBits = this.eBits;
    const keep = pdeOn || nested;
    let n = 0;
    let lo = 0, hi = 0, aAll = -1;
    // the current table as an int32 word index (SPA / 4) while it lies below 8 GiB, else -1 and `table` holds it
    let tw = tableIsSpa && table < 8589934592 ? (table * 0.25) | 0 : -1;
    if (tableIsSpa === false) { this.tLo = table >>> 0; this.tHi = (table - this.tLo) * 2.3283064365386963e-10; } // the guest CR3, a GPA: tableSpa()'s input
    const top = level;
    for (;;) {
      let hostW = 1;
      let tspa = table;
      if (tableIsSpa === false) { // (a GPA, in tHi / tLo)
        if (!this.tableSpa(d, false)) return Walk.Fault;
        tspa = this.tSpa; hostW = this.tW ? 1 : 0;
        tw = tspa < 8589934592 ? (tspa * 0.25) | 0 : -1;
      }
      const sh = 9 * level + 3;
      const idx = sh >= 32 ? (aHi >>> (sh - 32)) & 0x1ff : sh <= 23 ? (aLo >>> sh) & 0x1ff : ((aLo >>> sh) | (aHi << (32 - sh))) & 0x1ff;
      let pa: number;
      if (tw >= 0) {
        // plain loads from the memory's words when WalkContext.readWord would make them
        // (single mode, no access log, inside memory), through it otherwise
        const e = tw + 2 * idx;
        pa = e * 4;
        ctx.walkReadWord(e);
        if (u32 !== null && e < last) {
          ctx.refs++;
          lo = u32[e]!; hi = u32[e + 1]!;
        } else {
          if (!ctx.readWord(e, "guest")) return Walk.Fault;
          lo = ctx.lo; hi = ctx.hi;
        }
      } else {
        if (tableIsSpa) tspa = table;
        pa = tspa + 8 * idx;
        ctx.walkRead(pa);
        if (!ctx.readWord(pa * 0.25, "guest")) return Walk.Fault;
        lo = ctx.lo; hi = ctx.hi;
      }
      if ((lo & Lm.P) === 0) return ctx.fault("not-present", 0);
      aAll &= lo;
      w &= lo >>> 1; // R/W (bit 1)
      u &= lo >>> 2; // U/S (bit 2)
      if (nxOn && (hi & Lm.NxHi) !== 0) nx = 1;
      ePa[n] = pa; eLo[n] = lo;
      if (keep) eBits[n] = (hostW << 7) | Perm.R | ((w & 1) << 1) | ((u & 1) << 3) | (nx === 0 ? Perm.X : 0);
      n++;
      if ((lo & Lm.PS) !== 0) {
        if (level >= 4) return ctx.fault("reserved-bit", F_PR | F_RZ);
        if (level === 3 && (lo & Lm.Rsvd1GLo) !== 0) return ctx.fault("reserved-bit", F_PR | F_RZ);
        if (level === 2 && (lo & Lm.Rsvd2MLo) !== 0) return ctx.fault("reserved-bit", F_PR | F_RZ);
        break;
      }
      if (level === 1) break;
      level--;
      if (nested || (hi & Lm.AddrHi & ~1) !== 0) { // a GPA to translate, or a table at or above 8 GiB
        table = (hi & Lm.AddrHi) * TWO32 + ((lo & Lm.AddrLo) >>> 0);
        if (nested) { this.tHi = hi & Lm.AddrHi; this.tLo = (lo & Lm.AddrLo) >>> 0; }
        tableIsSpa = !nested;
        tw = -1;
      } else {
        tw = ((hi & 1) << 30) | ((lo & Lm.AddrLo) >>> 2);
      }
    }
    w &= 1; u &= 1;
    if ((fl & GuestFlag.Enforce) !== 0) {
      if ((fl & GuestFlag.Write) !== 0 && w === 0) return ctx.fault("permission", EVT_PE | F_PR);
      if ((fl & GuestFlag.User) !== 0 && u === 0) return ctx.fault("user-supervisor", EVT_PE | F_PR | EVT_US);
      if ((fl & GuestFlag.Execute) !== 0 && nx === 1) return ctx.fault("no-execute", EVT_PE | F_PR | EVT_NX);
    }
    // the leaf's page (2^log2 bytes, log2 <= 30) and the request's offset in it, as halves
    const log2 = 9 * level + 3;
    const low = (-1 << log2);
    const gHi = hi & Lm.AddrHi;
    const gLo = ((lo & Lm.AddrLo & low) | (aLo & ~low)) >>> 0;
    let spaBase: number;
    let outLog2 = log2;
    let hostPerms = Perm.R | Perm.W;
    if (!nested) spaBase = gHi * TWO32 + ((lo & Lm.AddrLo & low) >>> 0);
    else {
      // ---- final GPA -> SPA ----
      const r0 = ctx.walkRefs;
      this.host.aHi = gHi; this.host.aLo = gLo;
      const hostOk = this.host.walk(d, (fl & GuestFlag.Write) !== 0 && w === 1, (fl & GuestFlag.Enforce) !== 0);
      this.hostReads += ctx.walkRefs - r0;
      if (!hostOk) {
        ctx.hostFault = true; ctx.faultHi = gHi; ctx.faultLo = gLo;
        return Walk.Fault;
      }
      const h = this.host;
      hostPerms = h.perms & (Perm.R | Perm.W);
      if (h.log2 < outLog2) outLog2 = h.log2;
      // the host page's SPA for the GPA, aligned down to the smaller page (outLog2 <= 30: a
      // mask of the low word, written out: a double returned by a call V8 did not inline is a heap number)
      const x = h.spaBase + offsetIn(gHi, gLo, h.log2);
      spaBase = x - ((x >>> 0) & ((1 << outLog2) - 1));
    }
    // ---- Accessed / Dirty: top-down, only now that the translation succeeds ----
    const wantD = (fl & GuestFlag.DUpdate) !== 0 && (fl & GuestFlag.Write) !== 0 && w === 1 && (hostPerms & Perm.W) !== 0;
    const wantA = (fl & GuestFlag.AUpdate) !== 0 ? Lm.A : 0;
    // (A already set in every entry read, and D in the leaf when wanted: nothing to write)
    if ((wantA !== 0 && (aAll & Lm.A) === 0) || (wantD && (lo & Lm.D) === 0)) { // peek too: a table the host maps read-only refuses the A/D update (same fault)
      // every update allowed before the first is written: a refused one leaves no A/D bit set
      if (nested) {
        for (let i = 0; i < n; i++) {
          const el = eLo[i]!;
          const want = wantA | (i === n - 1 && wantD ? Lm.D : 0);
          if ((el & want) !== want && (eBits[i]! & EBit.HostW) === 0) {
            ctx.hostFault = true; ctx.faultHi = Math.floor(ePa[i]! / TWO32); ctx.faultLo = ePa[i]! >>> 0;
            return ctx.fault("permission", EVT_PE | F_PR);
          }
        }
      }
      for (let i = 0; i < n; i++) {
        const el = eLo[i]!;
        let want = wantA;
        if (i === n - 1 && wantD) want |= Lm.D;
        if ((el & want) === want) continue;
        if (ctx.peek === false && !ctx.cas(ePa[i]!, el, (el | want) >>> 0, "guest-ad")) return Walk.Retry;
      }
    }
    if (pdeOn) {
      // entry i (level L = top - i) points at the table holding entry i + 1, whose SPA less its
      // index at level L - 1 is that table's
      for (let i = 0; i < n - 1; i++) {
        const L = top - i;
        if (L < pde.minLevel) break;
        const sh = 9 * L - 6; // level L - 1's index shift
        const next = ePa[i + 1]! - 8 * (sh >= 32 ? (aHi >>> (sh - 32)) & 0x1ff : sh <= 23 ? (aLo >>> sh) & 0x1ff : ((aLo >>> sh) | (aHi << (32 - sh))) & 0x1ff);
        pde.insert(domain, pasid, L, pde.prefixOf(aHi, aLo, L), next, L - 1, eBits[i]! & ~EBit.HostW, nested);
      }
    }
    this.spaBase = spaBase;
    this.log2 = outLog2;
    const leafDirty = (lo & Lm.D) !== 0 || wantD || (fl & GuestFlag.DUpdate) === 0;
    this.perms = (hostPerms & Perm.R) | (w === 1 && (hostPerms & Perm.W) !== 0 ? Perm.W : 0) | (u === 1 ? Perm.U : 0) | (nx === 0 ? Perm.X : 0) |
      (leafDirty ? Perm.Dirty : 0) | (nested ? Perm.Nested : 0);
    return Walk.Ok;
  }
}
