/**
 * The IOMMU driver shim: Linux's AMD IOMMU driver reduced to what the RFC's race needs
 * (docs/spec-readings.md cmd 5.a-5.e; drivers/iommu/amd/init.c, iommu.c, iommu_v2.c).
 *
 *   init()          5.a: disable, flags (Coherent, InvTimeOut = 1 s), Device Table Base,
 *                   command buffer (ComLen 9, Head = Tail = 0, CmdBufEn), event log, GTEn,
 *                   IommuEn, INVALIDATE_IOMMU_ALL + COMPLETION_WAIT, PPR log (PPREn,
 *                   PprIntEn, PPRLogEn), EventIntEn
 *   attachDevice()  5.b + 5.c amd_iommu_init_device: a direct-mapped v2 domain (Mode 0,
 *                   IR/IW) with a zeroed GCR3 root table; the DTE (V, TV, IR, IW, DomainID,
 *                   GV, GLX, GCR3 root, PPR if PRI, I if ATS) written upper half first;
 *                   INVALIDATE_DEVTAB_ENTRY, INVALIDATE_IOTLB_PAGES (all) if ATS, domain
 *                   flush (INVALIDATE_IOMMU_PAGES all, PDE = 1), COMPLETION_WAIT
 *   bindPasid()     5.c amd_iommu_bind_pasid: GCR3[PASID] = mm.cr3 | V, then the full-PASID
 *                   flush; the notifier policy (notifier-policy.ts) registers on the mm
 *   unbindPasid()   5.c unbind / release: mark invalid, GCR3[PASID] = 0, full-PASID flush
 *   flushPasid()    INVALIDATE_IOMMU_PAGES (GN = 1, PDE = 1, PASID, DomainID, range) and
 *                   INVALIDATE_IOTLB_PAGES (GN = 1) for ATS devices, ordered as the old
 *                   iommu_v2 __flush_pasid (a COMPLETION_WAIT after each) or as Linux 6.x SVA
 *                   (both invalidations, then one COMPLETION_WAIT) (4.2)
 *   drainEventLog() the event-log half of the interrupt thread
 *   irq             interrupt remapping as Linux enables it (irq-remapping.ts): IV in every
 *                   DTE, GAEn/XTEn/2K mode before IommuEn, IntCapXTEn with EventIntEn, the
 *                   GA log and GAMEn; irq.allocate() gives a device remapped MSIs
 *
 * Driver structures (device table, rings, semaphore, GCR3 tables, the empty table) come from
 * a boot-time page source outside the host frame allocator, like memblock allocations.
 */
import type { AmdIommu } from "../../iommu/amd-iommu.js";
import type { PhysicalMemory } from "../../memory/physical-memory.js";
import { DeviceTableWriter } from "../../builders/device-table-writer.js";
import { Gcr3Table } from "../../builders/gcr3-table.js";
import {
  buildInvalidateDevtabEntry, buildInvalidateIommuAll, buildInvalidateIommuPages, buildInvalidateIotlbPages,
} from "../../spec/commands.js";
import { decodeEvent, type DecodedEvent } from "../../spec/events.js";
import {
  CONTROL, MMIO_COMMAND_BUFFER_BASE, MMIO_COMMAND_BUFFER_HEAD, MMIO_COMMAND_BUFFER_TAIL, MMIO_CONTROL,
  MMIO_DEVICE_TABLE_BASE, MMIO_EVENT_LOG_BASE, MMIO_EVENT_LOG_HEAD, MMIO_EVENT_LOG_TAIL, MMIO_PPR_LOG_BASE,
  MMIO_PPR_LOG_HEAD, MMIO_PPR_LOG_TAIL, type BitRef,
} from "../../spec/registers.js";
import type { HostClock } from "../host-clock.js";
import type { Mm } from "../address-space.js";
import { CommandQueue, DEFAULT_DRIVER_COST, type DriverCost, type PollPhaseSource } from "./command-queue.js";
import { ALL_PAGES, type InvalidationRange } from "./range-policy.js";
import { DriverIrqRemapping } from "./irq-remapping.js";

/** Boot-time pages for the driver's structures (builders' BumpAllocator fits). */
export interface DriverPageSource {
  alloc(): number;
  allocContiguous(count: number): number;
}

