import { describe, expect, it } from "vitest";
import { sparkline } from "./sparkline";

const at = (min: number) => new Date(Date.UTC(2024, 0, 1, 0, min)).toISOString();

describe("sparkline", () => {
  it("scales time to x and min..max to y (max at the top) inside the padding", () => {
    const s = sparkline([{ timestamp: at(0), value: 10 }, { timestamp: at(5), value: 20 }, { timestamp: at(10), value: 15 }], 104, 24, 2);
    expect(s.count).toBe(3);
    expect(s.points).toBe("2,22 52,2 102,12");
    expect(s.min).toBe(10);
    expect(s.max).toBe(20);
    expect(s.last).toEqual({ x: 102, y: 12, value: 15 });
  });

  it("spaces by time, not by index, and sorts by time", () => {
    const s = sparkline([{ timestamp: at(10), value: 1 }, { timestamp: at(0), value: 0 }, { timestamp: at(1), value: 1 }], 100, 10, 0);
    expect(s.points).toBe("0,10 10,0 100,0");
  });

  it("draws a flat series in the middle and a single point in the centre", () => {
    expect(sparkline([{ timestamp: at(0), value: 5 }, { timestamp: at(1), value: 5 }], 100, 20, 0).points).toBe("0,10 100,10");
    expect(sparkline([{ timestamp: at(0), value: 5 }], 100, 20, 0).points).toBe("50,10");
  });

  it("falls back to index spacing when every time is the same", () => {
    expect(sparkline([{ timestamp: at(0), value: 0 }, { timestamp: at(0), value: 1 }, { timestamp: at(0), value: 2 }], 100, 10, 0).points).toBe(
      "0,10 50,5 100,0",
    );
  });

  it("skips unparseable times and non-finite values; nothing drawable is empty", () => {
    const s = sparkline([{ timestamp: "nope", value: 1 }, { timestamp: at(0), value: Number.NaN }, { timestamp: at(1), value: 3 }], 100, 20, 0);
    expect(s.count).toBe(1);
    expect(sparkline([], 100, 20)).toEqual({ points: "", count: 0, min: null, max: null, last: null });
  });
});
