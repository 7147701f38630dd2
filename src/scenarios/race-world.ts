/**
 * The co-simulation of the RFC's race on one clock: physical memory, one IOMMU programmed by
 * the driver shim, a host frame allocator, a process (Mm) bound at a PASID to one or more
 * DMA devices, the notifier policy under test, another owner that grabs freed frames, and the
 * race checker.
 *
 * Interleaving: the devices do DMA at every point where the host's state changes: after each
 * notifier dispatch (invalidate_range_start, the secondary-TLB flush, invalidate_range_end,
 * clear_flush_young, release: after the policy's subscriber ran), and at every frame
 * allocation and free during a host operation. A DMA at a frame free targets the virtual
 * page that frame backed, so the windows between PTE clear, TLB flush, page free and reuse
 * are each exercised. When a page of the process is freed, another owner takes it at once
 * with probability `reuse` (LIFO reuse hands it the very frame) and fills it with a pattern.
 *
 * The host clock (HostClock) is the one clock: the driver brings the IOMMU up to it before
 * every doorbell, and page-request service runs between host operations, as the PPR
 * workqueue needs the mmap lock the operation holds.
 */
import type { Mm } from "../host/address-space.js";
import { Mm as MmClass } from "../host/address-space.js";
import { FrameAllocator, type FrameEvent } from "../host/frame-allocator.js";
import { HostClock } from "../host/host-clock.js";
import type { MmuNotifierTraceEntry } from "../host/mmu-notifier.js";
import { IommuDriver, type PasidBinding } from "../host/driver/iommu-driver.js";
import { registerNotifierPolicy, type NotifierPolicyInfo } from "../host/driver/notifier-policy.js";
import { PprFaultHandler } from "../host/driver/ppr-handler.js";
import type { RangePolicy } from "../host/driver/range-policy.js";
import { AmdIommu } from "../iommu/amd-iommu.js";
import { PhysicalMemory } from "../memory/physical-memory.js";
import { BumpAllocator } from "../builders/page-allocator.js";
import { Prng } from "./prng.js";
import { RaceChecker } from "./race-checker.js";
import { RaceDevice } from "./race-device.js";
import { RaceEndpoint } from "./race-endpoint.js";

/** Where tlb_finish_mmu (CPU TLB flush, then the frees) runs relative to invalidate_range_end (Mm option gatherFinish). */
export type GatherOrder = "after-end" | "before-end";
export const GATHER_ORDERS: readonly GatherOrder[] = ["after-end", "before-end"];

/** A DMA agent of the scenario: the untranslated RaceDevice, or the src/device endpoint (ATS + PRI) behind a bus analyser. */
export type RaceAgent = RaceDevice | RaceEndpoint;

const PAGE = 4096;
/** Driver structures live below this address; host frames above it. */
const DRIVER_REGION = 0x10_0000;
export const VICTIM_OWNER = "victim:page";
/**
 * Top of the process's mmap area. Below 0x7f00_0000_0000 by 1 GiB so that the low 32 bits of
 * the region's addresses stay below 2^31: the src/device DMA engine computes the page address
 * of a page request as `aLo & ~0xfff`, which is negative for aLo >= 2^31 (a bug reported to
 * its owner), and would ask for the wrong page.
 */
const MMAP_BASE = 0x7f00_4000_0000;
/** Share of a device's accesses aimed at the range a host operation is changing (the rest: anywhere in the region). */
const WINDOW_AIM = 0.3;
/** Mixed into the seed for the driver's poll phases (a stream apart from the scenario's Prng). */
const POLL_PHASE_STREAM = 0x504f4c4c;
const victimPattern = (i: number) => (0x5a00_0000 | (i << 1)) >>> 0;

export interface WorldOptions {
  policy: NotifierPolicyInfo;
  seed: number;
  devices: number;
  /** Which devices use ATS + PRI. */
  ats: "on" | "off" | "mixed";
  rangePolicy?: RangePolicy;
  threshold?: number;
  /** Pages of the working region. */
  pages: number;
  dmaPerHook: number;
  /** Probability that another owner takes a freed page of the process at once. */
  reuse: number;
  /** Where the zap operations run tlb_finish_mmu: after invalidate_range_end (default, Linux's order) or before it. */
  gatherOrder?: GatherOrder;
  /** Model of the ATS devices: the src/device PCIe endpoint (default) or the scenario's own small RaceDevice. */
  atsModel?: "endpoint" | "race-device";
  memoryBytes?: number;
}

