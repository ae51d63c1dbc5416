import { render } from "preact";
import { act } from "preact/test-utils";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { Sparkline } from "../charts/Sparkline";
import { ArtifactLink } from "./ArtifactLink";

function mount(node: preact.ComponentChild) {
  const root = document.createElement("div");
  document.body.appendChild(root);
  act(() => render(node, root));
  return root;
}
const $ = (root: Element, id: string) => root.querySelector(`[data-testid="${id}"]`);
const $$ = (root: Element, id: string) => root.querySelectorAll(`[data-testid="${id}"]`);
const json = (body: unknown, status = 200) => new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });
const flush = () => act(async () => {
  for (let i = 0; i < 5; i++) await new Promise((r) => setTimeout(r, 0));
});

beforeEach(() => {
  // No IntersectionObserver: every sparkline counts as visible at once.
  vi.stubGlobal("IntersectionObserver", undefined);
});
afterEach(() => {
  act(() => undefined);
  document.body.innerHTML = "";
  sessionStorage.clear();
  vi.unstubAllGlobals();
});

describe("Sparkline", () => {
  it("asks for the attribute's newest readings in the tenant and draws them", async () => {
    const fetchMock = vi.fn(async (_url: string, _init: RequestInit) =>
      json({ data: { readings: { historyStore: "STH_COMET", dropped: 0, points: [
        { timestamp: "2024-01-01T00:00:00+00:00", value: 1 },
        { timestamp: "2024-01-01T00:01:00+00:00", value: 3 },
        { timestamp: "2024-01-01T00:02:00+00:00", value: 2 },
      ] } } }),
    );
    vi.stubGlobal("fetch", fetchMock);
    const root = mount(<Sparkline entityType="Sensor" entityId="urn:s1" attribute="temperature" tenant={{ service: "smart", servicePath: "/a" }} lastN={60} />);
    await flush();
    const svg = $(root, "sparkline")!;
    expect(svg.getAttribute("data-points")).toBe("3");
    expect(svg.querySelector("polyline")!.getAttribute("points")!.split(" ").length).toBe(3);
    const body = JSON.parse(fetchMock.mock.calls[0][1].body as string);
    expect(body.variables).toMatchObject({ entityType: "Sensor", entityId: "urn:s1", attribute: "temperature", lastN: 60, service: "smart", servicePath: "/a" });
  });

  it("says so when there are no readings, or when the store fails", async () => {
    vi.stubGlobal("fetch", vi.fn(async () => json({ data: { readings: { historyStore: "QUANTUMLEAP", dropped: 0, points: [] } } })));
    const root = mount(<Sparkline entityType="Sensor" entityId="urn:none" attribute="t" tenant={null} />);
    await flush();
    expect($(root, "sparkline-empty")?.textContent).toContain("no readings");
    expect($(root, "sparkline")).toBeNull();

    vi.stubGlobal("fetch", vi.fn(async () => json({ data: null, errors: [{ message: "STH-Comet is down", extensions: { code: "UNAVAILABLE" } }] })));
    const other = mount(<Sparkline entityType="Sensor" entityId="urn:x" attribute="t" tenant={null} />);
    await flush();
    expect($(other, "sparkline-error")?.getAttribute("title")).toContain("UNAVAILABLE");
  });

  it("keeps at most 4 requests in flight", async () => {
    const pending: Array<() => void> = [];
    let inFlight = 0;
    let peak = 0;
    vi.stubGlobal("fetch", vi.fn(() => {
      inFlight++;
      peak = Math.max(peak, inFlight);
      return new Promise<Response>((resolve) =>
        pending.push(() => {
          inFlight--;
          resolve(json({ data: { readings: { historyStore: "STH_COMET", dropped: 0, points: [{ timestamp: "2024-01-01T00:00:00+00:00", value: 1 }] } } }));
        }),
      );
    }));
    const root = mount(
      <div>
        {Array.from({ length: 12 }, (_, i) => <Sparkline key={i} entityType="Sensor" entityId={`urn:${i}`} attribute="t" tenant={null} />)}
      </div>,
    );
    await flush();
    expect(inFlight).toBe(4);
    while (pending.length) {
      pending.shift()!();
      await flush();
    }
    expect(peak).toBe(4);
    expect($$(root, "sparkline").length).toBe(12);
  });
});

describe("ArtifactLink", () => {
  it("fetches the file with the key and saves it", async () => {
    sessionStorage.setItem("chronos.apiKey", "k1");
    const fetchMock = vi.fn(async (_url: string, _init: RequestInit) => new Response("onnx-bytes", { status: 200 }));
    vi.stubGlobal("fetch", fetchMock);
    const created = vi.fn((_b: Blob) => "blob:x");
    const saved = { create: URL.createObjectURL, revoke: URL.revokeObjectURL };
    URL.createObjectURL = created;
    URL.revokeObjectURL = vi.fn();
    const clicks: string[] = [];
    const click = vi.spyOn(HTMLAnchorElement.prototype, "click").mockImplementation(function (this: HTMLAnchorElement) {
      clicks.push(`${this.download}@${this.getAttribute("href")}`);
    });
    const root = mount(<ArtifactLink name="model.onnx" url="/artifacts/j1/model.onnx" />);
    const link = $(root, "artifact-download") as HTMLAnchorElement;
    expect(link.getAttribute("data-url")).toBe("/artifacts/j1/model.onnx");
    await act(async () => {
      link.dispatchEvent(new MouseEvent("click", { bubbles: true, cancelable: true, button: 0 }));
    });
    await flush();
    expect(fetchMock.mock.calls[0][0]).toBe("/artifacts/j1/model.onnx");
    expect((fetchMock.mock.calls[0][1].headers as Record<string, string>).Authorization).toBe("Bearer k1");
    expect(created).toHaveBeenCalledTimes(1);
    expect(clicks).toEqual(["model.onnx@blob:x"]);
    expect($(root, "artifact-error")).toBeNull();
    click.mockRestore();
    URL.createObjectURL = saved.create;
    URL.revokeObjectURL = saved.revoke;
  });

  it("shows the API's error when the download fails", async () => {
    vi.stubGlobal("fetch", vi.fn(async () => json({ errors: [{ message: "No artifact model.onnx.", extensions: { code: "NOT_FOUND" } }] }, 404)));
    const root = mount(<ArtifactLink name="model.onnx" url="/artifacts/j1/model.onnx" />);
    await act(async () => {
      $(root, "artifact-download")!.dispatchEvent(new MouseEvent("click", { bubbles: true, cancelable: true, button: 0 }));
    });
    await flush();
    expect($(root, "artifact-error")?.textContent).toBe("Download failed: NOT_FOUND: No artifact model.onnx.");
  });
});
