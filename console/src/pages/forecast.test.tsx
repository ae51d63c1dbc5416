import { render } from "preact";
import { act } from "preact/test-utils";
import { afterEach, describe, expect, it, vi } from "vitest";
import { ForecastPage } from "./Forecast";

// uPlot needs a canvas; the stub keeps what the page asked it to draw.
const drawn: { data: unknown[][]; series: unknown[] }[] = [];
vi.mock("../charts/UPlotChart", () => ({
  UPlotChart: (props: { data: unknown[][]; options: { series: unknown[] }; testid: string }) => {
    drawn.push({ data: props.data, series: props.options.series });
    return <div data-testid={props.testid} />;
  },
}));

const json = (body: unknown) => new Response(JSON.stringify(body), { status: 200, headers: { "content-type": "application/json" } });
const t = (h: number) => new Date(Date.UTC(2024, 0, 1, h)).toISOString();

afterEach(() => {
  document.body.innerHTML = "";
  drawn.length = 0;
  vi.unstubAllGlobals();
});

describe("ForecastPage", () => {
  it("plots the readings of the model's store since the oldest past forecast with the forecasts", async () => {
    const asked: Record<string, Record<string, unknown>> = {};
    vi.stubGlobal("fetch", vi.fn(async (_url: string, init: RequestInit) => {
      const { query, variables } = JSON.parse(init.body as string);
      const op = /^(?:query|mutation) (\w+)/.exec(query)![1];
      asked[op] = variables;
      switch (op) {
        case "ForecastJob":
          return json({ data: { trainingJob: {
            id: "j1", modelId: "m1", status: "COMPLETED", intervals: [{ level: 0.8, coverage: 0.8 }], liveAccuracy: [],
            model: { id: "m1", name: "M", entityType: "Sensor", entityId: "urn:s1", feature: "temperature", historyStore: "QUANTUMLEAP", fiwareService: "smart", fiwareServicePath: "/a" },
          } } });
        case "Forecast":
          return json({ data: { predict: {
            generatedAt: t(4), horizon: 1, intervalLevel: 0.8, servedBy: "network",
            contextWindow: [{ timestamp: t(3), value: 3 }], points: [{ step: 1, value: 4, targetTimestamp: t(4), lower: 3.5, upper: 4.5 }],
          } } });
        case "PredictionHistory":
          return json({ data: { predictionHistory: { pageInfo: { hasNextPage: false, endCursor: null }, edges: [
            { node: { recordedAt: t(0), generatedAt: t(0), horizon: 1, intervalLevel: 0.8, points: [{ step: 1, value: 1.2, targetTimestamp: t(1), lower: 1, upper: 1.4 }] } },
          ] } } });
        case "Readings":
          return json({ data: { readings: { historyStore: "QUANTUMLEAP", dropped: 1, points: [1, 2, 3].map((h) => ({ timestamp: t(h), value: h })) } } });
      }
      throw new Error(`unexpected ${op}`);
    }));
    const root = document.createElement("div");
    document.body.appendChild(root);
    act(() => render(<ForecastPage jobId="j1" />, root));
    await vi.waitFor(async () => {
      await act(() => new Promise((r) => setTimeout(r, 5)));
      expect(root.querySelector('[data-testid="actual-series"]')).not.toBeNull();
    });
    expect(asked.Readings).toMatchObject({
      entityType: "Sensor", entityId: "urn:s1", attribute: "temperature", historyStore: "QUANTUMLEAP",
      service: "smart", servicePath: "/a", lastN: 10_000, dateFrom: "2024-01-01T01:00:00.000+00:00",
    });
    const caption = root.querySelector('[data-testid="actual-series"]')!;
    expect(caption.getAttribute("data-points")).toBe("3");
    expect(caption.textContent).toContain("1 not numeric");
    const last = drawn[drawn.length - 1];
    expect(last.data.length).toBe(last.series.length);
    expect(last.data[0]).toEqual([1, 2, 3, 4].map((h) => Date.parse(t(h)) / 1000));
    expect(last.data[1]).toEqual([1, 2, 3, null]);
    expect(last.data[last.data.length - 1]).toEqual([1.2, null, null, null]);
  });
});
