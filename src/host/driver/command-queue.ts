/**
 * The driver's side of the command buffer (spec: "Command Buffer"; docs/spec-readings.md cmd 5
 * 1.1 and 4.3; Linux drivers/iommu/amd/iommu.c __iommu_queue_command_sync,
 * iommu_completion_wait, wait_on_sem).
 *
 * Software is the producer: it writes a 16-byte command at Tail, then writes the new Tail
 * (the doorbell). It never fills the last two slots; when the ring is that full it re-reads
 * Head while the IOMMU runs. A sync point is a COMPLETION_WAIT with s = 1 storing an
 * incrementing 64-bit counter into a semaphore (Linux since about v5.11), then polling that
 * semaphore with 1 us delays for at most 100,000 iterations (about 100 ms), as wait_on_sem.
 * A `need_sync` flag skips the wait when nothing was queued since the last one. With
 * `readTail` the queue also re-reads Tail from MMIO before each command, as Linux 4.0's
 * iommu_queue_command_sync did (it read Head and Tail under the lock for every command; later
 * kernels keep Tail in memory).
 *
 * Time: the host clock is the one clock. Before the doorbell the IOMMU clock is brought up
 * to host time; the IOMMU then runs until idle (iommu.runUntilIdle()), and the host clock
 * advances to the first check that sees the store. A wait that never sees its store (a halted
 * command buffer, a device that never answers) costs the full poll budget and is counted, as
 * Linux logs "Completion-Wait loop timed out".
 *
 * Where the checks fall (the poll phase). wait_on_sem checks the semaphore at once and then
 * after each udelay(1). By default (`pollPhase` not given) the checks after the first fall on
 * whole poll intervals from the start of the wait, so a store the IOMMU makes d cycles after
 * it is seen after ceil(d / interval) intervals: the same figure every time. The real loop is
 * not synchronised with the IOMMU. udelay(1) on x86 (arch/x86/lib/delay.c) spins until a TSC
 * read finds at least 1 us + 1 tick gone (the microsecond rounded up, then one more loop), so
 * it ends at the first read past its deadline, one PAUSE-and-rdtsc iteration late at most;
 * the loop adds its own semaphore read; interrupts are enabled (a handler that runs past a
 * deadline moves every later check). On the other side the IOMMU's and the device's times
 * are not the same on every shootdown (the doorbell's posted write, command fetch, the
 * device's answer). The model's hardware times are fixed, so it draws the offset instead:
 * with a `pollPhase` source, each wait that does not see its store at once draws a phase
 * in [0, interval) and the checks fall at phase + k x interval; the store is seen at the first
 * of them at or after it. Over many waits the host then pays the IOMMU's time plus half an
 * interval on average (a completion falls at any point of the interval), rather than the
 * IOMMU's time rounded up to whole intervals.
 */
import type { AmdIommu } from "../../iommu/amd-iommu.js";
import type { PhysicalMemory } from "../../memory/physical-memory.js";
import { buildCompletionWait, COMMAND_BYTES, commandSpec, opcodeOf } from "../../spec/commands.js";
import { MMIO_COMMAND_BUFFER_HEAD, MMIO_COMMAND_BUFFER_TAIL } from "../../spec/registers.js";
import type { HostClock } from "../host-clock.js";

/**
 * Host-side costs of the driver, in cycles of the model clock (1 GHz: 1 cycle = 1 ns);
 * docs/calibration.md section 8 gives each one's source and which are fitted.
 */
export interface DriverCost {
  /** Writing one 16-byte command into the ring (cacheable stores). No anchor found: a placeholder, small beside the MMIO costs. */
  commandWrite: number;
  /** The uncached MMIO write of Tail (the doorbell): 50-300 ns between successive uncached writes on a Xeon (docs/calibration.md B24). */
  doorbell: number;
  /** One wait_on_sem iteration: udelay(1) (docs/calibration.md A13). */
  pollInterval: number;
  /** Iterations before "Completion-Wait loop timed out" (docs/spec-readings.md cmd 4.3: 100,000). */
  pollLimit: number;
  /** One MMIO register read (Head, Tail, log pointers). FITTED to A5 (docs/calibration.md section 8). */
  mmioRead: number;
}

export const DEFAULT_DRIVER_COST: Readonly<DriverCost> = Object.freeze({
  commandWrite: 10,
  doorbell: 100,
  pollInterval: 1000,
  pollLimit: 100_000,
  mmioRead: 99,
});

export interface CommandQueueStats {
  /** Commands written to the ring, by spec name. */
  byName: Record<string, number>;
  /** Commands written to the ring. */
  commands: number;
  /** COMPLETION_WAITs issued by sync(). */
  syncs: number;
  /** sync() calls skipped because nothing was queued since the last one (need_sync). */
  syncsSkipped: number;
  /** Waits whose store never arrived within the poll budget. */
  waitTimeouts: number;
  /** Host cycles spent polling semaphores. */
  waitCycles: number;
  /** Of waitCycles (waits that saw their store), the cycles until the IOMMU's store: the rest is the polls' lag behind it. */
  storeCycles: number;
  /** Times the ring was full and the driver had to wait for Head to move. */
  ringFullWaits: number;
  /** Commands not written because the ring stayed full (the command processor had halted). */
  dropped: number;
}

