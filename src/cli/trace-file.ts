/**
 * `--trace FILE` of the race, the demo and the experiments: write a trace document (Chrome
 * trace-event JSON, src/iommu/timing/trace-recorder.ts) where Perfetto (https://ui.perfetto.dev)
 * or chrome://tracing opens it.
 */
import { writeFileSync } from "node:fs";
import type { TraceDocument, TraceEvent } from "../iommu/timing/trace-recorder.js";

/** FILE for one trace; FILE with `.<part>` before its extension when a command writes several. */
export function traceFileName(file: string, part: string | null): string {
  if (part === null) return file;
  const dot = file.lastIndexOf(".");
  const slash = Math.max(file.lastIndexOf("/"), file.lastIndexOf("\\"));
  return dot > slash ? `${file.slice(0, dot)}.${part}${file.slice(dot)}` : `${file}.${part}`;
}

/** Write the trace and say so on stderr (stdout stays the command's output, e.g. --json). */
export function writeTrace(file: string, doc: TraceDocument): void {
  writeFileSync(file, JSON.stringify(doc) + "\n");
  const n = doc.traceEvents.length;
  const dropped = doc.otherData.droppedEvents;
  process.stderr.write(`wrote trace ${file} (${n} events${dropped > 0 ? `, ${dropped} dropped at the event limit` : ""}; open it in https://ui.perfetto.dev)\n`);
}

/** One IOMMU's trace inside a command that builds several (the experiments). */
export interface TracePart {
  label: string;
  doc: TraceDocument;
}

/** A merged trace: otherData also names the parts in pid order. */
export type MergedTraceDocument = TraceDocument & { otherData: TraceDocument["otherData"] & { parts: string[] } };

/**
 * Several IOMMUs' traces as one document: each part's pids are moved past the earlier parts'
 * (one IOMMU's trace: pids 1 "IOMMU (label)" and 2 "devices (label)" become 2k + 1 and 2k + 2),
 * process names get the part's label, its flow ids are moved past the earlier parts' ids, and the
 * events are merged by time (metadata first; a stable sort keeps each part's order at equal
 * times, so a flow point still follows the slice it lies in). Each part keeps the rules of
 * the trace recorder: the merged document keeps them too (tracks and flow ids do not mix).
 */
export function mergeTraces(parts: readonly TracePart[]): MergedTraceDocument {
  const meta: TraceEvent[] = [], timed: TraceEvent[] = [];
  let idBase = 0, pidBase = 0, dropped = 0;
  for (const { label, doc } of parts) {
    let maxId = 0, maxPid = 0;
    for (const e of doc.traceEvents) {
      maxPid = Math.max(maxPid, e.pid);
      const c: TraceEvent = { ...e, pid: e.pid + pidBase };
      if (e.id !== undefined) { c.id = e.id + idBase; maxId = Math.max(maxId, e.id); }
      if (e.bind_id !== undefined) { c.bind_id = e.bind_id + idBase; maxId = Math.max(maxId, e.bind_id); }
      if (e.ph === "M") {
        if (e.name === "process_name") c.args = { name: `${String(e.args?.name)} (${label})` };
        else if (e.name === "process_sort_index") c.args = { sort_index: Number(e.args?.sort_index ?? 0) + pidBase };
        meta.push(c);
      } else timed.push(c);
    }
    idBase += maxId + 1;
    pidBase += maxPid;
    dropped += doc.otherData.droppedEvents;
  }
  timed.sort((x, y) => x.ts - y.ts);
  const first = parts[0]?.doc.otherData;
  return {
    traceEvents: [...meta, ...timed],
    otherData: {
      clockHz: first?.clockHz ?? 1e9, droppedEvents: dropped, model: first?.model ?? "amd-iommu-v2-model", timeUnit: "us (whole ns)",
      parts: parts.map((p) => p.label),
    },
  };
}
