/**
 * Shared mode across worker threads (docs/ARCHITECTURE.md section 5): the MMIO mailbox, the
 * IOMMU agent that serves it, the host driver that posts to it, the page-table writer
 * protocol, and the worker launcher.
 */
export { MmioMailbox, MAILBOX_BYTES, MAILBOX_SLOTS, POST_BARRIER, POST_WRITE32, POST_WRITE64, type InterruptCounter } from "./mmio-mailbox.js";
export { SharedIommuAgent, type SharedIommuAgentOptions } from "./iommu-agent.js";
export { SharedHostDriver, SharedLogConsumer, EVENT_LOG_REGISTERS, PPR_LOG_REGISTERS, type SharedHostDriverOptions, type LogRegisters } from "./host-driver.js";
export { updateLowWord, replaceEntry, clearEntry, readEntry } from "./pte-protocol.js";
export { startAgent, type AgentHandle } from "./agent-worker.js";
