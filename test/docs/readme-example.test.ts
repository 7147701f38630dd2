/**
 * The README example runs as written (imports mapped to the sources) and prints what its
 * comments say.
 */
import { expect, it } from "vitest";
import { readFileSync } from "node:fs";
import * as api from "../../src/index.js";

it("the README's usage example runs as written and prints what its comments claim", () => {
  const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");
  const block = readme.split("## Using the model")[1]!.split("```ts")[1]!.split("```")[0]!;
  const body = block.replace(/^import .*$/m, "");
  const printed: string[] = [];
  const consoleStub = { log: (...a: unknown[]) => printed.push(a.map(String).join(" ")) };
  const fn = new Function("PhysicalMemory", "AmdIommu", "builders", "spec", "console", body);
  fn(api.PhysicalMemory, api.AmdIommu, api.builders, api.spec, consoleStub);
  const claims = [...block.matchAll(/console\.log\(.*\);\s*\/\/ (.*)$/gm)].map((m) => m[1]!.trim());
  expect(printed).toEqual(claims);
});

it("the package root exports the host side (with the six notifier policies) and the race scenario", () => {
  expect(typeof api.host.Mm).toBe("function");
  expect(api.host.NOTIFIER_POLICY_NAMES).toEqual(["none", "start-end", "empty-table", "invalidate-range", "invalidate-range-fast-mode", "secondary-tlbs"]);
  expect(typeof api.scenarios.runRace).toBe("function");
});
