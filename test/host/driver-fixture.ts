/** Shared set-up for the driver-shim tests: memory, an IOMMU, host frames and clock, the driver, a command log. */
import { PhysicalMemory } from "../../src/memory/physical-memory.js";
import { AmdIommu } from "../../src/iommu/amd-iommu.js";
import { FrameAllocator } from "../../src/host/frame-allocator.js";
import { HostClock } from "../../src/host/host-clock.js";
import { Mm, type FastModePolicy } from "../../src/host/address-space.js";
import { IommuDriver } from "../../src/host/driver/iommu-driver.js";
import { BumpAllocator } from "../../src/builders/page-allocator.js";
import { decodeCommand } from "../../src/spec/commands.js";
import type { AtsInvalidation, EndpointPort, PrgResponse } from "../../src/iommu/endpoint-port.js";

export const PAGE = 4096;

export interface LoggedCommand { name: string; fields: Record<string, bigint> }

/** An endpoint that records what the IOMMU sends it and answers invalidations after 1000 cycles. */
export class RecordingEndpoint implements EndpointPort {
  readonly invalidations: AtsInvalidation[] = [];
  readonly responses: PrgResponse[] = [];
  atsInvalidate(req: AtsInvalidation): number | null { this.invalidations.push({ ...req }); return 1000; }
  prgResponse(resp: PrgResponse): void { this.responses.push({ ...resp }); }
}

export function driverFixture() {
  const memory = new PhysicalMemory({ bytes: 16 * 1024 * 1024 });
  const clock = new HostClock();
  const iommu = new AmdIommu({ memory });
  const frames = new FrameAllocator({ memory, base: 0x10_0000 });
  const driver = new IommuDriver({ iommu, memory, clock, pages: new BumpAllocator(memory, PAGE, 0x10_0000), deviceTableEntries: 512 });
  const commands: LoggedCommand[] = [];
  const prev = iommu.commands.onCommand;
  iommu.commands.onCommand = (op, addr, dw, start, end) => {
    commands.push(decodeCommand(dw));
    prev?.(op, addr, dw, start, end);
  };
  const newMm = (id = "p", fastMode: FastModePolicy = "auto") => new Mm({ memory, frames, id, clock, fastMode });
  return { memory, clock, iommu, frames, driver, commands, newMm, names: () => commands.map((c) => c.name) };
}

/** Init, attach device 01:00.0 (ATS if asked, with a recording endpoint), bind a populated mm at PASID 1. */
export function boundFixture(o: { ats?: boolean; pages?: number; fastMode?: FastModePolicy } = {}) {
  const f = driverFixture();
  const ep = new RecordingEndpoint();
  const deviceId = 0x100;
  f.iommu.attachEndpoint(deviceId, ep);
  f.driver.init();
  const dev = f.driver.attachDevice(deviceId, { ats: o.ats === true });
  const mm = f.newMm("p", o.fastMode ?? "auto");
  const va = mm.mmap((o.pages ?? 4) * PAGE, "rw-");
  for (let i = 0; i < (o.pages ?? 4); i++) mm.cpuAccess(va + i * PAGE, true);
  const binding = f.driver.bindPasid(dev, 1, mm);
  f.commands.length = 0;
  const dma = (addr: number, write = false) => f.iommu.translate({ deviceId, address: addr, pasid: 1, write });
  return { ...f, ep, deviceId, dev, mm, va, binding, dma };
}
