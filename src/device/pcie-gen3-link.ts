/**
 * A PCIe Gen3 x8 link, downstream direction (root complex to device), as the queue a DMA
 * read's completions go through: Completion-with-Data TLPs are sent one after another, each
 * taking its bytes on the wire over the link's TLP bandwidth.
 *
 * Facts (PCIe Base Spec 3.0 and the pcie-bench PCIe model, github.com/pcie-bench/pcie-model
 * model/pcie.py and model/mem_bw.py, Neugebauer et al., SIGCOMM 2018):
 * - 8 GT/s per lane, 8 lanes, 128b/130b encoding: 63.0 Gb/s raw.
 * - less the link's own traffic at the spec's recommended rates for MPS 256 on x8: an ACK DLLP
 *   (8 B) per 203 B, a flow-control update (8 B) per 203 B, a 4 B SKIP ordered set per 1,538 B:
 *   57.9 Gb/s for TLPs.
 * - a completion carries at most MPS = 256 bytes of data (pcie-bench's default; Intel Xeon E5
 *   root ports) and costs 20 bytes beside its data: 8 of framing, sequence number and LCRC, a
 *   4-byte TLP header and 8 more bytes of completion header.
 */
export const GEN3_X8 = {
  gigaTransfers: 8,
  lanes: 8,
  encoding: 128 / 130,
  ackBytes: 8, ackEvery: 203,
  flowControlBytes: 8, flowControlEvery: 203,
  skipBytes: 4, skipEvery: 1538,
  maxPayload: 256,
  completionOverhead: 20,
} as const;

export type LinkFacts = typeof GEN3_X8;

/** Bytes per nanosecond the link carries for TLPs after the ACK, flow-control and SKIP traffic. */
export function tlpBytesPerNs(l: LinkFacts = GEN3_X8): number {
  const raw = (l.gigaTransfers * l.lanes * l.encoding) / 8; // GB/s = bytes per ns
  return raw * (1 - l.ackBytes / l.ackEvery - l.flowControlBytes / l.flowControlEvery - l.skipBytes / l.skipEvery);
}

/** Bytes on the wire for the completions of one read of `size` bytes (split at MPS). */
export function completionBytes(size: number, l: LinkFacts = GEN3_X8): number {
  return size + Math.ceil(size / l.maxPayload) * l.completionOverhead;
}

/** The downstream link as a FIFO server: one read's completions occupy it for completionBytes / bandwidth. */
export class PcieLink {
  private freeAt = 0;
  /** Nanoseconds the completions of one read of `size` bytes occupy the link. */
  readonly serviceNs: number;
  constructor(readonly size: number, readonly facts: LinkFacts = GEN3_X8) {
    this.serviceNs = completionBytes(size, facts) / tlpBytesPerNs(facts);
  }
  /** Completions ready at `ready` (ns) are sent after those queued before them; returns when their last byte arrives. */
  send(ready: number): number {
    const start = ready > this.freeAt ? ready : this.freeAt;
    this.freeAt = start + this.serviceNs;
    return this.freeAt;
  }
  /** Reads per second the link can carry at most. */
  get maxReadsPerSecond(): number { return 1e9 / this.serviceNs; }
}
