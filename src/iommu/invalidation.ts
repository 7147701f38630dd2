/**
 * What the command processor asks of the rest of the IOMMU: the cache invalidations of
 * docs/spec-readings.md cmd 4.1, prefetch, and notification hooks for embedders (UNMAP events).
 */
export interface InvalidationTarget {
  /** INVALIDATE_DEVTAB_ENTRY: cached DTE and GCR3 entries of the device. */
  invalidateDevtabEntry(deviceId: number): void;
  /** INVALIDATE_IOMMU_PAGES; returns the number of cache sets probed (for the cost model). */
  invalidatePages(domain: number, gn: boolean, pasid: number, start: bigint, size: bigint, all: boolean, pde: boolean): number;
  /** INVALIDATE_IOTLB_PAGES leaves for a device (notification only; the endpoint does the work). */
  deviceTlbInvalidation(deviceId: number, gn: boolean, pasid: number, start: bigint, size: bigint, all: boolean, cycle: number): void;
  /** PREFETCH_IOMMU_PAGES; returns the cycles it took. */
  prefetch(deviceId: number, gn: boolean, pasid: number, start: bigint, count: number, inval: boolean): number;
  /** INVALIDATE_INTERRUPT_TABLE: every cached IRTE of the device. */
  invalidateInterruptTable?(deviceId: number): void;
  /** INVALIDATE_IOMMU_ALL; returns the number of cache sets probed. */
  invalidateAll(): number;
  /** Timed mode: the cycle by which every translation issued so far has completed (COMPLETION_WAIT waits for it). */
  translationsInFlightUntil?(): number;
}
