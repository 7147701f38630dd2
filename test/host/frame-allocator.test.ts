import { describe, expect, it } from "vitest";
import { PhysicalMemory } from "../../src/memory/physical-memory.js";
import { FrameAllocator, FREE_OWNER } from "../../src/host/frame-allocator.js";
import { HostSequence } from "../../src/host/host-clock.js";

const memory = () => new PhysicalMemory({ bytes: 1024 * 1024 });

describe("FrameAllocator", () => {
  it("hands out fresh frames in address order, zeroed, with their owner and generation 1", () => {
    const m = memory();
    m.fill(0x10000, 0x2000, 0xab);
    const fa = new FrameAllocator({ memory: m, base: 0x10000, limit: 0x20000 });
    const a = fa.alloc("mm1:page");
    const b = fa.alloc("mm1:pagetable");
    expect([a, b]).toEqual([0x10000, 0x11000]);
    expect(m.read32(a + 0x100)).toBe(0);
    expect(m.read32(b + 0xffc)).toBe(0);
    expect(fa.ownerOf(a)).toBe("mm1:page");
    expect(fa.ownerOf(b)).toBe("mm1:pagetable");
    expect(fa.generationOf(a)).toBe(1);
    expect(fa.ownerOf(0x12000)).toBe(FREE_OWNER);
    expect(fa.generationOf(0x12000)).toBe(0);
  });

  it("reuses the most recently freed frame at once (LIFO) and bumps its generation", () => {
    const fa = new FrameAllocator({ memory: memory(), base: 0x10000, limit: 0x20000 });
    const a = fa.alloc("mm1:page");
    const b = fa.alloc("mm1:page");
    fa.free(a);
    fa.free(b);
    expect(fa.isFree(b)).toBe(true);
    expect(fa.ownerOf(b)).toBe(FREE_OWNER);
    const c = fa.alloc("mm2:page");
    expect(c).toBe(b);
    expect(fa.ownerOf(c)).toBe("mm2:page");
    expect(fa.generationOf(c)).toBe(2);
    expect(fa.alloc("x")).toBe(a);
    expect(fa.stats.reuses).toBe(2);
  });

  it("with reuse 'fifo' hands out never-used frames before freed ones, oldest freed first", () => {
    const fa = new FrameAllocator({ memory: memory(), base: 0x10000, limit: 0x14000, reuse: "fifo" });
    const a = fa.alloc("p");
    const b = fa.alloc("p");
    fa.free(a);
    fa.free(b);
    expect(fa.alloc("q")).toBe(0x12000);
    expect(fa.alloc("q")).toBe(0x13000);
    expect(fa.alloc("q")).toBe(a);
    expect(fa.alloc("q")).toBe(b);
  });

  it("records a shared sequence number and the injected cycle at every alloc and free", () => {
    const seq = new HostSequence();
    let cycles = 100;
    const fa = new FrameAllocator({ memory: memory(), base: 0x10000, limit: 0x20000, sequence: seq, now: () => cycles });
    const a = fa.alloc("p");
    expect(fa.info(a)).toMatchObject({ lastSeq: 1, lastCycle: 100, refCount: 1, free: false });
    seq.next();
    cycles = 250;
    fa.free(a);
    expect(fa.info(a)).toMatchObject({ lastSeq: 3, lastCycle: 250, refCount: 0, free: true, generation: 1 });
  });

  it("counts references: put frees on the last one, free refuses a shared frame", () => {
    const fa = new FrameAllocator({ memory: memory(), base: 0x10000, limit: 0x20000 });
    const a = fa.alloc("p");
    fa.get(a);
    expect(fa.refCountOf(a)).toBe(2);
    expect(() => fa.free(a)).toThrow(/2 references/);
    expect(fa.put(a)).toBe(false);
    expect(fa.isFree(a)).toBe(false);
    expect(fa.put(a)).toBe(true);
    expect(fa.isFree(a)).toBe(true);
  });

  it("throws a clear error when out of frames, on double free and on bad arguments", () => {
    const fa = new FrameAllocator({ memory: memory(), base: 0x10000, limit: 0x12000 });
    const a = fa.alloc("p");
    fa.alloc("p");
    expect(() => fa.alloc("p")).toThrow(/out of frames.*all 2 frames/);
    fa.free(a);
    expect(() => fa.free(a)).toThrow(/double free/);
    expect(() => fa.free(0x10800)).toThrow(/pa 0x10800 is not 4 KiB aligned/);
    expect(() => fa.ownerOf(0x40000)).toThrow(/outside the allocator's range/);
    expect(() => fa.alloc(FREE_OWNER)).toThrow(/reserved/);
    expect(() => new FrameAllocator({ memory: memory(), base: 0x20000, limit: 0x10000 })).toThrow(/options.base/);
    expect(() => new FrameAllocator({ memory: memory(), limit: 0x200000 })).toThrow(/options.limit/);
  });

  it("poisons freed frames when asked, and tells listeners about every event", () => {
    const m = memory();
    const fa = new FrameAllocator({ memory: m, base: 0x10000, limit: 0x20000, poisonByte: 0xcc });
    const events: string[] = [];
    fa.addListener((e) => events.push(`${e.kind}:${e.pa.toString(16)}:${e.owner}:${e.generation}`));
    const a = fa.alloc("p");
    m.write32(a, 0x12345678);
    fa.free(a);
    expect(m.read32(a)).toBe(0xcccccccc);
    expect(events).toEqual(["alloc:10000:p:1", "free:10000:p:1"]);
    expect(fa.stats).toMatchObject({ allocs: 1, frees: 1, allocated: 0, highWater: 1, total: 16 });
  });
});
