/**
 * A checker of the Trace Event Format rules a written trace must keep for Perfetto's JSON
 * importer to take it without an error stat (the rules its slice and flow trackers apply):
 *
 *   - the document is an object with a traceEvents array; no displayTimeUnit key
 *   - every event has a one-letter ph we write (X, i, M, s, f), a string name, integer pid
 *     and tid, a finite non-negative ts; X has a finite non-negative dur; i has s in t/p/g;
 *     M is one of process_name, process_sort_index, thread_name, thread_sort_index with args
 *   - ts and dur are whole nanoseconds written in microseconds: the JSON text of each has at
 *     most three decimals (no float noise like 1.6420000000000001)
 *   - time is monotonic: after the metadata, ts never decreases along the array
 *   - per track (pid, tid), complete events nest: each one that starts inside another ends
 *     inside it (else Perfetto raises slice_spill_overlapping_complete_event or drops it)
 *   - flow v2: each bind_id appears on exactly one flow_out and one flow_in complete event,
 *     the flow_out one starting no later than the flow_in one
 *   - flow v1: each "s" has exactly one "f" with the same id, cat and name, later in time;
 *     both lie strictly inside a complete event on their own track (the slice they bind to)
 *
 * Returns the list of violations (empty = the trace keeps every rule) and counts.
 */
export interface TraceCheck {
  errors: string[];
  counts: { events: number; complete: number; tracks: number; flowsV2: number; flowsV1: number; maxDepth: number };
}

type Ev = Record<string, unknown> & { ph: string; name: string; pid: number; tid: number; ts: number; dur?: number };

const META = new Set(["process_name", "process_sort_index", "thread_name", "thread_sort_index"]);

/** Decimals of the JSON text of every "ts" and "dur" number in the written text. */
function badNumbers(text: string): string[] {
  const out: string[] = [];
  const re = /"(ts|dur)":(-?[0-9.eE+-]+)/g;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    const v = m[2]!;
    if (/[eE]/.test(v) || (v.includes(".") && v.split(".")[1]!.length > 3)) out.push(`${m[1]} written as ${v} (not whole ns in us)`);
    if (out.length > 5) break;
  }
  return out;
}

