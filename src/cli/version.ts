/** The package's version (and the git commit when run from a clone), for report headers. */
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { execFileSync } from "node:child_process";

/** "0.1.0" or "0.1.0 (commit abc1234)". Looks for package.json above this file (src/ or dist/src/). */
export function packageVersion(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i++, dir = dirname(dir)) {
    const p = join(dir, "package.json");
    if (!existsSync(p)) continue;
    const version = (JSON.parse(readFileSync(p, "utf8")) as { version?: string }).version ?? "unknown";
    if (!existsSync(join(dir, ".git"))) return version;
    try {
      const commit = execFileSync("git", ["-C", dir, "rev-parse", "--short", "HEAD"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
      return commit ? `${version} (commit ${commit})` : version;
    } catch { return version; }
  }
  return "unknown";
}
