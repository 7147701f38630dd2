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
 */
import { Gcr3, Lm } from "../../spec/page-tables.js";
import { EVT_NX, EVT_PE, EVT_US } from "../../spec/events.js";
import type { Dte } from "../device-table.js";
import type { Gcr3Cache } from "../caches/gcr3-cache.js";
import { PasidKey, Perm, type Iotlb } from "../caches/iotlb.js";
import type { PdeCache } from "../caches/pde-cache.js";
import { levelIndex, type HostWalker } from "./host-walk.js";
import { alignDown, alignNumber, offsetIn } from "./address-math.js";
import { F_PR, F_RZ, MAX_WALK_RETRIES, Walk, type WalkContext } from "./walk-context.js";

const SHIFT = [0, 12, 21, 30, 39, 48];
const TWO32 = 4294967296;

export interface GuestWalkFlags {
  write: boolean; user: boolean; execute: boolean;
  /** Untranslated request: fault on missing permission. ATS: accumulate only. */
  enforce: boolean;
  /** GIoV request through PASID 0: no sign extension (docs/spec-readings.md reg 5.3). */
  noSignExtend: boolean;
  nx: boolean; aUpdate: boolean; dUpdate: boolean; gcr3IsGpa: boolean; gcr3RsvdCheck: boolean; pasMax: number;
}

export class GuestWalker {
  /** Output: SPA page base, log2 size, permissions (PERM_*). */
  spaBase = 0;
  log2 = 12;
  perms = 0;
  gcr3Hit = false;
  private readonly ePa = new Float64Array(6);
  private readonly eLo = new Uint32Array(6);
  private readonly eLevel = new Uint8Array(6);
  private readonly eHostW = new Uint8Array(6);
  private readonly eNextSpa = new Float64Array(6);
  private readonly ePerms = new Uint8Array(6);
  /** Host translation of a table GPA: SPA and whether the host grants write. */
  private tSpa = 0;
  private tW = false;

  constructor(
    private readonly ctx: WalkContext,
    private readonly host: HostWalker,
    private readonly iotlb: Iotlb,
    private readonly pde: PdeCache,
    private readonly gcr3: Gcr3Cache,
  ) {}

  walk(d: Dte, pasid: number, aHi: number, aLo: number, fl: GuestWalkFlags): boolean {
    const ctx = this.ctx;
    const f = d.f;
    const nested = f.Mode !== 0 && f.TV; // (TV = 0 reaches here only with quirks.tvGatesHostTableOnly: no host table)
    const glxLevels = f.GLX + 1;
    if (pasid >= 2 ** (9 * glxLevels) || pasid > 2 ** (fl.pasMax + 1) - 1) { ctx.fault("pasid-out-of-range", 0); return false; }
    // ---- GCR3 table: PASID -> guest CR3 ----
    let cr3 = -1;
    this.gcr3Hit = false;
    if (this.gcr3.enabled && !ctx.peek) {
      const s = this.gcr3.lookup(d.deviceId, pasid, f.DomainID);
      if (s >= 0) { cr3 = this.gcr3.cr3[s]!; this.gcr3Hit = true; }
    }
    if (cr3 < 0) {
      let table = f.GCR3TableRootPtr;
      const viaHost = nested && fl.gcr3IsGpa;
      for (let k = glxLevels - 1; k >= 0; k--) {
        let tspa = table;
        if (viaHost) { if (!this.tableSpa(d, table, false)) return false; tspa = this.tSpa; }
        const pa = tspa + ((pasid >>> (9 * k)) & 0x1ff) * 8;
        if (!ctx.read(pa, "gcr3")) return false;
        const lo = ctx.lo, hi = ctx.hi;
        if ((lo & Gcr3.V) === 0) { ctx.fault("gcr3-not-valid", 0); return false; }
        if (fl.gcr3RsvdCheck && ((lo & Gcr3.RsvdLo) !== 0 || (hi & Gcr3.RsvdHi) !== 0)) { ctx.fault("reserved-bit", F_PR | F_RZ); return false; }
        table = (hi & Gcr3.AddrHi) * TWO32 + ((lo & Gcr3.AddrLo) >>> 0);
      }
      cr3 = table;
      if (this.gcr3.enabled && !ctx.peek) this.gcr3.insert(d.deviceId, pasid, f.DomainID, cr3);
    }
    const levels = d.guestLevels;
    for (let i = 0; i < MAX_WALK_RETRIES; i++) {
      const r = this.walkOnce(d, pasid, cr3, aHi, aLo, fl, nested, levels);
      if (r !== Walk.Retry) return r === Walk.Ok;
      ctx.retries++;
    }
    ctx.fault("ad-contention", 0);
    return false;
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
    const top = aHi >>> (vaBits - 1 - 32);
    if (top === 0 || top === 2 ** (64 - vaBits + 1) - 1) return true;
    this.ctx.fault("non-canonical", 0);
    return false;
  }

