#!/usr/bin/env node
/**
 * `npm run mutants`: mutation check of the test suites. For each mutation in
 * scripts/mutations.json (a named change that removes or weakens one behaviour: a fast-path
 * check, a spec fix, a protection), copy the repository's tracked files to a temporary
 * directory (node_modules linked), apply the mutation there (its `find` text must occur
 * exactly once in its file), run the mutation's test files with vitest, and record which
 * tests fail. Prints a table: mutation -> test files that catch it (failed tests / run), or
 * SURVIVED. The working tree is never modified. Not part of `npm test` (minutes, not seconds).
 *
 *   npm run mutants                      every mutation
 *   npm run mutants -- --only a,b        the named ones
 *   npm run mutants -- --list            names and what each removes
 *   npm run mutants -- --json out.json   also write the results as JSON
 *   npm run mutants -- --no-baseline     skip the unmutated run (which must pass first)
 *
 * Exit status: 0 when every mutation is caught (and the baseline passes), 1 otherwise.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const mutations = JSON.parse(readFileSync(join(root, "scripts", "mutations.json"), "utf8")).mutations;

const args = process.argv.slice(2);
const flag = (name) => args.includes(name);
const value = (name) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : undefined; };

if (flag("--list")) {
  for (const m of mutations) console.log(`${m.name.padEnd(34)} ${m.file}\n${" ".repeat(35)}${m.removes}`);
  process.exit(0);
}
const only = value("--only")?.split(",").map((s) => s.trim()).filter(Boolean);
const selected = only ? mutations.filter((m) => only.includes(m.name)) : mutations;
if (only) for (const n of only) if (!mutations.some((m) => m.name === n)) { console.error(`mutants: no mutation named ${n} (see --list)`); process.exit(2); }

/** Apply one mutation to a file's text; throws unless `find` occurs exactly once. */
function applyMutation(text, m) {
  const first = text.indexOf(m.find);
  if (first < 0) throw new Error(`${m.name}: pattern not found in ${m.file}`);
  if (text.indexOf(m.find, first + 1) >= 0) throw new Error(`${m.name}: pattern found more than once in ${m.file}`);
  return text.slice(0, first) + m.replace + text.slice(first + m.find.length);
}

// ---- the copy ----
const work = mkdtempSync(join(tmpdir(), "iommu-mutants-"));
const files = execFileSync("git", ["ls-files", "-z"], { cwd: root, encoding: "utf8" }).split("\0").filter(Boolean);
for (const f of files) {
  const src = join(root, f);
  if (!existsSync(src)) continue; // deleted in the working tree
  mkdirSync(dirname(join(work, f)), { recursive: true });
  cpSync(src, join(work, f));
}
// uncommitted edits of tracked files are copied as they are; node_modules is shared (read-only use)
symlinkSync(join(root, "node_modules"), join(work, "node_modules"), "dir");
// (the copy's own vitest.config.ts applies: timeouts as in npm test)
const vitest = join(root, "node_modules", "vitest", "vitest.mjs");

/** Run test files in the copy; returns { files: Map(file -> { failed, total, names[] }), ok, error }. */
function runTests(tests, label) {
  const out = join(work, `.result-${label}.json`);
  rmSync(out, { force: true });
  const r = spawnSync(process.execPath, [vitest, "run", "--dir", "test", "--reporter=json", `--outputFile=${out}`, ...tests], {
    cwd: work, encoding: "utf8", env: { ...process.env, CI: "1" }, maxBuffer: 64 * 1024 * 1024,
  });
  const byFile = new Map();
  if (!existsSync(out)) return { files: byFile, ok: false, error: (r.stderr || r.stdout || "vitest wrote no result").split("\n").slice(-15).join("\n") };
  const j = JSON.parse(readFileSync(out, "utf8"));
  for (const tr of j.testResults) {
    const file = tr.name.startsWith(work) ? tr.name.slice(work.length + 1) : tr.name;
    const failed = tr.assertionResults.filter((a) => a.status === "failed");
    // a file that fails to load (a mutation that breaks an import) counts as caught by that file
    const loadFailed = tr.status === "failed" && tr.assertionResults.length === 0;
    byFile.set(file, { failed: loadFailed ? 1 : failed.length, total: Math.max(tr.assertionResults.length, 1), names: failed.map((a) => a.title).slice(0, 3) });
  }
  return { files: byFile, ok: j.success === true, error: null };
}

const original = new Map();
const restore = () => { for (const [f, text] of original) writeFileSync(join(work, f), text); original.clear(); };
const results = [];
let exit = 0;
try {
  if (!flag("--no-baseline")) {
    const all = [...new Set(selected.flatMap((m) => m.tests))];
    process.stdout.write(`baseline (no mutation): ${all.join(" ")} ... `);
    const b = runTests(all, "baseline");
    const failing = [...b.files].filter(([, v]) => v.failed > 0).map(([f]) => f);
    console.log(b.ok ? "green" : `NOT GREEN (${failing.join(", ") || b.error})`);
    if (!b.ok) { console.error("mutants: the unmutated tree must pass the selected tests first"); process.exit(1); }
  }
  for (const m of selected) {
    const t0 = Date.now();
    const path = join(work, m.file);
    const text = readFileSync(path, "utf8");
    original.set(m.file, text);
    writeFileSync(path, applyMutation(text, m));
    const r = runTests(m.tests, m.name);
    restore();
    const catching = [...r.files].filter(([, v]) => v.failed > 0).map(([f, v]) => ({ file: f, failed: v.failed, total: v.total, examples: v.names }));
    const caught = catching.length > 0;
    if (!caught) exit = 1;
    results.push({ name: m.name, file: m.file, removes: m.removes, tests: m.tests, caught, catching, error: r.error, seconds: (Date.now() - t0) / 1000 });
    console.log(`${m.name}: ${caught ? catching.map((c) => `${c.file} (${c.failed}/${c.total})`).join(", ") : "SURVIVED"}${r.error ? ` [vitest: ${r.error.split("\n")[0]}]` : ""} (${((Date.now() - t0) / 1000).toFixed(0)} s)`);
  }
} finally {
  restore();
  rmSync(work, { recursive: true, force: true });
}

// ---- the table ----
const nameW = Math.max(8, ...results.map((r) => r.name.length));
console.log(`\n${"mutation".padEnd(nameW)} | caught by (failed tests / tests in file)`);
console.log(`${"-".repeat(nameW)}-|-${"-".repeat(60)}`);
for (const r of results) {
  console.log(`${r.name.padEnd(nameW)} | ${r.caught ? r.catching.map((c) => `${c.file} (${c.failed}/${c.total})`).join(", ") : "SURVIVED"}`);
}
const caught = results.filter((r) => r.caught).length;
console.log(`\n${caught} of ${results.length} mutations caught`);
const jsonOut = value("--json");
if (jsonOut) writeFileSync(resolve(jsonOut), JSON.stringify(results, null, 2) + "\n");
process.exit(exit);
