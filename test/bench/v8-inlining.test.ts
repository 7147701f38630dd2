/**
 * V8's inlining budget (src/embedding/v8-inlining.ts): the command line raises it at start, the
 * benchmark runner with --raise-inlining-budget, and the runner's environment (text and JSON)
 * says which V8 flags a run had, so that no figure measured with them passes for one without.
 */
import { describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { INLINING_FLAGS, appliedV8Flags, raiseInliningBudget } from "../../src/embedding/v8-inlining.js";
import { environment } from "../../bench/run.js";
import * as pkg from "../../src/index.js";

describe("V8 inlining budget", () => {
  it("the runner's environment records no V8 flag by default, and the two raiseInliningBudget() sets after it", () => {
    // importing the model (and the runner) set none; the package exports the same function for embedders
    expect(appliedV8Flags()).toEqual([]);
    expect(pkg.raiseInliningBudget).toBe(raiseInliningBudget);
    expect(environment(true, [0, 0, 0], [0, 0, 0]).v8Flags).toEqual([]);
    expect(raiseInliningBudget()).toEqual(["--max-inlined-bytecode-size=1000", "--max-inlined-bytecode-size-cumulative=3000"]);
    expect(appliedV8Flags()).toEqual(INLINING_FLAGS);
    expect(environment(true, [0, 0, 0], [0, 0, 0]).v8Flags).toEqual([...INLINING_FLAGS]);
  });

  it("the command line raises it before it loads a subcommand (and so the model)", () => {
    const cli = readFileSync(new URL("../../src/cli.ts", import.meta.url), "utf8");
    const call = cli.indexOf("\nraiseInliningBudget();");
    expect(call).toBeGreaterThan(0);
    expect(call).toBeLessThan(cli.indexOf("await import(`./cli/"));
  });
});
