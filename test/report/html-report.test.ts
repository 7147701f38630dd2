/**
 * `npm start -- report` writes one self-contained page that a real browser (headless Debian
 * chromium) loads without a console error, with every chart's text inside its picture.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it, vi } from "vitest";
import { benchSection, buildReport, guestWalk } from "../../src/report/html-report.js";
import { main as report } from "../../src/cli/report.js";
import { CHROMIUM, CHROMIUM_MISSING, loadPage } from "./chromium.js";

const dir = mkdtempSync(join(tmpdir(), "iommu-report-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const BENCH = { environment: { node: "v20", cpuModel: "test cpu" }, results: [
  { name: "translate/hit", group: "translate", hostNsPerOp: 17.1, baselineNsPerOp: 3.2, ratio: 5.3, modelledCycles: 5 },
  { name: "translate/miss-4level-pde-timed", group: "translate", hostNsPerOp: 40.2, baselineNsPerOp: 9.9, ratio: 4.1, modelledCycles: null },
] };

let cached: string | null = null;
const page = () => cached ??= buildReport({ quick: true, bench: { file: "bench.json", data: BENCH }, version: "test" });

describe("HTML report", () => {
  it("is one self-contained file: race table, every experiment's checks and charts, the benchmark table, the walk", () => {
    const html = page();
    expect(html).toMatch(/^<!doctype html>/);
    expect(html).not.toMatch(/<script|\ssrc=|<link\b|@import|url\(/i); // no script, no external resource
    for (const href of html.matchAll(/href="([^"]*)"/g)) expect(href[1]).toMatch(/^#/);
    for (const id of ["race", "calibration", "bench", "walk"]) expect(html).toContain(`id="${id}"`);
    for (const p of ["none", "start-end", "secondary-tlbs"]) expect(html).toContain(`<td>${p}</td>`);
    expect(html).toContain("translate/miss-4level-pde-timed");
    expect((html.match(/<svg /g) ?? []).length).toBeGreaterThan(8);
  }, 120_000);

  it("the walk figure shows what the walker read and the A/D bits it set (A in every level, D in the PTE)", () => {
    const w = guestWalk();
    expect(w.levels.map((l) => l.name)).toEqual(["PML4E", "PDPTE", "PDE", "PTE"]);
    for (const l of w.levels) {
      expect(l.read & 0x20n).toBe(0n); // built fresh: A clear when read
      expect(l.after & 0x20n).toBe(0x20n); // set by the walk
    }
    expect(w.levels[3]!.after & 0x40n).toBe(0x40n);
    expect(w.levels[2]!.after & 0x40n).toBe(0n);
    const html = page();
    expect(html).toContain("bits set by the walk");
    expect(html).toMatch(/<td>PTE<\/td><td>0x[0-9a-f]+<\/td><td>0x[0-9a-f]+<\/td><td>0x[0-9a-f]+<\/td><td>A, D<\/td>/);
  }, 120_000);

  it("a benchmark file that is not a result is named, not thrown", () => {
    expect(benchSection({ file: "x.json", data: { nope: 1 } })).toContain("x.json: not a benchmark result");
    expect(benchSection({ file: "y.json", data: [1, 2] })).toContain("y.json: not a benchmark result");
    expect(benchSection(undefined)).toContain("No benchmark result given");
  });

  it("npm start -- report --out FILE --bench FILE --quick writes the page", async () => {
    const out = join(dir, "r.html"), bench = join(dir, "b.json");
    writeFileSync(bench, JSON.stringify(BENCH));
    const log = vi.spyOn(console, "log").mockImplementation(() => {});
    try { expect(await report(["--out", out, "--bench", bench, "--quick"])).toBe(0); } finally { log.mockRestore(); }
    expect(readFileSync(out, "utf8")).toContain("translate/miss-4level-pde-timed");
    const err = vi.spyOn(console, "error").mockImplementation(() => {});
    try { expect(await report(["--bench", join(dir, "missing.json")])).toBe(2); } finally { err.mockRestore(); }
  }, 120_000);

  it.skipIf(CHROMIUM === null)(`loads in headless chromium with no console error and every chart text inside its picture${CHROMIUM === null ? ` -- SKIPPED: ${CHROMIUM_MISSING}` : ""}`, () => {
    const measure = `<script>
      var bad = [], n = 0;
      document.querySelectorAll("svg text").forEach(function (t) {
        n++;
        var s = t.ownerSVGElement.getBoundingClientRect(), b = t.getBoundingClientRect();
        if (b.left < s.left - 0.5 || b.top < s.top - 0.5 || b.right > s.right + 0.5 || b.bottom > s.bottom + 0.5) bad.push(t.textContent);
      });
      document.body.setAttribute("data-texts", String(n));
      document.body.setAttribute("data-outside", JSON.stringify(bad));
    </script>`;
    const html = page();
    // the page itself: nothing logged at all
    const plain = loadPage(html);
    expect(plain.probeErrors).toEqual([]);
    expect(plain.consoleLines).toEqual([]);
    expect(plain.dom).toContain("4. One guest (PASID) translation, level by level");
    // the same page with a measuring script appended
    const run = loadPage(html.replace("</body>", `${measure}</body>`));
    expect(run.probeErrors).toEqual([]);
    expect(Number(/data-texts="(\d+)"/.exec(run.dom)![1])).toBeGreaterThan(150);
    expect(/data-outside="([^"]*)"/.exec(run.dom)![1]).toBe("[]");
  }, 180_000);

  it.skipIf(CHROMIUM === null)(`the browser check can fail: a console error and a missing image are caught${CHROMIUM === null ? ` -- SKIPPED: ${CHROMIUM_MISSING}` : ""}`, () => {
    const run = loadPage(`<!doctype html><html><head><title>x</title></head><body><img src="missing.png"><script>console.error("boom")</script></body></html>`);
    expect(run.probeErrors.join("\n")).toMatch(/console.error: boom/);
    expect(run.probeErrors.join("\n")).toMatch(/missing\.png/);
    expect(run.consoleLines.length).toBeGreaterThan(0);
  }, 120_000);
});
