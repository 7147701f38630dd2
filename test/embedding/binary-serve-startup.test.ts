/**
 * Start-up that fits a child process (issue 15): `npm start`'s pre-step builds only when a
 * source is newer than the last build, and writes nothing to stdout. Driven on a scratch copy
 * of the layout (scripts/, src/, dist/src/cli.js, a stand-in tsc that records its call), so it
 * never builds or touches the repository's dist/.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const REPO = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
let root = "";
const called = () => join(root, "tsc-called");

function run(): { stdout: string; stderr: string; status: number | null } {
  const r = spawnSync(process.execPath, [join(root, "scripts", "build-if-stale.mjs")], { encoding: "utf8", timeout: 60_000 });
  return { stdout: r.stdout, stderr: r.stderr, status: r.status };
}
function touch(path: string, secondsAgo: number): void {
  const t = new Date(Date.now() - secondsAgo * 1000);
  utimesSync(path, t, t);
}

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), "amd-iommu-start-"));
  cpSync(join(REPO, "scripts", "build-if-stale.mjs"), join(root, "scripts", "build-if-stale.mjs"));
  for (const d of ["src", "bench", "spec-tables", "dist/src", "node_modules/typescript/bin"]) mkdirSync(join(root, d), { recursive: true });
  writeFileSync(join(root, "tsconfig.json"), "{}");
  writeFileSync(join(root, "src", "a.ts"), "export const a = 1;\n");
  writeFileSync(join(root, "spec-tables", "t.json"), "{}");
  // stand-in compiler: records that it ran and "emits" the stamp
  writeFileSync(join(root, "node_modules/typescript/bin/tsc"),
    `const fs = require("node:fs"); const p = require("node:path"); const root = p.join(__dirname, "../../..");\n` +
    `fs.writeFileSync(p.join(root, "tsc-called"), process.argv.slice(2).join(" ")); fs.writeFileSync(p.join(root, "dist/src/cli.js"), "");\n`);
  writeFileSync(join(root, "node_modules/typescript/package.json"), JSON.stringify({ type: "commonjs" }));
  writeFileSync(join(root, "package.json"), JSON.stringify({ type: "module" }));
});
afterAll(() => { if (root) rmSync(root, { recursive: true, force: true }); });

describe("npm start's build step (scripts/build-if-stale.mjs)", () => {
  it("builds when there is no build yet, reporting on stderr only", () => {
    const r = run();
    expect(r.status).toBe(0);
    expect(existsSync(called())).toBe(true);
    expect(readFileSync(called(), "utf8")).toContain("tsconfig.json");
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(/no build yet/);
  });

  it("does not build when every source is older than the build, and prints nothing", () => {
    rmSync(called(), { force: true });
    for (const f of ["tsconfig.json", "src/a.ts", "spec-tables/t.json"]) touch(join(root, f), 60);
    touch(join(root, "dist/src/cli.js"), 10);
    const r = run();
    expect(r.status).toBe(0);
    expect(existsSync(called())).toBe(false);
    expect(r.stdout + r.stderr).toBe("");
  });

  it("builds again when a source under src/ (or spec-tables/) changed after the build", () => {
    for (const f of ["src/a.ts", "spec-tables/t.json"]) {
      rmSync(called(), { force: true });
      touch(join(root, "dist/src/cli.js"), 30);
      touch(join(root, f), 5);
      const r = run();
      expect(r.status).toBe(0);
      expect(existsSync(called()), f).toBe(true);
      expect(r.stdout).toBe("");
      expect(r.stderr).toMatch(/sources changed/);
      touch(join(root, f), 60);
    }
  });

  it("package.json runs it before start and bench (not a full rebuild)", () => {
    const pkg = JSON.parse(readFileSync(join(REPO, "package.json"), "utf8")) as { scripts: Record<string, string> };
    expect(pkg.scripts.prestart).toBe("node scripts/build-if-stale.mjs");
    expect(pkg.scripts.prebench).toBe("node scripts/build-if-stale.mjs");
  });
});
