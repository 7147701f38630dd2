/**
 * A progress display for long runs (experiment all, report, soak runs; bench can use it too):
 * one bar on stderr drawn by cli-progress (a kept library: redraw throttling, ETA, terminal
 * width), so stdout stays the command's output. Off when stderr is not a terminal (pipes, CI
 * logs, tests), when the command prints --json, or with enabled: false: then every call does
 * nothing.
 *
 *   const bar = progress({ total: cases.length, label: "bench" });
 *   for (const c of cases) { bar.increment(c.name); run(c); }
 *   bar.stop();
 */
import cliProgress from "cli-progress";

export interface Progress {
  /** Set the count done (and optionally a new total and what runs now). */
  update(done: number, total?: number, what?: string): void;
  /** One more done; `what` names the next step. */
  increment(what?: string): void;
  /** Remove the bar (call once at the end). */
  stop(): void;
  /** Whether a bar is drawn. */
  readonly active: boolean;
}

export interface ProgressOptions {
  total: number;
  label: string;
  /** Default: stderr is a terminal. Pass false for --json. */
  enabled?: boolean;
  /** Default process.stderr. */
  stream?: NodeJS.WriteStream;
}

const OFF: Progress = { update() {}, increment() {}, stop() {}, active: false };

export function progress(o: ProgressOptions): Progress {
  const stream = o.stream ?? process.stderr;
  const enabled = o.enabled ?? stream.isTTY === true;
  if (!enabled || stream.isTTY !== true) return OFF;
  const bar = new cliProgress.SingleBar({
    stream, format: `${o.label} [{bar}] {value}/{total} {what} | {duration_formatted}`, hideCursor: true, clearOnComplete: true,
    barsize: 24, etaBuffer: 4,
  }, cliProgress.Presets.shades_classic);
  bar.start(Math.max(1, o.total), 0, { what: "" });
  let done = 0;
  return {
    active: true,
    update(d, total, what) { done = d; if (total !== undefined) bar.setTotal(Math.max(1, total)); bar.update(d, { what: what ?? "" }); },
    increment(what) { done++; bar.update(done, { what: what ?? "" }); },
    stop() { bar.stop(); },
  };
}
