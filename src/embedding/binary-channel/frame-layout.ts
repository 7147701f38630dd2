/**
 * The binary co-simulation channel's frame layout (README "Binary channel"): fixed-layout
 * little-endian frames carrying batches of records, beside the JSON-lines protocol of
 * cosim-session.ts (same server, chosen at start with `serve --binary`).
 *
 * Frame (16-byte header, then `count` records; every length a multiple of 8):
 *   0 u32 magic "IOMB" (0x424d4f49)   4 u32 frame length, header included
 *   8 u32 record count               12 u8 kind (FrameKind)   13 u8 version (1)   14 u16 zero
 * Record (8-byte header, then the op's body):
 *   0 u8 op   1 u8 iommu index (request) / status (answer)   2 u16 flags   4 u32 record length
 *
 * This file is the one place the offsets live: the server (binary-session.ts), the C client
 * (clients/c/amd_iommu_client.h) and the Python client (clients/python/amd_iommu_client.py)
 * follow it, and test/embedding/binary-channel.test.ts checks the clients' constants against it.
 */

export const MAGIC = 0x424d4f49; // "IOMB" little-endian
export const VERSION = 1;
export const FRAME_HEADER = 16;
export const RECORD_HEADER = 8;
/** Largest request frame the server accepts (header included). */
export const MAX_FRAME = 16 << 20;
/** Largest answer frame: a record whose answer would pass it gets an error answer instead. */
export const MAX_ANSWER = 64 << 20;
/** Largest memory-read record (bytes of data). */
export const MAX_MEMORY_READ = 1 << 20;
/** Largest error text in an error answer (bytes of UTF-8). */
export const MAX_ERROR_TEXT = 240;

export const enum FrameKind {
  /** Client -> server: requests. */
  Request = 1,
  /** Server -> client: answers and notifications, one frame per request frame. */
  Answer = 2,
  /** Server -> client (simulator-owned memory): one memory request the server waits on. */
  MemoryRequest = 3,
  /** Client -> server: the answer to a memory request. */
  MemoryAnswer = 4,
}

/**
 * Request opcodes. 0x01-0x3f requests (0x20 remap-interrupt; 0x12-0x1f and 0x21-0x3f reserved
 * for ops to come), 0x80-0x8f notifications (server -> client), 0xc0-0xcf memory requests
 * (simulator-owned memory). An unknown op gets an error answer.
 */
export const enum Op {
  Hello = 0x01,
  AddMemory = 0x02,
  CreateIommu = 0x03,
  MmioRead = 0x04,
  MmioWrite = 0x05,
  MemoryRead = 0x06,
  MemoryWrite = 0x07,
  Translate = 0x08,
  TranslateAts = 0x09,
  Peek = 0x0a,
  TranslateTimed = 0x0b,
  PageRequest = 0x0c,
  Advance = 0x0d,
  Subscribe = 0x0e,
  AttachEndpoint = 0x0f,
  Quit = 0x10,
  /** A JSON request of cosim-session.ts (stats, snapshot, restore, replay, ...); its answer as JSON text. */
  Json = 0x11,
  /** An MSI write through interrupt remapping (remap-interrupt). */
  RemapInterrupt = 0x20,

  NotifyUnmap = 0x81,
  NotifyDeviceTlbUnmap = 0x82,
  NotifyMap = 0x83,
  NotifyInterrupt = 0x84,
  NotifyPrgResponse = 0x85,

  MemRead = 0xc1,
  MemCas = 0xc2,
  MemWrite = 0xc3,
}

/** Every op a request may carry, with its name (the opcode table; the README's table follows it). */
export const REQUEST_OPS: ReadonlyMap<number, string> = new Map([
  [Op.Hello, "hello"], [Op.AddMemory, "add-memory"], [Op.CreateIommu, "create-iommu"], [Op.MmioRead, "mmio-read"],
  [Op.MmioWrite, "mmio-write"], [Op.MemoryRead, "read-memory"], [Op.MemoryWrite, "write-memory"], [Op.Translate, "translate"],
  [Op.TranslateAts, "translate-ats"], [Op.Peek, "peek"], [Op.TranslateTimed, "translate-timed"], [Op.PageRequest, "page-request"],
  [Op.Advance, "advance"], [Op.Subscribe, "subscribe"], [Op.AttachEndpoint, "attach-endpoint"], [Op.Quit, "quit"], [Op.Json, "json"],
  [Op.RemapInterrupt, "remap-interrupt"],
]);

