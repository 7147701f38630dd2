/**
 * Host time of the IOMMU control path (issue 4):
 *
 *  1. commands/invalidate-page-ring: software writes single-page INVALIDATE_IOMMU_PAGES
 *     (PDE = 1, as Linux sends them) into the command ring with a COMPLETION_WAIT store
 *     after every 64, moves Tail, and the IOMMU runs them (runUntilIdle); software checks the
 *     semaphore. One operation = one command through the ring.
 *  2. ppr/round-trip: a PCIe function's PRI sends a page request, the IOMMU logs it, software
 *     reads the PPR entry, moves the PPR Head, answers with COMPLETE_PPR_REQUEST through the
 *     ring, the IOMMU delivers the PRG Response to the function. One operation = one round trip.
 *
 * Software uses 32-bit MMIO writes and copies prepared command images into the ring, as a
 * driver does (no BigInt on its side).
 */
import type { BenchCase } from "./bench-case.js";
import { IommuTestbench } from "../src/builders/testbench.js";
import { Gcr3Table } from "../src/builders/gcr3-table.js";
import { LongModeTable } from "../src/builders/long-mode-table.js";
import { PcieEndpoint } from "../src/device/pcie-endpoint.js";
import { PRG_ANSWERED } from "../src/device/page-request-interface.js";
import { field, dwordMask, type FieldSpec } from "../src/spec/bitfield.js";
import { buildCompletePprRequest, buildCompletionWait, buildInvalidateIommuPages, commandByName } from "../src/spec/commands.js";
import { PPR_ENTRY_BYTES, PPR_FIELDS } from "../src/spec/ppr.js";
import { MMIO_COMMAND_BUFFER_TAIL, MMIO_PPR_LOG_HEAD, MMIO_PPR_LOG_TAIL } from "../src/spec/registers.js";

const BATCH = 64;
const DOMAIN = 1;
const DEVICE = 0x0100;
const PASID = 1;

/** Field position inside a command: dword index, shift and in-dword mask (from the spec table). */
function slot(fields: readonly FieldSpec[], name: string): { w: number; shift: number; mask: number } {
  const f = field(fields, name);
  const w = f.lo >>> 5;
  return { w, shift: f.lo & 31, mask: dwordMask(w, f.lo, f.hi) };
}

function invalidatePageRing(): ReturnType<BenchCase["setup"]> {
  const tb = new IommuTestbench({ bytes: 32 * 1024 * 1024, deviceTableEntries: 1024, ringLen: 12 });
  const io = tb.iommu;
  const mem = tb.memory;
  const ring = tb.commandBuffer;
  const ringBytes = tb.ringBytes;
  // the images: BATCH invalidations of consecutive pages, then a completion-wait store
  const images = new Uint32Array((BATCH + 1) * 4);
  for (let i = 0; i < BATCH; i++) images.set(buildInvalidateIommuPages({ domainId: DOMAIN, pde: true, address: 0x100000 + i * 4096 }), i * 4);
  const cw = buildCompletionWait({ store: true, address: tb.semaphore, data: 0n });
  images.set(cw, BATCH * 4);
  const addr = slot(commandByName("INVALIDATE_IOMMU_PAGES").fields, "Address_31_12");
  const data = slot(commandByName("COMPLETION_WAIT").fields, "StoreData");
  const sem = tb.semaphore / 4;
  let tail = 0;
  let seq = 0;
  return {
    opsPerCall: BATCH + 1,
    run: () => {
      seq = (seq + 1) >>> 0;
      // move the window of pages each batch, and a fresh completion-wait datum
      for (let i = 0; i < BATCH; i++) images[i * 4 + addr.w] = (((seq * BATCH + i) << addr.shift) & addr.mask) >>> 0;
      images[BATCH * 4 + data.w] = seq;
      const u32 = mem.u32;
      for (let i = 0; i <= BATCH; i++) {
        const at = (ring + tail) >>> 2;
        u32[at] = images[i * 4]!; u32[at + 1] = images[i * 4 + 1]!; u32[at + 2] = images[i * 4 + 2]!; u32[at + 3] = images[i * 4 + 3]!;
        tail = (tail + 16) % ringBytes;
      }
      io.mmioWrite32(MMIO_COMMAND_BUFFER_TAIL, tail);
      io.runUntilIdle();
      if (mem.u32[sem] !== seq) throw new Error("completion-wait store missing");
    },
    modelledCycles: () => io.commands.stats.busyCycles / Math.max(1, io.commands.stats.executed),
  };
}

function pprRoundTrip(): ReturnType<BenchCase["setup"]> {
  const tb = new IommuTestbench({ bytes: 16 * 1024 * 1024, deviceTableEntries: 1024 });
  const io = tb.iommu;
  const mem = tb.memory;
  const gcr3 = new Gcr3Table(tb.memory, tb.pages, 0);
  gcr3.set(PASID, new LongModeTable(tb.memory, tb.pages, 4).root);
  tb.deviceTable.set(DEVICE, { V: true, TV: true, IR: true, IW: true, DomainID: DOMAIN, GV: true, GCR3TableRootPtr: gcr3.root, I: true, PPR: true });
  const ep = new PcieEndpoint(io, { deviceId: DEVICE, pri: { outstanding: 32 } });
  const pri = ep.pri!;
  const image = buildCompletePprRequest({ deviceId: DEVICE, pasid: PASID, gn: true, prgIndex: 0, responseCode: 0 });
  const tag = slot(commandByName("COMPLETE_PPR_REQUEST").fields, "PRGIndex");
  const logTag = slot(PPR_FIELDS, "PRGIndex");
  const ring = tb.commandBuffer, ringBytes = tb.ringBytes, log = tb.pprLogBase;
  let tail = 0, head = 0, page = 0;
  return {
    run: () => {
      // device: one page request (group of one, L = 1)
      page = (page + 1) & 0xffff;
      const prg = pri.request(PASID, 0, (0x10000 + page) * 4096, true, false, false, false);
      // software: read the PPR entry, consume it, answer through the command ring
      if (io.mmioRead32(MMIO_PPR_LOG_TAIL) === head) throw new Error("no PPR entry");
      const prgIndex = (mem.u32[(log + head) / 4 + logTag.w]! & logTag.mask) >>> logTag.shift;
      head = (head + PPR_ENTRY_BYTES) % ringBytes;
      io.mmioWrite32(MMIO_PPR_LOG_HEAD, head);
      image[tag.w] = ((image[tag.w]! & ~tag.mask) | ((prgIndex << tag.shift) & tag.mask)) >>> 0;
      mem.u32.set(image, (ring + tail) / 4);
      tail = (tail + 16) % ringBytes;
      io.mmioWrite32(MMIO_COMMAND_BUFFER_TAIL, tail);
      io.runUntilIdle();
      // device: the PRG Response arrived
      if (pri.groupState(prg) !== PRG_ANSWERED) throw new Error("no PRG response");
      pri.release(prg);
    },
    modelledCycles: () => io.ppr.cycles,
  };
}

export const cases: BenchCase[] = [
  { name: "commands/invalidate-page-ring", group: "commands", setup: invalidatePageRing,
    measures: "one single-page INVALIDATE_IOMMU_PAGES through the command ring (copy, doorbell, execution; a COMPLETION_WAIT store per 64)" },
  { name: "ppr/round-trip", group: "ppr", setup: pprRoundTrip,
    measures: "one PRI page request: PPR log entry, software reads it and answers with COMPLETE_PPR_REQUEST, PRG Response delivered" },
];
