/**
 * The shape of a benchmark case. Each bench/<area>.bench.ts exports `cases: BenchCase[]`;
 * bench/run.ts times every case beside its baselines in the same run.
 */
import type { MemoryLayout, NativeSpec } from "./native-reference.js";

export interface BenchSubject {
  /** One timed call; performs `opsPerCall` operations. */
  run: () => void;
  /** Operations per call (default 1): host time is reported per operation. */
  opsPerCall?: number;
  /** Modelled IOMMU cycles per operation, read after timing (optional). */
  modelledCycles?: () => number;
  /** Memory references per operation (for the baseline and the report). */
  memoryReferences?: () => number;
  /** Cases with a native reference: where the workload lives, for the image hash and the native side's allocation. */
  layout?: MemoryLayout & { dteAddress: number; tableEnd: number; u32: Uint32Array };
  /** Cases with a native reference: serve the next n requests, return the checksum of the answers (as the native side's "verify"). */
  verify?: (n: number) => number;
}

export interface BenchCase {
  /** Stable id, e.g. "translate/iotlb-hit". */
  name: string;
  /** Group shown in the report, e.g. "translation", "commands", "ppr", "scenario". */
  group: string;
  /** What one operation is, in a sentence (printed by --list, written into the JSON). */
  measures: string;
  /** Build the state and return the timed subject. */
  setup(): BenchSubject;
  /**
   * The same-run baseline: plain typed-array reads doing the same number of memory
   * references as one operation (defaults to a loop of memoryReferences() reads).
   */
  baseline?: () => BenchSubject;
  /** The native C reference doing the same work (bench/native/iommu_ref.c), measured in interleaved rounds. */
  native?: NativeSpec;
  /**
   * The case this one does the same work as in another mode (a timed case: its functional
   * twin). The runner reports this case's time over that case's (bench/run.ts variantRatios).
   */
  variantOf?: string;
}
