#!/usr/bin/env node
/**
 * `npm start` / `npm run bench` pre-step: build (tsc -p tsconfig.json) only when a source is
 * newer than the last build, so a current build starts at once and prints nothing. The
 * build's stamp is dist/src/cli.js (tsc rewrites every output on each build); the sources
 * are tsconfig.json and every file under src/, bench/ and spec-tables/.
 * Prints only to stderr, so stdout stays the program's (the co-simulation pipe's protocol).
 */
import { spawnSync } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const stampFile = join(root, "dist", "src", "cli.js");

function newest(path) {
  let st;
  try { st = statSync(path); } catch { return 0; }
  if (!st.isDirectory()) return st.mtimeMs;
  let t = 0;
  for (const name of readdirSync(path)) t = Math.max(t, newest(join(path, name)));
  return t;
}

let stamp = 0;
try { stamp = statSync(stampFile).mtimeMs; } catch { stamp = 0; }
const sources = Math.max(...["tsconfig.json", "src", "bench", "spec-tables"].map((p) => newest(join(root, p))));
if (stamp !== 0 && sources <= stamp) process.exit(0);
process.stderr.write(stamp === 0 ? "build: no build yet, compiling (tsc)\n" : "build: sources changed since the last build, compiling (tsc)\n");
const tsc = join(root, "node_modules", "typescript", "bin", "tsc");
const r = spawnSync(process.execPath, [tsc, "-p", join(root, "tsconfig.json")], { stdio: ["ignore", 2, 2] });
process.exit(r.status ?? 1);
