import { describe, expect, it } from "vitest";
import { createLimiter } from "./limit";

const tick = () => new Promise((r) => setTimeout(r, 0));

describe("createLimiter", () => {
  it("runs at most `concurrency` tasks at once, in order, and all of them", async () => {
    const limiter = createLimiter(4);
    let running = 0;
    let peak = 0;
    const started: number[] = [];
    const release: Array<() => void> = [];
    const results = Array.from({ length: 10 }, (_, i) =>
      limiter.run(async () => {
        started.push(i);
        running++;
        peak = Math.max(peak, running);
        await new Promise<void>((r) => release.push(r));
        running--;
        return i * 2;
      }),
    );
    await tick();
    expect(started).toEqual([0, 1, 2, 3]);
    expect(limiter.active).toBe(4);
    expect(limiter.waiting).toBe(6);
    while (release.length) {
      release.shift()!();
      await tick();
    }
    expect(await Promise.all(results)).toEqual([0, 2, 4, 6, 8, 10, 12, 14, 16, 18]);
    expect(peak).toBe(4);
    expect(limiter.active).toBe(0);
  });

  it("drops a waiting task whose signal aborts, and frees the slot of a failed one", async () => {
    const limiter = createLimiter(1);
    let release!: () => void;
    const first = limiter.run(() => new Promise<void>((r) => (release = r)));
    const abort = new AbortController();
    let ran = false;
    const second = limiter.run(async () => {
      ran = true;
    }, abort.signal);
    const third = limiter.run(async () => {
      throw new Error("boom");
    });
    abort.abort();
    await expect(second).rejects.toBeTruthy();
    expect(limiter.waiting).toBe(1);
    release();
    await first;
    await expect(third).rejects.toThrow("boom");
    expect(ran).toBe(false);
    expect(limiter.active).toBe(0);
    expect(await limiter.run(async () => "next")).toBe("next");
  });
});
