/**
 * The MMU-notifier chain of one mm (Linux mm/mmu_notifier.c: struct
 * mmu_notifier_subscriptions, mmu_notifier_register/unregister and the
 * __mmu_notifier_* dispatchers).
 *
 * Callbacks (camelCase of the Linux names, see docs/spec-readings.md cmd 5.d):
 *   invalidateRangeStart(mm, start, end, event)    invalidate_range_start
 *   archInvalidateSecondaryTlbs(mm, start, end, info)
 *                                                   arch_invalidate_secondary_tlbs (v6.6+),
 *                                                   a.k.a. invalidate_range (v3.19 .. v6.5):
 *                                                   called where the CPU TLB is flushed,
 *                                                   after the PTEs changed, before frees
 *   invalidateRangeEnd(mm, start, end, event)       invalidate_range_end
 *   clearFlushYoung(mm, start, end) => boolean      clear_flush_young (results are ORed;
 *                                                   every subscriber is called)
 *   release(mm)                                     release (exit_mmap, before the teardown)
 *
 * Subscribers are called in registration order. After release() the chain is emptied, as
 * __mmu_notifier_release unhashes every subscription: later invalidations of the teardown
 * still appear in the trace, with `delivered: 0`.
 *
 * Every dispatch appends an entry to `trace` (with a number from the shared host
 * sequence, so it orders against frame allocations and frees) and calls the hooks.
 */
import type { HostSequence } from "./host-clock.js";
import type { Mm } from "./address-space.js";

/** Why a range is invalidated (Linux enum mmu_notifier_event). */
export type MmuNotifierEvent = "unmap" | "clear" | "protection-vma" | "protection-page" | "migrate" | "release";

export interface SecondaryTlbFlushInfo {
  /** Page-table pages were detached in this range and will be freed after the call. */
  freedTables: boolean;
}

export interface MmuNotifierSubscriber {
  /** Name shown in error messages. */
  readonly name?: string;
  invalidateRangeStart?(mm: Mm, start: number, end: number, event: MmuNotifierEvent): void;
  invalidateRangeEnd?(mm: Mm, start: number, end: number, event: MmuNotifierEvent): void;
  archInvalidateSecondaryTlbs?(mm: Mm, start: number, end: number, info: SecondaryTlbFlushInfo): void;
  clearFlushYoung?(mm: Mm, start: number, end: number): boolean;
  release?(mm: Mm): void;
}

export type MmuNotifierCallbackName =
  | "invalidateRangeStart"
  | "invalidateRangeEnd"
  | "archInvalidateSecondaryTlbs"
  | "clearFlushYoung"
  | "release";

export interface MmuNotifierTraceEntry {
  /** Number from the host sequence shared with the frame allocator. */
  seq: number;
  callback: MmuNotifierCallbackName;
  mm: string;
  start: number;
  end: number;
  event?: MmuNotifierEvent;
  freedTables?: boolean;
  /** Subscribers that had this callback and were called. */
  delivered: number;
  /** clearFlushYoung only: the ORed result. */
  young?: boolean;
}

export interface UnregisterOptions {
  /** Call the subscriber's release first, as Linux's mmu_notifier_unregister does. Default false. */
  release?: boolean;
}

export class MmuNotifierChain {
  readonly mm: Mm;
  readonly sequence: HostSequence;
  /** Every dispatch, in order. */
  readonly trace: MmuNotifierTraceEntry[] = [];
  private subs: MmuNotifierSubscriber[] = [];
  private hooks: ((e: MmuNotifierTraceEntry) => void)[] = [];
  private everRegistered = false;
  private released = false;

  constructor(mm: Mm, sequence: HostSequence) {
    this.mm = mm;
    this.sequence = sequence;
  }

  /** Add a subscriber at the end of the chain; returns a function that unregisters it. */
  register(subscriber: MmuNotifierSubscriber): () => void {
    if (subscriber === null || typeof subscriber !== "object") throw new TypeError("register: subscriber must be an object with notifier callbacks");
    if (this.released) throw new Error(`register: mm ${this.mm.id} has already run release (the process exited)`);
    if (this.subs.includes(subscriber)) throw new Error(`register: subscriber ${subscriber.name ?? "(unnamed)"} is already registered on mm ${this.mm.id}`);
    this.subs.push(subscriber);
    this.everRegistered = true;
    return () => {
      this.unregister(subscriber);
    };
  }

