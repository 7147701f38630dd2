/**
 * V8's inlining budget (src/embedding/v8-inlining.ts): importing the package raises it unless
 * AMD_IOMMU_MODEL_V8_INLINING=default, the command line and the benchmark runner import it
 * before the model, and the runner's environment (text and JSON) says which V8 flags a run had,
 * so that no figure measured with them passes for one without. (That V8 honours the flags, and
 * the installed package sets them on import, is checked in test/embedding/installed-package.test.ts.)
 */
import { describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { INLINING_ENV, INLINING_FLAGS, appliedV8Flags, inliningFromEnvironment, raiseInliningBudget } from "../../src/embedding/v8-inlining.js";
import { environment } from "../../bench/run.js";
import * as pkg from "../../src/index.js";

describe("V8 inlining budget", () => {
  it("importing the model raises V8's inlining limits to 3,000 / 16,000 / 32,000 bytes of bytecode (one function, cumulative, absolute) (the environment here does not say otherwise), and the runner records them", () => {
    expect(process.env[INLINING_ENV]).toBeUndefined();
    expect(INLINING_FLAGS).toEqual(["--max-inlined-bytecode-size=3000", "--max-inlined-bytecode-size-cumulative=16000", "--max-inlined-bytecode-size-absolute=32000"]);
    expect(appliedV8Flags()).toEqual(INLINING_FLAGS);
    expect(environment(true, [0, 0, 0], [0, 0, 0]).v8Flags).toEqual([...INLINING_FLAGS]);
    expect(pkg.raiseInliningBudget).toBe(raiseInliningBudget);
    expect(pkg.INLINING_ENV).toBe("AMD_IOMMU_MODEL_V8_INLINING");
  });

  it("AMD_IOMMU_MODEL_V8_INLINING: unset, empty or \"raised\" raises the limits; \"default\" sets no flag; anything else is refused naming the variable", () => {
    expect(inliningFromEnvironment({})).toEqual(INLINING_FLAGS);
    expect(inliningFromEnvironment({ [INLINING_ENV]: "" })).toEqual(INLINING_FLAGS);
    expect(inliningFromEnvironment({ [INLINING_ENV]: "raised" })).toEqual(INLINING_FLAGS);
    expect(inliningFromEnvironment({ [INLINING_ENV]: "default" })).toEqual([]);
    expect(() => inliningFromEnvironment({ [INLINING_ENV]: "off" })).toThrow(/AMD_IOMMU_MODEL_V8_INLINING must be "raised" .* or "default" .*got "off"/);
  });

  it("the command line and the benchmark runner import the module before the model", () => {
    const cli = readFileSync(new URL("../../src/cli.ts", import.meta.url), "utf8");
    const imp = cli.indexOf('\nimport "./embedding/v8-inlining.js";');
    expect(imp).toBeGreaterThan(0);
    expect(imp).toBeLessThan(cli.indexOf("await import(`./cli/"));
    const run = readFileSync(new URL("../../bench/run.ts", import.meta.url), "utf8");
    expect(run).toMatch(/\nimport \{ appliedV8Flags \} from "\.\.\/src\/embedding\/v8-inlining\.js";/);
  });
});
