/**
 * Misuse of the API by the embedder (not data from a driver or device): wrong option types,
 * memory sizes that are not a multiple of 4 KiB or too large, addresses that are not
 * integers, DeviceIDs, PASIDs and register offsets out of range, request flags that are not
 * booleans. Each throws at once with a message naming the argument, never misbehaves silently.
 */
import { describe, expect, it } from "vitest";
import { PhysicalMemory } from "../../src/memory/physical-memory.js";
import { AmdIommu } from "../../src/iommu/amd-iommu.js";
import { MMIO_CONTROL } from "../../src/spec/registers.js";
import { MmioMailbox } from "../../src/shared/mmio-mailbox.js";
import { SharedIommuAgent } from "../../src/shared/iommu-agent.js";
import { SharedHostDriver } from "../../src/shared/host-driver.js";
import { replaceEntry, updateLowWord } from "../../src/shared/pte-protocol.js";
import { startAgent } from "../../src/shared/agent-worker.js";
import { BumpAllocator, DeviceTableWriter, Gcr3Table, IommuTestbench, LongModeTable, V1PageTable } from "../../src/builders/index.js";

const memory = new PhysicalMemory({ bytes: 1 << 20 });
const iommu = new AmdIommu({ memory });
const opts = (o: object) => () => new AmdIommu({ memory, ...o } as never);
const bmem = new PhysicalMemory({ bytes: 4 << 20 });
const pages = new BumpAllocator(bmem, 0x1000);
const dt = new DeviceTableWriter(bmem, pages.allocContiguous(16), 256);
const v1 = new V1PageTable(bmem, pages, 3);
const lm = new LongModeTable(bmem, pages, 4);
const g3 = new Gcr3Table(bmem, pages, 0);
/** A device whose DTE and first IOTLB entry are cached: the translator's fast path serves it. */
const warm = (() => {
  const tb = new IommuTestbench({ bytes: 8 << 20, deviceTableEntries: 256 });
  const t = new V1PageTable(tb.memory, tb.pages, 3);
  t.map(0x1000, 0x20_0000);
  tb.deviceTable.set(0x10, { V: true, TV: true, Mode: 3, HostPageTableRootPtr: t.root, IR: true, IW: true, DomainID: 1 });
  tb.sync();
  tb.iommu.translate({ deviceId: 0x10, address: 0x1000 });
  tb.iommu.translate({ deviceId: 0x10, address: 0x1000 });
  return tb.iommu;
})();

type Case = [string, () => unknown, RegExp];

