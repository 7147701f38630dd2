/**
 * scripts/mutations.json (the list `npm run mutants` applies) still fits the source: every
 * mutation's `find` text occurs exactly once in its file, changes it, and names test files
 * that exist. (The mutation run itself is not part of npm test: minutes, not seconds.)
 */
import { describe, expect, it } from "vitest";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
interface Mutation { name: string; file: string; find: string; replace: string; removes: string; tests: string[] }
const { mutations } = JSON.parse(readFileSync(join(root, "scripts/mutations.json"), "utf8")) as { mutations: Mutation[] };

const testFiles = (dir: string): string[] => readdirSync(join(root, dir), { recursive: true, encoding: "utf8" }).map((f) => `${dir}/${f}`);
const allTests = testFiles("test");

describe("the mutation list of npm run mutants", () => {
  it("has unique names and at least the fast-path and issue-17 mutations", () => {
    const names = mutations.map((m) => m.name);
    expect(new Set(names).size).toBe(names.length);
    expect(names.filter((n) => n.startsWith("fastHit-") || n.startsWith("fastWalk-")).length).toBeGreaterThanOrEqual(8);
    for (let item = 1; item <= 7; item++) expect(names.some((n) => n.startsWith(`i17-${item}-`)), `issue 17 item ${item}`).toBe(true);
  });

  for (const m of mutations) {
    it(`${m.name}: its pattern occurs exactly once in ${m.file} and the replacement changes it`, () => {
      const text = readFileSync(join(root, m.file), "utf8");
      const first = text.indexOf(m.find);
      expect(first, "pattern not found: update scripts/mutations.json").toBeGreaterThanOrEqual(0);
      expect(text.indexOf(m.find, first + 1), "pattern found more than once").toBe(-1);
      expect(m.replace).not.toBe(m.find);
      expect(m.removes.length).toBeGreaterThan(0);
      for (const t of m.tests) expect(allTests.some((f) => f.includes(t)) || existsSync(join(root, t)), `test filter ${t}`).toBe(true);
    });
  }
});
