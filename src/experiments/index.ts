/** The calibration experiments (docs/calibration.md), by name. */
import type { Experiment } from "./experiment.js";
import { iotlbReach } from "./iotlb-reach.js";
import { hitRate } from "./hit-rate.js";
import { walkers } from "./walkers.js";
import { pprLatency } from "./ppr-latency.js";
import { invalidationCost } from "./invalidation-cost.js";
import { refsPerWalk } from "./refs-per-walk.js";

export const EXPERIMENTS: readonly Experiment[] = [iotlbReach, hitRate, walkers, pprLatency, invalidationCost, refsPerWalk];
export { formatReport, type Experiment, type ExperimentOptions, type ExperimentReport, type Check } from "./experiment.js";
