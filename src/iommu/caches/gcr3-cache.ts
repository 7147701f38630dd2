/**
 * GCR3-entry cache: the guest CR3 (root of a PASID's long-mode table) found by walking the
 * GCR3 table of a device (GCR3 table, DTE.GLX levels). Tag: (DeviceID, PASID, DomainID).
 * Dropped by INVALIDATE_DEVTAB_ENTRY (by DeviceID), by INVALIDATE_IOMMU_PAGES with GN = 1
 * for (DomainID, PASID) (what Linux relies on after writing a GCR3 entry), and by
 * INVALIDATE_IOMMU_ALL.
 *
 * In the tag store: k0 DeviceID, k1 PASID, k2 0, k3 DomainID (k2 is folded into a key that holds
 * values below 64 only: a DomainID there made (PASID p, DomainID 64m + r) the key of (PASID p + m, DomainID r)).
 */
import { TagStore, type CacheGeometry } from "./tag-store.js";

export class Gcr3Cache {
  readonly tags: TagStore;
  readonly cr3: Float64Array;

  constructor(g: CacheGeometry, seed: number) {
    this.tags = new TagStore("gcr3Cache", g, seed);
    this.cr3 = new Float64Array(g.entries);
  }
  get enabled(): boolean { return this.tags.entries > 0; }
  private setOf(deviceId: number, pasid: number): number { return ((pasid * 31) ^ deviceId) & this.tags.setMask; }

  /**
   * The slot last found or filled and its tag, valid while the tag store's version is unchanged
   * (no way refilled or invalidated since): a look-up of the same tag is that slot, touched as
   * find() would (the common case of a device using one PASID, without the set scan).
   */
  private frontSlot = -1;
  private frontVersion = -1;
  private frontDevice = -1;
  private frontPasid = -1;
  private frontDomain = -1;

  lookup(deviceId: number, pasid: number, domain: number): number {
    const front = this.probeFront(deviceId, pasid, domain);
    if (front >= 0) { this.commitHit(front); return front; }
    const t = this.tags;
    const s = t.find(this.setOf(deviceId, pasid), deviceId, pasid, 0, domain); // (find() touches a hit)
    if (s >= 0) { this.front(s, deviceId, pasid, domain); t.stats.hits++; } else t.stats.misses++;
    return s;
  }
  /** The slot lookup() finds through the slot last found or filled, or -1 (then lookup() decides), changing nothing: commitHit() counts it as lookup() would. */
  probeFront(deviceId: number, pasid: number, domain: number): number {
    return this.tags.version === this.frontVersion && deviceId === this.frontDevice && pasid === this.frontPasid && domain === this.frontDomain ? this.frontSlot : -1;
  }
  /** lookup()'s effects of a hit on slot s: the replacement-state update and the hit count. */
  commitHit(s: number): void {
    this.tags.touch(s);
    this.tags.stats.hits++;
  }
  insert(deviceId: number, pasid: number, domain: number, cr3: number): void {
    if (this.tags.entries === 0) return;
    const slot = this.tags.allocate(this.setOf(deviceId, pasid), deviceId, pasid, 0, domain);
    this.cr3[slot] = cr3;
    this.front(slot, deviceId, pasid, domain);
  }
  private front(slot: number, deviceId: number, pasid: number, domain: number): void {
    this.frontSlot = slot; this.frontVersion = this.tags.version;
    this.frontDevice = deviceId; this.frontPasid = pasid; this.frontDomain = domain;
  }
  invalidateDevice(deviceId: number): void {
    const t = this.tags;
    for (let k = t.occupancy - 1; k >= 0; k--) { const i = t.live[k]!; if (t.k0[i] === deviceId) t.invalidateSlot(i); }
  }
  invalidatePasid(domain: number, pasid: number): void {
    const t = this.tags;
    for (let k = t.occupancy - 1; k >= 0; k--) { const i = t.live[k]!; if (t.k3[i] === domain && t.k1[i] === pasid) t.invalidateSlot(i); }
  }
  invalidateAll(): void { this.tags.invalidateAll(); }
  snapshot() { return { tags: this.tags.snapshot(), cr3: [...this.cr3] }; }
  restore(s: ReturnType<Gcr3Cache["snapshot"]>): void { this.tags.restore(s.tags); this.cr3.set(s.cr3); }
}
