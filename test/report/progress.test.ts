/**
 * The progress display (src/cli/progress.ts): a cli-progress bar on a terminal stream, nothing
 * at all on a pipe or when turned off (--json).
 */
import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import { progress } from "../../src/cli/progress.js";
import ProgressReporter from "../progress-reporter.js";

function stream(tty: boolean) {
  const s = new PassThrough() as PassThrough & { isTTY?: boolean; columns?: number };
  if (tty) { s.isTTY = true; s.columns = 100; }
  let out = "";
  s.on("data", (c: Buffer) => { out += c.toString(); });
  return { s: s as unknown as NodeJS.WriteStream, text: () => out };
}

describe("progress display", () => {
  it("draws a bar with the label, count and current step on a terminal, and removes it at stop", async () => {
    const t = stream(true);
    const bar = progress({ total: 3, label: "experiments", stream: t.s });
    expect(bar.active).toBe(true);
    bar.update(1, 3, "hit-rate");
    bar.increment("walkers");
    bar.stop();
    await new Promise((r) => setImmediate(r));
    expect(t.text()).toMatch(/experiments \[.*\] 0\/3/);
    expect(t.text()).toMatch(/2\/3 walkers/);
  });

  it("is silent on a pipe and when turned off", async () => {
    for (const [tty, enabled] of [[false, undefined], [true, false], [false, true]] as const) {
      const t = stream(tty);
      const bar = progress({ total: 3, label: "x", stream: t.s, ...(enabled === undefined ? {} : { enabled }) });
      expect(bar.active).toBe(false);
      bar.update(2); bar.increment("y"); bar.stop();
      await new Promise((r) => setImmediate(r));
      expect(t.text()).toBe("");
    }
  });

  it("the vitest reporter for soak runs counts test files and names the running test", async () => {
    const t = stream(true);
    const r = new ProgressReporter({ stream: t.s });
    r.onTestRunStart([{}, {}] as never);
    r.onTestCaseReady({ name: "no translation returns the old mapping" } as never);
    r.onTestModuleEnd({ moduleId: "/x/test/concurrency/invalidation.test.ts", ok: () => true } as never);
    r.onTestModuleEnd({ moduleId: "/x/test/robustness/fuzz.property.test.ts", ok: () => false } as never);
    r.onTestRunEnd();
    await new Promise((res) => setImmediate(res));
    // redraws are throttled: the last state is drawn at stop
    expect(t.text()).toMatch(/tests \[.*\] 2\/2 robustness\/fuzz.property.test.ts FAILED/);
  });
});
