/**
 * Host (v1) I/O page-table walk (spec: "I/O Page Tables for Host Translations";
 * docs/spec-readings.md reg 4.1-4.4).
 *
 * The DTE root acts as a PDE with NextLevel = Mode. At each level: read the entry; PR = 0 is
 * a not-present fault; reserved bits give RZ; IR/IW are ANDed along the path (and with
 * DTE.IR/IW, applied by the caller); NextLevel 1..6 must be below the current level and
 * skipped levels' index bits must be zero; NextLevel 0 is a leaf of the level's size and 7 a
 * leaf whose size is encoded by the lowest zero address bit. DTE.HAD sets A (and D for a
 * write with HAD = 11b) in the leaf with a compare-exchange on the low word. Upper levels
 * come from the page-directory cache when it holds them.
 *
 * This is the general walk. The common case of an untranslated request (plain loads, every
 * level in order, NextLevel-0 leaves) is walked by Translator.fastWalk, which uses the
 * page-directory-cache fill helpers at the end of this class and leaves every other case to
 * walk(); the host walks of a nested walk's common case (GuestWalker.walkNested) by
 * walkDirect(), without a side effect. test/iommu/fast-path-differential.test.ts holds them
 * equal to the general walk.
 */
import { V1, v1LevelShift } from "../../spec/page-tables.js";
import { EVT_PE } from "../../spec/events.js";
import type { Dte } from "../device-table.js";
import type { PdeCache } from "../caches/pde-cache.js";
import { PasidKey, Perm } from "../caches/iotlb.js";
import { alignDown } from "./address-math.js";
import { F_PR, F_RZ, MAX_WALK_RETRIES, Pending, Walk, type WalkContext } from "./walk-context.js";

/** Index of level L for the address (hi, lo). */
export function levelIndex(aHi: number, aLo: number, shift: number): number {
  if (shift >= 32) return (aHi >>> (shift - 32)) & 0x1ff;
  if (shift + 9 <= 32) return (aLo >>> shift) & 0x1ff;
  return ((aLo >>> shift) | (aHi << (32 - shift))) & 0x1ff;
}

/** Are the address bits at and above `bit` all zero? */
export function highBitsZero(aHi: number, aLo: number, bit: number): boolean {
  if (bit >= 64) return true;
  if (bit >= 32) return (aHi >>> (bit - 32)) === 0 || bit - 32 >= 32;
  return aHi === 0 && (aLo >>> bit) === 0;
}

const SHIFT = [0, 12, 21, 30, 39, 48, 57];

export class HostWalker {
  /**
   * Input: the address to walk, as 32-bit halves, set by the caller before walk() or fillPde()
   * (fields, not arguments: V8 passes a number that is not a small integer, such as a low word
   * at or above 2^30, to a call it does not inline as a heap number, allocated per call).
   */
  aHi = 0;
  aLo = 0;
  /** Output: SPA of the page, log2 of its size, table permissions (Perm.R/W, Perm.NoAts). */
  spaBase = 0;
  log2 = 12;
  perms = 0;
  // the directory entries of the current walk that the steps after it need (word index, low word, level, ...)
  private readonly eWord = new Float64Array(8);
  private readonly eLo = new Uint32Array(8);
  private readonly eLevel = new Uint8Array(8);
  private readonly eNext = new Float64Array(8);
  private readonly eNextLevel = new Uint8Array(8);
  private readonly ePerms = new Uint8Array(8);

  constructor(
    private readonly ctx: WalkContext,
    private readonly pde: PdeCache,
    private readonly maxLevels: number,
    readonly accessedInPde: boolean,
    /** quirks.v1EncodingFaultRz: RZ with an invalid NextLevel / page-size encoding (F_RZ or 0). */
    private readonly encodingRz = 0,
  ) {}

  /**
   * Walk the v1 table of `d` for (this.aHi, this.aLo). `write` asks for write access (D update);
   * `enforce` faults as soon as the needed permission (with the DTE's) is missing; without it
   * (ATS, table reads of nested walks that check later) permissions are only accumulated.
   */
  walk(d: Dte, write: boolean, enforce: boolean, firstAttempt = 0): boolean {
    for (let i = firstAttempt; i < MAX_WALK_RETRIES; i++) {
      const r = this.walkOnce(d, write, enforce);
      if (r !== Walk.Retry) return r === Walk.Ok;
      this.ctx.retries++;
    }
    this.ctx.fault("ad-contention", 0);
    return false;
  }

