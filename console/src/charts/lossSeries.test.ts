import { describe, expect, it, vi } from "vitest";
import { frameScheduler } from "./frame";
import { LossSeries } from "./lossSeries";

describe("LossSeries", () => {
  it("appends epochs, updates a repeated one and ignores no-ops", () => {
    const s = new LossSeries();
    expect(s.upsert({ epoch: 1, loss: 1, valLoss: 2 })).toBe(true);
    expect(s.upsert({ epoch: 2, loss: 0.5, valLoss: null })).toBe(true);
    expect(s.upsert({ epoch: 2, loss: null, valLoss: 1.5 })).toBe(true);
    expect(s.upsert({ epoch: 2, loss: 0.5, valLoss: 1.5 })).toBe(false);
    expect(s.data()).toEqual([[1, 2], [1, 0.5], [2, 1.5]]);
  });

  it("merges stored history arriving after live epochs, in order and without duplicates", () => {
    const s = new LossSeries();
    s.upsert({ epoch: 5, loss: 0.1, valLoss: 0.2 });
    s.merge([1, 2, 3, 4, 5].map((epoch) => ({ epoch, loss: epoch, valLoss: epoch * 2 })));
    expect(s.epochs).toEqual([1, 2, 3, 4, 5]);
    expect(s.loss[4]).toBe(5);
    expect(s.hasGaps()).toBe(false);
    s.upsert({ epoch: 8, loss: 1, valLoss: 1 });
    expect(s.hasGaps()).toBe(true);
  });

  it("holds 1,000 epochs", () => {
    const s = new LossSeries();
    for (let e = 1; e <= 1000; e++) s.upsert({ epoch: e, loss: 1 / e, valLoss: 2 / e });
    expect(s.length).toBe(1000);
    expect(s.lastEpoch).toBe(1000);
  });
});

describe("frameScheduler", () => {
  it("flushes once per frame however many events were scheduled", () => {
    const frames: (() => void)[] = [];
    vi.stubGlobal("requestAnimationFrame", (cb: () => void) => frames.push(cb));
    const flush = vi.fn();
    const f = frameScheduler(flush);
    for (let i = 0; i < 50; i++) f.schedule();
    expect(frames.length).toBe(1);
    frames.shift()!();
    expect(flush).toHaveBeenCalledTimes(1);
    f.schedule();
    expect(frames.length).toBe(1);
    vi.unstubAllGlobals();
  });
});
