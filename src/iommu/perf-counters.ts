/**
 * Performance counters (spec: "IOMMU performance counters", EFR.PCSup;
 * docs/spec-readings.md irq section 3), as Linux's perf driver sees them.
 *
 * With PCSup the MMIO window is 512 KiB: the counter configuration register at 0x4000 gives
 * counters per bank (bits 10:7) and banks (17:12); counter c of bank b has its registers at
 * 0x40000 | b << 12 | c << 8 | r: the 48-bit Counter (r = 0), CounterSource (8: event code in
 * bits 7:0, 0 = off), PASID / DomainID / DeviceID match (0x10 / 0x18 / 0x20: value, enable
 * bit 31, mask at 32) and CounterReport (0x28, stored only). Other offsets of the window read
 * 0 and ignore writes.
 *
 * Counting stays off the translation path: "derived" events (translations, faults, IOTLB and
 * page-directory hits/misses, DTE hits/misses of memory requests, page-table reads, commands)
 * are the difference of a model statistic between now and when the counter was (re)started,
 * computed when the counter is read; "direct" events (interrupt DTE hits/misses, vAPIC
 * interrupts, SMI messages, accesses to 0x1FF8) are counted when they happen and only when
 * every enabled match register matches (mask bit 1 = ignore that bit; UNCERTAIN 18). A counter
 * of a derived memory-request event (01h-0Eh) with an enabled match register is "watched": it
 * counts by attribution instead, the IOMMU reporting each request's share of the event with
 * the request's DeviceID, DomainID and PASID (attribute()), so the match registers apply to it
 * too; the IOMMU does that work only while some counter is watched (`watch`). Command events
 * (11h-13h) have no requester: their match registers are stored and not applied (reading,
 * UNCERTAIN 18). Counts wrap at 48 bits. No overflow interrupt, no EVENT_COUNTER_ZERO (digest
 * 3.6: may be omitted).
 */
import {
  PERF_BANK_BASE, PERF_CONFIG_OFFSET, PERF_EVENTS, PERF_REG, PERF_RESERVED_REGISTER, PERF_WINDOW_BYTES, perfConfigValue,
} from "../spec/perf-counters.js";

const TWO48 = 2 ** 48;
const TWO32 = 4294967296;
/** Registers per counter block, in 8-byte steps (0x00..0x28). */
const REGS = 6;

/** Where derived events come from (read at counter read/start time). */
export type PerfSource = (code: number) => number;

export interface PerfMatchInfo { deviceId: number; domainId: number; pasid: number | null }

export class PerfCounters {
  readonly banks: number;
  readonly perBank: number;
  /** Per counter: 6 registers x 2 halves (lo, hi). */
  private readonly regs: Uint32Array;
  /** Per counter: value at (re)start and the source total then (derived events). */
  private readonly base: Float64Array;
  private readonly baseline: Float64Array;
  /** Direct-event totals ignoring match registers (for stats). */
  readonly directTotals = new Float64Array(32);
  private readonly isDerived: Uint8Array = new Uint8Array(32);
  /** Per counter: 1 = watched (a derived memory-request event under an enabled match register: counted by attribute()). */
  private readonly watched: Uint8Array;
  /** Counters watched; while non-zero the IOMMU attributes every memory request (AmdIommu.perfWatch). */
  private watchCount = 0;
  /** Called when `watch` changes (the IOMMU keeps a plain boolean of it on its translation path). */
  onWatchChange: (watch: boolean) => void = () => {};

  constructor(banks: number, perBank: number, private readonly derived: PerfSource) {
    this.banks = banks;
    this.perBank = perBank;
    const n = banks * perBank;
    this.regs = new Uint32Array(n * REGS * 2);
    this.base = new Float64Array(n);
    this.baseline = new Float64Array(n);
    this.watched = new Uint8Array(n);
    for (const e of PERF_EVENTS) if (e.kind === "derived") this.isDerived[e.code] = 1;
  }

  static readonly windowBytes = PERF_WINDOW_BYTES;

  /** The counter index and register (0..5) an offset addresses, or -1. */
  private locate(offset: number): number {
    if (offset < PERF_BANK_BASE) return -1;
    const rel = offset - PERF_BANK_BASE;
    const bank = rel >>> 12, counter = (rel >>> 8) & 0xf, r = (rel & 0xff) >>> 3;
    if (bank >= this.banks || counter >= this.perBank || r >= REGS) return -1;
    return (bank * this.perBank + counter) * REGS + r;
  }

  private sourceOf(c: number): number { return this.regs[(c * REGS + 1) * 2]! & 0xff; }

  /** Some counter counts a derived memory-request event under a match register: requests must be attributed. */
  get watch(): boolean { return this.watchCount > 0; }

  /** Is counter c watched by its source and match registers (a memory-request event 01h-0Eh, some match enable bit set)? */
  private wantsWatch(c: number): boolean {
    const code = this.sourceOf(c);
    if (!(code >= 0x01 && code <= 0x0e)) return false;
    const b = c * REGS * 2;
    return ((this.regs[b + PERF_REG.PasidMatch / 4]! | this.regs[b + PERF_REG.DomainIdMatch / 4]! | this.regs[b + PERF_REG.DeviceIdMatch / 4]!) & 0x8000_0000) !== 0;
  }

