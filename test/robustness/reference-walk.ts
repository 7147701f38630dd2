/**
 * An independent reference translation for the isolation property, written from the digest
 * (docs/spec-readings.md reg 4.1-4.4 host walk, 5.2-5.6 GCR3, long-mode and nested walks)
 * with 64-bit BigInt arithmetic and no code of the model besides the layout constants.
 *
 * It is deliberately permissive: it ignores reserved bits, A/D updates and caches, and
 * answers "what do the tables grant for this address?": the SPA, and the R/W/X/U rights
 * the path allows. The model may refuse more (reserved bits, canonical checks), never grant
 * more. `touched` lists the SPA of every table page read, for the reachability check.
 */
import type { PhysicalMemory } from "../../src/memory/physical-memory.js";
import { decodeDte } from "../../src/spec/dte.js";
import { GCR3_V, LM_A, LM_D, LM_NX_HI, LM_P, LM_PS, LM_RW, LM_US, V1_IR_HI, V1_IW_HI, V1_PR } from "../../src/spec/page-tables.js";

export interface RefAnswer {
  ok: boolean;
  spa: bigint;
  pageBytes: bigint;
  read: boolean; write: boolean; exec: boolean; user: boolean;
  why: string;
}

const ADDR_MASK = ((1n << 52n) - 1n) & ~0xfffn;
const fail = (why: string): RefAnswer => ({ ok: false, spa: 0n, pageBytes: 0n, read: false, write: false, exec: false, user: false, why });

function entry(mem: PhysicalMemory, pa: bigint): bigint | null {
  if (pa < 0n || pa + 8n > BigInt(mem.bytes)) return null;
  return mem.read64(pa);
}

interface HostAnswer { spa: bigint; pageBytes: bigint; r: boolean; w: boolean }

/** Host (v1) walk of 4.3: permissions ANDed with DTE.IR/IW; Mode 0 = identity. */
export function refHostWalk(mem: PhysicalMemory, mode: number, root: bigint, ir: boolean, iw: boolean, va: bigint): HostAnswer | string {
  if (mode === 0) return { spa: va, pageBytes: 4096n, r: ir, w: iw };
  if (mode === 7) return "reserved mode";
  if (mode < 6 && va >> BigInt(12 + 9 * mode) !== 0n) return "address beyond the mode";
  let r = ir, w = iw, level = mode, table = root;
  for (let guard = 0; guard < 8; guard++) {
    const e = entry(mem, table + ((va >> BigInt(12 + 9 * (level - 1))) & 0x1ffn) * 8n);
    if (e === null) return "table outside memory";
    const lo = Number(e & 0xffffffffn), hi = Number(e >> 32n);
    if ((lo & V1_PR) === 0) return "not present";
    if ((hi & V1_IR_HI) === 0) r = false;
    if ((hi & V1_IW_HI) === 0) w = false;
    const nl = (lo >>> 9) & 7;
    const addr = e & ADDR_MASK;
    if (nl === 0 || nl === 7) {
      if (level === 6) return "leaf at level 6";
      let size = 1n << BigInt(12 + 9 * (level - 1));
      if (nl === 7) {
        let z = 12n;
        while (z < 52n && ((addr >> z) & 1n) === 1n) z++;
        size = 1n << (z + 1n);
        if (!(size > 1n << BigInt(12 + 9 * (level - 1)) && size < 1n << BigInt(12 + 9 * level))) return "bad encoded size";
      }
      const base = addr & ~(size - 1n);
      return { spa: base | (va & (size - 1n)), pageBytes: size, r, w };
    }
    if (nl >= level) return "next level not below";
    for (let l = nl + 1; l < level; l++) if (((va >> BigInt(12 + 9 * (l - 1))) & 0x1ffn) !== 0n) return "skipped level bits";
    table = addr;
    level = nl;
  }
  return "loop";
}

export interface RefRequest { deviceId: number; address: bigint; pasid?: number; write: boolean; execute: boolean; privileged: boolean }
export interface RefConfig {
  deviceTableBase: bigint;
  /** Control.GTEn, GCR3TRPMode; EFR.NXSup. */
  guestEnabled: boolean; gcr3IsGpa: boolean; nx: boolean;
}

