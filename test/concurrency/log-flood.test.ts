/**
 * Log floods across threads (docs/spec-readings.md cmd 2.1, 3.1): several functions flood the
 * event log with IO_PAGE_FAULTs and the PPR log with page requests from the IOMMU thread
 * while a host thread drains both logs through the mailbox and restarts them after each
 * overflow. Every request is either an entry the host read, whole and in order, or counted
 * as dropped while the overflow bit stopped the log; nothing is overwritten or torn.
 * Agents: log-agents.ts. IOMMU_FUZZ_LONG=1 soaks 10x longer.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startAgent } from "../../src/shared/agent-worker.js";
import { buildAgents, removeBuiltAgents, type Mutation } from "./agent-build.js";
import { CONTROL_WORDS, DEVICES, DOMAIN_BASE, FIRST_DEVICE, type LogData, type deviceAgent, type hostAgent } from "./log-agents.js";
import { LONG, sharedRig } from "./shared-setup.js";

const AGENTS = "test/concurrency/log-agents.ts";
type DeviceResult = ReturnType<typeof deviceAgent>;
type HostResult = ReturnType<typeof hostAgent>;

let agents: Record<string, string>;
beforeAll(() => { agents = buildAgents([AGENTS]); });

async function run(url: string, requestsPerDevice: number) {
  const rig = sharedRig({
    eventLogLen: 8, pprLogLen: 8,
    control: ["CmdBufEn", "EventLogEn", "EventIntEn", "PPRLogEn", "PprIntEn", "PPREn", "GTEn", "IommuEn"],
  });
  const empty = rig.pages.alloc(); // a v1 root with nothing present: every request faults
  for (let k = 0; k < DEVICES; k++) {
    rig.deviceTable.set(FIRST_DEVICE + k, { V: true, TV: true, Mode: 3, HostPageTableRootPtr: empty, IR: true, IW: true, DomainID: DOMAIN_BASE + k, PPR: true });
  }
  const data: LogData = { layout: rig.layout, control: new SharedArrayBuffer(4 * CONTROL_WORDS), requestsPerDevice, ppr: true, seed: 0x51 };
  const [h, dv] = await Promise.all([startAgent<HostResult>(url, "hostAgent", data).result, startAgent<DeviceResult>(url, "deviceAgent", data).result]);
  return { h, dv };
}

/** Requests a function made that the host did not see, summed over functions (seen: strictly increasing subsequences of 0..n-1). */
function missing(seen: number[][], n: number): number {
  return seen.reduce((sum, s) => sum + n - s.length, 0);
}

const totals = { requests: 0, entries: 0, dropped: 0, lostOrTorn: 0 };
afterAll(() => {
  removeBuiltAgents();
  // eslint-disable-next-line no-console
  console.log(`[log-flood] requests ${totals.requests}, entries read by the host ${totals.entries}, dropped under overflow ${totals.dropped}, lost or torn ${totals.lostOrTorn}`);
});

describe("event and PPR log floods from several functions, drained by a host thread", () => {
  const n = LONG ? 200_000 : 20_000;
  it("every fault and page request is an entry read whole and in order, or dropped while Overflow stopped the log", async () => {
    const { h, dv } = await run(agents[AGENTS]!, n);
    totals.requests += dv.faults + dv.pageRequests;
    totals.entries += h.events.consumed + h.pprs.consumed;
    totals.dropped += dv.eventLog.dropped + dv.pprLog.dropped;
    totals.lostOrTorn += h.malformed + h.outOfOrder + h.events.emptySlots + h.pprs.emptySlots;
    expect(dv.faults).toBe(n * DEVICES);
    expect(dv.faultEventsMissing).toBe(0);
    // nothing torn, nothing out of order, no slot read before its entry was complete
    expect(h.malformed).toBe(0);
    expect(h.outOfOrder).toBe(0);
    expect(h.events.emptySlots).toBe(0);
    expect(h.pprs.emptySlots).toBe(0);
    // event log: written = read by the host; written + dropped = faults; the drops are exactly the missing sequence numbers
    expect(h.events.consumed).toBe(dv.eventLog.written);
    expect(dv.eventLog.written + dv.eventLog.dropped).toBe(dv.faults);
    expect(missing(h.seenEvents, n)).toBe(dv.eventLog.dropped);
    // the flood really overflowed, and every drop is covered by an overflow the host saw and restarted
    expect(dv.eventLog.overflows).toBeGreaterThan(0);
    expect(h.overflowsSeen).toBeGreaterThan(0);
    expect(h.events.restarts).toBeGreaterThan(0);
    expect(h.events.consumed).toBeGreaterThan(256); // the ring wrapped many times
    // PPR log (when this IOMMU takes page requests): the same accounting
    expect(dv.pprEnabled).toBe(true);
    expect(dv.pageRequests).toBe(n * DEVICES);
    expect(dv.outcomes.invalid ?? 0).toBe(0);
    expect(h.pprs.consumed).toBe(dv.pprLog.written);
    expect(dv.pprLog.written + dv.pprLog.dropped).toBe(dv.pageRequests);
    expect(missing(h.seenPprs, n)).toBe(dv.pprLog.dropped);
    expect(dv.pprLog.overflows).toBeGreaterThan(0);
    expect(h.pprs.restarts).toBeGreaterThan(0);
  }, LONG ? 600_000 : 60_000);
});

describe("mutation check: the log checker catches a log that overwrites when full", () => {
  it("a ring that ignores Head (writes over unread entries) is caught", async () => {
    const m: Mutation[] = [{ file: "src/iommu/log-ring.ts", find: "if (next === head) {", replace: "if (false) {" }];
    const { h, dv } = await run(buildAgents([AGENTS], m)[AGENTS]!, 5_000);
    const lost = (dv.eventLog.written - h.events.consumed) + (dv.pprLog.written - h.pprs.consumed) + h.outOfOrder + h.malformed;
    // eslint-disable-next-line no-console
    console.log(`[mutant] overwriting log: written-not-read ${lost}`);
    expect(lost).toBeGreaterThan(0);
  }, 60_000);
});