  /** Bring counter c's watched state in line with its registers, its value kept. */
  private updateWatch(c: number): void {
    const want = this.wantsWatch(c) ? 1 : 0;
    if (want === this.watched[c]) return;
    const v = this.value(c);
    const before = this.watchCount > 0;
    this.watched[c] = want;
    this.watchCount += want === 1 ? 1 : -1;
    this.restart(c, v);
    if ((this.watchCount > 0) !== before) this.onWatchChange(this.watchCount > 0);
  }

  /** The event codes of the watched counters (the IOMMU notes their totals before a request). */
  watchedCodes(out: Uint8Array): number {
    let n = 0;
    for (let c = 0; c < this.watched.length; c++) if (this.watched[c] === 1) out[n++] = this.sourceOf(c);
    return n;
  }

  /** A memory request's share of each derived event (delta[code]), for the watched counters whose match registers it matches. */
  attribute(delta: Float64Array, deviceId: number, domainId: number, pasid: number | null): void {
    for (let c = 0; c < this.watched.length; c++) {
      if (this.watched[c] !== 1) continue;
      const d = delta[this.sourceOf(c)]!;
      if (d !== 0 && this.matches(c, deviceId, domainId, pasid)) this.base[c] = (this.base[c]! + d) % TWO48;
    }
  }

  /** Current 48-bit value of counter c. */
  private value(c: number): number {
    const code = this.sourceOf(c);
    if (code !== 0 && this.isDerived[code] === 1 && this.watched[c] === 0) return (this.base[c]! + this.derived(code) - this.baseline[c]!) % TWO48;
    return this.base[c]!;
  }

  /** Restart counter c at `v` (derived events: from the source's current total). */
  private restart(c: number, v: number): void {
    const code = this.sourceOf(c);
    this.base[c] = v % TWO48;
    this.baseline[c] = code !== 0 && this.isDerived[code] === 1 && this.watched[c] === 0 ? this.derived(code) : 0;
  }

  read32(offset: number): number {
    if ((offset & ~7) === PERF_CONFIG_OFFSET) return offset === PERF_CONFIG_OFFSET ? perfConfigValue(this.banks, this.perBank) : 0;
    const i = this.locate(offset);
    if (i < 0) return 0;
    const half = (offset >>> 2) & 1;
    if (i % REGS === PERF_REG.Counter) {
      const v = this.value((i / REGS) | 0);
      return half === 0 ? v % TWO32 >>> 0 : Math.floor(v / TWO32) >>> 0;
    }
    return this.regs[i * 2 + half]!;
  }

  write32(offset: number, value: number): void {
    const i = this.locate(offset);
    if (i < 0) return;
    const half = (offset >>> 2) & 1;
    const c = (i / REGS) | 0;
    const r = i % REGS;
    if (r === PERF_REG.Counter) {
      const v = this.value(c);
      const lo = half === 0 ? value >>> 0 : v % TWO32;
      const hi = half === 1 ? value & 0xffff : Math.floor(v / TWO32);
      this.restart(c, hi * TWO32 + lo);
      return;
    }
    if (r === PERF_REG.CounterSource / 8) {
      const v = this.value(c);
      if (half === 0) this.regs[i * 2] = value & 0xff;
      this.restart(c, v);
      this.updateWatch(c);
      return;
    }
    this.regs[i * 2 + half] = value >>> 0;
    this.updateWatch(c); // (a match register)
  }

  /** A direct event happened (attributes for the match registers). */
  count(code: number, deviceId: number, domainId: number, pasid: number | null): void {
    this.directTotals[code]!++;
    const n = this.banks * this.perBank;
    for (let c = 0; c < n; c++) {
      if (this.sourceOf(c) !== code) continue;
      if (!this.matches(c, deviceId, domainId, pasid)) continue;
      this.base[c] = (this.base[c]! + 1) % TWO48;
    }
  }

  private matches(c: number, deviceId: number, domainId: number, pasid: number | null): boolean {
    const m = (r: number, v: number, width: number) => {
      const lo = this.regs[(c * REGS + r) * 2]!, hi = this.regs[(c * REGS + r) * 2 + 1]!;
      if ((lo & 0x8000_0000) === 0) return true;
      const mask = width === 32 ? 0xffffffff : (1 << width) - 1;
      return (((lo ^ v) & ~hi) & mask) === 0;
    };
    if (!m(PERF_REG.DeviceIdMatch / 8, deviceId, 16)) return false;
    if (!m(PERF_REG.DomainIdMatch / 8, domainId, 16)) return false;
    const pe = (this.regs[(c * REGS + PERF_REG.PasidMatch / 8) * 2]! & 0x8000_0000) !== 0;
    if (pe && pasid === null) return false;
    return m(PERF_REG.PasidMatch / 8, pasid ?? 0, 20);
  }

  /** Is an access at this offset (8-byte register) the reserved register 0x1FF8? */
  static isReservedRegister(offset: number): boolean { return (offset & ~7) === PERF_RESERVED_REGISTER; }

  snapshot() { return { regs: [...this.regs], base: [...this.base], baseline: [...this.baseline], directTotals: [...this.directTotals] }; }
  restore(s: ReturnType<PerfCounters["snapshot"]>): void {
    this.regs.set(s.regs); this.base.set(s.base); this.baseline.set(s.baseline); this.directTotals.set(s.directTotals);
    // the watched state follows from the registers (a watched counter's value is its base)
    const before = this.watchCount > 0;
    this.watchCount = 0;
    for (let c = 0; c < this.watched.length; c++) { this.watched[c] = this.wantsWatch(c) ? 1 : 0; this.watchCount += this.watched[c]!; }
    if ((this.watchCount > 0) !== before) this.onWatchChange(this.watchCount > 0);
  }
}
