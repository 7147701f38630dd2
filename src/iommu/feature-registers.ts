/**
 * Extended Feature Register (0x0030) and EFR2 (0x01A0) values from the feature options
 * (docs/spec-readings.md reg 2.3, 2.4, irq 1.1, 3.1, 4.1). Only what
 * the model implements is advertised: x2APIC (XTSup), 128-bit IRTEs and guest vAPIC mode
 * (GASup, GAMSup = 001b), 2048-entry remapping (EFR2.NumIntRemapSup = 01b), performance
 * counters (PCSup), and, when enabled, PPR auto-response and early overflow; no
 * hardware-error registers (HESup), no SMI filter, no GAPPI; dual (B) logs when enabled.
 */
import { register } from "../spec/registers.js";
import type { FeatureOptions } from "./options.js";

function setFields(regName: string, values: Record<string, number>): bigint {
  const fields = register(regName).fields;
  let v = 0n;
  for (const [name, val] of Object.entries(values)) {
    const f = fields.find((x) => x.name === name);
    if (!f) throw new Error(`${regName} has no field ${name}`);
    v |= (BigInt(val) & ((1n << BigInt(f.hi - f.lo + 1)) - 1n)) << BigInt(f.lo);
  }
  return v;
}

export function extendedFeatureValue(f: FeatureOptions): bigint {
  return setFields("ExtendedFeature", {
    PreFSup: f.prefetch ? 1 : 0, PPRSup: f.ppr ? 1 : 0, NXSup: f.nx ? 1 : 0, GTSup: f.guestTranslation ? 1 : 0,
    IASup: f.invalidateAll ? 1 : 0, HATS: f.hats, GATS: f.guestTranslation ? f.gats : 0, GLXSup: f.guestTranslation ? f.glxSup : 0,
    PASmax: f.guestTranslation ? f.pasMax : 0, USSup: f.userSupervisor ? 1 : 0, GIoSup: f.guestIo ? 1 : 0,
    HASup: f.hostAccessed ? 1 : 0, HDSup: f.hostDirty ? 1 : 0, GAUpdateDisSup: f.guestAdUpdateDisable ? 1 : 0,
    XTSup: f.x2apic ? 1 : 0, GASup: f.guestVapic ? 1 : 0, GAMSup: f.guestVapic ? 1 : 0, PCSup: f.perfCounters ? 1 : 0,
    PprAutoRspSup: f.pprAutoResponse ? 1 : 0, PprOvrflwEarlySup: f.pprEarlyOverflow ? 1 : 0,
    DualPprLogSup: f.dualPprLog ? 2 : 0, DualEventLogSup: f.dualEventLog ? 2 : 0,
  });
}

export function extendedFeature2Value(f: FeatureOptions): bigint {
  return setFields("ExtendedFeature2", { GCR3TRPModeSup: f.gcr3TrpMode ? 1 : 0, NumIntRemapSup: f.intRemap2k ? 1 : 0 });
}

/** Is an EFR feature (by the spec's field name; "A&B": both) advertised? */
export function featurePresent(f: FeatureOptions, name: string): boolean {
  if (name.includes("&")) return name.split("&").every((n) => featurePresent(f, n));
  switch (name) {
    case "PreFSup": return f.prefetch;
    case "PPRSup": return f.ppr;
    case "NXSup": return f.nx;
    case "GTSup": return f.guestTranslation;
    case "IASup": return f.invalidateAll;
    case "GIoSup": return f.guestIo;
    case "HASup": return f.hostAccessed;
    case "HDSup": return f.hostDirty;
    case "XTSup": return f.x2apic;
    case "GASup": return f.guestVapic;
    case "PCSup": return f.perfCounters;
    case "PprAutoRspSup": return f.pprAutoResponse;
    case "PprOvrflwEarlySup": return f.pprEarlyOverflow;
    case "DualPprLogSup": return f.dualPprLog;
    case "DualEventLogSup": return f.dualEventLog;
    case "EPHSup": case "HESup": case "InvIotlbTypeSup": return false;
    default: return false;
  }
}
