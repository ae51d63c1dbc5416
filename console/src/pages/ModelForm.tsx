import { useMemo, useState } from "preact/hooks";
import { gql } from "../api/client";
import {
  ActivationValues,
  CreateModelDocument,
  HistoryStoreValues,
  StartTrainingDocument,
  TargetModeValues,
  type CreateModelMutation,
  type CreateModelVariables,
  type ModelFormOptionsQuery,
  type StartTrainingMutation,
} from "../generated/graphql";
import { buildCreateModelInput, denseRow, formFieldPaths, initialModelForm, placeErrors, rnnRow, type FieldErrors, type LayerRow, type ModelFormState } from "../lib/modelForm";
import { href, navigate } from "../lib/router";
import type { Tenant } from "../lib/tenant";

export interface ModelFormProps {
  entity: { entityType: string; entityId: string; attributes: string[] };
  tenant: Tenant | null;
  modelTypes: ModelFormOptionsQuery["modelTypes"];
  onClose: () => void;
}

export function ModelForm({ entity, tenant, modelTypes, onClose }: ModelFormProps) {
  const [s, setS] = useState<ModelFormState>(() => initialModelForm({ ...entity, feature: entity.attributes[0] }));
  const [errors, setErrors] = useState<FieldErrors>({ byField: {}, general: [] });
  const [train, setTrain] = useState(true);
  const [busy, setBusy] = useState(false);
  const paths = useMemo(() => formFieldPaths(s), [s]);
  const set = <K extends keyof ModelFormState>(k: K, v: ModelFormState[K]) => setS({ ...s, [k]: v });

  async function submit(e: Event) {
    e.preventDefault();
    const built = buildCreateModelInput(s, tenant);
    if (Object.keys(built.errors).length) {
      setErrors({ byField: Object.fromEntries(Object.entries(built.errors).map(([k, v]) => [k, [v]])), general: [] });
      return;
    }
    setBusy(true);
    setErrors({ byField: {}, general: [] });
    try {
      const r = await gql<CreateModelMutation, CreateModelVariables>(CreateModelDocument, { input: built.input });
      const payload = r.createModel;
      if (!payload.model) {
        setErrors(placeErrors(payload.errors, (p) => paths.has(p)));
        return;
      }
      if (train) {
        const t = await gql<StartTrainingMutation>(StartTrainingDocument, { modelId: payload.model.id, input: null });
        if (t.startTraining.trainingJob) return navigate(href.job(t.startTraining.trainingJob.id));
        // The model exists; its training was refused: say why on its page's stead.
        alert(`Model created, training refused: ${t.startTraining.errors.map((x) => x.message).join("; ")}`);
      }
      navigate(href.model(payload.model.id));
    } catch (err) {
      setErrors({ byField: {}, general: [(err as Error).message] });
    } finally {
      setBusy(false);
    }
  }

  const err = (path: string) =>
    errors.byField[path]?.map((m, i) => (
      <span key={i} class="field-error" data-testid={`field-error-${path}`}>
        {m}
      </span>
    ));
  const num = (k: keyof ModelFormState & string, label: string, hint?: string) => (
    <label class="field">
      <span>{label}</span>
      <input value={s[k] as string} onInput={(e) => set(k, e.currentTarget.value as never)} placeholder={hint} data-testid={`field-${k}`} inputMode="decimal" />
      {err(`input.${k}`)}
    </label>
  );
  const layers = (key: "rnnLayers" | "denseLayers", make: () => LayerRow) => (
    <fieldset data-testid={`field-${key}`}>
      <legend>{key === "rnnLayers" ? "Recurrent layers" : "Dense layers"}</legend>
      {err(`input.${key}`)}
      {s[key].map((l, i) => {
        const upd = (patch: Partial<LayerRow>) => set(key, s[key].map((x, j) => (j === i ? { ...x, ...patch } : x)));
        return (
          <div class="layer" key={i}>
            <label>units <input size={5} value={l.units} onInput={(e) => upd({ units: e.currentTarget.value })} data-testid={`field-${key}-${i}-units`} /></label>
            {err(`input.${key}.${i}.units`)}
            <label>dropout <input size={4} value={l.dropout} onInput={(e) => upd({ dropout: e.currentTarget.value })} /></label>
            {err(`input.${key}.${i}.dropout`)}
            {key === "rnnLayers" ? (
              <label>recurrent dropout <input size={4} value={l.recurrentDropout} onInput={(e) => upd({ recurrentDropout: e.currentTarget.value })} /></label>
            ) : (
              <select value={l.activation} onChange={(e) => upd({ activation: e.currentTarget.value as LayerRow["activation"] })}>
                {ActivationValues.map((a) => <option key={a} value={a}>{a}</option>)}
              </select>
            )}
            {err(`input.${key}.${i}.recurrentDropout`)}
            {err(`input.${key}.${i}`)}
            {(key === "denseLayers" || s[key].length > 1) && (
              <button type="button" class="link" onClick={() => set(key, s[key].filter((_, j) => j !== i))}>remove</button>
            )}
          </div>
        );
      })}
      {s[key].length < 8 && <button type="button" class="link" onClick={() => set(key, [...s[key], make()])}>+ layer</button>}
    </fieldset>
  );

  return (
    <form class="card model-form" onSubmit={submit} data-testid="model-form">
      <h3>
        New model for {entity.entityType} / {entity.entityId}
      </h3>
      <p class="muted small">Pre-filled with the API's defaults. Tenant: {tenant ? `${tenant.service}:${tenant.servicePath}` : "the API's default"}.</p>
      {errors.general.length > 0 && (
        <div class="error" role="alert" data-testid="form-errors">
          {errors.general.map((g, i) => <div key={i}>{g}</div>)}
        </div>
      )}
      <div class="fields">
        <label class="field">
          <span>Feature</span>
          <select value={s.feature} onChange={(e) => set("feature", e.currentTarget.value)} data-testid="field-feature">
            {entity.attributes.map((a) => <option key={a} value={a}>{a}</option>)}
          </select>
          {err("input.feature")}
        </label>
        <label class="field">
          <span>Name</span>
          <input value={s.name} onInput={(e) => set("name", e.currentTarget.value)} placeholder={`${s.modelType} - ${s.feature}`} data-testid="field-name" />
          {err("input.name")}
        </label>
        <label class="field">
          <span>Model type</span>
          <select value={s.modelType} onChange={(e) => set("modelType", e.currentTarget.value as ModelFormState["modelType"])} data-testid="field-modelType">
            {modelTypes.map((t) => <option key={t.value} value={t.value} title={t.description}>{t.label}</option>)}
          </select>
          {err("input.modelType")}
        </label>
        <label class="field">
          <span>Target</span>
          <select value={s.targetMode} onChange={(e) => set("targetMode", e.currentTarget.value as ModelFormState["targetMode"])} data-testid="field-targetMode">
            {TargetModeValues.map((t) => <option key={t} value={t}>{t}</option>)}
          </select>
          {err("input.targetMode")}
        </label>
        <label class="field">
          <span>History store</span>
          <select value={s.historyStore} onChange={(e) => set("historyStore", e.currentTarget.value as ModelFormState["historyStore"])} data-testid="field-historyStore">
            <option value="">server's default</option>
            {HistoryStoreValues.map((t) => <option key={t} value={t}>{t}</option>)}
          </select>
          {err("input.historyStore")}
        </label>
        {num("forecastHorizon", "Horizon (steps)")}
        {num("lookbackWindow", "Lookback (steps)", "chosen from the data")}
        {num("epochs", "Max epochs")}
        {num("earlyStoppingPatience", "Early-stopping patience", "8 (or epochs)")}
        {num("batchSize", "Batch size")}
        {num("learningRate", "Learning rate")}
        {num("validationRatio", "Validation share")}
        {num("testRatio", "Test share")}
        {num("intervalLevels", "Interval levels")}
        <label class="field check">
          <input type="checkbox" checked={s.calendarFeatures} onChange={(e) => set("calendarFeatures", e.currentTarget.checked)} data-testid="field-calendarFeatures" />
          <span>Calendar features</span>
          {err("input.calendarFeatures")}
        </label>
      </div>
      {layers("rnnLayers", rnnRow)}
      {layers("denseLayers", denseRow)}
      {err("input.fiwareService")}
      {err("input.fiwareServicePath")}
      <label class="check">
        <input type="checkbox" checked={train} onChange={(e) => setTrain(e.currentTarget.checked)} data-testid="field-startTraining" /> Start training now (newest 1,000 points)
      </label>
      <div class="row">
        <button type="submit" disabled={busy} data-testid="model-submit">Create model</button>
        <button type="button" class="link" onClick={onClose}>Cancel</button>
      </div>
    </form>
  );
}
