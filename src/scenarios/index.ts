/** The RFC race under each notifier policy. */
export { runRace, runAllPolicies, summary, isSafe, ATS_MODES, type AtsMode, type RaceOptions, type RaceSummary, type RaceResult } from "./race-scenario.js";
