#!/usr/bin/env node
/**
 * Command line of the model. `npm start` runs the main job (the RFC race under every
 * notifier policy); subcommands: `race` (the default), `experiment NAME`, `report`, `serve` (the
 * co-simulation pipe), `demo`. Each subcommand lives in src/cli/<name>.ts and exports
 * `main(argv: string[]): Promise<number>` (the exit code). The process runs with V8's inlining
 * budget raised (src/embedding/v8-inlining.ts; AMD_IOMMU_MODEL_V8_INLINING=default keeps V8's own).
 */
// V8's inlining limits, as the environment says, before the model's modules load (importing the module sets them)
import "./embedding/v8-inlining.js";

const SUBCOMMANDS = ["race", "experiment", "serve", "demo", "report"] as const;

async function run(argv: string[]): Promise<number> {
  let sub = "race";
  if (argv.length > 0 && (SUBCOMMANDS as readonly string[]).includes(argv[0]!)) sub = argv.shift()!;
  else if (argv[0] === "help") { argv.shift(); argv.unshift("--help"); }
  const mod = (await import(`./cli/${sub}.js`)) as { main(argv: string[]): Promise<number> };
  return mod.main(argv);
}

run(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (err: unknown) => { console.error(err instanceof Error ? err.message : String(err)); process.exitCode = 2; },
);
