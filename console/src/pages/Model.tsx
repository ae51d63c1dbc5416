import { LiveAccuracyTable } from "./LiveAccuracyTable";
import { useState } from "preact/hooks";
import { gql } from "../api/client";
import { useViewer } from "../app";
import {
  CompareJobsDocument,
  ModelPageDocument,
  PromoteJobDocument,
  SetModelForecastingDocument,
  SetRetrainingPolicyDocument,
  StartTrainingDocument,
  type CompareJobsQuery,
  type ModelPageQuery,
  type ModelPageVariables,
  type PromoteJobMutation,
  type RetrainingPolicyInput,
  type SetModelForecastingMutation,
  type SetRetrainingPolicyMutation,
  type StartTrainingMutation,
} from "../generated/graphql";
import { duration, num, pct, when } from "../lib/format";
import { href, navigate } from "../lib/router";
import { ErrorBox, Section, useLoad } from "../lib/ui";

type Model = NonNullable<ModelPageQuery["model"]>;
const WINDOWS = [3600, 86400, 604800];
const STORE_LABEL: Record<Model["historyStore"], string> = { STH_COMET: "STH-Comet", QUANTUMLEAP: "QuantumLeap" };

function errorsText(errors: readonly { code: string; message: string }[]): string | null {
  return errors.length ? errors.map((e) => `${e.code}: ${e.message}`).join("; ") : null;
}

