/**
 * The IOMMU agent of shared mode: one AmdIommu (concurrency "shared") over a
 * SharedArrayBuffer memory, served from its own thread (docs/ARCHITECTURE.md section 5).
 *
 * Devices in the same thread call translate() on `iommu` directly. Between requests the
 * agent calls poll(): when the host agent has posted register writes into the MMIO
 * mailbox, service() applies them in order (through mmioWrite32/64, so every register side
 * effect is the hardware's), runs the command processor until idle (so a COMPLETION_WAIT
 * store lands, with Atomics.notify, before service() returns), and publishes the register
 * mirror (each register as an MMIO read answers it). Interrupts raised by the IOMMU (event
 * log, PPR log, completion wait, GA log) are counted in the mailbox for a waiting host.
 */
import { PhysicalMemory } from "../memory/physical-memory.js";
import { AmdIommu } from "../iommu/amd-iommu.js";
import type { AmdIommuOptions } from "../iommu/options.js";
import { MMIO_WINDOW_BYTES } from "../spec/registers.js";
import { MmioMailbox, POST_WRITE32, POST_WRITE64 } from "./mmio-mailbox.js";

export interface SharedIommuAgentOptions {
  /** The shared memory (or its SharedArrayBuffer, as received from another thread). */
  memory: PhysicalMemory | SharedArrayBuffer;
  /** The mailbox (or its SharedArrayBuffer). */
  mailbox: MmioMailbox | SharedArrayBuffer;
  /** AmdIommu options other than memory; concurrency defaults to "shared". */
  iommu?: Omit<AmdIommuOptions, "memory">;
}

export class SharedIommuAgent {
  readonly memory: PhysicalMemory;
  readonly mailbox: MmioMailbox;
  readonly iommu: AmdIommu;
  private readonly implemented: Int32Array;
  /** The implemented words as a software read answers them (MmioRegisters.read32), published as the mirror. */
  private readonly visible = new Uint32Array(MMIO_WINDOW_BYTES / 4);
  /** Register writes applied so far. */
  writesApplied = 0;
  /** Register writes the IOMMU refused as API misuse (offset outside the window or misaligned): dropped, as a bus would. */
  writesRejected = 0;

  constructor(options: SharedIommuAgentOptions) {
    if (options === null || typeof options !== "object") throw new TypeError("SharedIommuAgent: options must be an object { memory, mailbox, iommu? }");
    const m = options.memory;
    if (m instanceof PhysicalMemory) this.memory = m;
    else if (m instanceof SharedArrayBuffer) this.memory = new PhysicalMemory({ buffer: m });
    else throw new TypeError("SharedIommuAgent: options.memory must be a PhysicalMemory or a SharedArrayBuffer");
    const mb = options.mailbox;
    if (mb instanceof MmioMailbox) this.mailbox = mb;
    else if (mb instanceof SharedArrayBuffer) this.mailbox = new MmioMailbox(mb);
    else throw new TypeError("SharedIommuAgent: options.mailbox must be an MmioMailbox or a SharedArrayBuffer");
    const io = options.iommu ?? {};
    if (io === null || typeof io !== "object") throw new TypeError("SharedIommuAgent: options.iommu must be an object");
    const user = io.onInterrupt;
    if (user !== undefined && typeof user !== "function") throw new TypeError("SharedIommuAgent: options.iommu.onInterrupt must be a function");
    const mailbox = this.mailbox;
    this.iommu = new AmdIommu({
      concurrency: "shared",
      ...io,
      memory: this.memory,
      onInterrupt: (s) => { mailbox.signalInterrupt(s); if (user) user(s); },
    });
    const words: number[] = [];
    for (let off = 0; off < MMIO_WINDOW_BYTES; off += 8) if (this.iommu.regs.implemented(off)) words.push(off / 4, off / 4 + 1);
    this.implemented = Int32Array.from(words);
    this.publish();
  }

  /** Service the mailbox if the host posted anything; returns true if it did. Cheap when idle. */
  poll(): boolean {
    if (!this.mailbox.pendingPosts()) return false;
    this.service();
    return true;
  }

  /**
   * Apply every posted register write in order, run the command processor until idle and
   * publish the registers; then wake the host. Returns the IOMMU cycle reached.
   */
  service(): number {
    const io = this.iommu;
    const seq = this.mailbox.drain((kind, offset, lo, hi) => {
      try {
        if (kind === POST_WRITE32) io.mmioWrite32(offset, lo);
        else if (kind === POST_WRITE64) io.mmioWrite64(offset, (BigInt(hi) << 32n) | BigInt(lo));
        else return;
        this.writesApplied++;
      } catch {
        this.writesRejected++; // the mailbox checks offsets on the host side; a corrupted slot is dropped
      }
    });
    const now = io.runUntilIdle();
    this.mailbox.completeService(this.readRegisters(), this.implemented, seq);
    return now;
  }

  /** Publish the register mirror now (after device activity moved log tails or status bits). */
  publish(): void { this.mailbox.publishRegisters(this.readRegisters(), this.implemented); }

  /**
   * The implemented register words as software reads them over MMIO, not the register file's
   * storage: the Status run bits read 0 while Control.IommuEn = 0 (mmio-registers.ts read32),
   * so the mirror agrees with mmioRead32/64 of the same IOMMU.
   */
  private readRegisters(): Uint32Array {
    const regs = this.iommu.regs, ids = this.implemented, out = this.visible;
    for (let k = 0; k < ids.length; k++) { const i = ids[k]!; out[i] = regs.read32(i * 4); }
    return out;
  }

  /**
   * Serve the mailbox until stop() (or `until()` returns true), sleeping on the doorbell
   * when idle. For an agent whose devices are driven from elsewhere.
   */
  serve(until: () => boolean = () => false, idleWaitMs = 20): void {
    while (!this.mailbox.stopped && !until()) {
      if (!this.poll()) this.mailbox.waitForPost(idleWaitMs);
    }
    this.poll();
  }
}