export interface IommuDriverOptions {
  iommu: AmdIommu;
  memory: PhysicalMemory;
  clock: HostClock;
  pages: DriverPageSource;
  /** DTEs in the device table (Linux: last BDF + 1). Default 256. */
  deviceTableEntries?: number;
  /** log2 of the entry count of the command buffer, event log and PPR log (Linux: 9). */
  ringLenLog2?: number;
  cost?: Partial<DriverCost>;
  /** Re-read the command buffer's Tail from MMIO before each command, as Linux 4.0 did (command-queue.ts). Default false. */
  queueReadsTail?: boolean;
  /**
   * The phase of each completion wait's polls against the IOMMU (command-queue.ts): a seeded
   * source of uniform numbers in [0, 1) (the scenarios' Prng). Not given: the checks fall on
   * whole poll intervals from the start of each wait, the same figure every time.
   */
  pollPhase?: PollPhaseSource;
}

/** A device attached to its own IOMMUv2 (direct-mapped, GCR3) domain. */
export interface AttachedDevice {
  deviceId: number;
  domainId: number;
  ats: boolean;
  pri: boolean;
  /** The PRI capability's "PRG Response PASID Required" (Linux pri_tlp): GN = 1 in COMPLETE_PPR_REQUEST. */
  priTlp: boolean;
  /** ATS Invalidate Queue Depth written as MaxPend. */
  maxPend: number;
  gcr3: Gcr3Table;
}

/** A process address space bound to a device at a PASID (iommu_v2 pasid_state). */
export interface PasidBinding {
  device: AttachedDevice;
  pasid: number;
  mm: Mm;
  /** False once unbinding started: page requests for it are answered Invalid. */
  valid: boolean;
}

/** How a PASID flush orders its commands (docs/spec-readings.md cmd 4.2). */
export type FlushOrder = "iommu-v2" | "sva";

export interface DriverStats {
  /** Host cycles spent in PASID flushes and GCR3 changes made for notifier callbacks. */
  flushCycles: number;
  /** PASID flushes (one per flushPasid call). */
  flushes: number;
  /** GCR3 entry writes. */
  gcr3Writes: number;
  /** Event-log entries drained, by name. */
  events: Record<string, number>;
}

const u64 = (b: BitRef) => BigInt(b.mask) << BigInt(32 * b.half);

function checkDeviceId(name: string, v: unknown): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v > 0xffff) throw new RangeError(`${name} must be an integer 0..65535, got ${String(v)}`);
  return v;
}

export class IommuDriver {
  readonly iommu: AmdIommu;
  readonly memory: PhysicalMemory;
  readonly clock: HostClock;
  readonly cost: DriverCost;
  readonly queue: CommandQueue;
  readonly deviceTable: DeviceTableWriter;
  /** Interrupt remapping (irq-remapping.ts). */
  readonly irq: DriverIrqRemapping;
  readonly ringLenLog2: number;
  readonly commandBuffer: number;
  readonly eventLog: number;
  readonly pprLog: number;
  readonly semaphore: number;
  readonly stats: DriverStats = { flushCycles: 0, flushes: 0, gcr3Writes: 0, events: {} };
  readonly devices = new Map<number, AttachedDevice>();
  readonly bindings: PasidBinding[] = [];
  private readonly pages: DriverPageSource;
  private emptyRoot = -1;
  private initialised = false;

