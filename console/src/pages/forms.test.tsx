import { render } from "preact";
import { act } from "preact/test-utils";
import { afterEach, describe, expect, it, vi } from "vitest";
import { KeyForm } from "../app";
import { applyEvents, type LiveState } from "./Job";
import { ModelForm } from "./ModelForm";

function mount(node: preact.ComponentChild) {
  const root = document.createElement("div");
  document.body.appendChild(root);
  act(() => render(node, root));
  return root;
}
const $ = (root: Element, id: string) => root.querySelector(`[data-testid="${id}"]`);

afterEach(() => {
  document.body.innerHTML = "";
  vi.unstubAllGlobals();
});

describe("KeyForm", () => {
  it("shows the refusal and submits the typed key", () => {
    const onKey = vi.fn();
    const root = mount(<KeyForm message="The API refused this key" onKey={onKey} />);
    expect($(root, "key-error")?.textContent).toContain("refused");
    const input = $(root, "key-input") as HTMLInputElement;
    act(() => {
      input.value = " secret ";
      input.dispatchEvent(new Event("input", { bubbles: true }));
    });
    act(() => {
      ($(root, "key-form") as HTMLFormElement).dispatchEvent(new Event("submit", { bubbles: true, cancelable: true }));
    });
    expect(onKey).toHaveBeenCalledWith("secret");
  });
});

describe("ModelForm", () => {
  it("shows the schema defaults and the API's errors at their field", async () => {
    const fetchMock = vi.fn(async () =>
      new Response(
        JSON.stringify({
          data: {
            createModel: {
              model: null,
              errors: [
                { code: "VALIDATION_ERROR", message: "Must be 1-1024.", field: ["input", "rnnLayers", "0", "units"] },
                { code: "VALIDATION_ERROR", message: "Must be 1-1000.", field: ["input", "epochs"] },
              ],
            },
          },
        }),
        { status: 200, headers: { "content-type": "application/json" } },
      ),
    );
    vi.stubGlobal("fetch", fetchMock);
    const root = mount(
      <ModelForm
        entity={{ entityType: "Sensor", entityId: "urn:s1", attributes: ["temperature", "humidity"] }}
        tenant={{ service: "smart", servicePath: "/" }}
        modelTypes={[{ value: "LSTM", label: "LSTM", description: "" }, { value: "GRU", label: "GRU", description: "" }]}
        onClose={() => undefined}
      />,
    );
    expect(($(root, "field-epochs") as HTMLInputElement).value).toBe("100");
    expect(($(root, "field-forecastHorizon") as HTMLInputElement).value).toBe("12");
    expect(($(root, "field-rnnLayers-0-units") as HTMLInputElement).value).toBe("32");
    await act(async () => {
      ($(root, "model-form") as HTMLFormElement).dispatchEvent(new Event("submit", { bubbles: true, cancelable: true }));
      await new Promise((r) => setTimeout(r, 0));
    });
    expect(fetchMock).toHaveBeenCalledTimes(1);
    const body = JSON.parse((fetchMock.mock.calls[0] as unknown as [string, RequestInit])[1].body as string);
    expect(body.variables.input).toMatchObject({ entityId: "urn:s1", feature: "temperature", fiwareService: "smart", epochs: 100 });
    expect($(root, "field-error-input.rnnLayers.0.units")?.textContent).toBe("Must be 1-1024.");
    expect($(root, "field-error-input.epochs")?.textContent).toBe("Must be 1-1000.");
  });
});

describe("live job state", () => {
  it("folds events: newest wins, progress never goes back", () => {
    const base: LiveState = {
      seq: null, status: "TRAINING", phase: null, fraction: 0.5, epoch: 3, totalEpochs: 100, expectedLastEpoch: 20, bestEpoch: 2,
      loss: 1, valLoss: 1, etaSeconds: 10, message: null, collected: 0, requested: 0, error: null,
    };
    const ev = (seq: number, progress: number, epoch: number) => ({
      seq, at: "", status: "TRAINING" as const, phase: "TRAINING" as const, progress, message: null, dataPointsCollected: 1000, dataPointsRequested: 1000,
      epoch, totalEpochs: 100, expectedLastEpoch: 20, bestEpoch: epoch, loss: 1 / epoch, valLoss: 2 / epoch, etaSeconds: 5, error: null,
    });
    const s = applyEvents(base, [ev(7, 0.6, 4), ev(8, 0.55, 5)]);
    expect(s.seq).toBe(8);
    expect(s.epoch).toBe(5);
    expect(s.fraction).toBe(0.6);
    expect(s.phase).toBe("TRAINING");
  });
});
