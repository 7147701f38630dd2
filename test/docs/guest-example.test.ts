/**
 * The README's "A guest (PASID) test, step by step" runs as written (imports mapped to the
 * sources) and prints what its comments say.
 */
import { expect, it } from "vitest";
import { readFileSync } from "node:fs";
import * as api from "../../src/index.js";

it("the README's guest (PASID) walkthrough runs as written and prints what its comments claim", () => {
  const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");
  const block = readme.split("### A guest (PASID) test, step by step")[1]!.split("```ts")[1]!.split("```")[0]!;
  const body = block.replace(/^import .*$/m, "");
  const printed: string[] = [];
  const consoleStub = { log: (...a: unknown[]) => printed.push(a.map(String).join(" ")) };
  const fn = new Function("PhysicalMemory", "AmdIommu", "builders", "spec", "console", body);
  fn(api.PhysicalMemory, api.AmdIommu, api.builders, api.spec, consoleStub);
  const claims = [...block.matchAll(/console\.log\(.*\);\s*\/\/ (.*)$/gm)].map((m) => m[1]!.trim());
  expect(claims.length).toBe(6);
  expect(printed).toEqual(claims);
});
