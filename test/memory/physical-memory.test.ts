import { describe, expect, it } from "vitest";
import { PhysicalMemory } from "../../src/index.js";

describe("PhysicalMemory (docs/ARCHITECTURE.md section 4)", () => {
  it("is a SharedArrayBuffer of the requested size that another view can wrap", () => {
    const m = new PhysicalMemory({ bytes: 1 << 20 });
    expect(m.buffer).toBeInstanceOf(SharedArrayBuffer);
    expect(m.buffer.byteLength).toBe(1 << 20);
    const other = new PhysicalMemory({ buffer: m.buffer });
    m.write32(0x100, 0xdeadbeef);
    expect(other.read32(0x100)).toBe(0xdeadbeef);
  });
  it("read64/write64 use bigints and store little-endian halves", () => {
    const m = new PhysicalMemory({ bytes: 4096 });
    m.write64(8, 0x0123_4567_89ab_cdefn);
    expect(m.read32(8)).toBe(0x89ab_cdef);
    expect(m.read32(12)).toBe(0x0123_4567);
    expect(m.read64(8)).toBe(0x0123_4567_89ab_cdefn);
  });
  it("a several-GiB memory is accepted (the OS commits only touched pages)", () => {
    const m = new PhysicalMemory({ bytes: 4 * 1024 * 1024 * 1024 });
    m.write64(4 * 1024 * 1024 * 1024 - 8, 5n);
    expect(m.read64(4 * 1024 * 1024 * 1024 - 8)).toBe(5n);
  });
  it("an access outside memory is a RangeError naming the method and address", () => {
    const m = new PhysicalMemory({ bytes: 4096 });
    expect(() => m.read32(4096)).toThrow(/read32: physical address 0x1000/);
    expect(() => m.write64(4092, 0n)).toThrow(/write64/);
    expect(() => m.read32(-4)).toThrow(RangeError);
  });
  it("bad arguments are errors naming the argument", () => {
    expect(() => new PhysicalMemory({ bytes: 5000 })).toThrow(/options.bytes must be a positive multiple of 4096/);
    expect(() => new PhysicalMemory({ bytes: 2 ** 40 })).toThrow(/exceeds the supported maximum/);
    expect(() => new PhysicalMemory({ bytes: "4096" as unknown as number })).toThrow(/options.bytes must be an integer/);
    const m = new PhysicalMemory({ bytes: 4096 });
    expect(() => m.read32(1.5)).toThrow(/must be an integer/);
    expect(() => m.read32(2)).toThrow(/not 4-byte aligned/);
    expect(() => m.write32(0, 2 ** 32)).toThrow(/fits in 32 bits/);
    expect(() => m.write64(0, 1 as unknown as bigint)).toThrow(/must be a bigint/);
  });
  it("cas32 is an atomic compare-exchange returning the value found", () => {
    const m = new PhysicalMemory({ bytes: 4096 });
    m.write32(16, 5);
    expect(m.cas32(16, 5, 7)).toBe(5);
    expect(m.read32(16)).toBe(7);
    expect(m.cas32(16, 5, 9)).toBe(7);
    expect(m.read32(16)).toBe(7);
  });
});
