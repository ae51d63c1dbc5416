// The "create a model" form: its state starts from the schema's defaults (CreateModelInputDefaults,
// generated from schema.graphql) and turns into a CreateModelInput; the API's errors are placed at
// their field by path.
import {
  CreateModelInputDefaults as D,
  DenseLayerInputDefaults,
  RnnLayerInputDefaults,
  type Activation,
  type CreateModelInput,
  type HistoryStore,
  type ModelType,
  type TargetMode,
} from "../generated/graphql";
import type { Tenant } from "./tenant";

export interface LayerRow {
  units: string;
  dropout: string;
  recurrentDropout: string;
  activation: Activation;
}

/** Every field as the user edits it (text for numbers, so "" can mean "the default"). */
export interface ModelFormState {
  name: string;
  description: string;
  entityType: string;
  entityId: string;
  feature: string;
  modelType: ModelType;
  targetMode: TargetMode;
  historyStore: HistoryStore | "";
  forecastHorizon: string;
  lookbackWindow: string;
  epochs: string;
  earlyStoppingPatience: string;
  batchSize: string;
  learningRate: string;
  validationRatio: string;
  testRatio: string;
  intervalLevels: string;
  calendarFeatures: boolean;
  rnnLayers: LayerRow[];
  denseLayers: LayerRow[];
}

const text = (v: number | null | undefined) => (v == null ? "" : String(v));

export function rnnRow(): LayerRow {
  return { units: text(RnnLayerInputDefaults.units), dropout: text(RnnLayerInputDefaults.dropout), recurrentDropout: text(RnnLayerInputDefaults.recurrentDropout), activation: "RELU" };
}

export function denseRow(): LayerRow {
  return { units: "16", dropout: text(DenseLayerInputDefaults.dropout), recurrentDropout: "0", activation: DenseLayerInputDefaults.activation };
}

export function initialModelForm(entity: { entityType: string; entityId: string; feature?: string }): ModelFormState {
  return {
    name: "",
    description: "",
    entityType: entity.entityType,
    entityId: entity.entityId,
    feature: entity.feature ?? "",
    modelType: D.modelType,
    targetMode: D.targetMode,
    historyStore: D.historyStore ?? "",
    forecastHorizon: text(D.forecastHorizon),
    lookbackWindow: text(D.lookbackWindow),
    epochs: text(D.epochs),
    earlyStoppingPatience: text(D.earlyStoppingPatience),
    batchSize: text(D.batchSize),
    learningRate: text(D.learningRate),
    validationRatio: text(D.validationRatio),
    testRatio: text(D.testRatio),
    intervalLevels: D.intervalLevels.join(", "),
    calendarFeatures: D.calendarFeatures,
    // The schema's null means "one layer of 32 units": shown as that layer.
    rnnLayers: [rnnRow()],
    denseLayers: [],
  };
}

export interface BuiltInput {
  input: CreateModelInput;
  /** Problems found before sending (text that is not a number), by field path like the API's. */
  errors: Record<string, string>;
}