const cases: Record<string, Case[]> = {
  "PhysicalMemory": [
    ["a size that is not a multiple of 4 KiB", () => new PhysicalMemory({ bytes: 4097 }), /options\.bytes.*multiple of 4096/],
    ["a zero size", () => new PhysicalMemory({ bytes: 0 }), /options\.bytes/],
    ["a fractional size", () => new PhysicalMemory({ bytes: 8192.5 }), /options\.bytes.*integer/],
    ["a size given as a string", () => new PhysicalMemory({ bytes: "4096" as never }), /options\.bytes.*integer/],
    ["a size above the supported maximum", () => new PhysicalMemory({ bytes: 2 ** 40 }), /options\.bytes.*maximum/],
    ["a shared buffer whose size is not a multiple of 4 KiB", () => new PhysicalMemory({ buffer: new SharedArrayBuffer(5000) }), /options\.buffer\.byteLength.*multiple of 4096/],
    ["an ArrayBuffer instead of a SharedArrayBuffer", () => new PhysicalMemory({ buffer: new ArrayBuffer(4096) as never }), /options\.buffer.*SharedArrayBuffer/],
    ["options that are not an object", () => new PhysicalMemory(null as never), /options must be an object/],
    ["a fractional physical address", () => memory.read32(1.5), /read32: physical address must be an integer/],
    ["a physical address beyond memory", () => memory.write32(1 << 20, 0), /write32: physical address .* outside memory/],
    ["a misaligned physical address", () => memory.read32(2), /read32: physical address .* 4-byte aligned/],
    ["a 32-bit value that does not fit", () => memory.write32(0, 2 ** 32), /write32: value/],
    ["a 64-bit value given as a number", () => memory.write64(0, 5 as never), /write64: value must be a bigint/],
  ],
  "AmdIommu options": [
    ["no memory", () => new AmdIommu({} as never), /options\.memory/],
    ["an IOTLB geometry that is not an object", opts({ iotlb: "x" }), /options\.iotlb/],
    ["a negative IOTLB size", opts({ iotlb: { entries: -1 } }), /iotlb\.entries/],
    ["a fractional IOTLB size", opts({ iotlb: { entries: 1.5 } }), /iotlb\.entries/],
    ["ways that do not divide the entries", opts({ iotlb: { entries: 3, ways: 2 } }), /iotlb\.ways/],
    ["a page-directory cache size given as a string", opts({ pdeCache: { entries: "64" } }), /options\.pdeCache\.entries/],
    ["an unknown feature", opts({ features: { bogus: true } }), /options\.features\.bogus/],
    ["a feature flag that is not a boolean", opts({ features: { ppr: "yes" } }), /options\.features\.ppr/],
    ["HATS out of range", opts({ features: { hats: 3 } }), /options\.features\.hats/],
    ["PASmax out of range", opts({ features: { pasMax: 20 } }), /options\.features\.pasMax/],
    ["a quirk reading that does not exist", opts({ quirks: { tvZero: "x" } }), /options\.quirks\.tvZero/],
    ["a boolean quirk given as a number", opts({ quirks: { seSuppressesRepeats: 1 } }), /options\.quirks\.seSuppressesRepeats/],
    ["an unknown concurrency mode", opts({ concurrency: "multi" }), /options\.concurrency/],
    ["a misspelt option iotbl", opts({ iotbl: { entries: 4 } }), /options\.iotbl is not an option/],
    ["an unknown cache-geometry field", opts({ iotlb: { entries: 4, way: 2 } }), /options\.iotlb\.way is not a cache-geometry field/],
    ["a fractional seed", opts({ seed: 1.5 }), /options\.seed/],
    ["a segment out of range", opts({ segment: 70000 }), /options\.segment/],
    ["an interrupt callback that is not a function", opts({ onInterrupt: 5 }), /options\.onInterrupt/],
    ["an unknown timing profile", opts({ timing: "nope" }), /timing.*profile/],
    ["a negative latency", opts({ timing: { iotlbHit: -1 } }), /timing\.iotlbHit/],
  ],
  "requests": [
    ["a fractional address", () => iommu.translate({ deviceId: 1, address: 1.5 }), /request\.address/],
    ["a fractional address on the fast path (device and page cached)", () => warm.translate({ deviceId: 0x10, address: 0x1000 + 0.5 }), /request\.address/],
    ["a negative address", () => iommu.translate({ deviceId: 1, address: -1 }), /request\.address/],
    ["a NaN address", () => iommu.translate({ deviceId: 1, address: NaN }), /request\.address/],
    ["an address given as a string", () => iommu.translate({ deviceId: 1, address: "0x1000" as never }), /request\.address/],
    ["a number address above 2^53 (not exact)", () => iommu.translate({ deviceId: 1, address: 2 ** 53 }), /request\.address/],
    ["a bigint address of 2^64", () => iommu.translate({ deviceId: 1, address: 2n ** 64n }), /request\.address/],
    ["a DeviceID of 65536", () => iommu.translate({ deviceId: 65536, address: 0 }), /request\.deviceId/],
    ["a negative DeviceID", () => iommu.translate({ deviceId: -1, address: 0 }), /request\.deviceId/],
    ["a DeviceID given as a string", () => iommu.translate({ deviceId: "1" as never, address: 0 }), /request\.deviceId/],
    ["a PASID of 2^20", () => iommu.translate({ deviceId: 1, address: 0, pasid: 2 ** 20 }), /request\.pasid/],
    ["a fractional PASID", () => iommu.translate({ deviceId: 1, address: 0, pasid: 1.5 }), /request\.pasid/],
    ["a null PASID", () => iommu.translate({ deviceId: 1, address: 0, pasid: null as never }), /request\.pasid/],
    ["a write flag given as a string", () => iommu.translate({ deviceId: 1, address: 0, write: "yes" as never }), /request\.write must be a boolean/],
    ["an execute flag given as a number", () => iommu.translate({ deviceId: 1, address: 0, pasid: 1, execute: 1 as never }), /request\.execute must be a boolean/],
    ["a privileged flag given as a string", () => iommu.translate({ deviceId: 1, address: 0, pasid: 1, privileged: "true" as never }), /request\.privileged must be a boolean/],
    ["an ATS request with a PASID out of range", () => iommu.translateAts({ deviceId: 1, address: 0, pasid: -1 }), /request\.pasid/],
    ["a page request with a PRG Index of 512", () => iommu.pageRequest({ deviceId: 1, address: 0, prgIndex: 512, last: true }), /request\.prgIndex/],
    ["a page request whose write flag is not a boolean", () => iommu.pageRequest({ deviceId: 1, address: 0, prgIndex: 0, last: true, write: "yes" as never }), /request\.write must be a boolean/],
    ["a page request with a DeviceID out of range", () => iommu.pageRequest({ deviceId: 70000, address: 0, prgIndex: 0, last: true }), /request\.deviceId/],
  ],
  "builders": [
    ["a DTE Mode of 9 (3 bits)", () => dt.set(1, { V: true, Mode: 9 }), /DeviceTableWriter\.set: fields\.Mode must be an integer 0\.\.7, got 9/],
    ["a DomainID of 70000 (16 bits)", () => dt.set(1, { DomainID: 70000 }), /fields\.DomainID must be an integer 0\.\.65535, got 70000/],
    ["an unaligned host page-table root pointer", () => dt.set(1, { HostPageTableRootPtr: 0x1234 }), /fields\.HostPageTableRootPtr must be 4096-byte aligned/],
    ["an unaligned GCR3 table root pointer", () => dt.set(1, { GCR3TableRootPtr: 0x10_0800 }), /fields\.GCR3TableRootPtr must be 4096-byte aligned/],
    ["an unknown DTE field { Valid: true }", () => dt.set(1, { Valid: true } as never), /fields\.Valid is not a DTE field/],
    ["a DTE flag given as a number", () => dt.set(1, { V: 1 } as never), /fields\.V must be a boolean/],
    ["a DeviceID beyond 16 bits", () => dt.set(65536, { V: true }), /DeviceTableWriter: deviceId must be an integer 0\.\.65535/],
    ["a raw DTE dword that does not fit 32 bits", () => dt.setRaw(1, [2 ** 32, 0, 0, 0, 0, 0, 0, 0]), /setRaw: dw\[0\]/],
    ["a misspelt v1 option (the old name write)", () => v1.map(0x1000, 0x2000, { write: false } as never), /options\.write is not an option \(did you mean writable\?\)/],
    ["a v1 permission given as a string", () => v1.map(0x1000, 0x2000, { writable: "no" } as never), /options\.writable must be a boolean/],
    ["a fractional IOVA", () => v1.map(1.5, 0x2000), /V1PageTable\.map: iova/],
    ["an IOVA of 2^64", () => v1.map(2n ** 64n, 0x2000), /V1PageTable\.map: iova must be 0\.\.2\^64-1/],
    ["an unaligned SPA", () => v1.map(0x1000, 0x2100), /V1PageTable\.map: spa must be 4096-byte aligned/],
    ["an SPA beyond 52 bits", () => v1.map(0x1000, 2 ** 52), /V1PageTable\.map: spa must be an integer/],
    ["a long-mode page that is not readable", () => lm.map(0x1000, 0x2000, { readable: false } as never), /options\.readable must be true or absent/],
    ["a misspelt long-mode option", () => lm.map(0x1000, 0x2000, { exec: false } as never), /LongModeTable\.map: options\.exec is not an option/],
    ["a negative GVA", () => lm.map(-4096, 0x2000), /LongModeTable\.map: virt/],
    ["an unknown upper-level option", () => lm.map(0x1000, 0x2000, { upper: { rw: true } } as never), /options\.rw is not an option/],
    ["an unaligned guest CR3", () => g3.set(1, 0x1001), /Gcr3Table\.set: cr3 must be 4096-byte aligned/],
    ["a contiguous allocation of 1.5 pages", () => pages.allocContiguous(1.5), /allocContiguous: count/],
  ],
  "registers": [
    ["a misaligned 32-bit offset", () => iommu.mmioWrite32(3, 0), /mmioWrite32: offset/],
    ["an offset outside the 512 KiB window (PCSup)", () => iommu.mmioWrite32(0x80000, 0), /mmioWrite32: offset/],
    ["an offset given as a string", () => iommu.mmioRead32("24" as never), /mmioRead32: offset/],
    ["a 32-bit value that does not fit", () => iommu.mmioWrite32(MMIO_CONTROL, 2 ** 32), /mmioWrite32: value/],
    ["a 64-bit value given as a number", () => iommu.mmioWrite64(MMIO_CONTROL, 5 as never), /mmioWrite64: value/],
    ["a 64-bit access to the high half", () => iommu.mmioRead64(MMIO_CONTROL + 4), /mmioRead64: offset/],
    ["a negative 64-bit value", () => iommu.mmioWrite64(MMIO_CONTROL, -1n), /mmioWrite64: value must be 0\.\.2\^64-1/],
    ["a 64-bit value of 2^64", () => iommu.mmioWrite64(MMIO_CONTROL, 2n ** 64n), /mmioWrite64: value must be 0\.\.2\^64-1/],
    ["a memory write64 of -1n", () => memory.write64(0, -1n), /write64: value must be 0\.\.2\^64-1/],
    ["a memory write64 of 2^64", () => memory.write64(0, 2n ** 64n), /write64: value must be 0\.\.2\^64-1/],
  ],
  "shared mode": [
    ["a mailbox buffer of the wrong size", () => new MmioMailbox(new SharedArrayBuffer(64)), /buffer must be \d+ bytes/],
    ["a posted write to a misaligned offset", () => new MmioMailbox().postWrite32(2, 0), /postWrite32: offset/],
    ["a posted 64-bit write given a number", () => new MmioMailbox().postWrite64(MMIO_CONTROL, 1 as never), /postWrite64: value/],
    ["a posted 64-bit write of 2^64", () => new MmioMailbox().postWrite64(MMIO_CONTROL, 2n ** 64n), /postWrite64: value must be 0\.\.2\^64-1/],
    ["an agent without a memory", () => new SharedIommuAgent({ memory: 5 as never, mailbox: new MmioMailbox() }), /options\.memory/],
    ["an agent without a mailbox", () => new SharedIommuAgent({ memory, mailbox: {} as never }), /options\.mailbox/],
    ["a host driver with a misaligned semaphore", () => new SharedHostDriver({ memory, mailbox: new MmioMailbox(), semaphore: 4, commandBuffer: { base: 0x1000, bytes: 4096 } }), /options\.semaphore/],
    ["a host driver with a command buffer that is not a power of two", () => new SharedHostDriver({ memory, mailbox: new MmioMailbox(), semaphore: 0, commandBuffer: { base: 0x1000, bytes: 6000 } }), /options\.commandBuffer: bytes/],
    ["a PTE update at a misaligned entry address", () => updateLowWord(memory, 4, 0, 1), /updateLowWord: pa/],
    ["a PTE replacement outside memory", () => replaceEntry(memory, 1 << 20, 0, 0, 1), /replaceEntry: pa/],
    ["an agent module in TypeScript", () => startAgent("/x/agent.ts", "run", null), /startAgent: module must be compiled JavaScript/],
    ["an agent without an export name", () => startAgent("/x/agent.js", "", null), /startAgent: exportName/],
  ],
};

describe("API misuse throws an error naming the argument", () => {
  for (const [group, list] of Object.entries(cases)) {
    describe(group, () => {
      for (const [what, f, message] of list) {
        it(`${what}: ${message.source.replace(/\\/g, "")}`, () => {
          expect(f).toThrow(message);
        });
      }
    });
  }
});

describe("after API misuse the model is unchanged", () => {
  it("a rejected request changes no statistics and leaves the next request served normally", () => {
    const before = iommu.translator.stats.requests;
    expect(() => iommu.translate({ deviceId: 1, address: 0, write: "yes" as never })).toThrow(/request\.write/);
    expect(iommu.translator.stats.requests).toBe(before);
    const r = iommu.translate({ deviceId: 1, address: 0x1000 });
    expect(r.path).toBe("iommu-disabled"); // nothing programmed: the request is forwarded untranslated
    expect(iommu.translator.stats.requests).toBe(before + 1);
  });
});