  // ---- for the translator's fast walk (Translator.fastWalk, the common case of walkOnce) ----
  /** Keep directory entry i of the fast walk for fillPde (next: SPA of the table it points to). */
  keep(i: number, level: number, perms: number, next: number, nextLevel: number): void {
    this.eLevel[i] = level; this.ePerms[i] = perms; this.eNext[i] = next; this.eNextLevel[i] = nextLevel;
  }

  /** Fill the page-directory cache with the first n directory entries kept (those of its levels), for (this.aHi, this.aLo). */
  fillPde(d: Dte, n: number): void {
    const pde = this.pde;
    const aHi = this.aHi, aLo = this.aLo;
    for (let i = 0; i < n; i++) {
      const L = this.eLevel[i]!;
      if (L >= pde.minLevel) pde.insert(d.domain, PasidKey.Host, L, pde.prefixOf(aHi, aLo, L), this.eNext[i]!, this.eNextLevel[i]!, this.ePerms[i]!, false);
    }
  }

  /** walkDirect(): the table reads it made (its Line steps). */
  directReads = 0;

  /**
   * walk()'s common case for (this.aHi, this.aLo) with permissions enforced, and no side
   * effect: the host walks of GuestWalker.walkNested (each guest table's GPA, the final GPA).
   * Single mode with the memory's words for plain loads, tables below 8 GiB, every level in
   * order (NextLevel = level - 1, a page-directory-cache entry too), a NextLevel-0 leaf, no
   * reserved bit, the permission `write` asks for, no page-directory-cache entry to fill and no
   * A/D bit to set. Returns false otherwise, having done nothing: the caller leaves the walk to
   * the general one. On success spaBase, log2, perms and lastLeafDirty are set as walk() sets
   * them, directReads counts the reads, and the look-ups and reads to commit are appended to
   * ctx.pending (a Pde step when the cache is on, then a Line step per read).
   */
  walkDirect(d: Dte, write: boolean): boolean {
    const aHi = this.aHi, aLo = this.aLo;
    const ctx = this.ctx;
    const u32 = ctx.direct();
    const mode = d.mode;
    if (u32 === null || mode < 1 || mode > this.maxLevels || !(aHi * 4294967296 + aLo < d.hostLimit)) return false;
    const f = d.f;
    const dteOk = write ? f.IW : f.IR;
    if (dteOk !== true) return false;
    let tw = d.rootWord;
    let level = mode;
    let ph = V1.IrHi | V1.IwHi; // IR, IW (bits 61, 62 = bits 29, 30 of the high word) ANDed along the path
    const pde = this.pde;
    const pdeOn = pde.tags.entries !== 0;
    if (pdeOn) {
      let probes = 0, pdeSlot = -1;
      for (let L = pde.minLevel; L <= level; L++) {
        probes++;
        const sh = 9 * L + 3; // pde.prefixOf(), written out
        const slot = pde.probe(d.domain, PasidKey.Host, L, sh >= 32 ? aHi >>> (sh - 32) : aHi * (1 << (32 - sh)) + (aLo >>> sh));
        if (slot < 0) continue;
        const next = pde.next[slot]!;
        if (pde.nextLevel[slot] !== L - 1 || !(next < 8589934592)) return false; // level skipping, a table above 8 GiB: the general walk
        pdeSlot = slot;
        tw = (next * 0.25) | 0;
        level = L - 1;
        ph = (pde.perms[slot]! & (Perm.R | Perm.W)) << 29;
        break;
      }
      ctx.pend(Pending.Pde, probes, pdeSlot);
    }
    if (tw < 0) return false;
    // a directory entry read at a level the page-directory cache holds is a fill; A in a
    // directory entry is checked (not set) when quirks.v1AccessedInPde asks for it
    const fillFrom = pdeOn ? pde.minLevel : 7;
    const pdeA = this.accessedInPde ? V1.A : 0;
    const last = ctx.lastWord; // the entry's high word must be in memory too
    const top = level;
    let present: number = V1.PR, pdeHi = 0, pdeLo = -1;
    let lo = 0, hi = 0;
    for (;;) {
      const sh = 9 * level + 3;
      const e = tw + 2 * (sh >= 32 ? (aHi >>> (sh - 32)) & 0x1ff : sh <= 23 ? (aLo >>> sh) & 0x1ff : ((aLo >>> sh) | (aHi << (32 - sh))) & 0x1ff);
      if (e >= last) return false;
      ctx.pend(Pending.Line, e, 0);
      lo = u32[e]!;
      hi = u32[e + 1]!;
      present &= lo;
      ph &= hi;
      const nl = (lo >>> 9) & 7;
      if (nl === 0) break;
      if (nl !== level - 1 || level >= fillFrom) return false; // NextLevel 7, level skipping, invalid levels; a fill
      pdeHi |= hi;
      pdeLo &= lo;
      tw = ((hi & 1) << 30) | ((lo & V1.AddrLo) >>> 2);
      level--;
    }
    const had = f.HAD;
    const w = (ph & V1.IwHi) !== 0 ? 1 : 0;
    const want = (had & 1) === 0 ? 0 : V1.A | (write && had === 3 && w === 1 ? V1.D : 0);
    if (present === 0 || (pdeHi & (V1.PdeRsvdHi | (V1.AddrHi & ~1))) !== 0 || (hi & V1.PteRsvdHi) !== 0 || level === 6 ||
      (ph & (write ? V1.IwHi : V1.IrHi)) === 0 || (lo & want) !== want || ((had & 1) !== 0 && (pdeLo & pdeA) !== pdeA)) return false;
    this.directReads = top - level + 1;
    const log2 = 9 * level + 3;
    this.spaBase = log2 < 32 ? (hi & V1.AddrHi) * 4294967296 + ((lo & V1.AddrLo & (-1 << log2)) >>> 0)
      : ((hi & V1.AddrHi & (-1 << (log2 - 32))) >>> 0) * 4294967296;
    this.log2 = log2;
    this.perms = ((ph >>> 29) & (Perm.R | Perm.W)) | ((hi & V1.UHi) !== 0 ? Perm.NoAts : 0);
    this.lastLeafDirty = had !== 3 || (lo & V1.D) !== 0 || (write && w === 1);
    return true;
  }

