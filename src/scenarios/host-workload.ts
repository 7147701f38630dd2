/**
 * The host's side of the race scenario: a seeded sequence of the host operations of
 * docs/ARCHITECTURE.md section 7 run on the bound process while the devices keep doing DMA.
 *
 *   munmap    unmap 1-4 pages of the region, then map them again and touch half of them
 *   mprotect  write-protect 1-4 pages (r--), then make the VMA writable again (rw-; the PTEs
 *             stay read-only until a write fault reuses them, as in Linux)
 *   migrate   move 1-2 pages to new frames
 *   cow       fork; the parent writes 1-4 pages (copy-on-write breaks); the child writes one
 *             page and exits
 *   reclaim   two-pass access-bit aging of 1-8 pages, the devices using them between passes
 *   madvise   MADV_DONTNEED on 1-4 pages
 *   exit      the process exits (release); a new one is started and bound
 *   touch     the CPU writes a few random pages (faults, COW reuse)
 *
 * Workloads: "mixed" draws from every operation but exit and ends with an exit; a single
 * operation's workload repeats that operation with a touch between; "exit" runs short-lived
 * processes.
 */
import type { RaceWorld } from "./race-world.js";

const PAGE = 4096;

export type HostOperationName = "munmap" | "mprotect" | "migrate" | "cow" | "reclaim" | "madvise" | "exit" | "touch";
export type WorkloadName = "mixed" | "munmap" | "mprotect" | "migrate" | "cow" | "reclaim" | "madvise" | "exit";
export const WORKLOAD_NAMES: readonly WorkloadName[] = ["mixed", "munmap", "mprotect", "migrate", "cow", "reclaim", "madvise", "exit"];
const MIXED: readonly HostOperationName[] = ["munmap", "mprotect", "migrate", "cow", "reclaim", "madvise", "touch"];

/** The operations a workload runs, in order, for `count` steps. */
export function workloadPlan(w: RaceWorld, workload: WorkloadName, count: number): HostOperationName[] {
  const plan: HostOperationName[] = [];
  for (let i = 0; i < count; i++) {
    if (workload === "mixed") plan.push(i === count - 1 ? "exit" : w.prng.pick(MIXED));
    else if (workload === "exit") plan.push(i % 3 === 2 ? "exit" : "touch");
    else plan.push(i % 2 === 0 ? workload : "touch");
  }
  return plan;
}

/** A random run of 1..max pages inside the region: [start, end). */
function pickRange(w: RaceWorld, max: number): { start: number; end: number; len: number } {
  const pages = w.o.pages;
  const n = Math.min(pages, w.prng.int(1, max));
  const first = w.prng.int(0, pages - n);
  const start = w.region + first * PAGE;
  return { start, end: start + n * PAGE, len: n * PAGE };
}

export function runHostOperation(w: RaceWorld, op: HostOperationName): void {
  const c = w.checker;
  switch (op) {
    case "munmap": {
      const r = pickRange(w, 4);
      c.forget(r.start, r.end);
      w.operation(r.start, r.end, () => w.mm.munmap(r.start, r.len));
      w.mm.mmap(r.len, "rw-", { fixed: r.start });
      for (let va = r.start; va < r.end; va += 2 * PAGE) w.cpuWrite(va);
      break;
    }
    case "mprotect": {
      const r = pickRange(w, 4);
      w.operation(r.start, r.end, () => w.mm.mprotect(r.start, r.len, "r--"));
      w.service();
      w.operation(r.start, r.end, () => w.mm.mprotect(r.start, r.len, "rw-"));
      break;
    }
    case "migrate": {
      const r = pickRange(w, 2);
      for (let va = r.start; va < r.end; va += PAGE) w.operation(va, va + PAGE, () => { w.mm.migratePage(va); });
      break;
    }
    case "cow": {
      const r = pickRange(w, 4);
      const region = { start: w.region, end: w.region + w.o.pages * PAGE };
      let child = w.mm;
      w.operation(region.start, region.end, () => { child = w.mm.fork(); });
      for (let va = r.start; va < r.end; va += PAGE) w.operation(va, va + PAGE, () => w.cpuWrite(va));
      const pa = child.cpuAccess(r.start, true);
      if (pa !== null) w.memory.write32(pa, 0x7e00_0000);
      w.operation(0, child.pageTable.vaLimit, () => child.exit());
      break;
    }
    case "reclaim": {
      const r = pickRange(w, 8);
      w.operation(r.start, r.end, () => {
        w.mm.reclaim(r.start, r.len, { betweenPasses: () => { for (let va = r.start; va < r.end; va += PAGE) w.burst(va); } });
      });
      break;
    }
    case "madvise": {
      const r = pickRange(w, 4);
      c.forget(r.start, r.end);
      w.operation(r.start, r.end, () => w.mm.madviseDontneed(r.start, r.len));
      break;
    }
    case "exit": {
      const mm = w.mm;
      c.forget(0, mm.pageTable.vaLimit);
      w.operation(0, mm.pageTable.vaLimit, () => mm.exit());
      w.service();
      w.newProcess();
      break;
    }
    case "touch": {
      for (let i = 0; i < 3; i++) w.cpuWrite(w.randomPage());
      break;
    }
  }
  w.service();
}
