/**
 * A vitest reporter that shows a progress bar (src/cli/progress.ts: cli-progress on stderr,
 * only when stderr is a terminal) for long runs such as the soak mode:
 *
 *   IOMMU_FUZZ_LONG=1 npx vitest run --dir test test/concurrency test/robustness \
 *     --reporter=default --reporter=./test/progress-reporter.ts
 *
 * The bar counts test files done and names the test running now; the default reporter keeps
 * printing results and failures.
 */
import type { Reporter, TestCase, TestModule, TestSpecification } from "vitest/node";
import { progress, type Progress, type ProgressOptions } from "../src/cli/progress.js";

export default class ProgressReporter implements Reporter {
  private bar: Progress | null = null;
  private done = 0;
  private total = 0;
  constructor(private readonly o: Partial<ProgressOptions> = {}) {}

  onTestRunStart(specifications: ReadonlyArray<TestSpecification>): void {
    this.total = specifications.length;
    this.done = 0;
    this.bar = progress({ label: "tests", ...this.o, total: this.total });
  }
  onTestCaseReady(testCase: TestCase): void {
    this.bar?.update(this.done, this.total, testCase.name.slice(0, 60));
  }
  onTestModuleEnd(testModule: TestModule): void {
    this.done++;
    this.bar?.update(this.done, this.total, `${testModule.moduleId.split("/").slice(-2).join("/")}${testModule.ok() ? "" : " FAILED"}`);
  }
  onTestRunEnd(): void {
    this.bar?.stop();
    this.bar = null;
  }
}
