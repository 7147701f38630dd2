/**
 * An independent reference walk, written for the tests straight from the digest's prose
 * (docs/spec-readings.md reg 4.3 and 5), with BigInt and no caches: the model's answers are
 * checked against it.
 */
import type { PhysicalMemory } from "../../src/index.js";

export interface RefResult { ok: boolean; spa: bigint; size: bigint }
const FAULT: RefResult = { ok: false, spa: 0n, size: 0n };
const bit = (e: bigint, n: number) => (e >> BigInt(n)) & 1n;
const ADDR = 0x000f_ffff_ffff_f000n;

function read(mem: PhysicalMemory, pa: bigint): bigint | null {
  if (pa < 0n || pa + 8n > BigInt(mem.bytes)) return null;
  return mem.read64(pa);
}

export interface RefV1Dte { mode: number; root: bigint; ir: boolean; iw: boolean }

/** Host (v1) walk, section 4.3. */
export function refV1(mem: PhysicalMemory, d: RefV1Dte, iova: bigint, write: boolean, maxLevels = 6): RefResult {
  const shift = (l: number) => BigInt(12 + 9 * (l - 1));
  if (d.mode === 0) return (write ? d.iw : d.ir) ? { ok: true, spa: iova, size: 4096n } : FAULT;
  if (d.mode === 7 || d.mode > maxLevels) return FAULT;
  if (d.mode < 6 && iova >> shift(d.mode + 1) !== 0n) return FAULT;
  let r = d.ir, w = d.iw;
  const allowed = () => (write ? w : r);
  if (!allowed()) return FAULT;
  let table = d.root;
  let level = d.mode;
  for (;;) {
    const e = read(mem, table + ((iova >> shift(level)) & 0x1ffn) * 8n);
    if (e === null || bit(e, 0) === 0n) return FAULT;
    const nl = Number((e >> 9n) & 7n);
    r = r && bit(e, 61) === 1n;
    w = w && bit(e, 62) === 1n;
    if (nl === 0 || nl === 7) {
      if (level === 6) return FAULT;
      if (((e >> 52n) & 0x7fn) !== 0n) return FAULT;
      if (!allowed()) return FAULT;
      let s = shift(level);
      if (nl === 7) {
        let z = 12n;
        while (z < 52n && bit(e, Number(z)) === 1n) z++;
        s = z + 1n;
        if (!(s > shift(level) && s < shift(level) + 9n)) return FAULT;
      }
      const size = 1n << s;
      const base = (e & ADDR) & ~(size - 1n);
      return { ok: true, spa: base + (iova & (size - 1n)), size };
    }
    if (((e >> 52n) & 0x1ffn) !== 0n) return FAULT;
    if (nl >= level || nl > maxLevels) return FAULT;
    for (let l = nl + 1; l < level; l++) if (((iova >> shift(l)) & 0x1ffn) !== 0n) return FAULT;
    if (!allowed()) return FAULT;
    table = e & ADDR;
    level = nl;
  }
}

export interface RefGuestDte extends RefV1Dte { glx: number; gcr3: bigint; levels: 4 | 5 }

/** Guest walk (GCR3 + long mode), nested through refV1 when mode != 0 (section 5). */
export function refGuest(mem: PhysicalMemory, d: RefGuestDte, pasid: number, gva: bigint, o: { write: boolean; user: boolean; exec: boolean; giov?: boolean }): RefResult {
  const nested = d.mode !== 0;
  const host = (gpa: bigint, wr: boolean) => nested ? refV1(mem, d, gpa, wr) : { ok: true, spa: gpa, size: 1n << 64n };
  if (pasid >= 2 ** (9 * (d.glx + 1)) || pasid >= 2 ** 16) return FAULT;
  let t = d.gcr3;
  for (let k = d.glx; k >= 0; k--) {
    const e = read(mem, t + BigInt((pasid >>> (9 * k)) & 0x1ff) * 8n);
    if (e === null || bit(e, 0) === 0n) return FAULT;
    if ((e & 0xffen) !== 0n || (e >> 52n) !== 0n) return FAULT;
    t = e & ADDR;
  }
  const vaBits = d.levels === 5 ? 57n : 48n;
  const va = BigInt.asUintN(64, gva);
  if (o.giov) { if (va >> vaBits !== 0n) return FAULT; }
  else { const top = va >> (vaBits - 1n); if (top !== 0n && top !== (1n << (65n - vaBits)) - 1n) return FAULT; }
  let w = true, u = true, nx = false;
  let level: number = d.levels;
  for (;;) {
    const tt = host(t, false);
    if (!tt.ok) return FAULT;
    const e = read(mem, tt.spa + ((va >> BigInt(12 + 9 * (level - 1))) & 0x1ffn) * 8n);
    if (e === null || bit(e, 0) === 0n) return FAULT;
    w = w && bit(e, 1) === 1n; u = u && bit(e, 2) === 1n; nx = nx || bit(e, 63) === 1n;
    const ps = bit(e, 7) === 1n;
    if (level >= 4 && ps) return FAULT;
    if (level === 1 || (ps && level <= 3)) {
      if (level === 3 && ps && ((e >> 13n) & 0x1ffffn) !== 0n) return FAULT;
      if (level === 2 && ps && ((e >> 13n) & 0xffn) !== 0n) return FAULT;
      const size = 1n << BigInt(12 + 9 * (level - 1));
      if (o.write && !w) return FAULT;
      if (o.user && !u) return FAULT;
      if (o.exec && nx) return FAULT;
      const gpa = ((e & ADDR) & ~(size - 1n)) + (va & (size - 1n));
      const f = host(gpa, o.write);
      if (!f.ok) return FAULT;
      const min = f.size < size ? f.size : size;
      return { ok: true, spa: f.spa, size: min };
    }
    t = e & ADDR;
    level--;
  }
}
