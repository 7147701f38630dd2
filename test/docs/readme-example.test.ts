/**
 * The README example runs as written (imports mapped to the sources) and prints what its
 * comments say.
 */
import { expect, it } from "vitest";
import { runReadmeBlock } from "./readme-block.js";
import * as api from "../../src/index.js";

it("the README's usage example runs as written and prints what its comments claim", () => {
  const { printed, claims } = runReadmeBlock("## Using the model");
  expect(printed).toEqual(claims);
});

it("the package root exports the host side (with the six notifier policies) and the race scenario", () => {
  expect(typeof api.host.Mm).toBe("function");
  expect(api.host.NOTIFIER_POLICY_NAMES).toEqual(["none", "start-end", "empty-table", "invalidate-range", "invalidate-range-fast-mode", "secondary-tlbs"]);
  expect(typeof api.scenarios.runRace).toBe("function");
});
