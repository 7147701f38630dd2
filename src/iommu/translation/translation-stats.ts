/**
 * The translator's statistics: request, walk, fault and event counts, the references-per-walk
 * histogram, and the counts the performance counters' memory-request events are derived from
 * (spec-tables/perf-counters.json: events 01h-03h, 0Dh, 0Eh; docs/spec-readings.md irq 7.18).
 * Part of `stats().translation` and of snapshots.
 */
export interface TranslationStats {
  requests: number; atsRequests: number; faults: number; walks: number; eventsLogged: number; eventsSuppressed: number;
  adUpdates: number; walkRetries: number;
  /** Histogram of memory references per walk (index = references, last bucket = that many or more). */
  referencesPerWalk: number[];
  /** Memory requests passed without translation: DTE.V = 0 or DTE.Mode 0 (performance event 01h). */
  passUntranslated: number;
  /** Translated (pre-translated, AT = 10b) requests passed (event 02h). */
  passPretranslated: number;
  /** Requests passed by the exclusion range (event 03h). */
  passExcluded: number;
  /** Page-table reads of guest (long-mode) tables (event 0Eh) and of host tables during nested walks (event 0Dh). */
  guestTableReads: number;
  nestedTableReads: number;
}

/** Zeroed statistics. */
export function newTranslationStats(): TranslationStats {
  return {
    requests: 0, atsRequests: 0, faults: 0, walks: 0, eventsLogged: 0, eventsSuppressed: 0, adUpdates: 0, walkRetries: 0,
    referencesPerWalk: Array.from({ length: 41 }, () => 0), // a packed array (new Array(n).fill(0) stays holey: slower to index)
    passUntranslated: 0, passPretranslated: 0, passExcluded: 0, guestTableReads: 0, nestedTableReads: 0,
  };
}
