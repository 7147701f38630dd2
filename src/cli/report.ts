/**
 * `npm start -- report [--out FILE] [--bench FILE] [--quick] [--seed N]`: write the
 * self-contained HTML report (src/report/html-report.ts): race table, calibration charts
 * against the published figures, benchmark table, one walk drawn level by level.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { buildReport } from "../report/html-report.js";
import { packageVersion } from "./version.js";
import { progress } from "./progress.js";

const HELP = `usage: npm start -- report [options]
  writes one HTML file (inline CSS and SVG, no scripts) to open in a browser:
  the RFC race under every notifier policy, each calibration experiment's checks and charts
  against the published figures, a benchmark table, and one guest walk drawn level by level
options:
  --out FILE     where the page goes (default report.html)
  --bench FILE   add the table of a benchmark result (npm run bench -- --json FILE)
  --quick        smaller experiment sweeps (seconds instead of tens of seconds)
  --seed N       seed of the race and the experiments (default 1)
  -h, --help     this text`;

export async function main(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { out: { type: "string", default: "report.html" }, bench: { type: "string" }, quick: { type: "boolean" }, seed: { type: "string" }, help: { type: "boolean", short: "h" } },
  });
  if (values.help) { console.log(HELP); return 0; }
  const seed = values.seed === undefined ? 1 : Number(values.seed);
  if (!Number.isInteger(seed) || seed < 0) { console.error(`report: --seed must be a non-negative integer, got ${values.seed}`); return 2; }
  let bench: { file: string; data: unknown } | undefined;
  if (values.bench !== undefined) {
    try { bench = { file: values.bench, data: JSON.parse(readFileSync(values.bench, "utf8")) as unknown }; } catch (e) {
      console.error(`report: --bench ${values.bench}: ${(e as Error).message}`); return 2;
    }
  }
  const bar = progress({ total: 1, label: "report" });
  const html = buildReport({
    quick: values.quick === true, seed, version: packageVersion(), ...(bench === undefined ? {} : { bench }),
    onStep: (what, done, total) => bar.update(done, total, what),
  });
  bar.stop();
  writeFileSync(values.out, html);
  console.log(`wrote ${values.out} (${(html.length / 1024).toFixed(0)} KiB); open it in a browser`);
  return 0;
}
