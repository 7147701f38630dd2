/**
 * `--trace FILE` of the race, the demo and the experiments: write a trace document (Chrome
 * trace-event JSON, src/iommu/timing/trace-recorder.ts) where Perfetto (https://ui.perfetto.dev)
 * or chrome://tracing opens it.
 */
import { writeFileSync } from "node:fs";
import type { TraceDocument } from "../iommu/timing/trace-recorder.js";

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