export function ModelPage({ id }: { id: string }) {
  const viewer = useViewer();
  const page = useLoad(() => gql<ModelPageQuery, ModelPageVariables>(ModelPageDocument, { id, windows: WINDOWS }), [id]);
  const [actionError, setActionError] = useState<string | null>(null);
  const [selected, setSelected] = useState<string[]>([]);
  const [busy, setBusy] = useState(false);

  async function act(run: () => Promise<string | null>) {
    setBusy(true);
    setActionError(null);
    try {
      setActionError(await run());
      page.reload();
    } catch (err) {
      setActionError((err as Error).message);
    } finally {
      setBusy(false);
    }
  }

  if (page.error && !page.data) return <ErrorBox error={page.error} />;
  if (!page.data) return <p class="muted">Loading the model…</p>;
  const m = page.data.model;
  if (!m) return <p data-testid="not-found">No model {id} (or it is another tenant's).</p>;
  const active = m.trainingJobs.edges.find((e) => e.node.id === m.activeTrainingJobId)?.node;

  return (
    <div class="page" data-testid="model-page">
      <p class="crumbs"><a href={href.models()}>Models</a> › {m.name}</p>
      <h1>{m.name} <span class="status">{m.status}</span></h1>
      {m.description && <p>{m.description}</p>}
      <ErrorBox error={page.error} />
      {actionError && <div class="error" role="alert" data-testid="action-error">{actionError}</div>}
      <Section title="Configuration">
        <dl class="grid">
          <dt>Sensor</dt><dd>{m.entityType} / {m.entityId} · {m.feature}</dd>
          <dt>Tenant</dt><dd>{m.fiwareService}:{m.fiwareServicePath}</dd>
          <dt>History store</dt><dd data-testid="model-historyStore" data-store={m.historyStore}>{STORE_LABEL[m.historyStore]}</dd>
          <dt>Network</dt>
          <dd>
            {m.modelType} {m.rnnLayers.map((l) => l.units).join("→")}
            {m.denseLayers.length ? ` + dense ${m.denseLayers.map((l) => `${l.units} ${l.activation.toLowerCase()}`).join("→")}` : ""} · {m.targetMode}
          </dd>
          <dt>Horizon / lookback</dt><dd>{m.forecastHorizon} / {m.lookbackWindow ?? "chosen from the data"}</dd>
          <dt>Training</dt><dd>≤ {m.epochs} epochs, patience {m.earlyStoppingPatience}, batch {m.batchSize}, lr {m.learningRate}, val {m.validationRatio}, test {m.testRatio}</dd>
          <dt>Intervals</dt><dd>{m.intervalLevels.map(pct).join(", ")}</dd>
        </dl>
        {viewer.canMutate && m.status !== "TRAINING" && (
          <button
            data-testid="start-training"
            disabled={busy}
            onClick={() =>
              act(async () => {
                const r = await gql<StartTrainingMutation>(StartTrainingDocument, { modelId: m.id, input: null });
                if (r.startTraining.trainingJob) navigate(href.job(r.startTraining.trainingJob.id));
                return errorsText(r.startTraining.errors);
              })
            }
          >
            {m.status === "DRAFT" ? "Train (newest 1,000 points)" : "Retrain now (newest 1,000 points)"}
          </button>
        )}
      </Section>

      <Section title="Versions" testid="versions">
        {m.trainingJobs.edges.length === 0 ? (
          <p class="muted">No training job yet.</p>
        ) : (
          <table data-testid="versions-table">
            <thead>
              <tr><th></th><th>Job</th><th>Status</th><th>Created</th><th>RMSE</th><th>MAE</th><th>Skill</th><th>Serves</th><th></th></tr>
            </thead>
            <tbody>
              {m.trainingJobs.edges.map(({ node: j }) => {
                const isActive = j.id === m.activeTrainingJobId;
                return (
                  <tr key={j.id} data-testid="version-row" data-id={j.id} data-active={String(isActive)} class={isActive ? "active" : ""}>
                    <td>
                      <input
                        type="checkbox"
                        aria-label="compare"
                        data-testid="compare-select"
                        disabled={j.status !== "COMPLETED"}
                        checked={selected.includes(j.id)}
                        onChange={(e) => setSelected(e.currentTarget.checked ? [...selected, j.id].slice(-10) : selected.filter((s) => s !== j.id))}
                      />
                    </td>
                    <td>
                      <a href={href.job(j.id)}>{j.id.slice(0, 8)}</a>
                      {isActive && <span class="active-marker" data-testid="active-marker"> ★ active</span>}
                    </td>
                    <td>{j.status}{j.status !== "COMPLETED" && j.status !== "FAILED" && j.status !== "CANCELLED" ? ` ${pct(j.progress.fraction)}` : ""}</td>
                    <td>{when(j.createdAt)}</td>
                    <td>{num(j.metrics?.rmse)}</td>
                    <td>{num(j.metrics?.mae)}</td>
                    <td>{num(j.metrics?.skill)}</td>
                    <td>{j.servedBy?.name ?? "—"}</td>
                    <td>
                      {j.status === "COMPLETED" && <a href={href.forecast(j.id)}>forecast</a>}{" "}
                      {viewer.canMutate && j.status === "COMPLETED" && !isActive && (
                        <button
                          data-testid="promote"
                          disabled={busy}
                          onClick={() =>
                            act(async () => {
                              const r = await gql<PromoteJobMutation>(PromoteJobDocument, { trainingJobId: j.id });
                              return errorsText(r.promoteTrainingJob.errors);
                            })
                          }
                        >
                          {active && Date.parse(j.createdAt) < Date.parse(active.createdAt) ? "Roll back to this" : "Promote"}
                        </button>
                      )}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        )}
        {m.activeSince && <p class="small">Active since {when(m.activeSince)}.</p>}
        <Compare ids={selected} />
      </Section>

      <Section title="Forecasting" testid="model-forecasting">
        <p class="small" data-testid="forecasting-state" data-enabled={String(!!m.forecasting?.enabled)}>
          {m.forecasting?.enabled
            ? `On: every ${duration(m.forecasting.intervalSeconds)} to ${m.forecasting.entityId ?? "—"}; last ${when(m.forecasting.lastRunAt)}, next ${when(m.forecasting.nextPredictionAt)}; runs ${m.forecasting.runCount}, missed ${m.forecasting.missedCount}`
            : "Off"}
          {m.forecasting?.lastError ? ` · last error: ${m.forecasting.lastError}` : ""}
        </p>
        {viewer.canMutate && (
          <button
            data-testid="forecasting-toggle"
            data-enabled={String(!!m.forecasting?.enabled)}
            disabled={busy || (!m.activeTrainingJobId && !m.forecasting?.enabled)}
            onClick={() =>
              act(async () => {
                const r = await gql<SetModelForecastingMutation>(SetModelForecastingDocument, { modelId: m.id, enabled: !m.forecasting?.enabled });
                return errorsText(r.setModelForecasting.errors);
              })
            }
          >
            {m.forecasting?.enabled ? "Stop forecasting" : "Start forecasting (active version)"}
          </button>
        )}
        <h3>Live accuracy</h3>
        {m.liveAccuracy.length === 0 ? (
          <p class="muted small">None: the model's forecasts were never switched on.</p>
        ) : (
          <LiveAccuracyTable windows={m.liveAccuracy} testid="live-accuracy" />
        )}
        <p class="small">
          Drift: {m.monitoring.drifting ? <b class="warn">drifting since {when(m.monitoring.driftingSince)}</b> : "not drifting"} · reference RMSE {num(m.monitoring.referenceRmse)} · checked {when(m.monitoring.evaluatedAt)}
          {m.monitoring.error ? ` · ${m.monitoring.error}` : ""}
        </p>
      </Section>

      <Section title="Retraining" testid="retraining">
        <Policy model={m} />
        <p class="small">
          Last: {m.retraining.lastOutcome ?? "never"}{m.retraining.lastTrigger ? ` (${m.retraining.lastTrigger})` : ""} {when(m.retraining.lastStartedAt)} · next {when(m.retraining.nextAt)}
          {m.retraining.challengerJobId && <> · challenger <a href={href.job(m.retraining.challengerJobId)}>{m.retraining.challengerJobId.slice(0, 8)}</a></>}
          {m.retraining.lastError ? ` · ${m.retraining.lastError}` : ""}
        </p>
        {viewer.canMutate && <PolicyForm model={m} onSaved={page.reload} />}
      </Section>
    </div>
  );
}

function Policy({ model: m }: { model: Model }) {
  const p = m.retrainingPolicy;
  if (!p) return <p class="small" data-testid="policy">No retraining policy: retrained by hand only.</p>;
  const schedule = p.schedule ? (p.schedule.cron ? `cron "${p.schedule.cron}" (${p.schedule.timeZone})` : `every ${duration(p.schedule.intervalSeconds)}`) : "no schedule (drift or by hand)";
  const data = p.dataWindow.lastN ? `newest ${p.dataWindow.lastN} points` : p.dataWindow.durationSeconds ? `last ${duration(p.dataWindow.durationSeconds)}` : "as much as the active version had";
  return (
    <p class="small" data-testid="policy">
      {schedule} · learns from {data} · promotes when ≥ {pct(p.promotionMargin)} better · drift when live RMSE &gt; {p.drift.factor}× for {duration(p.drift.sustainSeconds)}
      {p.drift.retrain ? " (retrains)" : ""}
    </p>
  );
}

function PolicyForm({ model: m, onSaved }: { model: Model; onSaved: () => void }) {
  const p = m.retrainingPolicy;
  const [interval, setInterval] = useState(p?.schedule?.intervalSeconds != null ? String(p.schedule.intervalSeconds / 3600) : "");
  const [cron, setCron] = useState(p?.schedule?.cron ?? "");
  const [tz, setTz] = useState(p?.schedule?.timeZone ?? "UTC");
  const [margin, setMargin] = useState(String(p?.promotionMargin ?? 0));
  const [errors, setErrors] = useState<string | null>(null);

  async function save(input: RetrainingPolicyInput | null) {
    setErrors(null);
    try {
      const r = await gql<SetRetrainingPolicyMutation>(SetRetrainingPolicyDocument, { modelId: m.id, input });
      const errs = r.setRetrainingPolicy.errors;
      if (errs.length) setErrors(errs.map((e) => `${e.field ? e.field.join(".") + ": " : ""}${e.message}`).join("; "));
      else onSaved();
    } catch (err) {
      setErrors((err as Error).message);
    }
  }

  return (
    <form
      class="inline-form"
      data-testid="policy-form"
      onSubmit={(e) => {
        e.preventDefault();
        const hours = interval.trim() ? Number(interval) : null;
        const schedule = cron.trim() ? { cron: cron.trim(), timeZone: tz } : hours != null ? { intervalSeconds: hours * 3600, timeZone: tz } : null;
        void save({
          schedule,
          promotionMargin: Number(margin),
          dataWindow: p ? { lastN: p.dataWindow.lastN, durationSeconds: p.dataWindow.durationSeconds } : {},
          drift: p ? { ...p.drift } : undefined,
        });
      }}
    >
      <label>Every (hours) <input value={interval} onInput={(e) => setInterval(e.currentTarget.value)} size={6} data-testid="policy-interval" /></label>
      <label>or cron <input value={cron} onInput={(e) => setCron(e.currentTarget.value)} placeholder="0 3 * * *" size={12} data-testid="policy-cron" /></label>
      <label>time zone <input value={tz} onInput={(e) => setTz(e.currentTarget.value)} size={12} /></label>
      <label>promotion margin <input value={margin} onInput={(e) => setMargin(e.currentTarget.value)} size={5} /></label>
      <button type="submit" data-testid="policy-save">Save policy</button>
      {p && <button type="button" onClick={() => void save(null)} data-testid="policy-remove">Remove policy</button>}
      {errors && <div class="error" data-testid="policy-error">{errors}</div>}
    </form>
  );
}

function Compare({ ids }: { ids: string[] }) {
  const [result, setResult] = useState<CompareJobsQuery["compareTrainingJobs"] | null>(null);
  const [error, setError] = useState<unknown>(null);
  if (ids.length < 2) return <p class="muted small">Tick two or more completed versions to compare them.</p>;
  return (
    <div data-testid="compare">
      <button
        data-testid="compare-run"
        onClick={async () => {
          setError(null);
          try {
            setResult((await gql<CompareJobsQuery>(CompareJobsDocument, { ids })).compareTrainingJobs);
          } catch (err) {
            setError(err);
          }
        }}
      >
        Compare {ids.length} versions
      </button>
      <ErrorBox error={error} />
      {result && (
        <>
          <table data-testid="compare-table">
            <thead><tr><th>Job</th><th>RMSE</th><th>MAE</th><th>sMAPE</th><th>MASE</th><th>U2</th><th>Skill</th><th>Serves</th><th>Slots</th><th>Gaps</th><th>Series</th><th>Lookback</th></tr></thead>
            <tbody>
              {result.jobs.map((j) => (
                <tr key={j.id}>
                  <td><a href={href.job(j.id)}>{j.id.slice(0, 8)}</a></td>
                  <td>{num(j.metrics?.rmse)}</td><td>{num(j.metrics?.mae)}</td><td>{num(j.metrics?.smape)}</td><td>{num(j.metrics?.mase)}</td>
                  <td>{num(j.metrics?.theilU)}</td><td>{num(j.metrics?.skill)}</td><td>{j.servedBy?.name ?? "—"}</td>
                  <td>{j.data?.slots ?? "—"}</td><td>{j.data?.gaps ?? "—"}</td>
                  <td class="small">{j.data ? `${when(j.data.seriesStart)} – ${when(j.data.seriesEnd)}` : "—"}</td><td>{j.lookbackWindow}</td>
                </tr>
              ))}
            </tbody>
          </table>
          {result.differences.length ? (
            <table data-testid="compare-differences">
              <thead><tr><th>Setting</th>{result.jobs.map((j) => <th key={j.id}>{j.id.slice(0, 8)}</th>)}</tr></thead>
              <tbody>
                {result.differences.map((d) => (
                  <tr key={d.field}><td><code>{d.field}</code></td>{d.values.map((v, i) => <td key={i}><code>{v}</code></td>)}</tr>
                ))}
              </tbody>
            </table>
          ) : (
            <p class="small">Same configuration.</p>
          )}
        </>
      )}
    </div>
  );
}