  constructor(options: IommuDriverOptions) {
    if (options === null || typeof options !== "object") throw new TypeError("IommuDriver: options must be an object { iommu, memory, clock, pages }");
    for (const k of ["iommu", "memory", "clock", "pages"] as const) {
      if (options[k] === null || typeof options[k] !== "object") throw new TypeError(`IommuDriver: options.${k} is required`);
    }
    this.iommu = options.iommu;
    this.memory = options.memory;
    this.clock = options.clock;
    this.pages = options.pages;
    this.cost = { ...DEFAULT_DRIVER_COST, ...(options.cost ?? {}) };
    for (const [k, v] of Object.entries(this.cost)) {
      if (typeof v !== "number" || !Number.isFinite(v) || v < 0) throw new RangeError(`IommuDriver: options.cost.${k} must be a finite number >= 0, got ${String(v)}`);
    }
    if (options.queueReadsTail !== undefined && typeof options.queueReadsTail !== "boolean") throw new TypeError(`IommuDriver: options.queueReadsTail must be a boolean, got ${typeof options.queueReadsTail}`);
    if (options.pollPhase !== undefined && (options.pollPhase === null || typeof options.pollPhase !== "object" || typeof options.pollPhase.next !== "function")) {
      throw new TypeError("IommuDriver: options.pollPhase must be a seeded source with next() in [0, 1) (for example the scenarios' Prng)");
    }
    const len = options.ringLenLog2 ?? 9;
    if (!Number.isInteger(len) || len < 8 || len > 15) throw new RangeError(`IommuDriver: options.ringLenLog2 must be 8..15, got ${String(len)}`);
    this.ringLenLog2 = len;
    const entries = options.deviceTableEntries ?? 256;
    if (!Number.isInteger(entries) || entries < 128 || entries > 65536) throw new RangeError(`IommuDriver: options.deviceTableEntries must be 128..65536, got ${String(entries)}`);
    const ringPages = 2 ** (len + 4) / 4096;
    this.deviceTable = new DeviceTableWriter(this.memory, this.pages.allocContiguous(Math.ceil((entries * 32) / 4096)), entries);
    this.commandBuffer = this.pages.allocContiguous(ringPages);
    this.eventLog = this.pages.allocContiguous(ringPages);
    this.pprLog = this.pages.allocContiguous(ringPages);
    this.semaphore = this.pages.alloc();
    this.queue = new CommandQueue({
      iommu: this.iommu, memory: this.memory, clock: this.clock, base: this.commandBuffer, lenLog2: len,
      semaphore: this.semaphore, cost: this.cost, readTail: options.queueReadsTail === true,
      ...(options.pollPhase === undefined ? {} : { pollPhase: options.pollPhase }),
    });
    this.irq = new DriverIrqRemapping(this.iommu, this.memory, this.pages, this.queue, this.deviceTable);
  }

  // ---- 5.a initialisation -------------------------------------------------------------------

  private control(set: BitRef[], clear: BitRef[] = [], field?: { ref: BitRef; value: number }): void {
    const io = this.iommu;
    let v = io.mmioRead64(MMIO_CONTROL);
    for (const b of set) v |= u64(b);
    for (const b of clear) v &= ~u64(b);
    if (field) v = (v & ~u64(field.ref)) | (BigInt(field.value) << BigInt(field.ref.lo));
    io.mmioWrite64(MMIO_CONTROL, v);
  }

  /** Program and enable the IOMMU in Linux's order (docs/spec-readings.md cmd 5.a). */
  init(): void {
    if (this.initialised) throw new Error("IommuDriver.init: already initialised");
    const io = this.iommu;
    const C = CONTROL;
    const lenBits = BigInt(this.ringLenLog2) << 56n;
    // 2. iommu_disable
    this.control([], [C.CmdBufEn, C.EventIntEn, C.EventLogEn, C.PPRLogEn, C.PprIntEn, C.IommuEn]);
    // 3. iommu_init_flags: Coherent, InvTimeOut = 1 s (encoding 4)
    this.control([C.Coherent], [], { ref: C.InvTimeOut, value: 4 });
    // 4. device table (init_device_table: IV = 1 everywhere)
    this.irq.initDeviceTable();
    io.mmioWrite64(MMIO_DEVICE_TABLE_BASE, this.deviceTable.registerValue);
    // 5. command buffer
    io.mmioWrite64(MMIO_COMMAND_BUFFER_BASE, BigInt(this.commandBuffer) | lenBits);
    this.control([], [C.CmdBufEn]);
    io.mmioWrite64(MMIO_COMMAND_BUFFER_HEAD, 0n);
    io.mmioWrite64(MMIO_COMMAND_BUFFER_TAIL, 0n);
    this.queue.resetPointers();
    this.control([C.CmdBufEn]);
    // 6. event log
    io.mmioWrite64(MMIO_EVENT_LOG_BASE, BigInt(this.eventLog) | lenBits);
    io.mmioWrite64(MMIO_EVENT_LOG_HEAD, 0n);
    io.mmioWrite64(MMIO_EVENT_LOG_TAIL, 0n);
    this.control([C.EventLogEn]);
    // 7. guest translation, interrupt-remapping format (GAEn, XTEn, 2K mode), 8. enable
    this.control([C.GTEn]);
    this.irq.enableFormat();
    this.control([C.IommuEn]);
    // 9. flush all caches
    this.queue.queue(buildInvalidateIommuAll());
    this.queue.sync();
    // 10. PPR log
    io.mmioWrite64(MMIO_PPR_LOG_BASE, BigInt(this.pprLog) | lenBits);
    io.mmioWrite64(MMIO_PPR_LOG_HEAD, 0n);
    io.mmioWrite64(MMIO_PPR_LOG_TAIL, 0n);
    this.control([C.PPREn]);
    this.control([C.PprIntEn, C.PPRLogEn]);
    // 11. interrupts (IntCapXTEn on x2APIC systems), then the GA log and guest vAPIC mode
    this.irq.enableInterrupts();
    this.control([C.EventIntEn]);
    this.irq.enableVapic();
    this.initialised = true;
  }