export interface CommandQueueOptions {
  iommu: AmdIommu;
  memory: PhysicalMemory;
  clock: HostClock;
  /** Ring base (4 KiB aligned, physically contiguous) and its log2 entry count (Linux: 9). */
  base: number;
  lenLog2: number;
  /** Physical address of the 8-byte completion-wait semaphore. */
  semaphore: number;
  cost: DriverCost;
  /** Re-read Tail from MMIO before each command too (Linux 4.0). Default false. */
  readTail?: boolean;
  /** Where each wait's checks fall: a seeded source draws a phase per wait; not given, the checks fall on whole intervals from the wait's start (see the file comment). */
  pollPhase?: PollPhaseSource;
}

/** Uniform numbers in [0, 1), seeded (the scenarios' Prng fits): never Math.random. */
export interface PollPhaseSource {
  next(): number;
}

export class CommandQueue {
  readonly stats: CommandQueueStats = { byName: {}, commands: 0, syncs: 0, syncsSkipped: 0, waitTimeouts: 0, waitCycles: 0, storeCycles: 0, ringFullWaits: 0, dropped: 0 };
  readonly ringBytes: number;
  private tail = 0;
  private semValue = 0n;
  private needSync = false;
  private readonly o: CommandQueueOptions;

  constructor(options: CommandQueueOptions) {
    this.o = options;
    this.ringBytes = 2 ** (options.lenLog2 + 4);
  }

  /** Reset the producer pointer (after the driver zeroed Head and Tail at init). */
  resetPointers(): void { this.tail = 0; }

  /** Free slots as the driver sees them (re-reads Head). */
  private freeSlots(): number {
    const head = Number(this.o.iommu.mmioRead64(MMIO_COMMAND_BUFFER_HEAD) & 0x7fff0n) % this.ringBytes;
    this.o.clock.advance(this.o.cost.mmioRead);
    if (this.o.readTail === true) { this.o.iommu.mmioRead64(MMIO_COMMAND_BUFFER_TAIL); this.o.clock.advance(this.o.cost.mmioRead); }
    return ((head - this.tail - COMMAND_BYTES + this.ringBytes) % this.ringBytes) / COMMAND_BYTES;
  }

  /** Bring the IOMMU clock up to host time and let it run until idle; returns the IOMMU cycle reached. */
  runIommu(): number {
    const io = this.o.iommu;
    if (io.now < this.o.clock.now()) io.now = this.o.clock.now();
    return io.runUntilIdle();
  }

  /** Write commands at Tail and ring the doorbell once (a batch, as one queue_command each without sync). */
  queue(...cmds: Uint32Array[]): void {
    const { memory, clock, cost, base } = this.o;
    for (const c of cmds) {
      // Linux keeps at least two slots free; when it cannot, it waits for the IOMMU to consume.
      if (this.freeSlots() < 2) {
        this.stats.ringFullWaits++;
        this.doorbell();
        this.runIommu();
        clock.advance(cost.pollInterval);
        if (this.freeSlots() < 2) { this.stats.dropped++; continue; } // halted processor: the command is lost
      }
      for (let i = 0; i < 4; i++) memory.write32(base + this.tail + 4 * i, c[i]!);
      this.tail = (this.tail + COMMAND_BYTES) % this.ringBytes;
      clock.advance(cost.commandWrite);
      const name = commandSpec(opcodeOf(c))?.name ?? `UNKNOWN_${opcodeOf(c)}`;
      this.stats.byName[name] = (this.stats.byName[name] ?? 0) + 1;
      this.stats.commands++;
      this.needSync = true;
    }
    this.doorbell();
  }

  private doorbell(): void {
    this.o.iommu.mmioWrite64(MMIO_COMMAND_BUFFER_TAIL, BigInt(this.tail));
    this.o.clock.advance(this.o.cost.doorbell);
  }

  /**
   * iommu_completion_wait: queue COMPLETION_WAIT (s = 1, next counter value) and poll the
   * semaphore like wait_on_sem. Returns true when the store was seen, false on timeout.
   * `force` issues the wait even if nothing was queued since the last one.
   */
  sync(force = false): boolean {
    if (!this.needSync && !force) { this.stats.syncsSkipped++; return true; }
    this.semValue++;
    const want = this.semValue;
    this.queue(buildCompletionWait({ store: true, address: this.o.semaphore, data: want }));
    this.stats.syncs++;
    this.needSync = false;
    return this.waitOnSem(want);
  }

  private waitOnSem(want: bigint): boolean {
    const { memory, clock, cost, semaphore } = this.o;
    const t0 = clock.now();
    const done = this.runIommu();
    if (memory.read64(semaphore) === want) {
      clock.advance(this.seenAfter(done - t0));
      this.stats.storeCycles += Math.max(0, done - t0);
      this.stats.waitCycles += clock.now() - t0;
      return true;
    }
    clock.advance(cost.pollLimit * cost.pollInterval);
    this.stats.waitCycles += clock.now() - t0;
    this.stats.waitTimeouts++;
    return false;
  }

  /** Host cycles from the start of wait_on_sem to the check that sees a store made `d` cycles after it. */
  private seenAfter(d: number): number {
    if (d <= 0) return 0; // the check at once
    const interval = this.o.cost.pollInterval;
    if (this.o.pollPhase === undefined) return Math.ceil(d / interval) * interval;
    const phase = Math.floor(this.o.pollPhase.next() * interval);
    return d <= phase ? phase : phase + Math.ceil((d - phase) / interval) * interval;
  }
}
