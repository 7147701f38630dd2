/**
 * The memory hierarchy a page-table walk reads through (issue 18; docs/calibration.md,
 * "Walk reads"): a set-associative cache of 64-byte table lines between the walker and
 * DRAM. It stands for the share of the last-level cache that page-table lines keep: a walk
 * read whose line is cached costs profile.memoryReferenceLlc (an LLC hit), any other costs
 * profile.memoryReference (DRAM) and brings the line in, evicting the least recently used
 * line of its set.
 *
 * Only what the walker reads goes through it (page-table entries, host and guest levels).
 * The line is the entry's 64-byte line, so eight 8-byte entries share one: a walk of the
 * next page of a streaming workload finds its PTE's line cached. The cache is coherent
 * memory, not a translation cache: IOMMU invalidation commands do not touch it, and a table
 * write by software changes nothing in it (the CPU's store leaves the line in the LLC).
 *
 * Geometry from the profile: tableCacheLines lines (0 = off: every walk read costs
 * memoryReference, the model before issue 18), tableCacheWays ways, lines / ways sets (a
 * power of two). A set keeps its ways in recency order (way 0 most recent), so a look-up is
 * a scan of `ways` tags and a hit moves its line to the front. No allocation per access.
 */

/** Bytes per table line (one cache line). */
export const TABLE_LINE_BYTES = 64;
/** Largest tableCacheLines and tableCacheWays. */
export const TABLE_CACHE_MAX_LINES = 1 << 22;
export const TABLE_CACHE_MAX_WAYS = 64;
/** Tables at or above this byte address are not tracked (line numbers stay int32). */
const MAX_PA = 2 ** 37;

export interface TableLineCacheState {
  /** [slot, line number] of every cached line (empty slots left out). */
  lines: [number, number][];
  hits: number;
  misses: number;
}

export class TableLineCache {
  /** Line number (byte address / 64) per way, sets x ways, most recent first; -1 = empty. */
  readonly tags: Int32Array;
  readonly sets: number;
  private readonly setMask: number;
  /** Walk reads served by the cache (LLC) and from DRAM, since creation or the last restore. */
  hits = 0;
  misses = 0;

  constructor(readonly lines: number, readonly ways: number) {
    if (!Number.isInteger(lines) || lines < 1 || lines > TABLE_CACHE_MAX_LINES) throw new RangeError(`timing.tableCacheLines must be an integer from 0 to ${TABLE_CACHE_MAX_LINES}, got ${String(lines)}`);
    if (!Number.isInteger(ways) || ways < 1 || ways > TABLE_CACHE_MAX_WAYS || lines % ways !== 0) {
      throw new RangeError(`timing.tableCacheWays must be an integer from 1 to 64 that divides tableCacheLines (${lines}), got ${String(ways)}`);
    }
    const sets = lines / ways;
    if ((sets & (sets - 1)) !== 0) throw new RangeError(`timing: tableCacheLines / tableCacheWays must be a power of two, got ${sets} sets`);
    this.sets = sets;
    this.setMask = sets - 1;
    this.tags = new Int32Array(lines).fill(-1);
  }

  /**
   * A walk read of the entry at word index w (byte address / 4, an int32: tables below
   * 8 GiB): 1 if its line was cached, 0 if it came from DRAM (and is cached now).
   */
  touchWord(w: number): number {
    return this.touchLine(w >>> 4);
  }

  /**
   * touchWord() of a byte address. Lines above 2^37 (128 GiB) are not tracked: such a read
   * costs DRAM and caches nothing.
   */
  touch(pa: number): number {
    if (!(pa < MAX_PA)) { this.misses++; return 0; }
    return this.touchLine(Math.floor(pa * 0.015625));
  }

  private touchLine(line: number): number {
    const t = this.tags;
    if (this.ways === 4) {
      // the default geometry, unrolled: a hit moves its line to the front, a miss shifts the set.
      // Past way 0, one straight path for hits in ways 1-3 and misses (one counter site each):
      // an optimized caller that reaches a site it never ran before is deoptimized, and a hit in
      // way 2 or 3 is rare enough for a warmed-up loop never to have run one
      const b = (line & this.setMask) << 2;
      const w0 = t[b]!;
      if (w0 === line) { this.hits++; return 1; }
      const w1 = t[b + 1]!, w2 = t[b + 2]!;
      const hit = w1 === line || w2 === line || t[b + 3] === line ? 1 : 0;
      // [line, w0, then the others in order without line]: a hit in way 1 keeps ways 2 and 3, in way 2 keeps way 3
      t[b] = line; t[b + 1] = w0;
      if (w1 !== line) { t[b + 2] = w1; if (w2 !== line) t[b + 3] = w2; }
      this.hits += hit;
      this.misses += 1 - hit;
      return hit;
    }
    const ways = this.ways;
    const base = (line & this.setMask) * ways;
    let i = 0;
    while (i < ways - 1 && t[base + i] !== line) i++;
    const hit = t[base + i] === line ? 1 : 0;
    for (let j = base + i; j > base; j--) t[j] = t[j - 1]!;
    t[base] = line;
    if (hit === 1) this.hits++; else this.misses++;
    return hit;
  }

  /** Whether the line of byte address pa is cached, changing nothing (peek). */
  holds(pa: number): number {
    if (!(pa < MAX_PA)) return 0;
    const line = Math.floor(pa * 0.015625);
    const base = (line & this.setMask) * this.ways;
    for (let i = 0; i < this.ways; i++) if (this.tags[base + i] === line) return 1;
    return 0;
  }

  clear(): void {
    this.tags.fill(-1);
    this.hits = 0;
    this.misses = 0;
  }

  snapshot(): TableLineCacheState {
    const lines: [number, number][] = [];
    this.tags.forEach((v, i) => { if (v !== -1) lines.push([i, v]); });
    return { lines, hits: this.hits, misses: this.misses };
  }

  /** Put back a snapshot() of a cache of the same geometry; a malformed one is refused naming the field, changing nothing. */
  restore(s: TableLineCacheState): void {
    if (s === null || typeof s !== "object" || !Array.isArray(s.lines)) throw new TypeError("tableLines: snapshot must be { lines: [slot, line][], hits, misses }");
    for (const [k, v] of [["hits", s.hits], ["misses", s.misses]] as const) {
      if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) throw new RangeError(`tableLines.${k} must be a non-negative integer, got ${String(v)}`);
    }
    s.lines.forEach((e, i) => {
      if (!Array.isArray(e) || e.length !== 2 || !Number.isInteger(e[0]) || e[0] < 0 || e[0] >= this.lines || !Number.isInteger(e[1]) || e[1] < 0 || e[1] >= MAX_PA / 64) {
        throw new RangeError(`tableLines.lines[${i}] must be [slot 0..${this.lines - 1}, line number], got ${JSON.stringify(e)}`);
      }
    });
    this.tags.fill(-1);
    for (const [slot, line] of s.lines) this.tags[slot] = line;
    this.hits = s.hits;
    this.misses = s.misses;
  }
}