  // ---- 5.b / 5.c attach ----------------------------------------------------------------------

  /**
   * amd_iommu_init_device + attach: give `deviceId` its own direct-mapped IOMMUv2 domain with
   * a zeroed GCR3 root table, write its DTE and issue the flushes Linux issues.
   */
  attachDevice(deviceId: number, o: { ats?: boolean; pri?: boolean; priTlp?: boolean; maxPend?: number; domainId?: number; pasids?: number; guestLevels?: 4 | 5 } = {}): AttachedDevice {
    if (!this.initialised) throw new Error("attachDevice: call init() first");
    checkDeviceId("attachDevice: deviceId", deviceId);
    if (deviceId >= this.deviceTable.entries) throw new RangeError(`attachDevice: deviceId ${deviceId} is beyond the device table (${this.deviceTable.entries} entries)`);
    if (this.devices.has(deviceId)) throw new Error(`attachDevice: device ${deviceId} is already attached`);
    const domainId = o.domainId ?? this.devices.size + 1;
    if (!Number.isInteger(domainId) || domainId < 1 || domainId > 0xffff) throw new RangeError(`attachDevice: o.domainId must be 1..65535, got ${String(domainId)}`);
    const pasids = o.pasids ?? 512;
    if (!Number.isInteger(pasids) || pasids < 1 || pasids > 65536) throw new RangeError(`attachDevice: o.pasids must be 1..65536, got ${String(pasids)}`);
    const glx: 0 | 1 | 2 = pasids <= 512 ? 0 : pasids <= 2 ** 18 ? 1 : 2;
    const dev: AttachedDevice = {
      deviceId, domainId, ats: o.ats === true, pri: o.pri ?? o.ats === true, priTlp: o.priTlp ?? true,
      maxPend: o.maxPend ?? 32, gcr3: new Gcr3Table(this.memory, this.pages, glx),
    };
    this.deviceTable.set(deviceId, {
      V: true, TV: true, Mode: 0, IR: true, IW: true, DomainID: domainId,
      GV: true, GLX: glx, GCR3TableRootPtr: dev.gcr3.root, GuestPagingMode: o.guestLevels === 5 ? 1 : 0,
      PPR: dev.pri, I: dev.ats, ...this.irq.interruptFields(deviceId),
    });
    this.devices.set(deviceId, dev);
    const q = this.queue;
    q.queue(buildInvalidateDevtabEntry(deviceId));
    if (dev.ats) q.queue(buildInvalidateIotlbPages({ deviceId, s: true, address: ALL_PAGES.address, maxPend: dev.maxPend }));
    q.queue(buildInvalidateIommuPages({ domainId, pde: true, s: true, address: ALL_PAGES.address }));
    q.sync();
    return dev;
  }

  // ---- 5.c PASID bind / unbind ---------------------------------------------------------------

  /** amd_iommu_bind_pasid: GCR3[PASID] = mm's CR3, then the full-PASID flush. */
  bindPasid(device: AttachedDevice, pasid: number, mm: Mm): PasidBinding {
    if (!this.devices.has(device?.deviceId)) throw new Error("bindPasid: device is not attached to this driver");
    if (!Number.isInteger(pasid) || pasid < 1 || pasid >= 2 ** (9 * (device.gcr3.glx + 1))) throw new RangeError(`bindPasid: pasid must be 1..${2 ** (9 * (device.gcr3.glx + 1)) - 1}, got ${String(pasid)}`);
    if (mm === null || typeof mm !== "object" || mm.exited) throw new Error("bindPasid: mm must be a live Mm");
    if (this.bindings.some((b) => b.valid && b.device === device && b.pasid === pasid)) throw new Error(`bindPasid: PASID ${pasid} of device ${device.deviceId} is in use`);
    const b: PasidBinding = { device, pasid, mm, valid: false };
    this.bindings.push(b);
    this.setGcr3(b, mm.cr3);
    this.flushPasid([b], [ALL_PAGES], "iommu-v2");
    b.valid = true;
    return b;
  }

