/**
 * V8's inlining budget for the model's own processes (issue 13; README "Host speed").
 *
 * The translation paths are a few large functions (`Translator.fastHit` and its miss routes,
 * the walkers' one-pass walks) that V8's default limits (460 bytes of bytecode for a function
 * to be inlined, 920 inlined into one optimized function) leave as calls. With the limits
 * raised to 1,000 and 3,000 bytes, V8 inlines them into their callers: on the development box
 * the IOTLB hit of `npm run bench` went from 18.3-18.8 to 12.7-13.4 ns, the guest 4-level miss
 * with the page-directory cache from 76-85 to 57-59 ns (ats-v1-hit unchanged), and the binary
 * channel's C client from 7.7-8.1 to 7.9-8.5 M translations/s (README "Host speed"). The
 * flags are process-wide and only change how V8 compiles, never what the model computes.
 *
 * The command line (every subcommand, the co-simulation pipe and binary channel included)
 * raises them at start, before the model's modules load; the benchmark runner does with
 * `--raise-inlining-budget`. A program that imports the model chooses for its own process:
 * `node --max-inlined-bytecode-size=1000 --max-inlined-bytecode-size-cumulative=3000 app.js`,
 * or raiseInliningBudget() (exported by the package) before the model's code runs hot. Importing
 * the model changes no V8 flag.
 */
import { setFlagsFromString } from "node:v8";

/** The V8 flags raiseInliningBudget() sets. */
export const INLINING_FLAGS: readonly string[] = ["--max-inlined-bytecode-size=1000", "--max-inlined-bytecode-size-cumulative=3000"];

let applied: readonly string[] = [];

/** Raise V8's inlining limits for this process (call before the model's code runs hot); returns the flags set. */
export function raiseInliningBudget(): readonly string[] {
  for (const f of INLINING_FLAGS) setFlagsFromString(f);
  applied = INLINING_FLAGS;
  return applied;
}

/** The V8 flags this module has set in this process (none until raiseInliningBudget()). */
export function appliedV8Flags(): readonly string[] {
  return applied;
}