/** What the tables grant for a request (IommuEn = 1; no exclusion range). */
export function refTranslate(mem: PhysicalMemory, cfg: RefConfig, req: RefRequest): RefAnswer {
  const dtePa = cfg.deviceTableBase + BigInt(req.deviceId) * 32n;
  if (dtePa + 32n > BigInt(mem.bytes)) return fail("DTE outside memory");
  const d = decodeDte(Array.from({ length: 8 }, (_, i) => mem.read32(dtePa + BigInt(4 * i))));
  const host = (va: bigint) => refHostWalk(mem, d.Mode, BigInt(d.HostPageTableRootPtr), d.IR, d.IW, va);
  if (!d.V) return { ok: true, spa: req.address, pageBytes: 4096n, read: true, write: true, exec: true, user: true, why: "V = 0: untranslated" };
  if (!d.TV) return fail("TV = 0");
  const guest = cfg.guestEnabled && d.GV && (req.pasid !== undefined || d.GIoV);
  if (!guest) {
    if (req.pasid !== undefined) return fail("PASID without guest translation");
    const h = host(req.address);
    if (typeof h === "string") return fail(h);
    return { ok: true, spa: h.spa, pageBytes: h.pageBytes, read: h.r, write: h.w, exec: true, user: true, why: "host" };
  }
  const nested = d.Mode !== 0;
  const pasid = BigInt(req.pasid ?? 0);
  // GCR3 table (5.2): GLX + 1 levels, SPA unless GCR3TRPMode and nested
  let table = BigInt(d.GCR3TableRootPtr);
  for (let k = d.GLX; k >= 0; k--) {
    let tspa = table;
    if (nested && cfg.gcr3IsGpa) { const h = host(table); if (typeof h === "string") return fail(`GCR3 table: ${h}`); tspa = h.spa; }
    const e = entry(mem, tspa + ((pasid >> BigInt(9 * k)) & 0x1ffn) * 8n);
    if (e === null) return fail("GCR3 table outside memory");
    if ((Number(e & 0xffffffffn) & GCR3_V) === 0) return fail("GCR3 entry not valid");
    table = e & ADDR_MASK;
  }
  if (pasid >> BigInt(9 * (d.GLX + 1)) !== 0n) return fail("PASID beyond GLX");
  // long-mode walk (5.3, 5.4), every table address through the host table when nested (5.6):
  // the host must let the IOMMU read each guest table, and write it where A (D) is still clear (5.5)
  const levels = d.GuestPagingMode === 1 ? 5 : 4;
  let w = true, u = true, x = true;
  for (let level = levels; level >= 1; level--) {
    let tspa = table;
    let tableWritable = true;
    if (nested) {
      const h = host(table);
      if (typeof h === "string") return fail(`guest table: ${h}`);
      if (!h.r) return fail("guest table not readable through the host table");
      tspa = h.spa; tableWritable = h.w;
    }
    const e = entry(mem, tspa + ((req.address >> BigInt(12 + 9 * (level - 1))) & 0x1ffn) * 8n);
    if (e === null) return fail("guest table outside memory");
    const lo = Number(e & 0xffffffffn), hi = Number(e >> 32n);
    if ((lo & LM_P) === 0) return fail("guest not present");
    if ((lo & LM_A) === 0 && !tableWritable) return fail("A update refused: guest table read-only in the host table");
    if ((lo & LM_RW) === 0) w = false;
    if ((lo & LM_US) === 0) u = false;
    if (cfg.nx && (hi & LM_NX_HI) !== 0) x = false;
    const leaf = level === 1 || ((lo & LM_PS) !== 0 && (level === 2 || level === 3));
    if (!leaf) { table = e & ADDR_MASK; continue; }
    if (req.write && w && (lo & LM_D) === 0 && !tableWritable) w = false; // D cannot be set: no write
    const size = 1n << BigInt(12 + 9 * (level - 1));
    let spa = (e & ADDR_MASK & ~(size - 1n)) | (req.address & (size - 1n));
    let pageBytes = size, r = true;
    if (nested) {
      const h = host(spa);
      if (typeof h === "string") return fail(`final GPA: ${h}`);
      spa = h.spa; r = h.r; w = w && h.w;
      if (h.pageBytes < pageBytes) pageBytes = h.pageBytes;
    }
    return { ok: true, spa, pageBytes, read: r && d.IR, write: w && d.IW, exec: x, user: u, why: nested ? "nested" : "guest" };
  }
  return fail("unreachable");
}