  /** Translate a guest-table GPA through the host table (nested TLB first); fault = host space. */
  private tableSpa(d: Dte, gpa: number, needWrite: boolean): boolean {
    const gHi = Math.floor(gpa / TWO32), gLo = gpa >>> 0;
    const it = this.iotlb;
    if (it.enabled && !this.ctx.peek) {
      const s = it.lookup(d.f.DomainID, PasidKey.Host, gHi, gLo);
      if (s >= 0 && (it.perms[s]! & Perm.R) !== 0 && d.f.IR && (!needWrite || ((it.perms[s]! & Perm.W) !== 0 && d.f.IW))) {
        this.tSpa = it.spa[s]! + offsetIn(gHi, gLo, it.hitLog2);
        this.tW = (it.perms[s]! & Perm.W) !== 0 && d.f.IW;
        return true;
      }
    }
    if (!this.host.walk(d, gHi, gLo, needWrite, true)) {
      this.ctx.hostFault = true; this.ctx.faultHi = gHi; this.ctx.faultLo = gLo;
      return false;
    }
    const h = this.host;
    if (it.enabled && !this.ctx.peek) it.insert(d.f.DomainID, PasidKey.Host, gHi, gLo, h.log2, h.spaBase, h.perms | (h.lastLeafDirty ? Perm.Dirty : 0));
    this.tSpa = h.spaBase + offsetIn(gHi, gLo, h.log2);
    this.tW = (h.perms & Perm.W) !== 0 && d.f.IW;
    return true;
  }

