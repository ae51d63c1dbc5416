import { describe, expect, it } from "vitest";
import { CreateModelInputDefaults } from "../generated/graphql";
import { buildCreateModelInput, formFieldPaths, initialModelForm, placeErrors } from "./modelForm";

const entity = { entityType: "Sensor", entityId: "urn:s1", feature: "temperature" };

describe("model form", () => {
  it("starts from the schema's defaults", () => {
    const s = initialModelForm(entity);
    expect(s.epochs).toBe(String(CreateModelInputDefaults.epochs));
    expect(s.forecastHorizon).toBe("12");
    expect(s.lookbackWindow).toBe("");
    expect(s.intervalLevels).toBe("0.8, 0.95");
    expect(s.modelType).toBe("LSTM");
    expect(s.rnnLayers).toEqual([{ units: "32", dropout: "0", recurrentDropout: "0", activation: "RELU" }]);
  });

  it("builds the input: blanks stay unset, tenant and layers included", () => {
    const s = { ...initialModelForm(entity), epochs: "50", rnnLayers: [{ units: "64", dropout: "0.1", recurrentDropout: "", activation: "RELU" as const }] };
    const { input, errors } = buildCreateModelInput(s, { service: "smart", servicePath: "/a" });
    expect(errors).toEqual({});
    expect(input.epochs).toBe(50);
    expect("lookbackWindow" in input).toBe(false);
    expect("earlyStoppingPatience" in input).toBe(false);
    expect(input.fiwareService).toBe("smart");
    expect(input.fiwareServicePath).toBe("/a");
    expect(input.intervalLevels).toEqual([0.8, 0.95]);
    expect(input.rnnLayers).toEqual([{ units: 64, dropout: 0.1, recurrentDropout: 0 }]);
    expect(input.denseLayers).toBeUndefined();
  });

  it("catches text that is not a number before sending, at the API's path", () => {
    const s = { ...initialModelForm(entity), batchSize: "1.5", learningRate: "fast" };
    s.rnnLayers = [{ ...s.rnnLayers[0], units: "x" }];
    const { errors } = buildCreateModelInput(s, null);
    expect(Object.keys(errors).sort()).toEqual(["input.batchSize", "input.learningRate", "input.rnnLayers.0.units"]);
  });

  it("places the API's errors at their field, the rest in general", () => {
    const s = initialModelForm(entity);
    const paths = formFieldPaths(s);
    const placed = placeErrors(
      [
        { code: "VALIDATION_ERROR", message: "units must be 1-1024", field: ["input", "rnnLayers", "0", "units"] },
        { code: "VALIDATION_ERROR", message: "level must be in (0, 1)", field: ["input", "intervalLevels", "1"] },
        { code: "FORBIDDEN", message: "tenant not held", field: null },
      ],
      (p) => paths.has(p),
    );
    expect(placed.byField["input.rnnLayers.0.units"]).toEqual(["units must be 1-1024"]);
    expect(placed.byField["input.intervalLevels"]?.[0]).toContain("level must be in (0, 1)");
    expect(placed.general).toEqual(["FORBIDDEN: tenant not held"]);
  });

  it("leaves the history store to the server unless one is chosen", () => {
    const s = initialModelForm(entity);
    expect(s.historyStore).toBe("");
    expect("historyStore" in buildCreateModelInput(s, null).input).toBe(false);
    expect(buildCreateModelInput({ ...s, historyStore: "QUANTUMLEAP" }, null).input.historyStore).toBe("QUANTUMLEAP");
  });
});
