/**
 * Starting an agent (host or IOMMU side) in a worker thread.
 *
 * A tiny CommonJS bootstrap, evaluated by the Worker itself (no bootstrap file to ship or
 * resolve), imports an agent module by URL and calls one of its exports with the worker's
 * data; the returned value (or thrown error) comes back as the handle's `result`.
 * SharedArrayBuffers in `data` are shared, not copied. The agent module must be JavaScript
 * Node can load: the built package (dist/) as is; under vitest, whose TypeScript transform
 * does not reach worker threads, compile the agent modules first (the concurrency tests
 * transpile them into a temporary directory, see test/concurrency/agent-build.ts).
 */
import { Worker } from "node:worker_threads";

const BOOTSTRAP = `
const { workerData, parentPort } = require("node:worker_threads");
(async () => {
  const m = await import(workerData.module);
  const f = m[workerData.exportName];
  if (typeof f !== "function") throw new TypeError("agent module " + workerData.module + " has no function export " + workerData.exportName);
  return await f(workerData.data);
})().then(
  (result) => parentPort.postMessage({ ok: true, result }),
  (e) => parentPort.postMessage({ ok: false, error: e && e.stack ? String(e.stack) : String(e) }),
);
`;

/**
 * The agent's thread: Node's worker_threads Worker, typed here by what callers use so that the
 * package's types compile without @types/node.
 */
export interface AgentWorker {
  readonly threadId: number;
  postMessage(value: unknown): void;
  terminate(): Promise<number>;
}

export interface AgentHandle<T> {
  readonly worker: AgentWorker;
  /** The agent function's return value (structured-cloned); rejects with its error. */
  readonly result: Promise<T>;
  /** Stop the thread at once. */
  terminate(): Promise<number>;
}

/**
 * Run `exportName(data)` of the JavaScript module at `module` (a file: URL, i.e. anything with
 * an href, or a path string) in a new worker thread.
 */
export function startAgent<T = unknown>(module: string | { readonly href: string }, exportName: string, data: unknown): AgentHandle<T> {
  let href: string;
  if (module !== null && typeof module === "object" && typeof module.href === "string") href = module.href;
  else if (typeof module === "string" && module.length > 0) href = /^[a-z][a-z0-9+.-]*:/i.test(module) ? module : new URL(`file://${module.startsWith("/") ? "" : "/"}${module}`).href;
  else throw new TypeError("startAgent: module must be a URL or a non-empty path string");
  if (/\.(c|m)?ts$/.test(href)) {
    throw new RangeError(`startAgent: module must be compiled JavaScript, got ${href} (worker threads do not load TypeScript; build first)`);
  }
  if (typeof exportName !== "string" || exportName.length === 0) throw new TypeError("startAgent: exportName must be a non-empty string");
  const worker = new Worker(BOOTSTRAP, { eval: true, workerData: { module: href, exportName, data } });
  const result = new Promise<T>((resolve, reject) => {
    let settled = false;
    worker.once("message", (m: { ok: boolean; result?: T; error?: string }) => {
      settled = true;
      if (m.ok) resolve(m.result as T);
      else reject(new Error(`agent ${exportName} failed: ${m.error}`));
    });
    worker.once("error", (e) => { settled = true; reject(e); });
    worker.once("exit", (code) => { if (!settled) reject(new Error(`agent ${exportName} exited with code ${code} before answering`)); });
  });
  return { worker, result, terminate: () => worker.terminate() };
}
