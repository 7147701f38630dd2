/**
 * `--trace FILE` on the race, the demo and the experiments writes traces that keep the Trace
 * Event Format rules Perfetto's importer checks (test/timing/trace-format.ts).
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it, vi } from "vitest";
import { checkTrace } from "../timing/trace-format.js";
import { main as race } from "../../src/cli/race.js";
import { main as demo } from "../../src/cli/demo.js";
import { main as experiment } from "../../src/cli/experiment.js";
import { mergeTraces, traceFileName } from "../../src/cli/trace-file.js";
import type { TraceDocument } from "../../src/iommu/timing/trace-recorder.js";

const dir = mkdtempSync(join(tmpdir(), "iommu-trace-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function quiet<T>(f: () => Promise<T>): Promise<T> {
  const log = vi.spyOn(console, "log").mockImplementation(() => {});
  const err = vi.spyOn(process.stderr, "write").mockImplementation(() => true);
  return f().finally(() => { log.mockRestore(); err.mockRestore(); });
}

describe("--trace FILE", () => {
  it("race: one policy's trace keeps every rule and shows its devices, walks and invalidation commands", async () => {
    const file = join(dir, "race.json");
    expect(await quiet(() => race(["--policy", "start-end", "--trace", file, "--operations", "12"]))).toBe(0);
    const text = readFileSync(file, "utf8");
    const c = checkTrace(text);
    expect(c.errors).toEqual([]);
    const doc = JSON.parse(text) as { traceEvents: { cat?: string; ph: string }[] };
    const cats = new Set(doc.traceEvents.map((e) => e.cat));
    for (const k of ["translation", "command"]) expect(cats.has(k)).toBe(true);
    expect(doc.traceEvents.some((e) => e.ph === "f")).toBe(true); // an invalidation ended a translation's flow
  }, 60_000);

  it("race: several policies write one file per policy", async () => {
    const file = join(dir, "all.json");
    expect(await quiet(() => race(["--trace", file, "--operations", "6"]))).toBe(0);
    for (const p of ["none", "secondary-tlbs"]) expect(checkTrace(readFileSync(traceFileName(file, p), "utf8")).errors).toEqual([]);
  }, 60_000);

  it("demo: the trace keeps every rule", async () => {
    const file = join(dir, "demo.json");
    expect(await quiet(() => demo(["--trace", file]))).toBe(0);
    const c = checkTrace(readFileSync(file, "utf8"));
    expect(c.errors).toEqual([]);
    expect(c.counts.complete).toBeGreaterThan(5);
  });

  it("experiment: every IOMMU the experiment builds is in one document, a process pair per part, and it keeps every rule", async () => {
    const file = join(dir, "inv.json");
    await quiet(() => experiment(["invalidation-cost", "--quick", "--out", dir, "--trace", file]));
    const text = readFileSync(file, "utf8");
    expect(checkTrace(text).errors).toEqual([]);
    const doc = JSON.parse(text) as { traceEvents: { cat?: string; ph: string; name: string; args?: { name?: string } }[]; otherData: { parts: string[] } };
    expect(doc.otherData.parts[0]).toBe("invalidations");
    expect(doc.otherData.parts.slice(1)).toEqual(["host flush: one page", "host flush: one page + GPU ATC, Linux 4.0 queue", "host flush: whole PASID + GPU ATC, Linux 4.0 queue"]);
    const names = doc.traceEvents.filter((e) => e.name === "process_name").map((e) => e.args?.name);
    expect(names.slice(0, 2)).toEqual(["IOMMU (invalidations)", "devices (invalidations)"]);
    expect(names.length).toBe(2 * doc.otherData.parts.length);
    expect(doc.traceEvents.some((e) => e.cat === "command")).toBe(true);
    expect(doc.traceEvents.some((e) => e.ph === "f")).toBe(true); // an invalidation ended a translation's flow
  }, 60_000);

  it("experiment with several IOMMUs: one process pair per part, named after it", async () => {
    const file = join(dir, "refs.json");
    await quiet(() => experiment(["refs-per-walk", "--quick", "--out", dir, "--trace", file]));
    const text = readFileSync(file, "utf8");
    expect(checkTrace(text).errors).toEqual([]);
    const doc = JSON.parse(text) as { traceEvents: { pid: number; ph: string; name: string; args?: { name?: string } }[] };
    const names = doc.traceEvents.filter((e) => e.name === "process_name").map((e) => e.args?.name);
    expect(names).toEqual(["4-level, no caches", "5-level, no caches", "nested 4x4, no caches", "streaming, default caches"]
      .flatMap((p) => [`IOMMU (${p})`, `devices (${p})`]));
    expect(new Set(doc.traceEvents.filter((e) => e.ph === "X").map((e) => e.pid)).size).toBeGreaterThanOrEqual(4);
  }, 60_000);

  it("merging two traces keeps their flows apart (ids moved past the earlier part's) and their tracks apart (pids)", async () => {
    const file = join(dir, "inv2.json");
    await quiet(() => experiment(["invalidation-cost", "--quick", "--out", dir, "--trace", file]));
    const one = JSON.parse(readFileSync(file, "utf8")) as TraceDocument;
    const single = checkTrace(JSON.stringify(one));
    expect(single.counts.flowsV1 + single.counts.flowsV2).toBeGreaterThan(0);
    const merged = checkTrace(JSON.stringify(mergeTraces([{ label: "a", doc: one }, { label: "b", doc: one }])));
    expect(merged.errors).toEqual([]);
    expect(merged.counts.flowsV1).toBe(2 * single.counts.flowsV1);
    expect(merged.counts.flowsV2).toBe(2 * single.counts.flowsV2);
    expect(merged.counts.tracks).toBe(2 * single.counts.tracks);
  }, 60_000);

  it("names per-part files before the extension", () => {
    expect(traceFileName("out/t.json", "none")).toBe("out/t.none.json");
    expect(traceFileName("t", "none")).toBe("t.none");
    expect(traceFileName("a.b/t", null)).toBe("a.b/t");
  });
});
