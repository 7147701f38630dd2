/**
 * The shape of a benchmark case. Each bench/<area>.bench.ts exports `cases: BenchCase[]`;
 * bench/run.ts times every case with tinybench beside its baseline in the same run.
 */
export interface BenchSubject {
  /** One timed call; performs `opsPerCall` operations. */
  run: () => void;
  /** Operations per call (default 1): host time is reported per operation. */
  opsPerCall?: number;
  /** Modelled IOMMU cycles per operation, read after timing (optional). */
  modelledCycles?: () => number;
  /** Memory references per operation (for the baseline and the report). */
  memoryReferences?: () => number;
}

export interface BenchCase {
  /** Stable id, e.g. "translate/iotlb-hit". */
  name: string;
  /** Group shown in the report, e.g. "translation", "commands", "ppr", "scenario". */
  group: string;
  /** Build the state and return the timed subject. */
  setup(): BenchSubject;
  /**
   * The same-run baseline: plain typed-array reads doing the same number of memory
   * references as one operation (defaults to a loop of memoryReferences() reads).
   */
  baseline?: () => BenchSubject;
}