  /** Remove a subscriber; returns false if it was not registered. */
  unregister(subscriber: MmuNotifierSubscriber, options: UnregisterOptions = {}): boolean {
    const i = this.subs.indexOf(subscriber);
    if (i < 0) return false;
    if (options.release && subscriber.release) subscriber.release(this.mm);
    this.subs.splice(i, 1);
    return true;
  }

  get subscribers(): readonly MmuNotifierSubscriber[] {
    return this.subs.slice();
  }

  /**
   * mm_has_notifiers(): true once anything was registered on this mm, even after it was
   * unregistered or released (Linux keeps mm->notifier_subscriptions allocated).
   */
  get hasNotifiers(): boolean {
    return this.everRegistered;
  }

  get isReleased(): boolean {
    return this.released;
  }

  /** Call `hook` after every dispatch with its trace entry; returns a remover. */
  addHook(hook: (e: MmuNotifierTraceEntry) => void): () => void {
    if (typeof hook !== "function") throw new TypeError("addHook: hook must be a function");
    this.hooks.push(hook);
    return () => {
      this.hooks = this.hooks.filter((h) => h !== hook);
    };
  }

  invalidateRangeStart(start: number, end: number, event: MmuNotifierEvent): void {
    const e = this.begin("invalidateRangeStart", start, end, event);
    for (const s of this.subs.slice()) {
      if (s.invalidateRangeStart) {
        e.delivered++;
        s.invalidateRangeStart(this.mm, start, end, event);
      }
    }
    this.done(e);
  }

  invalidateRangeEnd(start: number, end: number, event: MmuNotifierEvent): void {
    const e = this.begin("invalidateRangeEnd", start, end, event);
    for (const s of this.subs.slice()) {
      if (s.invalidateRangeEnd) {
        e.delivered++;
        s.invalidateRangeEnd(this.mm, start, end, event);
      }
    }
    this.done(e);
  }

  archInvalidateSecondaryTlbs(start: number, end: number, freedTables: boolean): void {
    const e = this.begin("archInvalidateSecondaryTlbs", start, end);
    e.freedTables = freedTables;
    const info: SecondaryTlbFlushInfo = { freedTables };
    for (const s of this.subs.slice()) {
      if (s.archInvalidateSecondaryTlbs) {
        e.delivered++;
        s.archInvalidateSecondaryTlbs(this.mm, start, end, info);
      }
    }
    this.done(e);
  }

  /** ORs the answers of every subscriber (each one is called). */
  clearFlushYoung(start: number, end: number): boolean {
    const e = this.begin("clearFlushYoung", start, end);
    let young = false;
    for (const s of this.subs.slice()) {
      if (s.clearFlushYoung) {
        e.delivered++;
        if (s.clearFlushYoung(this.mm, start, end)) young = true;
      }
    }
    e.young = young;
    this.done(e);
    return young;
  }

  /** exit_mmap: call every release, then empty the chain. */
  release(): void {
    const e = this.begin("release", 0, this.mm.pageTable.vaLimit);
    e.event = "release";
    const subs = this.subs.slice();
    for (const s of subs) {
      if (s.release) {
        e.delivered++;
        s.release(this.mm);
      }
    }
    this.subs = [];
    this.released = true;
    this.done(e);
  }

  private begin(callback: MmuNotifierCallbackName, start: number, end: number, event?: MmuNotifierEvent): MmuNotifierTraceEntry {
    const e: MmuNotifierTraceEntry = { seq: this.sequence.next(), callback, mm: this.mm.id, start, end, delivered: 0 };
    if (event !== undefined) e.event = event;
    this.trace.push(e);
    return e;
  }

  private done(e: MmuNotifierTraceEntry): void {
    for (const h of this.hooks.slice()) h(e);
  }
}
