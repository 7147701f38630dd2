/**
 * Extended Feature Register (0x0030) and EFR2 (0x01A0) values from the feature options
 * (docs/spec-readings.md reg 2.3, 2.4). Only what the model implements is advertised:
 * no interrupt remapping (XTSup, GASup, IRT caching), no hardware-error registers (HESup),
 * no performance counters, no dual logs, no SMI filter, no PPR auto-response.
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
  });
}

export function extendedFeature2Value(f: FeatureOptions): bigint {
  return setFields("ExtendedFeature2", { GCR3TRPModeSup: f.gcr3TrpMode ? 1 : 0 });
}

/** Is an EFR feature (by the spec's field name) advertised? */
export function featurePresent(f: FeatureOptions, name: string): boolean {
  switch (name) {
    case "PreFSup": return f.prefetch;
    case "PPRSup": return f.ppr;
    case "NXSup": return f.nx;
    case "GTSup": return f.guestTranslation;
    case "IASup": return f.invalidateAll;
    case "GIoSup": return f.guestIo;
    case "HASup": return f.hostAccessed;
    case "HDSup": return f.hostDirty;
    case "EPHSup": case "HESup": case "XTSup": case "GASup": case "PCSup": case "InvIotlbTypeSup": return false;
    default: return false;
  }
}