export class RaceWorld {
  readonly memory: PhysicalMemory;
  readonly clock = new HostClock();
  readonly iommu: AmdIommu;
  readonly frames: FrameAllocator;
  readonly driver: IommuDriver;
  readonly ppr: PprFaultHandler;
  readonly checker: RaceChecker;
  readonly devices: RaceAgent[] = [];
  readonly prng: Prng;
  mm!: Mm;
  bindings: PasidBinding[] = [];
  region = 0;
  readonly pasid = 1;
  private readonly victims: number[] = [];
  private readonly pageOfFrame = new Map<number, number>();
  private windows: { start: number; end: number }[] = [];
  private opActive = false;
  private processes = 0;
  private token = 0;

  constructor(readonly o: WorldOptions) {
    this.prng = new Prng(o.seed);
    this.memory = new PhysicalMemory({ bytes: o.memoryBytes ?? 16 * 1024 * 1024 });
    this.iommu = new AmdIommu({ memory: this.memory, seed: o.seed });
    this.frames = new FrameAllocator({ memory: this.memory, base: DRIVER_REGION, now: () => this.clock.now() });
    this.frames.addListener((e) => this.onFrame(e));
    this.driver = new IommuDriver({
      iommu: this.iommu, memory: this.memory, clock: this.clock, pages: new BumpAllocator(this.memory, PAGE, DRIVER_REGION), deviceTableEntries: 512,
      // the host's polls are not synchronised with the IOMMU (command-queue.ts): a stream of its own, so the devices' choices stay those of the seed
      pollPhase: new Prng(o.seed ^ POLL_PHASE_STREAM),
    });
    this.ppr = new PprFaultHandler(this.driver);
    this.checker = new RaceChecker(this.memory, this.frames);
    this.iommu.traceMemoryAccesses(this.checker.walkLog);
    this.driver.init();
    for (let i = 0; i < o.devices; i++) {
      const deviceId = (1 << 8) | (i << 3);
      const ats = o.ats === "on" || (o.ats === "mixed" && i % 2 === 1);
      let dev: RaceAgent;
      if (ats && (o.atsModel ?? "endpoint") === "endpoint") {
        dev = new RaceEndpoint(this.iommu, this.checker, () => this.clock.now(), deviceId);
      } else {
        dev = new RaceDevice(this.iommu, this.memory, this.checker, () => this.clock.now(), { deviceId, ats });
        this.iommu.attachEndpoint(deviceId, dev);
      }
      this.driver.attachDevice(deviceId, { ats, pri: ats });
      this.devices.push(dev);
    }
    this.newProcess();
  }

  /** Start a process, bind it to every device at the PASID, register the policy, populate its region. */
  newProcess(): void {
    // binding and unbinding outside notifier callbacks is set-up, not flush cost
    const flushCycles = this.driver.stats.flushCycles;
    for (const b of this.bindings) if (b.valid) this.driver.unbindPasid(b);
    const mm = new MmClass({
      memory: this.memory, frames: this.frames, id: `proc${this.processes++}`, clock: this.clock, fastMode: this.o.policy.fastMode, mmapBase: MMAP_BASE,
      gatherFinish: this.o.gatherOrder ?? "after-end",
    });
    this.mm = mm;
    mm.notifier.addHook((e) => this.onNotifier(e));
    this.bindings = this.devices.map((d) => this.driver.bindPasid(this.driver.devices.get(d.deviceId)!, this.pasid, mm));
    registerNotifierPolicy(this.driver, this.o.policy.name, this.bindings, {
      ...(this.o.rangePolicy !== undefined ? { rangePolicy: this.o.rangePolicy } : {}),
      ...(this.o.threshold !== undefined ? { threshold: this.o.threshold } : {}),
      onInvalidateContext: (b) => this.devices.find((d) => d.deviceId === b.device.deviceId)?.stop(),
    });
    this.driver.stats.flushCycles = flushCycles;
    for (const d of this.devices) { d.stop(); d.target = { mm, pasid: this.pasid }; }
    this.region = mm.mmap(this.o.pages * PAGE, "rw-");
    for (let p = 0; p < this.o.pages; p++) this.cpuWrite(this.region + p * PAGE);
  }