export function checkTrace(text: string): TraceCheck {
  const errors: string[] = [];
  const err = (s: string) => { if (errors.length < 50) errors.push(s); };
  let doc: unknown;
  try { doc = JSON.parse(text); } catch (e) { return { errors: [`not JSON: ${(e as Error).message}`], counts: { events: 0, complete: 0, tracks: 0, flowsV2: 0, flowsV1: 0, maxDepth: 0 } }; }
  const d = doc as { traceEvents?: unknown; displayTimeUnit?: unknown };
  if (d === null || typeof d !== "object" || !Array.isArray(d.traceEvents)) return { errors: ["no traceEvents array"], counts: { events: 0, complete: 0, tracks: 0, flowsV2: 0, flowsV1: 0, maxDepth: 0 } };
  if ("displayTimeUnit" in d) err("displayTimeUnit present (Perfetto counts json_display_time_unit; older importers read ts in that unit)");
  for (const b of badNumbers(text)) err(b);
  const evs = d.traceEvents as Ev[];
  let lastTs = -Infinity, seenTimed = false;
  const tracks = new Map<string, Ev[]>();
  const v2 = new Map<number, { out: Ev[]; in: Ev[] }>();
  const v1 = new Map<string, { s: Ev[]; f: Ev[] }>();
  evs.forEach((e, i) => {
    const at = `event ${i} (${String(e?.name)})`;
    if (e === null || typeof e !== "object") { err(`${at}: not an object`); return; }
    if (typeof e.name !== "string") err(`${at}: name is not a string`);
    if (!Number.isInteger(e.pid) || !Number.isInteger(e.tid) || e.pid < 0 || e.tid < 0) err(`${at}: pid/tid not non-negative integers`);
    if (!["X", "i", "M", "s", "f"].includes(e.ph)) { err(`${at}: ph ${String(e.ph)} not one we write`); return; }
    if (e.ph === "M") {
      if (seenTimed) err(`${at}: metadata after timed events`);
      if (!META.has(e.name)) err(`${at}: unknown metadata ${e.name}`);
      if (e.args === null || typeof e.args !== "object") err(`${at}: metadata without args`);
      return;
    }
    seenTimed = true;
    if (typeof e.ts !== "number" || !Number.isFinite(e.ts) || e.ts < 0) { err(`${at}: ts ${String(e.ts)}`); return; }
    if (e.ts < lastTs) err(`${at}: ts ${e.ts} after ${lastTs} (not monotonic)`);
    lastTs = e.ts;
    const key = `${e.pid}/${e.tid}`;
    if (e.ph === "X") {
      if (typeof e.dur !== "number" || !Number.isFinite(e.dur) || e.dur < 0) err(`${at}: dur ${String(e.dur)}`);
      let list = tracks.get(key);
      if (list === undefined) { list = []; tracks.set(key, list); }
      list.push(e);
      if (e.bind_id !== undefined) {
        const id = e.bind_id as number;
        let f = v2.get(id);
        if (f === undefined) { f = { out: [], in: [] }; v2.set(id, f); }
        if (e.flow_out === true) f.out.push(e);
        if (e.flow_in === true) f.in.push(e);
        if (e.flow_in !== true && e.flow_out !== true) err(`${at}: bind_id without flow_in/flow_out`);
      }
    } else if (e.ph === "i") {
      if (!["t", "p", "g"].includes(e.s as string)) err(`${at}: instant scope ${String(e.s)}`);
    } else {
      const id = `${String(e.id)}|${String(e.cat)}|${e.name}`;
      let f = v1.get(id);
      if (f === undefined) { f = { s: [], f: [] }; v1.set(id, f); }
      (e.ph === "s" ? f.s : f.f).push(e);
      if (e.ph === "f" && e.bp !== "e") err(`${at}: flow end without bp "e"`);
    }
  });
  // nesting per track (ns integers so that equal ends compare exactly)
  const ns = (v: number) => Math.round(v * 1000);
  let maxDepth = 0, complete = 0;
  for (const [key, list] of tracks) {
    complete += list.length;
    const sorted = [...list].sort((a, b) => ns(a.ts) - ns(b.ts) || ns(b.dur!) - ns(a.dur!));
    const stack: number[] = [];
    for (const e of sorted) {
      const s = ns(e.ts), end = s + ns(e.dur!);
      while (stack.length > 0 && stack[stack.length - 1]! <= s) stack.pop();
      if (stack.length > 0 && end > stack[stack.length - 1]!) err(`track ${key}: "${e.name}" [${s}, ${end}] ns overlaps its enclosing slice ending at ${stack[stack.length - 1]} without nesting`);
      stack.push(end);
      maxDepth = Math.max(maxDepth, stack.length);
    }
  }
  const inside = (p: Ev) => {
    const list = tracks.get(`${p.pid}/${p.tid}`) ?? [];
    const t = ns(p.ts);
    return list.some((x) => ns(x.ts) < t && t < ns(x.ts) + ns(x.dur!));
  };
  for (const [id, f] of v2) {
    if (f.out.length !== 1 || f.in.length !== 1) { err(`flow v2 ${id}: ${f.out.length} flow_out and ${f.in.length} flow_in events`); continue; }
    if (f.out[0]!.ts > f.in[0]!.ts) err(`flow v2 ${id}: runs backwards in time`);
  }
  for (const [id, f] of v1) {
    if (f.s.length !== 1 || f.f.length !== 1) { err(`flow v1 ${id}: ${f.s.length} starts and ${f.f.length} ends`); continue; }
    if (f.s[0]!.ts >= f.f[0]!.ts) err(`flow v1 ${id}: end not after start`);
    if (!inside(f.s[0]!)) err(`flow v1 ${id}: start not strictly inside a slice of its track`);
    if (!inside(f.f[0]!)) err(`flow v1 ${id}: end not strictly inside a slice of its track`);
  }
  return { errors, counts: { events: evs.length, complete, tracks: tracks.size, flowsV2: v2.size, flowsV1: v1.size, maxDepth } };
}
