/**
 * Headless Debian chromium for the report tests: load a page, let its scripts run, and return
 * the DOM after load, what the page logged, and the console errors it raised.
 *
 * Console errors are caught twice: a probe script put first in the page records
 * console.error / console.warn, uncaught errors, failed resource loads and unhandled
 * rejections into an attribute of <html>; and chromium's own log (--enable-logging=stderr)
 * lists every console message as an INFO:CONSOLE line, which must stay empty for a page that
 * logs nothing.
 *
 * When chromium is not installed the tests that need it are skipped with a name that says so
 * (`.ci/run` installs it: apt-get install -y chromium); with REQUIRE_CHROMIUM=1 (set by
 * .ci/run) a missing chromium fails instead.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

function findChromium(): string | null {
  const env = process.env.CHROMIUM;
  if (env && existsSync(env)) return env;
  for (const p of ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/snap/bin/chromium"]) if (existsSync(p)) return p;
  try { return execFileSync("which", ["chromium"], { encoding: "utf8" }).trim() || null; } catch { return null; }
}

export const CHROMIUM = findChromium();
export const CHROMIUM_MISSING = CHROMIUM === null
  ? "chromium is not installed (apt-get install -y chromium; .ci/run installs it): browser checks NOT RUN"
  : "";
if (CHROMIUM === null && process.env.REQUIRE_CHROMIUM === "1") throw new Error(`REQUIRE_CHROMIUM=1 but ${CHROMIUM_MISSING}`);
if (CHROMIUM === null) process.stderr.write(`\n*** ${CHROMIUM_MISSING} ***\n\n`);

/** Put first in <head>: records console errors and warnings, uncaught errors, failed loads, rejections. */
export const PROBE = `<script>(function(){var errs=[];function put(k,m){errs.push(k+": "+m);document.documentElement.setAttribute("data-probe-errors",JSON.stringify(errs));}
var e=console.error,w=console.warn;console.error=function(){put("console.error",Array.prototype.join.call(arguments," "));return e.apply(console,arguments);};
console.warn=function(){put("console.warn",Array.prototype.join.call(arguments," "));return w.apply(console,arguments);};
addEventListener("error",function(ev){put("error",ev.message||(ev.target&&(ev.target.src||ev.target.href))||"load failure");},true);
addEventListener("unhandledrejection",function(ev){put("unhandledrejection",String(ev.reason));});
document.documentElement.setAttribute("data-probe-errors","[]");})();</script>`;

export interface PageRun { dom: string; consoleLines: string[]; probeErrors: string[]; stderr: string }

/** Load `html` (written to a temporary file) in headless chromium; `extraArgs` e.g. a screenshot. */
export function loadPage(html: string, extraArgs: string[] = []): PageRun {
  if (CHROMIUM === null) throw new Error(CHROMIUM_MISSING);
  const dir = mkdtempSync(join(tmpdir(), "iommu-chromium-"));
  try {
    const withProbe = html.replace(/<head>/i, `<head>${PROBE}`);
    const file = join(dir, "page.html");
    writeFileSync(file, withProbe);
    const r = spawnSync(CHROMIUM, [
      "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync",
      "--no-first-run", `--user-data-dir=${join(dir, "profile")}`, "--enable-logging=stderr", "--v=0", "--virtual-time-budget=3000",
      ...extraArgs, "--dump-dom", `file://${file}`,
    ], { encoding: "utf8", timeout: 90_000, maxBuffer: 64 * 1024 * 1024 });
    if (r.error) throw r.error;
    if (r.status !== 0) throw new Error(`chromium exited with ${String(r.status)}: ${r.stderr.slice(-2000)}`);
    const dom = r.stdout;
    const m = /data-probe-errors="([^"]*)"/.exec(dom);
    if (m === null) throw new Error("the probe script did not run (no data-probe-errors attribute in the dumped DOM)");
    const probeErrors = JSON.parse(m[1]!.replace(/&quot;/g, '"').replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&")) as string[];
    const consoleLines = r.stderr.split("\n").filter((l) => /:CONSOLE[:(]/.test(l));
    return { dom, consoleLines, probeErrors, stderr: r.stderr };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