  /** A CPU store of a fresh token at va (faults the page in, breaks COW). */
  cpuWrite(va: number): void {
    const pa = this.mm.cpuAccess(va, true);
    if (pa === null) return;
    const v = ((0x7f00 << 16) | ((++this.token & 0x7fff) << 1)) >>> 0;
    this.memory.write32(pa - (pa % 4), v);
    this.checker.noteWrite(va, v);
  }

  /** A random page of the working region. */
  randomPage(): number { return this.region + this.prng.int(0, this.o.pages - 1) * PAGE; }

  /**
   * Run a host operation on [start, end): the devices aim at that range while it runs; frames
   * it frees may be taken by another owner; afterwards the checker settles and the victim's
   * frames are checked and released.
   */
  operation(start: number, end: number, body: () => void): void {
    this.pageOfFrame.clear();
    if (!this.mm.exited) for (const l of this.mm.pageTable.leaves(start, Math.min(end, this.mm.pageTable.vaLimit))) this.pageOfFrame.set(l.pa, l.va);
    this.opActive = true;
    this.windows.push({ start, end });
    try {
      body();
    } finally {
      this.windows.pop();
      this.opActive = false;
      this.checker.endOperation();
    }
    this.checker.settle(this.mm);
    while (this.victims.length > 0) {
      const f = this.victims.pop()!;
      this.checker.checkPattern(f, victimPattern);
      this.frames.free(f);
    }
  }

  /** Between host operations: the interrupt thread, the PPR workqueue, and some DMA. */
  service(): void {
    this.driver.drainEventLog();
    this.ppr.drain();
    this.ppr.runWorkQueue();
    this.driver.kick();
    for (const d of this.devices) if (d instanceof RaceEndpoint) d.run();
    this.driver.drainEventLog();
    for (let i = 0; i < this.o.dmaPerHook; i++) this.burst(null);
  }

  /** Every device makes dmaPerHook accesses, at `focus` if given, else in the current range or anywhere. */
  burst(focus: number | null): void {
    const w = this.windows[this.windows.length - 1];
    for (const d of this.devices) {
      if (d.target === null) continue;
      for (let k = 0; k < this.o.dmaPerHook; k++) {
        let page: number;
        if (focus !== null) page = focus;
        else if (w && w.end - w.start <= this.o.pages * PAGE && this.prng.chance(WINDOW_AIM)) page = w.start + this.prng.int(0, (w.end - w.start) / PAGE - 1) * PAGE;
        else page = this.randomPage();
        d.access(page + 4 * this.prng.int(0, 1023), this.prng.chance(0.5));
      }
    }
  }

  private onNotifier(e: MmuNotifierTraceEntry): void {
    if (e.callback === "invalidateRangeStart") this.checker.beginOperation(this.mm, e.start, e.end);
    if (e.callback === "archInvalidateSecondaryTlbs") this.checker.cpuFlushed(e.start, e.end);
    // the window of an address closes at the CPU TLB flush covering it (cpuFlushed), not here:
    // in Linux's order invalidate_range_end comes before tlb_finish_mmu's flush and frees
    if (e.callback === "release") this.checker.endOperation();
    this.burst(null);
  }

  private onFrame(e: FrameEvent): void {
    if (!this.opActive) return;
    const page = this.pageOfFrame.get(e.pa) ?? null;
    if (e.kind === "free" && typeof e.owner === "string" && e.owner === `${this.mm.id}:page` && this.prng.chance(this.o.reuse)) {
      this.burst(page);
      const f = this.frames.alloc(VICTIM_OWNER);
      for (let i = 0; i < PAGE / 4; i++) this.memory.write32(f + 4 * i, victimPattern(i));
      this.victims.push(f);
    }
    this.burst(page);
  }
}
