/**
 * `--trace FILE` on the race and the demo writes traces that keep the Trace Event Format rules
 * Perfetto's importer checks (test/timing/trace-format.ts).
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it, vi } from "vitest";
import { checkTrace } from "../timing/trace-format.js";
import { main as race } from "../../src/cli/race.js";
import { main as demo } from "../../src/cli/demo.js";
import { traceFileName } from "../../src/cli/trace-file.js";

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

  it("names per-part files before the extension", () => {
    expect(traceFileName("out/t.json", "none")).toBe("out/t.none.json");
    expect(traceFileName("t", "none")).toBe("t.none");
    expect(traceFileName("a.b/t", null)).toBe("a.b/t");
  });
});
