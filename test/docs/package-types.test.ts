/**
 * The package's types as a user's compiler sees them: declarations built with the
 * repository's tsconfig (stripInternal), then a consumer file compiled against them under
 * strict TypeScript with `types: []` (no @types/node) and lib ES2023 only, skipLibCheck off.
 *
 *   - a consumer using the public surface compiles with no error;
 *   - AmdIommu's internals (the blocks it wires, the calls the command processor makes into
 *     it: invalidatePages, commandEvent, prefetch, ...) are not in the exported type.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const REPO = resolve(import.meta.dirname, "../..");
const TSC = join(REPO, "node_modules/.bin/tsc");
let tmp = "";
let consumer = "";
let buildOut = "";

beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), "amd-iommu-types-"));
  const pkg = join(tmp, "pkg");
  mkdirSync(pkg);
  // declarations only, with the repository's own compiler options (stripInternal among them)
  const b = spawnSync(TSC, ["-p", join(REPO, "tsconfig.json"), "--emitDeclarationOnly", "--declarationMap", "false", "--sourceMap", "false", "--outDir", join(pkg, "dist")],
    { encoding: "utf8", timeout: 240_000 });
  buildOut = b.stdout + b.stderr;
  writeFileSync(join(pkg, "package.json"), readFileSync(join(REPO, "package.json")));
  symlinkSync(join(REPO, "spec-tables"), join(pkg, "spec-tables"));
  symlinkSync(join(REPO, "node_modules"), join(pkg, "node_modules")); // the runtime dependencies' own types (TypeBox)
  consumer = join(tmp, "consumer");
  mkdirSync(join(consumer, "node_modules"), { recursive: true });
  symlinkSync(pkg, join(consumer, "node_modules", "amd-iommu-v2-model"));
  writeFileSync(join(consumer, "package.json"), JSON.stringify({ name: "consumer", private: true, type: "module" }));
}, 300_000);

afterAll(() => { if (tmp) rmSync(tmp, { recursive: true, force: true }); });

function compile(source: string): string[] {
  writeFileSync(join(consumer, "consumer.ts"), source);
  writeFileSync(join(consumer, "tsconfig.json"), JSON.stringify({
    compilerOptions: { target: "ES2022", module: "NodeNext", moduleResolution: "NodeNext", lib: ["ES2023"], types: [], strict: true, noEmit: true, skipLibCheck: false },
    files: ["consumer.ts"],
  }));
  const r = spawnSync(TSC, ["-p", join(consumer, "tsconfig.json")], { encoding: "utf8", timeout: 120_000 });
  return (r.stdout + r.stderr).split("\n").filter((l) => /error TS\d+/.test(l));
}

const GOOD = `
import { AmdIommu, PhysicalMemory, TranslationResult, builders, spec, host, scenarios, shared, type AmdIommuOptions, type TraceDocument } from "amd-iommu-v2-model";
const memory = new PhysicalMemory({ bytes: 1 << 24 });
const options: AmdIommuOptions = { memory, iotlb: { entries: 64 } };
const io = new AmdIommu(options);
io.mmioWrite64(spec.MMIO_CONTROL, 1n);
const r: TranslationResult = io.translate({ deviceId: 0x100, address: 0x1000n, pasid: 1, write: true });
const n: number = r.spa + r.pageSize + r.cycles;
const tb = new builders.IommuTestbench();
const lm = new builders.LongModeTable(tb.memory, tb.pages, 4);
lm.map(0x7f00_0000_0000n, 0x80_0000, { writable: true });
const g = new builders.Gcr3Table(tb.memory, tb.pages, 0);
g.set(1, lm.root);
tb.deviceTable.set(0x200, { V: true, TV: true, GV: true, GLX: 0, GCR3TableRootPtr: g.root, DomainID: 2 });
tb.sync(spec.buildInvalidateIommuAll());
io.startTrace();
const doc: TraceDocument = io.stopTrace();
const policies: readonly string[] = host.NOTIFIER_POLICY_NAMES;
const race = scenarios.runRace({ policy: "none", operations: 1 });
const agent = typeof shared === "object";
export const out = [n, doc.traceEvents.length, policies.length, race.staleAccesses, agent, io.stats().cycle, io.snapshot(), io.now, io.notifiers];
`;

describe("package types (no @types/node, strict)", () => {
  it("a consumer of the public surface compiles with types: [] and lib ES2023", () => {
    expect(buildOut.split("\n").filter((l) => /error TS/.test(l))).toEqual([]);
    expect(compile(GOOD)).toEqual([]);
  }, 180_000);

  it("AmdIommu's exported type hides its internals (invalidatePages, commandEvent, prefetch, the wired blocks)", () => {
    const hidden = ["invalidatePages(1, false, 0, 0n, 4096n, false, false)", "commandEvent()", "prefetch(1, false, 0, 0n, 1, false)", "invalidateAll()",
      "invalidateDevtabEntry(1)", "deviceTlbInvalidation(1, false, 0, 0n, 4096n, false, 0)", "regs", "translator", "timingModel", "commands", "iotlb", "deviceTable"];
    const src = `import { AmdIommu, PhysicalMemory } from "amd-iommu-v2-model";\nconst io = new AmdIommu({ memory: new PhysicalMemory({ bytes: 1 << 20 }) });\n` +
      hidden.map((h, i) => `export const x${i} = io.${h};`).join("\n") + "\n";
    const errors = compile(src);
    expect(errors).toHaveLength(hidden.length);
    for (const e of errors) expect(e).toMatch(/TS(2339|2551): Property '\w+' does not exist on type 'AmdIommu'/);
  }, 180_000);
});