  /** Unbind (or release): mark invalid, clear GCR3[PASID], full-PASID flush. */
  unbindPasid(b: PasidBinding): void {
    if (!this.bindings.includes(b)) return;
    b.valid = false;
    this.setGcr3(b, null);
    this.flushPasid([b], [ALL_PAGES], "iommu-v2");
    this.bindings.splice(this.bindings.indexOf(b), 1);
  }

  /** The binding a page request names, if any (valid or being torn down). */
  findBinding(deviceId: number, pasid: number): PasidBinding | undefined {
    return this.bindings.find((b) => b.device.deviceId === deviceId && b.pasid === pasid);
  }

  /** Write GCR3[PASID] (a root table address, or null to clear it). */
  setGcr3(b: PasidBinding, root: number | null): void {
    b.device.gcr3.set(b.pasid, root);
    this.clock.charge("pteUpdate");
    this.stats.gcr3Writes++;
  }

  /** A zeroed top-level table shared by every PASID pointed away from its mm (the 2012 driver). */
  emptyPageTable(): number {
    if (this.emptyRoot < 0) this.emptyRoot = this.pages.alloc();
    return this.emptyRoot;
  }

  // ---- flushes ---------------------------------------------------------------------------------

  /**
   * Flush `ranges` of every binding's PASID from the IOMMU (INVALIDATE_IOMMU_PAGES GN = 1,
   * PDE = 1) and from ATS devices (INVALIDATE_IOTLB_PAGES GN = 1), waiting for completion.
   */
  flushPasid(bindings: readonly PasidBinding[], ranges: readonly InvalidationRange[], order: FlushOrder): void {
    if (bindings.length === 0 || ranges.length === 0) return;
    const t0 = this.clock.now();
    const q = this.queue;
    this.stats.flushes++;
    for (const b of bindings) {
      const { deviceId, domainId, ats, maxPend } = b.device;
      for (const r of ranges) {
        q.queue(buildInvalidateIommuPages({ domainId, pasid: b.pasid, gn: true, pde: true, s: r.s, address: r.address }));
        if (order === "iommu-v2") q.sync();
        if (ats) {
          q.queue(buildInvalidateIotlbPages({ deviceId, pasid: b.pasid, gn: true, s: r.s, address: r.address, maxPend }));
          if (order === "iommu-v2") q.sync();
        }
      }
    }
    if (order === "sva") q.sync();
    this.stats.flushCycles += this.clock.now() - t0;
  }

  /** Run `body` and add its host cycles to flushCycles (GCR3 swaps of the empty-table policy). */
  timed(body: () => void): void {
    const t0 = this.clock.now();
    body();
    this.stats.flushCycles += this.clock.now() - t0;
  }

  /** Let the IOMMU run (commands queued without a wait, such as COMPLETE_PPR_REQUEST). */
  kick(): number { return this.queue.runIommu(); }

  // ---- event log ---------------------------------------------------------------------------------

  /** Read and consume every event-log entry (the event half of amd_iommu_int_thread). */
  drainEventLog(): DecodedEvent[] {
    const out: DecodedEvent[] = [];
    const io = this.iommu;
    const size = 2 ** (this.ringLenLog2 + 4);
    let head = Number(io.mmioRead64(MMIO_EVENT_LOG_HEAD) & 0x7fff0n) % size;
    const tail = Number(io.mmioRead64(MMIO_EVENT_LOG_TAIL) & 0x7fff0n) % size;
    const dw = new Uint32Array(4);
    while (head !== tail) {
      for (let i = 0; i < 4; i++) { dw[i] = this.memory.read32(this.eventLog + head + 4 * i); this.memory.write32(this.eventLog + head + 4 * i, 0); }
      const e = decodeEvent(dw);
      this.stats.events[e.name] = (this.stats.events[e.name] ?? 0) + 1;
      out.push(e);
      head = (head + 16) % size;
    }
    io.mmioWrite64(MMIO_EVENT_LOG_HEAD, BigInt(head));
    return out;
  }

  /** PPR log ring geometry for the fault handler. */
  pprRing(): { base: number; bytes: number; headReg: number; tailReg: number } {
    return { base: this.pprLog, bytes: 2 ** (this.ringLenLog2 + 4), headReg: MMIO_PPR_LOG_HEAD, tailReg: MMIO_PPR_LOG_TAIL };
  }
}
