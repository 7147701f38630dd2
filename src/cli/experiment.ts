/**
 * `npm start -- experiment NAME|all [--out DIR] [--quick] [--profile NAME] [--json] [--trace FILE]`: run a
 * calibration experiment, print its table with the published figure beside the model's and
 * its checks (each fitted or predicted, raw figures), and write NAME.json and NAME.svg into
 * the output directory. With --json, stdout is one JSON array of every check:
 * { experiment, point, model, published: { low, high, source }, kind, pass } (fitted rows
 * also name the parameter). With --trace FILE, every IOMMU the experiment builds is traced and
 * the traces are written as one Perfetto document per experiment (src/cli/trace-file.ts).
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { EXPERIMENTS, formatReport, type Check } from "../experiments/index.js";
import { TIMING_PROFILE_NAMES, type TimingProfileName } from "../iommu/timing-profile.js";
import { progress } from "./progress.js";
import type { AmdIommu } from "../iommu/amd-iommu.js";
import { mergeTraces, traceFileName, writeTrace } from "./trace-file.js";

/** Events recorded per IOMMU with --trace (an experiment builds up to 18; later events are counted as dropped). */
export const TRACE_EVENTS_PER_PART = 50_000;

/** The --trace collector of one experiment: starts a trace on each IOMMU it is given. */
export function traceCollector(perPart = TRACE_EVENTS_PER_PART) {
  const parts: { label: string; iommu: AmdIommu }[] = [];
  return {
    watch(iommu: AmdIommu, part: string): void {
      iommu.startTrace({ maxEvents: perPart });
      parts.push({ label: part, iommu });
    },
    document() { return mergeTraces(parts.map((p) => ({ label: p.label, doc: p.iommu.stopTrace() }))); },
  };
}

const HELP = `usage: npm start -- experiment NAME|all [options]
experiments:
${EXPERIMENTS.map((e) => `  ${e.name.padEnd(18)} ${e.title}`).join("\n")}
  all                run every experiment
options:
  --out DIR          where NAME.json and NAME.svg go (default experiments-out)
  --quick            smaller sweeps (seconds instead of tens of seconds)
  --profile NAME     timing profile (${TIMING_PROFILE_NAMES.join(", ")}; default amd-default)
  --seed N           seed of the workloads' random addresses
  --json             print only a JSON array of every check: { experiment, point, model,
                     published: { low, high, source }, kind: "fitted" | "predicted", pass }
  --trace FILE       write a Perfetto trace of every IOMMU the experiment builds (one process
                     pair per IOMMU, named after its part; with "all", FILE.<name>.json per
                     experiment); at most ${TRACE_EVENTS_PER_PART.toLocaleString("en")} events per IOMMU
  -h, --help         this text
checks: "fitted" rows met a published figure by choosing a parameter (they validate nothing);
"predicted" rows are held out (no parameter was chosen with them) and can fail. Figures are
raw; a row outside its band is printed as MISS.
exit code: 0 when every check lands in its published band, 1 otherwise`;

export async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv, allowPositionals: true,
    options: {
      out: { type: "string", default: "experiments-out" }, quick: { type: "boolean" }, profile: { type: "string" }, seed: { type: "string" },
      json: { type: "boolean" }, trace: { type: "string" }, help: { type: "boolean", short: "h" },
    },
  });
  if (values.help || positionals.length === 0) { console.log(HELP); return values.help ? 0 : 2; }
  const name = positionals[0]!;
  const chosen = name === "all" ? EXPERIMENTS : EXPERIMENTS.filter((e) => e.name === name);
  if (chosen.length === 0) { console.error(`experiment: unknown experiment "${name}" (known: ${EXPERIMENTS.map((e) => e.name).join(", ")}, all)`); return 2; }
  if (values.profile !== undefined && !(TIMING_PROFILE_NAMES as string[]).includes(values.profile)) {
    console.error(`experiment: --profile must be one of ${TIMING_PROFILE_NAMES.join(", ")}, got ${values.profile}`); return 2;
  }
  const seed = values.seed === undefined ? undefined : Number(values.seed);
  if (seed !== undefined && !Number.isInteger(seed)) { console.error(`experiment: --seed must be an integer, got ${values.seed}`); return 2; }
  mkdirSync(values.out, { recursive: true });
  let allOk = true;
  const all: Check[] = [];
  // a bar on stderr when it is a terminal and not --json (else one line per experiment)
  const bar = progress({ total: chosen.length, label: "experiments", enabled: values.json !== true });
  let done = 0;
  for (const e of chosen) {
    const t0 = performance.now();
    if (bar.active) bar.update(done, chosen.length, e.name); else process.stderr.write(`running ${e.name} ...\n`);
    const tracer = values.trace === undefined ? null : traceCollector();
    const r = e.run({
      quick: values.quick === true, timing: values.profile as TimingProfileName | undefined, ...(seed === undefined ? {} : { seed }),
      ...(tracer === null ? {} : { trace: (io: AmdIommu, part: string) => tracer.watch(io, part) }),
    });
    if (tracer !== null) writeTrace(traceFileName(values.trace!, chosen.length > 1 ? e.name : null), tracer.document());
    const json = join(values.out, `${e.name}.json`), svg = join(values.out, `${e.name}.svg`);
    const { svg: image, ...rest } = r;
    writeFileSync(json, JSON.stringify({ ...rest, profile: values.profile ?? "amd-default", quick: values.quick === true }, null, 2) + "\n");
    writeFileSync(svg, image);
    all.push(...r.checks);
    if (values.json !== true) {
      console.log(formatReport(r));
      console.log(`wrote ${json} and ${svg} (${((performance.now() - t0) / 1000).toFixed(1)} s)\n`);
    }
    if (r.checks.some((c) => !c.pass)) allOk = false;
    bar.update(++done);
  }
  bar.stop();
  if (values.json === true) console.log(JSON.stringify(all, null, 2));
  else {
    const count = (k: string, pass: boolean) => all.filter((c) => c.kind === k && c.pass === pass).length;
    console.log(`checks: predicted ${count("predicted", true)} pass, ${count("predicted", false)} MISS; fitted ${count("fitted", true)} met, ${count("fitted", false)} MISS`);
  }
  return allOk ? 0 : 1;
}
