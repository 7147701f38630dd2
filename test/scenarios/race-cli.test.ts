import { afterEach, describe, expect, it, vi } from "vitest";
import { main } from "../../src/cli/race.js";
import { NOTIFIER_POLICY_NAMES } from "../../src/host/driver/notifier-policy.js";
import { runRace, summary } from "../../src/scenarios/race-scenario.js";

const KEYS = ["policy", "staleAccesses", "stalePermissionAccesses", "deviceFaults", "pageRequests", "commands", "flushCycles", "deviceStallCycles"];

function capture(): { out: () => string; restore: () => void } {
  const lines: string[] = [];
  const spy = vi.spyOn(console, "log").mockImplementation((...a: unknown[]) => { lines.push(a.join(" ")); });
  return { out: () => lines.join("\n"), restore: () => spy.mockRestore() };
}

describe("npm start (src/cli/race.ts)", () => {
  let cap: ReturnType<typeof capture> | null = null;
  afterEach(() => { cap?.restore(); cap = null; });

  it("--json prints only a JSON array with exactly the eight keys, one object per policy, equal to runRace", async () => {
    cap = capture();
    expect(await main(["--json", "--workload", "munmap", "--operations", "6"])).toBe(0);
    const rows = JSON.parse(cap.out()) as Record<string, unknown>[];
    expect(rows.map((r) => r.policy)).toEqual([...NOTIFIER_POLICY_NAMES]);
    for (const r of rows) expect(Object.keys(r)).toEqual(KEYS);
    expect(rows[1]).toEqual(summary(runRace({ policy: "start-end", workload: "munmap", operations: 6 })));
  });

  it("prints a row per policy and one line naming the safe policies", async () => {
    cap = capture();
    await main(["--workload", "munmap", "--operations", "8"]);
    const text = cap.out();
    for (const p of NOTIFIER_POLICY_NAMES) expect(text).toMatch(new RegExp(`^${p} `, "m"));
    const safe = text.split("\n").filter((l) => l.startsWith("safe"));
    expect(safe).toHaveLength(1);
    // munmap in Linux's order: start-end's end flush comes before tlb_finish_mmu frees
    expect(safe[0]).toMatch(/safe \(no stale or stale-permission DMA\): start-end, empty-table, invalidate-range, secondary-tlbs; unsafe: none, invalidate-range-fast-mode/);
  });

  it("--policy runs a single policy with the chosen seed, devices, ATS mode and range policy", async () => {
    cap = capture();
    await main(["--json", "--policy", "secondary-tlbs", "--seed", "7", "--devices", "3", "--ats", "on", "--range", "threshold", "--threshold", "2", "--operations", "6"]);
    const rows = JSON.parse(cap.out()) as Record<string, unknown>[];
    expect(rows).toEqual([summary(runRace({ policy: "secondary-tlbs", seed: 7, devices: 3, ats: "on", rangePolicy: "threshold", threshold: 2, operations: 6 }))]);
  });

  it("--gather-order picks the order of tlb_finish_mmu and invalidate_range_end; the default is Linux's (after-end) and the header says so", async () => {
    cap = capture();
    await main(["--json", "--policy", "start-end", "--workload", "munmap", "--operations", "6", "--gather-order", "before-end"]);
    expect(JSON.parse(cap.out())).toEqual([summary(runRace({ policy: "start-end", workload: "munmap", operations: 6, gatherOrder: "before-end" }))]);
    cap.restore();
    cap = capture();
    await main(["--policy", "start-end", "--workload", "munmap", "--operations", "6"]);
    expect(cap.out()).toContain("tlb_finish_mmu after invalidate_range_end (Linux)");
    expect(runRace({ policy: "start-end", workload: "munmap", operations: 6 }).details.gatherOrder).toBe("after-end");
    await expect(main(["--gather-order", "sideways"])).rejects.toThrow(/--gather-order/);
  });

  it("--help lists the options; bad values throw naming the option", async () => {
    cap = capture();
    expect(await main(["--help"])).toBe(0);
    for (const o of ["--policy", "--workload", "--seed", "--devices", "--ats", "--range", "--threshold", "--gather-order", "--json"]) expect(cap.out()).toContain(o);
    await expect(main(["--policy", "bogus"])).rejects.toThrow(/policy/);
    await expect(main(["--ats", "maybe"])).rejects.toThrow(/--ats/);
    await expect(main(["--seed", "-3"])).rejects.toThrow(/seed/);
    await expect(main(["--range", "wide"])).rejects.toThrow(/--range/);
  });
});