/** Answer record status (byte 1). */
export const enum Status { Ok = 0, Error = 1 }

/** Error answer body: u32 code, u32 text bytes, UTF-8 text padded to 8. */
export const enum ErrorCode {
  /** The frame header is wrong (magic, length, kind); the server skips to the next magic. */
  BadFrame = 1,
  /** A record's length is wrong (short, not a multiple of 8, past the frame): the rest of the frame is not run. */
  BadRecord = 2,
  /** The op refused its arguments or the model refused the operation (the text names the field). */
  Refused = 3,
  /** Unknown opcode. */
  UnknownOp = 4,
  /** The answer would pass MAX_ANSWER. */
  TooLarge = 5,
}

/** Translation request flags (u16 at record offset 2). */
export const enum TFlag { Write = 1, Execute = 2, Privileged = 4, Pasid = 8 }
/** Translation answer flags. */
export const enum AFlag { Allowed = 1, Readable = 2, Writable = 4, Executable = 8, User = 16, IotlbHit = 32 }

/** Record lengths of the fixed-size records. */
export const enum Len {
  Translate = 32,
  TranslateAnswer = 40,
  Mmio = 24,
  MmioAnswer = 16,
  Advance = 16,
  AdvanceAnswer = 16,
  PageRequest = 32,
  PageRequestAnswer = 16,
  RemapInterrupt = 40,
  RemapInterruptAnswer = 48,
  AddMemory = 24,
  Subscribe = 16,
  AttachEndpoint = 16,
  HelloAnswer = 24,
  Unmap = 48,
  DeviceTlbUnmap = 40,
  Map = 48,
  Interrupt = 16,
  PrgResponse = 32,
  MemRead = 24,
  MemCas = 24,
  MemWrite = 24,
}

/** Fault reasons in answer byte 8 (index + 1; 0 = no fault), the TranslationResult's names in order. */
export const FAULTS = [
  "dte-hardware-error", "illegal-dte", "translation-disabled", "reserved-mode", "pasid-not-allowed",
  "address-out-of-range", "non-canonical", "not-present", "permission", "user-supervisor", "no-execute",
  "reserved-bit", "invalid-level", "invalid-page-size", "skipped-level-nonzero", "page-table-hardware-error",
  "pasid-out-of-range", "gcr3-not-valid", "ats-disabled", "untranslated-only", "ad-contention",
] as const;
/** Translation paths in answer byte 9. */
export const PATHS = ["none", "iommu-disabled", "untranslated", "pretranslated", "exclusion", "mode0", "host", "guest", "nested"] as const;
/** Event subscription bits (Subscribe body), in the JSON protocol's names. */
export const EVENT_BITS = ["unmap", "device-tlb-unmap", "map", "interrupt", "prg-response"] as const;
/** Page-request outcomes (answer u32). */
export const PPR_OUTCOMES = ["logged", "invalid", "dropped", "answered"] as const;
/** Unmap commands (UNMAP notification u32 at 20). */
export const UNMAP_COMMANDS = ["INVALIDATE_IOMMU_PAGES", "INVALIDATE_DEVTAB_ENTRY", "INVALIDATE_IOMMU_ALL"] as const;
/** Interrupt sources (INTERRUPT notification u32 at 8). */
export const INTERRUPT_SOURCES = ["event-log", "ppr-log", "completion-wait", "ga-log"] as const;
/** Interrupt remapping answer: path code (u8 at 27) and fault code (u8 at 26, 0 = none). */
export const INTERRUPT_PATHS = ["none", "iommu-disabled", "not-mapped", "forwarded", "remapped", "guest"] as const;
export const INTERRUPT_FAULTS = [null, "not-an-interrupt", "dte-hardware-error", "illegal-dte", "interrupt-with-pasid", "remapping-blocked",
  "pass-blocked", "logical-pass-through", "reserved-delivery-mode", "index-out-of-range", "irte-hardware-error", "irte-not-remapped",
  "irte-reserved", "guest-mode-not-allowed", "vapic-hardware-error"] as const;
/** Interrupt remapping request flags (u16 at 2) and answer flags. */
export const enum IFlag { Peek = 1, Timed = 2, Pasid = 8 }
export const enum IAFlag { Delivered = 1, Posted = 2, Doorbell = 4, GaLogged = 8, IrteCacheHit = 16, RequestEoi = 32, DestinationLogical = 64 }
