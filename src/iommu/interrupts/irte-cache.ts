/**
 * The IRTE cache (spec: interrupt remapping table entries cached by the IOMMU;
 * docs/spec-readings.md irq 1.8).
 *
 * Entries are tagged by (DeviceID, IRTE format, index) and hold the entry's raw dwords as
 * read from memory (one dword for the 32-bit format, four for the 128-bit formats).
 * INVALIDATE_INTERRUPT_TABLE drops every entry of a DeviceID; INVALIDATE_IOMMU_ALL drops all.
 * Control.IRTCacheDis = 1 makes the remapper bypass the cache (no look-up, no fill).
 * Guest-mode entries are cached too, but the remapper re-reads their uncached fields
 * (IsRun, Destination, GATag, GALogIntr) from memory on every interrupt.
 */
import { TagStore, type CacheGeometry } from "../caches/tag-store.js";

export class IrteCache {
  readonly tags: TagStore;
  private readonly data: Uint32Array;

  constructor(geometry: CacheGeometry, seed: number) {
    this.tags = new TagStore("irteCache", geometry, seed);
    this.data = new Uint32Array(Math.max(1, geometry.entries) * 4);
  }

  private set(deviceId: number, index: number): number { return (deviceId ^ (index * 0x9e5)) & this.tags.setMask; }

  /** The slot holding (deviceId, format, index), or -1 (counts a hit or a miss). */
  lookup(deviceId: number, wide: boolean, index: number): number {
    if (this.tags.entries === 0) return -1;
    const s = this.tags.find(this.set(deviceId, index), deviceId, 0, wide ? 1 : 0, index);
    if (s >= 0) this.tags.stats.hits++; else this.tags.stats.misses++;
    return s;
  }

  /** Keep an entry read from memory; returns its slot (-1 when the cache is off). */
  fill(deviceId: number, wide: boolean, index: number, dw: ArrayLike<number>): number {
    if (this.tags.entries === 0) return -1;
    const s = this.tags.allocate(this.set(deviceId, index), deviceId, 0, wide ? 1 : 0, index);
    for (let i = 0; i < 4; i++) this.data[s * 4 + i] = dw[i]! >>> 0;
    return s;
  }

  /** Copy a slot's dwords into `out` (4 dwords). */
  read(slot: number, out: Uint32Array): void {
    for (let i = 0; i < 4; i++) out[i] = this.data[slot * 4 + i]!;
  }

  /** INVALIDATE_INTERRUPT_TABLE: drop every cached IRTE of deviceId. */
  invalidateDevice(deviceId: number): void {
    const t = this.tags;
    for (let i = 0; i < t.entries; i++) if (t.valid[i] === 1 && t.k0[i] === deviceId) t.invalidateSlot(i);
  }

  invalidateAll(): void { this.tags.invalidateAll(); }

  snapshot() { return { tags: this.tags.snapshot(), data: [...this.data] }; }
  restore(s: ReturnType<IrteCache["snapshot"]>): void { this.tags.restore(s.tags); this.data.set(s.data); }
}