  private walkOnce(d: Dte, write: boolean, enforce: boolean): number {
    const aHi = this.aHi, aLo = this.aLo;
    const ctx = this.ctx;
    const f = d.f;
    const mode = f.Mode;
    const dteR = f.IR, dteW = f.IW;
    const domain = f.DomainID;
    if (mode < 6 && !highBitsZero(aHi, aLo, 9 * mode + 12)) return ctx.fault("address-out-of-range", 0); // bits from 9 Mode + 12 up
    if (enforce && !(write ? dteW : dteR)) return ctx.fault("permission", EVT_PE | F_PR);
    let r = 1, w = 1;
    let level = mode;
    // table addresses are kept as word indices (SPA / 4): see WalkContext.readWord; an int32 in
    // `tw` while the table lies below 8 GiB (integer index and line arithmetic), else tw = -1
    // and the number `table` holds it
    let table = f.HostPageTableRootPtr * 0.25;
    let tw = d.rootWord;
    const pde = this.pde;
    const pdeOn = pde.enabled && !ctx.peek;
    if (pdeOn) {
      for (let L = pde.minLevel; L <= mode; L++) {
        const s = pde.lookup(domain, PasidKey.Host, L, pde.prefixOf(aHi, aLo, L));
        if (s < 0) continue;
        const nl = pde.nextLevel[s]!;
        let skippedOk = true;
        for (let l = nl + 1; l < L; l++) if (levelIndex(aHi, aLo, SHIFT[l]!) !== 0) { skippedOk = false; break; }
        if (!skippedOk) break;
        const p = pde.perms[s]!;
        r = p & Perm.R ? 1 : 0; w = p & Perm.W ? 1 : 0;
        table = pde.next[s]! * 0.25; level = nl;
        tw = table < 2147483648 ? table | 0 : -1;
        ctx.pdeHits++;
        break;
      }
    }
    // what the A/D and page-directory-cache steps after the walk need of each entry read
    const keepFrom = this.accessedInPde ? 1 : pdeOn ? pde.minLevel : 7;
    let n = 0;
    let lo = 0, hi = 0, e = 0;
    const u32 = ctx.direct();
    const last = ctx.lastWord;
    const lines = ctx.lines;
    for (;;) {
      // the index of level L is address bits 9L + 3 .. 9L + 11
      const sh = 9 * level + 3;
      const idx = sh >= 32 ? (aHi >>> (sh - 32)) & 0x1ff : sh <= 23 ? (aLo >>> sh) & 0x1ff : ((aLo >>> sh) | (aHi << (32 - sh))) & 0x1ff;
      if (tw >= 0) {
        e = tw + 2 * idx;
        ctx.walkRefs++;
        if (lines !== null) ctx.lineHits += ctx.peek ? lines.holds(e * 4) : lines.touchWord(e);
      } else {
        e = table + 2 * idx;
        ctx.walkRead(e * 4);
      }
      if (u32 !== null && e < last) {
        // what WalkContext.readWord does in single mode without an access log, inside memory:
        // two plain loads (e < lastWord < 2^31: an int32 index)
        ctx.refs++;
        lo = u32[e | 0]!; hi = u32[(e | 0) + 1]!;
      } else {
        if (!ctx.readWord(e, "v1")) return Walk.Fault;
        lo = ctx.lo; hi = ctx.hi;
      }
      if ((lo & V1.PR) === 0) return ctx.fault("not-present", 0);
      const nl = (lo >>> 9) & 7;
      if ((hi & V1.IrHi) === 0) r = 0;
      if ((hi & V1.IwHi) === 0) w = 0;
      if (nl === 0 || nl === 7) {
        if (level === 6) return ctx.fault("invalid-level", F_PR | this.encodingRz);
        if ((hi & V1.PteRsvdHi) !== 0) return ctx.fault("reserved-bit", F_PR | F_RZ);
        if (enforce && !(write ? w && dteW : r && dteR)) return ctx.fault("permission", EVT_PE | F_PR);
        const shift = 9 * level + 3;
        let log2 = shift;
        if (nl === 7) {
          let z = 12;
          while (z < 52 && (z < 32 ? (lo >>> z) & 1 : (hi >>> (z - 32)) & 1) === 1) z++;
          log2 = z + 1;
          if (!(log2 > shift && log2 < shift + 9)) return ctx.fault("invalid-page-size", F_PR | this.encodingRz);
        }
        this.spaBase = log2 < 32 ? (hi & V1.AddrHi) * 4294967296 + ((lo & V1.AddrLo & (-1 << log2)) >>> 0) : alignDown(hi & V1.AddrHi, lo & V1.AddrLo, log2);
        this.log2 = log2;
        break;
      }
      if ((hi & V1.PdeRsvdHi) !== 0) return ctx.fault("reserved-bit", F_PR | F_RZ);
      if (nl >= level || nl > this.maxLevels) return ctx.fault("invalid-level", F_PR | this.encodingRz);
      for (let l = nl + 1; l < level; l++) {
        if (levelIndex(aHi, aLo, SHIFT[l]!) !== 0) return ctx.fault("skipped-level-nonzero", F_PR);
      }
      if (enforce && !(write ? w && dteW : r && dteR)) return ctx.fault("permission", EVT_PE | F_PR);
      if ((hi & V1.AddrHi & ~1) === 0) tw = ((hi & 1) << 30) | ((lo & V1.AddrLo) >>> 2);
      else { tw = -1; table = (hi & V1.AddrHi) * 1073741824 + ((lo & V1.AddrLo) >>> 2); }
      if (level >= keepFrom) {
        this.eWord[n] = e; this.eLo[n] = lo; this.eLevel[n] = level; this.ePerms[n] = (r ? Perm.R : 0) | (w ? Perm.W : 0);
        this.eNext[n] = tw >= 0 ? tw * 4 : table * 4; this.eNextLevel[n] = nl;
        n++;
      }
      level = nl;
    }
    // Accessed / Dirty (DTE.HAD), only on success, leaf (and PDEs when the reading says so).
    const had = f.HAD;
    if (!ctx.peek && (had & 1) !== 0) {
      const want = V1.A | (write && had === 3 && w && dteW ? V1.D : 0);
      if ((lo & want) !== want && !ctx.cas(e * 4, lo, (lo | want) >>> 0, "v1-ad")) return Walk.Retry;
      if (this.accessedInPde) {
        for (let i = 0; i < n; i++) {
          const el = this.eLo[i]!;
          if ((el & V1.A) === 0 && !ctx.cas(this.eWord[i]! * 4, el, (el | V1.A) >>> 0, "v1-pde-a")) return Walk.Retry;
        }
      }
    }
    if (pdeOn) this.fillPde(d, n);
    this.perms = (r ? Perm.R : 0) | (w ? Perm.W : 0) | ((hi & V1.UHi) !== 0 ? Perm.NoAts : 0);
    this.lastLeafDirty = had !== 3 || (lo & V1.D) !== 0 || (write && w === 1 && dteW);
    return Walk.Ok;
  }

  /** The leaf's D is set (or D is not tracked): writes through a cached copy need no re-walk. */
  lastLeafDirty = false;
}

export { SHIFT as V1_SHIFT, v1LevelShift };