export function buildCreateModelInput(s: ModelFormState, tenant: Tenant | null): BuiltInput {
  const errors: Record<string, string> = {};
  const number = (path: string, value: string, integer: boolean): number | undefined => {
    if (value.trim() === "") return undefined;
    const n = Number(value);
    if (!Number.isFinite(n) || (integer && !Number.isInteger(n))) {
      errors[path] = integer ? "Enter a whole number." : "Enter a number.";
      return undefined;
    }
    return n;
  };
  const input: CreateModelInput = {
    entityType: s.entityType.trim(),
    entityId: s.entityId.trim(),
    feature: s.feature.trim(),
    modelType: s.modelType,
    targetMode: s.targetMode,
    calendarFeatures: s.calendarFeatures,
  };
  if (s.name.trim()) input.name = s.name.trim();
  if (s.description.trim()) input.description = s.description.trim();
  if (s.historyStore) input.historyStore = s.historyStore;
  if (tenant) {
    input.fiwareService = tenant.service;
    input.fiwareServicePath = tenant.servicePath;
  }
  const ints = ["forecastHorizon", "lookbackWindow", "epochs", "earlyStoppingPatience", "batchSize"] as const;
  for (const k of ints) {
    const v = number(`input.${k}`, s[k], true);
    if (v !== undefined) input[k] = v;
  }
  const floats = ["learningRate", "validationRatio", "testRatio"] as const;
  for (const k of floats) {
    const v = number(`input.${k}`, s[k], false);
    if (v !== undefined) input[k] = v;
  }
  if (s.intervalLevels.trim()) {
    const levels = s.intervalLevels.split(/[,\s]+/).filter(Boolean).map(Number);
    if (levels.some((l) => !Number.isFinite(l))) errors["input.intervalLevels"] = "Enter numbers separated by commas, e.g. 0.8, 0.95.";
    else input.intervalLevels = levels;
  } else input.intervalLevels = [];
  input.rnnLayers = s.rnnLayers.map((l, i) => ({
    units: number(`input.rnnLayers.${i}.units`, l.units, true) ?? RnnLayerInputDefaults.units,
    dropout: number(`input.rnnLayers.${i}.dropout`, l.dropout, false) ?? 0,
    recurrentDropout: number(`input.rnnLayers.${i}.recurrentDropout`, l.recurrentDropout, false) ?? 0,
  }));
  if (s.denseLayers.length)
    input.denseLayers = s.denseLayers.map((l, i) => ({
      units: number(`input.denseLayers.${i}.units`, l.units, true) ?? 1,
      dropout: number(`input.denseLayers.${i}.dropout`, l.dropout, false) ?? 0,
      activation: l.activation,
    }));
  if (!input.feature) errors["input.feature"] = "Choose the attribute to forecast.";
  return { input, errors };
}

export interface FieldErrors {
  /** Messages by field path ("input.rnnLayers.0.units"). */
  byField: Record<string, string[]>;
  /** Messages no form field shows (no path, or a path the form has no field for). */
  general: string[];
}

export function placeErrors(
  errors: readonly { code: string; message: string; field: readonly string[] | null }[],
  knownField: (path: string) => boolean,
): FieldErrors {
  const out: FieldErrors = { byField: {}, general: [] };
  for (const e of errors) {
    const path = e.field?.join(".");
    // The deepest field the form shows: ["input","intervalLevels","1"] lands at input.intervalLevels.
    let at: string | null = null;
    for (let n = e.field?.length ?? 0; n > 1 && !at; n--) {
      const candidate = e.field!.slice(0, n).join(".");
      if (knownField(candidate)) at = candidate;
    }
    if (at) (out.byField[at] ??= []).push(at === path ? e.message : `${e.message} (${path})`);
    else out.general.push(`${e.code}${path ? ` (${path})` : ""}: ${e.message}`);
  }
  return out;
}

/** The paths the form shows errors at, for a state with these layers. */
export function formFieldPaths(s: ModelFormState): Set<string> {
  const paths = new Set([
    "name", "description", "entityType", "entityId", "feature", "modelType", "targetMode", "historyStore",
    "forecastHorizon", "lookbackWindow", "epochs", "earlyStoppingPatience", "batchSize", "learningRate",
    "validationRatio", "testRatio", "intervalLevels", "calendarFeatures", "rnnLayers", "denseLayers",
    "fiwareService", "fiwareServicePath",
  ].map((p) => `input.${p}`));
  s.rnnLayers.forEach((_, i) => ["", ".units", ".dropout", ".recurrentDropout"].forEach((f) => paths.add(`input.rnnLayers.${i}${f}`)));
  s.denseLayers.forEach((_, i) => ["", ".units", ".dropout", ".activation"].forEach((f) => paths.add(`input.denseLayers.${i}${f}`)));
  return paths;
}