  private walkOnce(d: Dte, pasid: number, cr3: number, aHi: number, aLo: number, fl: GuestWalkFlags, nested: boolean, levels: number): number {
    const ctx = this.ctx;
    const domain = d.f.DomainID;
    let w = 1, u = 1, nx = 0;
    let level = levels;
    let table = cr3;
    let tableIsSpa = !nested;
    const pde = this.pde;
    if (pde.enabled && !ctx.peek) {
      for (let L = pde.minLevel; L <= levels; L++) {
        const s = pde.lookup(domain, pasid, L, pde.prefixOf(aHi, aLo, L));
        if (s < 0) continue;
        const p = pde.perms[s]!;
        w = p & Perm.W ? 1 : 0; u = p & Perm.U ? 1 : 0; nx = p & Perm.X ? 0 : 1;
        table = pde.next[s]!; tableIsSpa = true; level = L - 1;
        ctx.pdeHits++;
        break;
      }
    }
    let n = 0;
    let lo = 0, hi = 0, pa = 0;
    let gpaBase = 0, log2 = 12;
    for (;;) {
      let tspa = table;
      let hostW = true;
      if (!tableIsSpa) {
        if (!this.tableSpa(d, table, false)) return Walk.Fault;
        tspa = this.tSpa; hostW = this.tW;
      }
      if (n > 0) this.eNextSpa[n - 1] = tspa;
      pa = tspa + levelIndex(aHi, aLo, SHIFT[level]!) * 8;
      ctx.walkRead(pa);
      if (!ctx.read(pa, "guest")) return Walk.Fault;
      lo = ctx.lo; hi = ctx.hi;
      if ((lo & Lm.P) === 0) return ctx.fault("not-present", 0);
      if ((lo & Lm.RW) === 0) w = 0;
      if ((lo & Lm.US) === 0) u = 0;
      if (fl.nx && (hi & Lm.NxHi) !== 0) nx = 1;
      this.ePa[n] = pa; this.eLo[n] = lo; this.eLevel[n] = level; this.eHostW[n] = hostW ? 1 : 0;
      this.ePerms[n] = Perm.R | (w ? Perm.W : 0) | (u ? Perm.U : 0) | (nx ? 0 : Perm.X);
      n++;
      const ps = (lo & Lm.PS) !== 0;
      if (level >= 4 && ps) return ctx.fault("reserved-bit", F_PR | F_RZ);
      if (level === 1 || (ps && (level === 2 || level === 3))) {
        if (level === 3 && ps && (lo & Lm.Rsvd1GLo) !== 0) return ctx.fault("reserved-bit", F_PR | F_RZ);
        if (level === 2 && ps && (lo & Lm.Rsvd2MLo) !== 0) return ctx.fault("reserved-bit", F_PR | F_RZ);
        log2 = SHIFT[level]!;
        gpaBase = alignDown(hi & Lm.AddrHi, lo & Lm.AddrLo, log2);
        break;
      }
      table = (hi & Lm.AddrHi) * TWO32 + ((lo & Lm.AddrLo) >>> 0);
      tableIsSpa = !nested;
      level--;
    }
    if (fl.enforce) {
      if (fl.write && !w) return ctx.fault("permission", EVT_PE | F_PR);
      if (fl.user && !u) return ctx.fault("user-supervisor", EVT_PE | F_PR | EVT_US);
      if (fl.execute && nx) return ctx.fault("no-execute", EVT_PE | F_PR | EVT_NX);
    }
    // ---- final GPA -> SPA (nested) ----
    let spa = gpaBase + offsetIn(aHi, aLo, log2);
    let outLog2 = log2;
    let hostPerms = Perm.R | Perm.W;
    if (nested) {
      const gpa = spa;
      const gHi = Math.floor(gpa / TWO32), gLo = gpa >>> 0;
      if (!this.host.walk(d, gHi, gLo, fl.write && w === 1, fl.enforce)) {
        ctx.hostFault = true; ctx.faultHi = gHi; ctx.faultLo = gLo;
        return Walk.Fault;
      }
      const h = this.host;
      hostPerms = h.perms & (Perm.R | Perm.W);
      spa = h.spaBase + offsetIn(gHi, gLo, h.log2);
      if (h.log2 < outLog2) outLog2 = h.log2;
    }
    // ---- Accessed / Dirty: top-down, only now that the translation succeeds ----
    const wantD = fl.dUpdate && fl.write && w === 1 && (hostPerms & Perm.W) !== 0;
    if (fl.aUpdate || wantD) { // peek too: a table the host maps read-only refuses the A/D update (same fault)
      // every update allowed before the first is written: a refused one leaves no A/D bit set
      if (nested) {
        for (let i = 0; i < n; i++) {
          const el = this.eLo[i]!;
          const want = (fl.aUpdate ? Lm.A : 0) | (i === n - 1 && wantD ? Lm.D : 0);
          if ((el & want) !== want && this.eHostW[i] === 0) {
            ctx.hostFault = true; ctx.faultHi = Math.floor(this.ePa[i]! / TWO32); ctx.faultLo = this.ePa[i]! >>> 0;
            return ctx.fault("permission", EVT_PE | F_PR);
          }
        }
      }
      for (let i = 0; i < n; i++) {
        const el = this.eLo[i]!;
        let want = fl.aUpdate ? Lm.A : 0;
        if (i === n - 1 && wantD) want |= Lm.D;
        if ((el & want) === want) continue;
        if (!ctx.peek && !ctx.cas(this.ePa[i]!, el, (el | want) >>> 0, "guest-ad")) return Walk.Retry;
      }
    }
    if (pde.enabled && !ctx.peek) {
      for (let i = 0; i < n - 1; i++) {
        const L = this.eLevel[i]!;
        if (L >= pde.minLevel) pde.insert(domain, pasid, L, pde.prefixOf(aHi, aLo, L), this.eNextSpa[i]!, L - 1, this.ePerms[i]!, nested);
      }
    }
    this.spaBase = alignNumber(spa, outLog2);
    this.log2 = outLog2;
    const leafDirty = (lo & Lm.D) !== 0 || wantD || !fl.dUpdate;
    this.perms = (hostPerms & Perm.R) | (w && (hostPerms & Perm.W) ? Perm.W : 0) | (u ? Perm.U : 0) | (nx ? 0 : Perm.X) |
      (leafDirty ? Perm.Dirty : 0) | (nested ? Perm.Nested : 0);
    return Walk.Ok;
  }
}
