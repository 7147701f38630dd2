/**
 * Interrupt requests and their results (docs/ARCHITECTURE.md section 4, `iommu.remapInterrupt`).
 *
 * An interrupt request is a DWORD memory write of `data` to `address` in the MSI window
 * 0xFEE0_0000-0xFEEF_FFFF from the PCIe function `deviceId` (IOAPIC and HPET messages use the
 * DeviceIDs firmware gives them). The result says whether an interrupt reaches an APIC (ok),
 * which one (address/data of the delivered message, vector, destination, delivery and
 * destination mode) or a guest's virtual APIC (posted), and what went wrong otherwise.
 */
export interface InterruptRequest {
  deviceId: number;
  /** MSI address (number or bigint below 2^64). */
  address: number | bigint;
  /** MSI data (32-bit; bits 7:0 vector, 10:8 delivery mode, 14 level, 15 trigger mode). */
  data: number;
  /** Present = the write carried a PASID TLP prefix (faulted: digest 1.3). */
  pasid?: number;
}

export type InterruptFault =
  | "not-an-interrupt"        // address outside the MSI window: not an interrupt request
  | "dte-hardware-error"      // DTE unreadable (DEV_TAB_HARDWARE_ERROR)
  | "illegal-dte"             // interrupt half of the DTE reserved / IntCtl = 11b / IntTabLen > 11 (ILLEGAL_DEV_TABLE_ENTRY)
  | "interrupt-with-pasid"    // PASID prefix on an interrupt (IO_PAGE_FAULT)
  | "remapping-blocked"       // fixed/arbitrated interrupt with DTE.IntCtl = 00b (target abort, no event)
  | "pass-blocked"            // NMI / INIT / ExtINT / SMI whose pass control is off (target abort, no event)
  | "logical-pass-through"    // a pass-through class with MSI DM = 1 (target abort, no event)
  | "reserved-delivery-mode"  // data[10:8] = 011b or 110b (target abort, no event)
  | "index-out-of-range"      // IRTE index >= 2^IntTabLen (IO_PAGE_FAULT)
  | "irte-hardware-error"     // IRTE outside memory (PAGE_TAB_HARDWARE_ERROR, a reading)
  | "irte-not-remapped"       // IRTE.RemapEn = 0 (IO_PAGE_FAULT)
  | "irte-reserved"           // reserved IntType or reserved bits (IO_PAGE_FAULT, RZ)
  | "guest-mode-not-allowed"  // GuestMode = 1 with 32-bit IRTEs or GAMEn = 000b (IO_PAGE_FAULT, RZ)
  | "vapic-hardware-error";   // the vAPIC backing page is outside memory (PAGE_TAB_HARDWARE_ERROR, a reading)

/** How the IOMMU handled the message. */
export type InterruptPath = "none" | "iommu-disabled" | "not-mapped" | "forwarded" | "remapped" | "guest";

export class InterruptRemapResult {
  /** An interrupt was delivered (to an APIC, or posted to a guest's virtual APIC). */
  ok = false;
  /** The MSI that reaches the APIC: the device's own message when forwarded, rebuilt from the IRTE when remapped (0 when posted or aborted). */
  address = 0;
  data = 0;
  /** Vector delivered (the guest vector when posted). */
  vector = 0;
  /** Destination APIC ID: 8 bits, or 32 bits with XTEn (the doorbell's physical APIC ID when posted). */
  destination = 0;
  /** Delivery mode (MSI data[10:8] / IRTE IntType encoding: 0 fixed, 1 arbitrated, 2 SMI, 4 NMI, 5 INIT, 7 ExtINT). */
  deliveryMode = 0;
  /** Destination mode: 0 physical, 1 logical. */
  destinationMode = 0;
  /** Delivered to a guest vAPIC (guest-mode IRTE): the IRR bit in the backing page is set. */
  posted = false;
  fault: InterruptFault | null = null;
  /** Code of the event written to the event log (0 = none). */
  event = 0;
  path: InterruptPath = "none";
  /** IRTE index used (-1 when no IRTE was consulted). */
  index = -1;
  /** RqEoi of the IRTE (a hint; also set as the rebuilt message's redirection hint, address bit 3). */
  requestEoi = false;
  /** Posted with IRTE.IsRun = 1: a doorbell went to `destination`. */
  doorbell = false;
  /** Posted with IsRun = 0 and GALogIntr = 1: a GA log entry was written. */
  gaLogged = false;
  dteCacheHit = false;
  irteCacheHit = false;
  /** Memory references (DTE, IRTE, backing page, GA log, event). */
  memoryReferences = 0;
  /** Modelled latency in IOMMU cycles. */
  cycles = 0;
  /** Timed mode: cycle at which the interrupt is delivered (or aborted). */
  completionCycle = 0;

  reset(): void {
    this.ok = false; this.address = 0; this.data = 0; this.vector = 0; this.destination = 0; this.deliveryMode = 0;
    this.destinationMode = 0; this.posted = false; this.fault = null; this.event = 0; this.path = "none"; this.index = -1;
    this.requestEoi = false; this.doorbell = false; this.gaLogged = false; this.dteCacheHit = false; this.irteCacheHit = false;
    this.memoryReferences = 0; this.cycles = 0; this.completionCycle = 0;
  }
}

export interface InterruptStats {
  requests: number; forwarded: number; remapped: number; posted: number; aborted: number; faults: number;
  eventsLogged: number; eventsSuppressed: number; doorbells: number; gaLogEntries: number;
  /** DTE-cache hits and misses of interrupt requests (performance events 0Fh/10h). */
  dteHits: number; dteMisses: number;
  /** Interrupts remapped through 128-bit IRTEs with GuestMode = 0 (event 15h). */
  vapicNonGuest: number;
  /** SMI-type messages received and target-aborted (events 17h/18h). */
  smiReceived: number; smiBlocked: number;
}

/** The InterruptStats fields (snapshots). */
export const INTERRUPT_STAT_KEYS: readonly (keyof InterruptStats)[] = [
  "requests", "forwarded", "remapped", "posted", "aborted", "faults", "eventsLogged", "eventsSuppressed", "doorbells", "gaLogEntries",
  "dteHits", "dteMisses", "vapicNonGuest", "smiReceived", "smiBlocked",
];
