import { describe, expect, it } from "vitest";
import { buildForecastColumns, isoUtc, readingsWindow } from "./forecastData";

const t = (h: number) => new Date(Date.UTC(2024, 0, 1, h)).toISOString();

describe("buildForecastColumns", () => {
  it("aligns context, forecast, band and past forecasts on one time axis", () => {
    const prediction = {
      generatedAt: t(3),
      horizon: 2,
      intervalLevel: 0.8,
      servedBy: "network",
      contextWindow: [{ timestamp: t(0), value: 1 }, { timestamp: t(1), value: 2 }],
      points: [
        { step: 1, value: 3, targetTimestamp: t(2), lower: 2.5, upper: 3.5 },
        { step: 2, value: 4, targetTimestamp: t(3), lower: null, upper: null },
      ],
    };
    const runs = [
      { recordedAt: t(0), generatedAt: t(0), horizon: 2, intervalLevel: 0.8, points: [
        { step: 1, value: 1.1, targetTimestamp: t(1), lower: null, upper: null },
        { step: 2, value: 9, targetTimestamp: t(2), lower: null, upper: null },
      ] },
      { recordedAt: t(1), generatedAt: t(1), horizon: 2, intervalLevel: 0.8, points: [
        { step: 1, value: 2.9, targetTimestamp: t(2), lower: null, upper: null },
        { step: 2, value: null, targetTimestamp: t(3), lower: null, upper: null },
      ] },
    ];
    const c = buildForecastColumns(prediction, runs);
    expect(c.x).toEqual([0, 1, 2, 3].map((h) => Date.parse(t(h)) / 1000));
    expect(c.observed).toEqual([1, 2, null, null]);
    expect(c.forecast).toEqual([null, 2, 3, 4]);
    expect(c.lower).toEqual([null, null, 2.5, null]);
    expect(c.upper).toEqual([null, null, 3.5, null]);
    // For t(2) the step-1 forecast (made later) wins over the step-2 one.
    expect(c.past).toEqual([null, 1.1, 2.9, null]);
    expect(c.bandPoints).toBe(1);
  });

  it("is empty without data", () => {
    expect(buildForecastColumns(null, []).x).toEqual([]);
  });

  it("merges the readings that arrived with the forecasts on one time axis", () => {
    const prediction = {
      generatedAt: t(4),
      horizon: 1,
      intervalLevel: 0.8,
      servedBy: "network",
      contextWindow: [{ timestamp: t(3), value: 3 }],
      points: [{ step: 1, value: 5, targetTimestamp: t(5), lower: 4, upper: 6 }],
    };
    const runs = [
      { recordedAt: t(0), generatedAt: t(0), horizon: 2, intervalLevel: null, points: [
        { step: 1, value: 1.5, targetTimestamp: t(1), lower: null, upper: null },
        { step: 2, value: 2.5, targetTimestamp: new Date(Date.UTC(2024, 0, 1, 2, 30)).toISOString(), lower: null, upper: null },
      ] },
    ];
    const readings = [
      { timestamp: t(0), value: 1 },
      { timestamp: t(1), value: 2 },
      { timestamp: t(2), value: 2.4 },
      { timestamp: t(3), value: 3 },
      { timestamp: "garbage", value: 9 },
    ];
    const c = buildForecastColumns(prediction, runs, readings);
    const half = Date.UTC(2024, 0, 1, 2, 30) / 1000;
    expect(c.x).toEqual([0, 1, 2].map((h) => Date.parse(t(h)) / 1000).concat([half, Date.parse(t(3)) / 1000, Date.parse(t(5)) / 1000]));
    expect(c.actual).toEqual([1, 2, 2.4, null, 3, null]);
    expect(c.past).toEqual([null, 1.5, null, 2.5, null, null]);
    expect(c.observed).toEqual([null, null, null, null, 3, null]);
    expect(c.forecast).toEqual([null, null, null, null, 3, 5]);
    expect(c.lower).toEqual([null, null, null, null, null, 4]);
    expect(c.actualPoints).toBe(4);
    // Every column has one value per x.
    for (const col of [c.actual, c.observed, c.forecast, c.lower, c.upper, c.past]) expect(col.length).toBe(c.x.length);
  });

  it("reads from the oldest past forecast's first target to now", () => {
    const now = Date.UTC(2024, 0, 2);
    const runs = [
      { recordedAt: t(5), generatedAt: t(5), horizon: 1, intervalLevel: null, points: [{ step: 1, value: 1, targetTimestamp: t(6), lower: null, upper: null }] },
      { recordedAt: t(1), generatedAt: t(1), horizon: 2, intervalLevel: null, points: [
        { step: 1, value: 1, targetTimestamp: t(2), lower: null, upper: null },
        { step: 2, value: 1, targetTimestamp: null, lower: null, upper: null },
      ] },
    ];
    expect(readingsWindow(null, runs, now)).toEqual({ dateFrom: "2024-01-01T02:00:00.000+00:00", dateTo: "2024-01-02T00:00:00.000+00:00", lastN: 10_000 });
    const prediction = { generatedAt: t(4), horizon: 1, intervalLevel: null, servedBy: "network", contextWindow: [{ timestamp: t(3), value: 1 }], points: [] };
    // Without past forecasts: from the start of the current forecast's context window.
    expect(readingsWindow(prediction, [], now).dateFrom).toBe(isoUtc(Date.parse(t(3))));
    // With neither: the newest readings.
    expect(readingsWindow(null, [], now, 300)).toEqual({ dateFrom: null, dateTo: isoUtc(now), lastN: 300 });
  });
});
