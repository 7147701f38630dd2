/**
 * `amd-iommu-model serve` (`npx amd-iommu-model serve`, `node dist/src/cli.js serve`): the
 * co-simulation pipe. Reads newline-delimited JSON requests on stdin and writes answers and
 * notifications on stdout, one JSON object per line, so a C or C++ simulator can drive IOMMU
 * models as a child process. The protocol is in src/embedding/cosim-session.ts and the README
 * ("Embedding"). `--binary` serves the binary channel instead (src/embedding/binary-channel/:
 * batched fixed-layout frames, simulator-owned memory), on stdin/stdout or `--socket PATH`.
 * Only the protocol goes to stdout; diagnostics go to stderr.
 */
import { parseArgs } from "node:util";
import type { Readable, Writable } from "node:stream";
import { CosimSession, PIPE_LIMITS, PROTOCOL_VERSION } from "../embedding/cosim-session.js";
import { boundedLines } from "../embedding/bounded-lines.js";
import type { BinarySession } from "../embedding/binary-channel/binary-session.js";
import { DEFAULT_SPIN_MICROS, MAX_SPIN_MICROS, serveBinaryPipe, serveBinarySocket, spinStats, type SpinStats } from "../embedding/binary-channel/binary-pipe.js";

const USAGE = `usage: amd-iommu-model serve [--memory BYTES] [--iommus N] [--binary [--socket PATH] [--spin-us N]]
  newline-delimited JSON on stdin -> answers and notifications on stdout (protocol ${PROTOCOL_VERSION})
  --memory BYTES  create a RAM region [0, BYTES) before the first message
  --iommus N      create IOMMUs "0".."N-1" (segments 0..N-1) over it
  --binary        the binary channel instead: little-endian frames of batched requests
                  (README "Binary channel"; clients in clients/c and clients/python)
  --socket PATH   with --binary: listen on a Unix socket at PATH instead of stdin/stdout
  --spin-us N     with --binary: wait for the client's next frame by retrying a non-blocking
                  read for up to N microseconds (0..${MAX_SPIN_MICROS}) before blocking; on a machine
                  with a free CPU it saves a sleeping CPU's wake-up per round trip (README
                  "One request at a time"); spins that run out back off; default
                  ${DEFAULT_SPIN_MICROS}, 0 blocks at once`;

/** The spinning reader's figures, on stderr (README "One request at a time"). */
function reportSpin(spin: number, s: SpinStats): void {
  if (spin === 0 || !s.spinning) return; // (a file or terminal input: its reads blocked, nothing to report)
  process.stderr.write(`serve: --spin-us ${spin}: ${s.ready} reads found a frame waiting, ${s.woke} woke while spinning, ${s.ranOut} spins ran out, ${s.blockedAtOnce} reads blocked at once (backing off), ${s.contended} blocked at once (CPUs busy)\n`);
}

export async function main(argv: string[], io: { input?: Readable; output?: Writable } = {}): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      help: { type: "boolean", short: "h" }, memory: { type: "string" }, iommus: { type: "string" },
      binary: { type: "boolean" }, socket: { type: "string" }, "spin-us": { type: "string" },
    },
  });
  if (values.help) { (io.output ?? process.stdout).write(USAGE + "\n"); return 0; }
  const pre: Record<string, unknown>[] = [];
  if (values.memory !== undefined) pre.push({ op: "add-memory", base: 0, bytes: values.memory });
  const n = Number(values.iommus ?? 0);
  if (!Number.isInteger(n) || n < 0 || n > 64) { process.stderr.write(`serve: --iommus must be an integer 0..64, got ${values.iommus}\n`); return 2; }
  for (let i = 0; i < n; i++) pre.push({ op: "create-iommu", iommu: String(i), segment: i });
  const setup = (session: CosimSession): boolean => {
    for (const m of pre) {
      const a = session.request(m);
      if (a.ok !== true) { process.stderr.write(`serve: ${String(a.error)}\n`); return false; }
    }
    return true;
  };
  if (values.socket !== undefined && !values.binary) { process.stderr.write("serve: --socket needs --binary\n"); return 2; }
  if (values["spin-us"] !== undefined && !values.binary) { process.stderr.write("serve: --spin-us needs --binary\n"); return 2; }
  const spin = values["spin-us"] === undefined ? DEFAULT_SPIN_MICROS : Number(values["spin-us"]);
  if (!/^\d+$/.test(values["spin-us"] ?? "0") || spin > MAX_SPIN_MICROS) { process.stderr.write(`serve: --spin-us must be an integer 0..${MAX_SPIN_MICROS}, got ${values["spin-us"]}\n`); return 2; }
  if (values.binary) {
    let ok = true;
    const prepare = (b: BinarySession) => { ok = setup(b.session); };
    const stats = spinStats();
    if (values.socket !== undefined) {
      const server = await serveBinarySocket(values.socket, prepare, spin, stats);
      process.stderr.write(`serve: binary channel on ${values.socket}\n`);
      await new Promise<void>((resolve) => server.on("close", () => resolve()));
      reportSpin(spin, stats);
      return ok ? 0 : 2;
    }
    // blocking reads and writes on fds 0 and 1; process.stdin/stdout are never opened (they would make the pipes non-blocking)
    const code = serveBinaryPipe(0, 1, (b) => { prepare(b); if (!ok) throw new Error("setup failed"); }, spin, stats);
    reportSpin(spin, stats);
    return code;
  }
  const output = io.output ?? process.stdout;
  // the client closed its end: stop quietly (no stack trace on stderr)
  output.on("error", (e: NodeJS.ErrnoException) => { if (e.code === "EPIPE") { process.exitCode = 0; if (output === process.stdout) process.exit(0); } });
  const session = new CosimSession((line) => { output.write(line + "\n"); });
  if (!setup(session)) return 2;
  const input = io.input ?? process.stdin;
  for await (const line of boundedLines(input, PIPE_LIMITS.lineBytes)) {
    if (typeof line === "string") session.line(line); else session.lineTooLong(line.tooLong);
    if (session.done) break;
  }
  if (input === process.stdin) process.stdin.destroy();
  return 0;
}
