/** The host side: process address space, frame allocator, mmu_gather, MMU notifiers, and the IOMMU driver shim. */
export { Mm, MMAP_MIN_ADDR, type MmOptions, type MmStats, type FaultResult, type FastModePolicy } from "./address-space.js";
export { FrameAllocator, FRAME_SIZE, FREE_OWNER, type FrameAllocatorOptions, type FrameInfo, type FrameEvent, type FrameOwner } from "./frame-allocator.js";
export { X86PageTable, PAGE_4K, PAGE_2M, PAGE_1G, type PageSize, type PteInfo, type MapOptions, type X86PageTableOptions } from "./x86-page-table.js";
export { MmuGather, type MmuGatherOptions } from "./mmu-gather.js";
export { MmuNotifierChain, type MmuNotifierSubscriber, type MmuNotifierEvent, type MmuNotifierTraceEntry } from "./mmu-notifier.js";
export { HostClock, HostSequence, DEFAULT_HOST_COST, type HostCost } from "./host-clock.js";
export { IommuDriver, type IommuDriverOptions, type AttachedDevice, type PasidBinding, type FlushOrder, type DriverStats } from "./driver/iommu-driver.js";
export { CommandQueue, DEFAULT_DRIVER_COST, type CommandQueueOptions, type DriverCost } from "./driver/command-queue.js";
export { PprFaultHandler } from "./driver/ppr-handler.js";
export { NOTIFIER_POLICIES, NOTIFIER_POLICY_NAMES, registerNotifierPolicy, notifierPolicy, type NotifierPolicyName } from "./driver/notifier-policy.js";
export { RANGE_POLICIES, invalidationRanges, type RangePolicy } from "./driver/range-policy.js";
