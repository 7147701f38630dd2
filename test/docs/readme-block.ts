/**
 * Runs the first ```ts block after a README heading as written (its import line mapped to the
 * sources) and returns what it printed beside the `// ...` claims on its console.log lines.
 */
import { readFileSync } from "node:fs";
import * as api from "../../src/index.js";

export function runReadmeBlock(heading: string): { printed: string[]; claims: string[] } {
  const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");
  const block = readme.split(heading)[1]!.split("```ts")[1]!.split("```")[0]!;
  const body = block.replace(/^import .*$/m, "");
  const printed: string[] = [];
  const consoleStub = { log: (...a: unknown[]) => printed.push(a.map(String).join(" ")) };
  const fn = new Function("PhysicalMemory", "AmdIommu", "builders", "spec", "console", body);
  fn(api.PhysicalMemory, api.AmdIommu, api.builders, api.spec, consoleStub);
  const claims = [...block.matchAll(/console\.log\(.*\);\s*\/\/ (.*)$/gm)].map((m) => m[1]!.trim());
  return { printed, claims };
}
