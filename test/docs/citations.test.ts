/**
 * Every source the code and the README cite is inside the repository and the package
 * (issue 18): docs/calibration.md (published figures, by row id), docs/spec-readings.md
 * (the digest facts, by "reg N.M" / "cmd N.M") and docs/ARCHITECTURE.md (by section).
 */
import { describe, expect, it } from "vitest";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";

const root = new URL("../..", import.meta.url).pathname;
const read = (p: string) => readFileSync(join(root, p), "utf8");

function files(dir: string, ext: RegExp): string[] {
  const out: string[] = [];
  for (const e of readdirSync(join(root, dir))) {
    const p = join(dir, e);
    if (statSync(join(root, p)).isDirectory()) out.push(...files(p, ext));
    else if (ext.test(e)) out.push(p);
  }
  return out;
}
const sources = [...files("src", /\.ts$/), ...files("spec-tables", /\.json$/), ...files("bench", /\.ts$/), ...files("test", /\.ts$/), "README.md"];
const shipped = [...files("src", /\.ts$/), ...files("spec-tables", /\.json$/), "README.md"];

describe("citations resolve inside the repository", () => {
  it("no citation points outside the repository (../shared/..., the digests' or the anchors' own file names)", () => {
    const outside = /\.\.\/shared\/|anchors\.md|registers-dte-pagetables\.md|commands-events-ppr\.md|interrupts-counters-ppr\.md/;
    const bad = sources.filter((f) => f !== "test/docs/citations.test.ts" && outside.test(read(f)));
    expect(bad).toEqual([]);
  });

  it("every .md path the shipped code, the tables and the README name exists", () => {
    const missing: string[] = [];
    for (const f of shipped) {
      for (const m of read(f).matchAll(/\b((?:docs\/)?[A-Za-z0-9_-]+\.md)\b/g)) {
        if (!existsSync(join(root, m[1]!))) missing.push(`${f}: ${m[1]}`);
      }
    }
    expect(missing).toEqual([]);
  });

  it("every 'docs/spec-readings.md reg|cmd|irq N.M' has its section in the file", () => {
    const doc = read("docs/spec-readings.md");
    const headings = new Set([...doc.matchAll(/^#{2,3} ((?:reg|cmd|irq) [0-9]+(?:\.[0-9a-z]+)?)\.?(?: |$)/gm)].map((m) => m[1]!));
    const cited = new Set<string>();
    for (const f of sources) for (const m of read(f).matchAll(/docs\/spec-readings\.md,? ((?:reg|cmd|irq) [0-9]+(?:\.[0-9a-z]+)?)/g)) cited.add(m[1]!.replace(/\.$/, ""));
    expect(cited.size).toBeGreaterThan(30);
    expect([...cited].filter((c) => !headings.has(c))).toEqual([]);
  });

  it("every 'docs/calibration.md <row>' names a row or section of the file", () => {
    const doc = read("docs/calibration.md");
    const cited = new Set<string>();
    for (const f of sources) for (const m of read(f).matchAll(/docs\/calibration\.md,? ((?:section )?[A-ES]?[0-9]+)/g)) cited.add(m[1]!);
    expect(cited.size).toBeGreaterThan(10);
    const has = (c: string) => c.startsWith("section ") ? new RegExp(`^## ${c.slice(8)}\\.`, "m").test(doc) : new RegExp(`\\| ${c} \\||Table ${c}\\b`).test(doc);
    expect([...cited].filter((c) => !has(c))).toEqual([]);
  });

  it("every 'docs/ARCHITECTURE.md section N' exists", () => {
    const doc = read("docs/ARCHITECTURE.md");
    const cited = new Set<string>();
    for (const f of sources) for (const m of read(f).matchAll(/docs\/ARCHITECTURE\.md,? sections? ([0-9]+)/g)) cited.add(m[1]!);
    expect(cited.size).toBeGreaterThan(3);
    expect([...cited].filter((n) => !new RegExp(`^## ${n}\\. `, "m").test(doc))).toEqual([]);
  });

  it("the docs are shipped in the package", () => {
    const pkg = JSON.parse(read("package.json")) as { files: string[] };
    expect(pkg.files).toContain("docs");
    for (const d of ["docs/calibration.md", "docs/spec-readings.md", "docs/ARCHITECTURE.md"]) expect(existsSync(join(root, d)), d).toBe(true);
  });
});
