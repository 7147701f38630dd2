/**
 * The building blocks of the co-simulation protocol's declared schema (TypeBox: every schema
 * here is plain JSON Schema, so the file `schema/pipe-protocol.schema.json` that C and
 * Python clients validate against is exactly what the session checks): field types with
 * their ranges, the request and answer envelopes, the limits on a line, and the check that
 * turns the first violation into an error naming the field.
 */
import { Type, FormatRegistry, type TSchema, type TObject, type TProperties } from "@sinclair/typebox";
import { TypeCompiler } from "@sinclair/typebox/compiler";

/**
 * Bounds of one line. A line longer than `lineBytes` or nested deeper than `depth` gets an
 * error answer (id null) and is not parsed; ids are scalars of at most `idChars` characters.
 */
export const PIPE_LIMITS = Object.freeze({
  /** Longest line (bytes before the newline): a write-memory of `memoryBlockBytes` in base64 fits with room. */
  lineBytes: 32 * 1024 * 1024,
  /** Deepest nesting of arrays and objects in a line (a snapshot needs 6). */
  depth: 32,
  idChars: 256,
  /** Largest block of read-memory / write-memory. */
  memoryBlockBytes: 1 << 24,
  /** Sum of all add-memory regions of a session. */
  memoryBytes: 64 * 1024 * 1024 * 1024,
  /** Most IOMMUs of a session; longest IOMMU name. */
  iommus: 256,
  nameChars: 64,
  /** Most mappings one replay answer lists (default 4096). */
  replayMappings: 1 << 16,
  /** Most events a pipe trace records (default 100,000; a stop answer of that size is ~20 MB). */
  traceEvents: 500_000,
});

// ---- field types ----------------------------------------------------------------------

const MAX_SAFE = Number.MAX_SAFE_INTEGER;

/** A 64-bit unsigned value in: a safe-integer number, or a "0x..." (1..16 digits) or decimal string. */
export function u64In(description = "64-bit unsigned integer: a number up to 2^53-1, or a \"0x...\" or decimal string up to 2^64-1") {
  return Type.Union([
    Type.Integer({ minimum: 0, maximum: MAX_SAFE }),
    Type.String({ pattern: "^(0[xX][0-9a-fA-F]{1,16}|[0-9]{1,20})$" }),
  ], { description });
}
/** An unsigned integer in 0..max, as a number or a "0x..."/decimal string. */
export function uintIn(max: number, what = "integer") {
  return Type.Union([
    Type.Integer({ minimum: 0, maximum: max }),
    Type.String({ pattern: "^(0[xX][0-9a-fA-F]{1,14}|[0-9]{1,16})$" }),
  ], { description: `${what} 0..${max} (number or "0x..." string)`, maximum: max });
}
/** A 64-bit value out: always a "0x..." string (JSON numbers above 2^53 lose bits in many parsers). */
export const U64_OUT = Type.String({ pattern: "^0x[0-9a-f]{1,17}$", description: "64-bit value (or 2^64 for a whole space) as a \"0x...\" string" });
/** A small count or cycle out (always a safe integer). */
export const COUNT_OUT = Type.Integer({ minimum: 0, maximum: MAX_SAFE });
export const BOOL = Type.Boolean();
export const NAME = Type.String({ minLength: 1, maxLength: PIPE_LIMITS.nameChars, description: `IOMMU name (1..${PIPE_LIMITS.nameChars} characters)` });

