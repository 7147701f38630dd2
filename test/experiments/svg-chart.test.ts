import { describe, expect, it } from "vitest";
import { barChart, escapeXml, lineChart, svgDocument } from "../../src/report/svg-chart.js";

describe("SVG chart writer", () => {
  it("a bar chart has one rect per finite value and escapes labels", () => {
    const svg = barChart({ title: "a < b & c", categories: ["x", "y", "z"], yLabel: "ns", series: [{ name: "m", values: [1, 2, null] }, { name: "b", values: [3, 4, 5] }] });
    expect(svg.match(/<rect [^>]*fill="#(1f77b4|ff7f0e)"><title>/g)).toHaveLength(5);
    expect(svg).toContain("a &lt; b &amp; c");
    expect(svg).not.toContain("a < b");
  });
  it("a line chart draws one polyline per series with its points in order of x on the page", () => {
    const svg = lineChart({ title: "t", xLabel: "x", yLabel: "y", series: [{ name: "s", points: [[1, 1], [10, 5], [100, 2]] }], logX: true });
    const pts = /<polyline[^>]*points="([^"]+)"/.exec(svg)![1]!.split(" ").map((p) => p.split(",").map(Number));
    expect(pts).toHaveLength(3);
    expect(pts[0]![0]).toBeLessThan(pts[1]![0]!);
    expect(pts[1]![0]! - pts[0]![0]!).toBeCloseTo(pts[2]![0]! - pts[1]![0]!, 6); // log x: equal decades, equal steps
    expect(pts[1]![1]).toBeLessThan(pts[0]![1]!); // higher y is higher on the page
  });
  it("a document stacks charts and is well-formed XML text", () => {
    const doc = svgDocument([lineChart({ title: "1", xLabel: "x", yLabel: "y", series: [{ name: "s", points: [[0, 0], [1, 1]] }] }),
      barChart({ title: "2", categories: ["a"], yLabel: "y", series: [{ name: "s", values: [1] }] })]);
    expect(doc.startsWith("<?xml")).toBe(true);
    expect(doc.match(/<svg /g)).toHaveLength(3);
    expect(escapeXml(`"<&>`)).toBe("&quot;&lt;&amp;&gt;");
  });
});
