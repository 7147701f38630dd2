/**
 * V8's inlining budget (issue 13; README "Host speed"). Importing the package raises it for the
 * process, unless the environment says otherwise (AMD_IOMMU_MODEL_V8_INLINING below).
 *
 * The translation paths are a few large functions (`Translator.fastHit` and its miss routes, the
 * walkers' one-pass walks: `GuestWalker.walkDirect` is 1,529 bytes of bytecode, `walkNested`
 * 2,575) that V8's default limits (460 bytes for a function to be inlined, 920 inlined into one
 * optimized function, 4,600 in all) leave as calls, and a call in V8's optimized code costs far
 * more than its instructions: no register survives it, so the caller spills and reloads what it
 * keeps live, and the callee hands its outputs back through fields. With the limits at 3,000,
 * 16,000 and 32,000 bytes V8 inlines the one-pass walks into the miss routes, and a timed
 * translation's bookkeeping no longer uses up the budget its walk needs (README "Host speed"
 * has the figures; 2,000 / 6,000 with the absolute cap at 4,600 left the nested walk and the
 * timed walks' helpers as calls).
 *
 * The flags are process-wide and change how V8 compiles, never what the model computes; they
 * take effect for code V8 optimizes after they are set, and the model's code is optimized once
 * it runs hot, after the import. They apply to the embedder's own code in the same process too
 * (more inlining: more compile work and code, in return for fewer calls). Every entry point sets
 * them: the package's (src/index.ts), the command line's (src/cli.ts, the pipe and the binary
 * channel included) and the benchmark runner's, which records them (environment.v8Flags).
 *
 * AMD_IOMMU_MODEL_V8_INLINING: unset, empty or "raised" raises the limits; "default" keeps V8's
 * own (importing then changes no flag); anything else is refused at import, naming the variable.
 */
import { setFlagsFromString } from "node:v8";

/** The V8 flags raiseInliningBudget() sets. */
export const INLINING_FLAGS: readonly string[] = [
  "--max-inlined-bytecode-size=3000", "--max-inlined-bytecode-size-cumulative=16000", "--max-inlined-bytecode-size-absolute=32000",
];

/** The environment variable that chooses what importing the package does with V8's inlining limits. */
export const INLINING_ENV = "AMD_IOMMU_MODEL_V8_INLINING";

let applied: readonly string[] = [];

/** Raise V8's inlining limits for this process (call before the model's code runs hot); returns the flags set. */
export function raiseInliningBudget(): readonly string[] {
  for (const f of INLINING_FLAGS) setFlagsFromString(f);
  applied = INLINING_FLAGS;
  return applied;
}

/** The V8 flags this module has set in this process (none when AMD_IOMMU_MODEL_V8_INLINING=default and raiseInliningBudget() was not called). */
export function appliedV8Flags(): readonly string[] {
  return applied;
}

/**
 * What importing the package does, decided by `env[INLINING_ENV]`: the flags this call set
 * (INLINING_FLAGS, or none for "default"). Any other value is a RangeError naming the variable.
 */
export function inliningFromEnvironment(env: Record<string, string | undefined>): readonly string[] {
  const v = env[INLINING_ENV];
  if (v === undefined || v === "" || v === "raised") return raiseInliningBudget();
  if (v === "default") return [];
  throw new RangeError(`${INLINING_ENV} must be "raised" (V8's inlining limits raised, the default) or "default" (V8's own limits), got ${JSON.stringify(v)}`);
}

inliningFromEnvironment(process.env);
