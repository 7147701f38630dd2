/**
 * What the IOMMU sends downstream to a PCIe endpoint: ATS Invalidate Requests
 * (INVALIDATE_IOTLB_PAGES) and PRG Responses (COMPLETE_PPR_REQUEST). Endpoints (src/device/,
 * or an embedder's own device model) attach at a DeviceID. Nothing in src/iommu imports the
 * device models: they meet only through this interface, as on a PCIe link.
 */
export interface AtsInvalidation {
  deviceId: number;
  /** PASID-tagged (GN = 1) invalidation. */
  gn: boolean;
  pasid: number;
  /** First byte of the naturally aligned range (the S-bit decoding of docs/spec-readings.md cmd 1.4). */
  start: bigint;
  /** Range size in bytes; 0n with all = true for "all pages". */
  size: bigint;
  all: boolean;
  /** Cycle at which the request leaves the IOMMU. */
  cycle: number;
}

export interface PrgResponse {
  deviceId: number;
  pasid: number;
  /** The response carries a PASID (COMPLETE_PPR_REQUEST GN = 1). */
  gn: boolean;
  prgIndex: number;
  /** 0 Success, 1 Invalid Request, Fh Response Failure (other values delivered as given). */
  responseCode: number;
  cycle: number;
}

export interface EndpointPort {
  /**
   * An ATS Invalidate Request. Return the number of cycles after which the endpoint's
   * Invalidate Completion reaches the IOMMU, or null if it never answers (the IOMMU then
   * waits for Control.InvTimeOut and logs IOTLB_INV_TIMEOUT).
   */
  atsInvalidate(req: AtsInvalidation): number | null;
  /** A Page Request Group Response. */
  prgResponse(resp: PrgResponse): void;
}
