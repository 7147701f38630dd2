/**
 * Experiment 6 (docs/calibration.md, "References per walk"; rows E1, E3, B18): memory references per walk. Cold
 * walks read one entry per level: 4 (4-level), 5 (5-level), (4 + 1) x (4 + 1) - 1 = 24 for a
 * nested 4x4 walk without caches. With warm page-directory caches a streaming workload
 * (consecutive pages, each an IOTLB miss) reads about 2 entries per walk (fitted: the
 * page-directory cache keeps levels >= 3). The table-line hits column shows the memory
 * hierarchy: consecutive pages share PTE lines (eight entries per 64-byte line), so most of
 * a streaming walk's reads are LLC hits.
 */
import { TranslationResult } from "../iommu/translation/request.js";
import { barChart, svgDocument } from "../report/svg-chart.js";
import { fitted, predicted, type Experiment, type ExperimentOptions, type ExperimentReport } from "./experiment.js";
import { DEVICE, hostWorkload, nestedWorkload, type Workload } from "./workload.js";

/** Mean walk references (cycles, walk reads served by the table-line cache) of `n` translations of consecutive pages. */
export function walkRefs(w: Workload, n: number, stride = 1): { refs: number; cycles: number; lineHits: number } {
  const out = new TranslationResult();
  const req = w.pasid === undefined ? { deviceId: DEVICE, address: 0 } : { deviceId: DEVICE, address: 0, pasid: w.pasid };
  let refs = 0, cycles = 0, lineHits = 0;
  for (let i = 0; i < n; i++) {
    req.address = w.address((i * stride) % w.pages);
    w.io.translateInto(req, out);
    refs += out.walkReferences; cycles += out.cycles; lineHits += out.tableLineHits;
  }
  return { refs: refs / n, cycles: cycles / n, lineHits: lineHits / n };
}

export const refsPerWalk: Experiment = {
  name: "refs-per-walk",
  title: "Memory references per walk",
  run(o: ExperimentOptions = {}): ExperimentReport {
    const n = o.quick ? 512 : 8192;
    const timing = o.timing === undefined ? {} : { timing: o.timing };
    const cold = { ...timing, iotlb: { entries: 0 }, pdeCache: { entries: 0 } };
    const rows: (string | number)[][] = [];
    const traced = <W extends Workload>(w: W, part: string): W => { o.trace?.(w.io, part); return w; };
    const r4 = walkRefs(traced(hostWorkload({ pages: n, levels: 4, iommu: cold }), "4-level, no caches"), n, 1);
    const r5 = walkRefs(traced(hostWorkload({ pages: n, levels: 5, iommu: cold }), "5-level, no caches"), n, 1);
    const rn = walkRefs(traced(nestedWorkload({ pages: Math.min(n, 2048), iommu: cold }), "nested 4x4, no caches"), Math.min(n, 2048), 1);
    // streaming with the default caches: every page is new to the IOTLB, upper levels stay in the PDE cache
    const stream = traced(hostWorkload({ pages: n * 2, levels: 4, iommu: { ...timing } }), "streaming, default caches");
    const out = new TranslationResult();
    let refs = 0, walks = 0, lineHits = 0, cycles = 0;
    for (let i = 0; i < n * 2; i++) {
      stream.io.translateInto({ deviceId: DEVICE, address: stream.address(i) }, out);
      if (!out.iotlbHit) { refs += out.walkReferences; walks++; lineHits += out.tableLineHits; cycles += out.cycles; }
    }
    const rs = refs / walks;
    rows.push(["4-level, no caches", r4.refs, r4.lineHits, r4.cycles, "4 (E1)"], ["5-level, no caches", r5.refs, r5.lineHits, r5.cycles, "5 (E3)"],
      ["nested 4x4, no caches", rn.refs, rn.lineHits, rn.cycles, "24 (E1)"], ["streaming, default caches", rs, lineHits / walks, cycles / walks, "~2 (B18)"]);
    const e = this.name;
    const checks = [
      predicted(e, "4-level cold walk, references", r4.refs, 4, 4, "E1 (x86-64 radix tables: one read per level)"),
      predicted(e, "5-level cold walk, references", r5.refs, 5, 5, "E3 (LA57)"),
      predicted(e, "nested 4x4 cold walk, references", rn.refs, 24, 24, "E1 ((4 + 1) x (4 + 1) - 1)"),
      fitted(e, "streaming with warm page-directory caches, references per walk", rs, 1.5, 2.5, "B18 (Intel VT-d, nested guest: about 2 reads per miss)", "pdeCache levels >= 3"),
    ];
    const svg = svgDocument([barChart({ title: "Memory references per walk: model vs published (E1, E3, B18)", categories: rows.map((r) => String(r[0])), yLabel: "references",
      series: [{ name: "model", values: [r4.refs, r5.refs, rn.refs, rs] }, { name: "published", values: [4, 5, 24, 2] }] })]);
    return {
      name: this.name, title: this.title,
      method: `${n} translations of consecutive 4 KiB pages per configuration (nested: ${Math.min(n, 2048)}); walkReferences of each result.`,
      columns: ["configuration", "model refs/walk", "table-line hits/walk", "model cycles/walk", "published refs"], rows, checks, svg,
      data: { fourLevel: r4, fiveLevel: r5, nested: rn, streaming: rs, streamingLineHits: lineHits / walks, streamingCycles: cycles / walks },
    };
  },
};
