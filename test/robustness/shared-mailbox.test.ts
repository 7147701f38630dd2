/**
 * Shared mode's mailbox (src/shared/mmio-mailbox.ts) is shared memory the host writes: its
 * counters wrap (an honest host reaches 2^31 posts), and a buggy or hostile host can write
 * anything into them. Promises: counters are compared with wrap-around arithmetic, and no
 * value in the buffer makes the IOMMU agent loop or write outside the ring.
 */
import { describe, expect, it } from "vitest";
import { PhysicalMemory } from "../../src/memory/physical-memory.js";
import { MAILBOX_SLOTS, MmioMailbox } from "../../src/shared/mmio-mailbox.js";
import { SharedIommuAgent } from "../../src/shared/iommu-agent.js";
import { MMIO_EXCLUSION_BASE, MMIO_EXCLUSION_LIMIT } from "../../src/spec/registers.js";

/** Header words (mmio-mailbox.ts layout): posted and applied counters. */
const H_POSTED = 0, H_APPLIED = 1;

function rig(start: number) {
  const memory = new PhysicalMemory({ bytes: 1 << 20 });
  const mailbox = new MmioMailbox();
  mailbox.words[H_POSTED] = start; mailbox.words[H_APPLIED] = start;
  const agent = new SharedIommuAgent({ memory, mailbox });
  return { memory, mailbox, agent };
}

describe("shared mode: the mailbox's counters wrap and the agent trusts no count", () => {
  it("posts across the 2^31 wrap (posted goes negative) are applied in order, and waitApplied sees them", () => {
    const { mailbox, agent } = rig(0x7fff_fffe);
    const seqs = [1, 2, 3, 4].map((i) => mailbox.postWrite64(MMIO_EXCLUSION_BASE, BigInt(i) << 12n));
    expect(seqs[1]).toBe(-0x8000_0000); // the counter wrapped
    expect(mailbox.postWrite64(MMIO_EXCLUSION_LIMIT, 0x5000n)).toBe(-0x7fff_fffd);
    expect(agent.poll()).toBe(true);
    expect(agent.writesApplied).toBe(5);
    expect(agent.iommu.mmioRead64(MMIO_EXCLUSION_BASE) & ~0xfffn).toBe(4n << 12n); // the last of the four, in order
    expect(mailbox.waitApplied(seqs[3]!, 0)).toBe(true);
    expect(mailbox.pendingPosts()).toBe(false);
  });

  it("a ring that is full across the wrap still blocks the host (the full test uses the wrapped difference)", () => {
    const { mailbox } = rig(0x7fff_ff80);
    for (let i = 0; i < MAILBOX_SLOTS; i++) mailbox.postWrite32(MMIO_EXCLUSION_LIMIT, i);
    expect(() => mailbox.postWrite32(MMIO_EXCLUSION_LIMIT, 0, 0)).toThrow(/did not drain the mailbox/);
  });

  it.each([
    ["behind applied", (a: number) => (a - 1) | 0],
    ["2^30 ahead", (a: number) => (a + 2 ** 30) | 0],
    ["the opposite sign", (a: number) => (a ^ 0x8000_0000) | 0],
    ["one ring more than fits", (a: number) => (a + MAILBOX_SLOTS + 1) | 0],
  ])("a posted count %s is not a count an honest host can reach: the agent applies nothing and returns", (_w, posted) => {
    const { mailbox, agent } = rig(12345);
    mailbox.words[H_POSTED] = posted(12345);
    const t0 = performance.now();
    agent.service();
    expect(performance.now() - t0).toBeLessThan(10_000); // bounded (before: up to 2^32 iterations, or forever)
    expect(agent.writesApplied).toBe(0);
    expect(mailbox.resyncs).toBe(1);
    expect(mailbox.pendingPosts()).toBe(false); // resynchronised: applied = posted
  });

  it("garbage slot contents are dropped one by one (counted), never applied outside the register window", () => {
    const { mailbox, agent } = rig(0);
    for (let i = 0; i < 8; i++) mailbox.postWrite32(MMIO_EXCLUSION_LIMIT, i);
    const RING = 16; // header words
    for (let i = 0; i < 8; i++) mailbox.words.set([2, 0x7fff_fff0, -1, -1], RING + i * 4); // a 64-bit write far outside the window
    agent.service();
    expect(agent.writesRejected).toBe(8);
    expect(agent.writesApplied).toBe(0);
  });
});
