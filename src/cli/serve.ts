/**
 * `npm start -- serve` (or `amd-iommu-model serve`): the co-simulation pipe. Reads
 * newline-delimited JSON requests on stdin and writes answers and notifications on stdout,
 * one JSON object per line, so a C or C++ simulator can drive IOMMU models as a child
 * process. The protocol is in src/embedding/cosim-session.ts and the README ("Embedding").
 */
import { parseArgs } from "node:util";
import type { Readable, Writable } from "node:stream";
import { CosimSession, PIPE_LIMITS, PROTOCOL_VERSION } from "../embedding/cosim-session.js";
import { boundedLines } from "../embedding/bounded-lines.js";

const USAGE = `usage: amd-iommu-model serve [--memory BYTES] [--iommus N]
  newline-delimited JSON on stdin -> answers and notifications on stdout (protocol ${PROTOCOL_VERSION})
  --memory BYTES  create a RAM region [0, BYTES) before the first message
  --iommus N      create IOMMUs "0".."N-1" (segments 0..N-1) over it`;

export async function main(argv: string[], io: { input?: Readable; output?: Writable } = {}): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { help: { type: "boolean", short: "h" }, memory: { type: "string" }, iommus: { type: "string" } },
  });
  const output = io.output ?? process.stdout;
  if (values.help) { output.write(USAGE + "\n"); return 0; }
  const session = new CosimSession((line) => { output.write(line + "\n"); });
  const pre: Record<string, unknown>[] = [];
  if (values.memory !== undefined) pre.push({ op: "add-memory", base: 0, bytes: values.memory });
  const n = Number(values.iommus ?? 0);
  if (!Number.isInteger(n) || n < 0 || n > 64) { process.stderr.write(`serve: --iommus must be an integer 0..64, got ${values.iommus}\n`); return 2; }
  for (let i = 0; i < n; i++) pre.push({ op: "create-iommu", iommu: String(i), segment: i });
  for (const m of pre) {
    const a = session.request(m);
    if (a.ok !== true) { process.stderr.write(`serve: ${String(a.error)}\n`); return 2; }
  }
  const input = io.input ?? process.stdin;
  for await (const line of boundedLines(input, PIPE_LIMITS.lineBytes)) {
    if (typeof line === "string") session.line(line); else session.lineTooLong(line.tooLong);
    if (session.done) break;
  }
  if (input === process.stdin) process.stdin.destroy();
  return 0;
}