FormatRegistry.Set("base64", (s) => isBase64(s));
/** Standard base64 (RFC 4648 section 4) with padding; the empty string is the empty block. */
export function isBase64(s: string): boolean {
  if (s.length % 4 !== 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const alnum = (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 43 || c === 47;
    if (alnum) continue;
    if (c === 61 && i >= s.length - 2 && (i === s.length - 1 || s.charCodeAt(s.length - 1) === 61)) continue;
    return false;
  }
  return true;
}
export const BASE64_IN = Type.String({
  format: "base64", contentEncoding: "base64", maxLength: 4 * Math.ceil(PIPE_LIMITS.memoryBlockBytes / 3),
  description: `standard base64 with padding, at most ${PIPE_LIMITS.memoryBlockBytes} bytes`,
});

/** Request id: echoed in the answer. */
export const ID = Type.Union([Type.String({ maxLength: PIPE_LIMITS.idChars }), Type.Number(), Type.Null()], {
  description: `request id echoed in the answer: a string of at most ${PIPE_LIMITS.idChars} characters, a number or null`,
});

// ---- conversions (after the schema check) ----------------------------------------------

const TWO64 = 1n << 64n;
/** A checked u64In / uintIn value as a bigint; refuses decimal strings above 2^64-1. */
export function toBig(v: number | string, field: string): bigint {
  const b = BigInt(v);
  if (b >= TWO64) throw new PipeFieldError(field, `must be at most 2^64-1, got ${String(v)}`);
  return b;
}
/** A checked uintIn value as a number within its maximum. */
export function toUint(v: number | string, field: string, max: number): number {
  const b = BigInt(v);
  if (b > BigInt(max)) throw new PipeFieldError(field, `must be an integer 0..${max}, got ${String(v)}`);
  return Number(b);
}
export function hex(v: number | bigint): string { return "0x" + v.toString(16); }

/** An error answer that names the field (a JSON pointer without the leading slash). */
export class PipeFieldError extends Error {
  constructor(readonly field: string, message: string) { super(`${field}: ${message}`); this.name = "PipeFieldError"; }
}

// ---- ops -------------------------------------------------------------------------------

/** Fields every request may carry beside its own. */
const ENVELOPE = { id: Type.Optional(ID) };
/** Fields of requests that address one IOMMU. */
export const TARGET = { iommu: Type.Optional(NAME) };

export interface OpSchema { name: string; summary: string; request: TObject; answer: TObject }

/** A request schema: the envelope (id, op) and the op's own fields; nothing else. */
export function requestSchema(name: string, props: TProperties): TObject {
  return Type.Object({ ...ENVELOPE, op: Type.Literal(name), ...props }, { additionalProperties: false, $id: `request/${name}` });
}
/** An answer schema: id, ok = true and the op's own fields. */
export function answerSchema(name: string, props: TProperties): TObject {
  return Type.Object({ id: ID, ok: Type.Literal(true), ...props }, { additionalProperties: false, $id: `answer/${name}` });
}
export const ERROR_ANSWER = Type.Object({
  id: ID, ok: Type.Literal(false), error: Type.String(),
  field: Type.Optional(Type.String({ description: "JSON pointer of the offending field, when one field is at fault" })),
}, { additionalProperties: false, $id: "answer/error" });

/** Compiled check of a schema: null when `value` conforms, else the error naming the first offending field. */
export function compileCheck(schema: TSchema, what: string): (value: unknown) => PipeFieldError | null {
  const c = TypeCompiler.Compile(schema);
  return (value) => {
    if (c.Check(value)) return null;
    const first = c.Errors(value).First();
    if (first === undefined) return new PipeFieldError("", `${what} does not conform`);
    return describeError(first.path, first.schema, first.value, first.message);
  };
}
function describeError(path: string, schema: TSchema, value: unknown, message: string): PipeFieldError {
  const field = path.replace(/^\//, "");
  const got = value === undefined ? "nothing" : short(value);
  if (message.startsWith("Unexpected property")) return new PipeFieldError(field, "unknown field");
  const d = (schema as { description?: string }).description;
  return new PipeFieldError(field, `${d !== undefined ? "must be " + d : message.toLowerCase()}, got ${got}`);
}
function short(v: unknown): string {
  let s: string;
  try { s = JSON.stringify(v) ?? String(v); } catch { s = typeof v; }
  return s.length > 60 ? s.slice(0, 57) + "..." : s;
}

/**
 * Nesting depth of a JSON text (arrays and objects), counted without parsing; stops counting
 * at `limit + 1`. Strings are skipped, so brackets inside them do not count.
 */
export function jsonDepthExceeds(text: string, limit: number): boolean {
  let depth = 0, inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92) i++; // backslash: skip the escaped character
      else if (c === 34) inString = false;
    } else if (c === 34) inString = true;
    else if (c === 91 || c === 123) { if (++depth > limit) return true; }
    else if (c === 93 || c === 125) depth--;
  }
  return false;
}

/** The published JSON Schema of the protocol: every op's request and answer, the error answer and the notifications. */
export function protocolJsonSchema(version: number, ops: readonly OpSchema[], notification: TSchema): object {
  const defs: Record<string, unknown> = {};
  for (const o of ops) {
    defs[`request-${o.name}`] = { ...(strip(o.request) as object), description: o.summary };
    defs[`answer-${o.name}`] = strip(o.answer);
  }
  defs["answer-error"] = strip(ERROR_ANSWER);
  defs["notification"] = strip(notification);
  return {
    $schema: "https://json-schema.org/draft/2020-12/schema",
    $id: "amd-iommu-model/pipe-protocol.schema.json",
    title: `amd-iommu-model co-simulation protocol ${version}`,
    description: "One JSON object per line in each direction. A request is one of request-*; each request gets exactly one answer: "
      + "answer-<op> (ok true) or answer-error (ok false); notifications may come before the answer of the request that caused them. "
      + `Limits: ${JSON.stringify(PIPE_LIMITS)}.`,
    "x-protocol-version": version,
    "x-limits": { ...PIPE_LIMITS },
    oneOf: ops.map((o) => ({ $ref: `#/$defs/request-${o.name}` })),
    $defs: defs,
  };
}
/** A schema as plain JSON (TypeBox keeps its kind markers in symbols, which JSON drops; $id of nested parts removed). */
export function strip(s: TSchema): unknown {
  return JSON.parse(JSON.stringify(s, (k, v: unknown) => {
    if (k === "$id") return undefined;
    // the snapshot inside a pipe message: a reference to the published snapshot schema, not a copy
    if (k !== "" && v !== null && typeof v === "object" && (v as { $id?: unknown }).$id === "snapshot") return { $ref: "snapshot.schema.json" };
    return v;
  }));
}
