/**
 * Worker threads do not go through vitest's TypeScript transform, so the agent modules of
 * the concurrency tests (and the src/ files they import) are transpiled into a temporary
 * directory first: the import graph from the entry files, one ts.transpileModule per file
 * (no type check: `npm test` runs tsc on the whole project anyway), JSON imports copied,
 * and a package.json that marks the .js files as ES modules. Takes well under a second.
 */
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import ts from "typescript";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

const built: string[] = [];
/** Remove every directory buildAgents made in this process (call in afterAll, once the agents have ended). */
export function removeBuiltAgents(): void {
  for (const dir of built.splice(0)) rmSync(dir, { recursive: true, force: true });
}

/**
 * A deliberate bug planted in the transpiled copy only (the working tree is never touched):
 * mutation checks show that a test fails when the mechanism it protects is removed.
 */
export interface Mutation { file: string; find: string; replace: string }

/** Transpile `entries` (paths relative to the repository root) and their imports; returns entry -> file URL of the .js. */
export function buildAgents(entries: string[], mutations: Mutation[] = []): Record<string, string> {
  const out = mkdtempSync(join(tmpdir(), "iommu-agents-"));
  built.push(out);
  writeFileSync(join(out, "package.json"), JSON.stringify({ type: "module" }));
  symlinkSync(join(ROOT, "node_modules"), join(out, "node_modules"), "dir"); // the runtime dependencies (the schema library)
  const seen = new Set<string>();
  const queue = entries.map((e) => resolve(ROOT, e));
  while (queue.length > 0) {
    const file = queue.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    const rel = relative(ROOT, file);
    const dest = join(out, rel);
    mkdirSync(dirname(dest), { recursive: true });
    if (file.endsWith(".json")) { copyFileSync(file, dest); continue; }
    let src = readFileSync(file, "utf8");
    for (const m of mutations) {
      if (resolve(ROOT, m.file) !== file) continue;
      if (!src.includes(m.find)) throw new Error(`mutation: ${m.file} no longer contains ${JSON.stringify(m.find)}; update the mutation check`);
      src = src.replace(m.find, m.replace);
    }
    for (const imp of ts.preProcessFile(src, true, true).importedFiles) {
      const name = imp.fileName;
      if (!name.startsWith(".")) continue;
      const target = resolve(dirname(file), name);
      queue.push(target.endsWith(".js") ? target.slice(0, -3) + ".ts" : target);
    }
    const js = ts.transpileModule(src, {
      fileName: file,
      compilerOptions: { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ESNext, sourceMap: false, resolveJsonModule: true },
    }).outputText;
    writeFileSync(dest.replace(/\.ts$/, ".js"), js);
  }
  for (const m of mutations) if (!seen.has(resolve(ROOT, m.file))) throw new Error(`mutation: ${m.file} is not imported by the agents`);
  const urls: Record<string, string> = {};
  for (const e of entries) urls[e] = pathToFileURL(join(out, e.replace(/\.ts$/, ".js"))).href;
  return urls;
}
