/**
 * The Event Log entry of a refused translation (spec: "Event Log"; IO_PAGE_FAULT,
 * PAGE_TAB_HARDWARE_ERROR, ILLEGAL_DEV_TABLE_ENTRY, INVALID_DEVICE_REQUEST; layouts in
 * src/spec/events.ts) and the DTE's suppression of I/O page-fault events: SA suppresses them
 * all, SE the repeats (with quirks.seSuppressesRepeats; docs/spec-readings.md reg 3.2).
 * The translator decides that a request is refused and counts; this writes the entry.
 */
import { EV_ILLEGAL_DEV_TABLE_ENTRY, EV_INVALID_DEVICE_REQUEST, EV_IO_PAGE_FAULT, EVENT_TAG_IS_DOMAIN, encodeEvent } from "../../spec/events.js";
import type { Dte } from "../device-table.js";
import type { LogRing } from "../log-ring.js";

export const enum FaultEventResult {
  /** The DTE suppressed it (SA, or SE after one was logged). */
  Suppressed = -1,
  /** Not written: the log is off or full, or out of memory (an overflow the log ring records). */
  NotWritten = 0,
  /** Written into the log. */
  Written = 1,
}

export class FaultEventWriter {
  private readonly ev = new Uint32Array(4);

  constructor(private readonly log: LogRing, private readonly seSuppressesRepeats: boolean) {}

  /** Write the entry of event `code` for `deviceId` (its DTE `d`, null when it has none), address as 32-bit halves. */
  write(d: Dte | null, deviceId: number, code: number, flags: number, gn: boolean, pasid: number, addrHi: number, addrLo: number): FaultEventResult {
    if (code === EV_IO_PAGE_FAULT && d !== null) {
      if (d.f.SA || (d.f.SE && this.seSuppressesRepeats && d.faultLogged)) return FaultEventResult.Suppressed;
      d.faultLogged = true;
    }
    // dw1[15:0]: the DomainID only in events whose layout has DomainOrPASID there (IO_PAGE_FAULT,
    // PAGE_TAB_HARDWARE_ERROR) with GN = 0; PASID[15:0] otherwise (ILLEGAL_DEV_TABLE_ENTRY, INVALID_DEVICE_REQUEST)
    const tag = !gn && d !== null && EVENT_TAG_IS_DOMAIN[code] === true ? d.f.DomainID : pasid & 0xffff;
    encodeEvent(this.ev, code, deviceId, gn || code === EV_ILLEGAL_DEV_TABLE_ENTRY || code === EV_INVALID_DEVICE_REQUEST ? pasid >>> 16 : 0,
      tag, flags, addrLo, addrHi);
    return this.log.append(this.ev) ? FaultEventResult.Written : FaultEventResult.NotWritten;
  }
}
