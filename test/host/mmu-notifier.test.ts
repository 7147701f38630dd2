import { describe, expect, it } from "vitest";
import type { MmuNotifierSubscriber } from "../../src/host/mmu-notifier.js";
import { setup } from "./helpers.js";

describe("MmuNotifierChain", () => {
  it("calls subscribers in registration order and traces each dispatch once with a shared sequence", () => {
    const { mm, frames } = setup();
    const order: string[] = [];
    const a: MmuNotifierSubscriber = { name: "a", invalidateRangeStart: () => order.push("a.start"), invalidateRangeEnd: () => order.push("a.end") };
    const b: MmuNotifierSubscriber = { name: "b", invalidateRangeStart: () => order.push("b.start") };
    mm.notifier.register(a);
    mm.notifier.register(b);
    const pa = frames.alloc("probe");
    mm.notifier.invalidateRangeStart(0x1000, 0x2000, "unmap");
    mm.notifier.invalidateRangeEnd(0x1000, 0x2000, "unmap");
    expect(order).toEqual(["a.start", "b.start", "a.end"]);
    const t = mm.notifier.trace;
    expect(t.map((e) => [e.callback, e.delivered, e.start, e.end, e.event])).toEqual([
      ["invalidateRangeStart", 2, 0x1000, 0x2000, "unmap"],
      ["invalidateRangeEnd", 1, 0x1000, 0x2000, "unmap"],
    ]);
    // Sequence numbers continue from the frame allocator's: one order for host events.
    expect(t[0]!.seq).toBe(frames.info(pa).lastSeq + 1);
    expect(t[1]!.seq).toBe(t[0]!.seq + 1);
  });

  it("clearFlushYoung asks every subscriber and ORs the answers", () => {
    const { mm } = setup();
    const asked: string[] = [];
    mm.notifier.register({ clearFlushYoung: () => (asked.push("yes"), true) });
    mm.notifier.register({ clearFlushYoung: () => (asked.push("no"), false) });
    expect(mm.notifier.clearFlushYoung(0, 0x1000)).toBe(true);
    expect(asked).toEqual(["yes", "no"]);
    expect(mm.notifier.trace.at(-1)).toMatchObject({ callback: "clearFlushYoung", young: true, delivered: 2 });
  });

  it("release calls every release callback then empties the chain, but mm_has_notifiers stays true", () => {
    const { mm } = setup();
    const seen: string[] = [];
    mm.notifier.register({ release: () => seen.push("r1"), archInvalidateSecondaryTlbs: () => seen.push("arch") });
    mm.notifier.register({ release: () => seen.push("r2") });
    mm.notifier.release();
    mm.notifier.archInvalidateSecondaryTlbs(0, 0x1000, false);
    expect(seen).toEqual(["r1", "r2"]);
    expect(mm.notifier.trace.at(-1)).toMatchObject({ callback: "archInvalidateSecondaryTlbs", delivered: 0 });
    expect(mm.notifier.hasNotifiers).toBe(true);
    expect(() => mm.notifier.register({})).toThrow(/already run release/);
  });

  it("unregister removes a subscriber, calling its release only when asked", () => {
    const { mm } = setup();
    const seen: string[] = [];
    const s: MmuNotifierSubscriber = { release: () => seen.push("release"), invalidateRangeStart: () => seen.push("start") };
    const off = mm.notifier.register(s);
    off();
    mm.notifier.invalidateRangeStart(0, 1, "clear");
    expect(seen).toEqual([]);
    mm.notifier.register(s);
    expect(mm.notifier.unregister(s, { release: true })).toBe(true);
    expect(mm.notifier.unregister(s)).toBe(false);
    expect(seen).toEqual(["release"]);
    expect(() => mm.notifier.register(null as unknown as MmuNotifierSubscriber)).toThrow(/subscriber/);
  });

  it("hooks see every trace entry after the subscribers ran", () => {
    const { mm } = setup();
    const hooked: string[] = [];
    mm.notifier.register({ clearFlushYoung: () => true });
    const off = mm.notifier.addHook((e) => hooked.push(`${e.callback}:${String(e.young)}`));
    mm.notifier.clearFlushYoung(0, 0x1000);
    off();
    mm.notifier.clearFlushYoung(0, 0x1000);
    expect(hooked).toEqual(["clearFlushYoung:true"]);
  });
});
