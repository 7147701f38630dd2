/**
 * The README's "A guest (PASID) test, step by step" runs as written (imports mapped to the
 * sources) and prints what its comments say.
 */
import { expect, it } from "vitest";
import { runReadmeBlock } from "./readme-block.js";

it("the README's guest (PASID) walkthrough runs as written and prints what its comments claim", () => {
  const { printed, claims } = runReadmeBlock("### A guest (PASID) test, step by step");
  expect(claims.length).toBe(6);
  expect(printed).toEqual(claims);
});
