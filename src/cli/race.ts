/**
 * `npm start` (the main job): the RFC's race under every MMU-notifier policy, or one. Prints a
 * table per policy and a line naming the safe policies; `--json` prints only the JSON array.
 */
import { parseArgs } from "node:util";
import { NOTIFIER_POLICIES, NOTIFIER_POLICY_NAMES, notifierPolicy, type NotifierPolicyName } from "../host/driver/notifier-policy.js";
import { RANGE_POLICIES, checkRangePolicy } from "../host/driver/range-policy.js";
import { WORKLOAD_NAMES, type WorkloadName } from "../scenarios/host-workload.js";
import { traceFileName, writeTrace } from "./trace-file.js";
import { ATS_MODES, isSafe, runRace, summary, type AtsMode, type RaceOptions, type RaceSummary } from "../scenarios/race-scenario.js";
import { GATHER_ORDERS, type GatherOrder } from "../scenarios/race-world.js";

const HELP = `usage: npm start -- [options]          (or: amd-iommu-model race [options])

Runs the RFC's race: a process changes its page tables (munmap, mprotect, migration,
copy-on-write, reclaim, MADV_DONTNEED, exit) while devices keep doing DMA into it through
the IOMMU, under each MMU-notifier policy of the IOMMU driver, and counts the DMAs that used
a translation the host had already taken away.

options:
  --policy NAME       run one policy: ${NOTIFIER_POLICY_NAMES.join(", ")}
  --workload NAME     ${WORKLOAD_NAMES.join(", ")} (default mixed)
  --seed N            seed of the run (default 1)
  --devices N         DMA devices bound to the process, 1..8 (default 2)
  --ats MODE          on, off, mixed: which devices use ATS + PRI (default mixed: every second)
  --range NAME        driver range policy: ${RANGE_POLICIES.join(", ")} (default: the policy era's)
  --threshold N       page count of the threshold range policy (default 512)
  --operations N      host operations in the workload (default 24)
  --pages N           pages of the process's working region (default 32)
  --gather-order O    where munmap, MADV_DONTNEED and exit run tlb_finish_mmu (the CPU TLB
                      flush, then the frees): after-end (default: after invalidate_range_end,
                      Linux's order in unmap_region and zap_page_range) or before-end
  --trace FILE        write a Perfetto trace of the run (translations, walks, commands, page
                      requests); with several policies one file per policy: FILE.<policy>.json
  --json              print only a JSON array of {policy, staleAccesses, stalePermissionAccesses,
                      deviceFaults, pageRequests, commands, flushCycles, deviceStallCycles}
  -h, --help          this text

columns: stale = DMAs into a frame freed or handed to another owner after their translation
was made; stale-perm = DMA writes through a write permission the host had removed; faults =
DMAs refused by a translation; PPRs = PRI page requests; commands = IOMMU commands the driver
issued; flush cycles = host cycles in the policy's flushes; stall cycles = device cycles
waiting for walks, ATS round trips and page requests (1 cycle = 1 ns).`;

const COLUMNS: [keyof RaceSummary, string][] = [
  ["policy", "policy"], ["staleAccesses", "stale"], ["stalePermissionAccesses", "stale-perm"], ["deviceFaults", "faults"],
  ["pageRequests", "PPRs"], ["commands", "commands"], ["flushCycles", "flush cycles"], ["deviceStallCycles", "stall cycles"],
];

function table(rows: RaceSummary[]): string {
  const cells = rows.map((r) => COLUMNS.map(([k]) => String(r[k])));
  const widths = COLUMNS.map(([, h], i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (xs: string[]) => xs.map((x, i) => (i === 0 ? x.padEnd(widths[i]!) : x.padStart(widths[i]!))).join("  ");
  return [line(COLUMNS.map(([, h]) => h)), line(widths.map((w) => "-".repeat(w))), ...cells.map(line)].join("\n");
}

function int(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v)) throw new RangeError(`--${name} must be a non-negative integer, got ${v}`);
  return Number(v);
}

export async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      policy: { type: "string" }, workload: { type: "string" }, seed: { type: "string" }, devices: { type: "string" },
      ats: { type: "string" }, range: { type: "string" }, threshold: { type: "string" }, operations: { type: "string" },
      pages: { type: "string" }, "gather-order": { type: "string" }, json: { type: "boolean" }, trace: { type: "string" }, help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) { console.log(HELP); return 0; }
  const policies: NotifierPolicyName[] = values.policy !== undefined ? [notifierPolicy(values.policy).name] : [...NOTIFIER_POLICY_NAMES];
  if (values.workload !== undefined && !(WORKLOAD_NAMES as readonly string[]).includes(values.workload)) throw new RangeError(`--workload must be one of ${WORKLOAD_NAMES.join(", ")}, got ${values.workload}`);
  if (values.ats !== undefined && !(ATS_MODES as readonly string[]).includes(values.ats)) throw new RangeError(`--ats must be one of ${ATS_MODES.join(", ")}, got ${values.ats}`);
  const o: Omit<RaceOptions, "policy"> = {};
  if (values.workload !== undefined) o.workload = values.workload as WorkloadName;
  if (values.ats !== undefined) o.ats = values.ats as AtsMode;
  if (values.range !== undefined) o.rangePolicy = checkRangePolicy("--range", values.range);
  const order = values["gather-order"];
  if (order !== undefined && !(GATHER_ORDERS as readonly string[]).includes(order)) throw new RangeError(`--gather-order must be one of ${GATHER_ORDERS.join(", ")}, got ${order}`);
  if (order !== undefined) o.gatherOrder = order as GatherOrder;
  const nums = { seed: int("seed", values.seed), devices: int("devices", values.devices), threshold: int("threshold", values.threshold), operations: int("operations", values.operations), pages: int("pages", values.pages) };
  for (const [k, v] of Object.entries(nums)) if (v !== undefined) (o as Record<string, unknown>)[k] = v;
  const rows = policies.map((policy) => {
    const r = runRace({ ...o, policy, ...(values.trace !== undefined ? { trace: true } : {}) });
    if (values.trace !== undefined && r.trace !== undefined) writeTrace(traceFileName(values.trace, policies.length > 1 ? policy : null), r.trace);
    return summary(r);
  });
  if (values.json) { console.log(JSON.stringify(rows, null, 2)); return 0; }
  const gather = (o.gatherOrder ?? "after-end") === "after-end" ? "tlb_finish_mmu after invalidate_range_end (Linux)" : "tlb_finish_mmu before invalidate_range_end";
  console.log(`RFC race: workload ${o.workload ?? "mixed"}, seed ${o.seed ?? 1}, ${o.devices ?? 2} device(s), ATS ${o.ats ?? "mixed"}, range ${o.rangePolicy ?? "per era"}, ${gather}\n`);
  console.log(table(rows));
  const safe = rows.filter(isSafe).map((r) => r.policy);
  const unsafe = rows.filter((r) => !isSafe(r)).map((r) => r.policy);
  console.log(`\nsafe (no stale or stale-permission DMA): ${safe.length > 0 ? safe.join(", ") : "(no policy)"}` + (unsafe.length > 0 ? `; unsafe: ${unsafe.join(", ")}` : ""));
  if (policies.length === 1) {
    const p = NOTIFIER_POLICIES.find((x) => x.name === policies[0])!;
    console.log(`${p.name}: ${p.era}; flushes ${p.flushes}`);
  }
  return 0;
}
