import { memo } from "preact/compat";
import { useCallback, useEffect, useMemo, useRef, useState } from "preact/hooks";
import type uPlot from "uplot";
import { gql } from "../api/client";
import { subscribeResumable } from "../api/socket";
import { useViewer } from "../app";
import { frameScheduler } from "../charts/frame";
import { LossSeries } from "../charts/lossSeries";
import { UPlotChart } from "../charts/UPlotChart";
import {
  CancelTrainingDocument,
  JobPageDocument,
  TogglePredictionDocument,
  TrainingProgressDocument,
  type CancelTrainingMutation,
  type JobPageQuery,
  type JobPageVariables,
  type TogglePredictionMutation,
  type TrainingPhase,
  type TrainingProgressSubscription,
  type TrainingProgressVariables,
  type TrainingStatus,
} from "../generated/graphql";
import { bytes, duration, num, pct, when } from "../lib/format";
import { perf } from "../lib/perf";
import { href } from "../lib/router";
import { ErrorBox, Section, useLoad } from "../lib/ui";
import { ArtifactLink } from "./ArtifactLink";

type Job = NonNullable<JobPageQuery["trainingJob"]>;
type Event = TrainingProgressSubscription["trainingProgress"];

const TERMINAL: TrainingStatus[] = ["COMPLETED", "FAILED", "CANCELLED"];

/** What the header shows; replaced at most once per animation frame. */
export interface LiveState {
  seq: number | null;
  status: TrainingStatus;
  phase: TrainingPhase | null;
  fraction: number;
  epoch: number | null;
  totalEpochs: number | null;
  expectedLastEpoch: number | null;
  bestEpoch: number | null;
  loss: number | null;
  valLoss: number | null;
  etaSeconds: number | null;
  message: string | null;
  collected: number;
  requested: number;
  error: { code: string; message: string } | null;
}

export function liveFromJob(job: Job): LiveState {
  const p = job.progress;
  return {
    seq: null,
    status: job.status,
    phase: null,
    fraction: p.fraction,
    epoch: p.epoch,
    totalEpochs: p.totalEpochs,
    expectedLastEpoch: p.expectedLastEpoch,
    bestEpoch: p.bestEpoch,
    loss: p.loss,
    valLoss: p.valLoss,
    etaSeconds: p.etaSeconds,
    message: p.message,
    collected: job.pointsCollected,
    requested: job.pointsRequested,
    error: job.error,
  };
}

/** Fold a batch of events (in seq order) into the live state: the newest wins, progress never goes back. */
export function applyEvents(state: LiveState, events: readonly Event[]): LiveState {
  let s = state;
  for (const e of events) {
    s = {
      seq: e.seq,
      status: e.status,
      phase: e.phase,
      fraction: Math.max(s.fraction, e.progress),
      epoch: e.epoch ?? s.epoch,
      totalEpochs: e.totalEpochs ?? s.totalEpochs,
      expectedLastEpoch: e.expectedLastEpoch ?? s.expectedLastEpoch,
      bestEpoch: e.bestEpoch ?? s.bestEpoch,
      loss: e.loss ?? s.loss,
      valLoss: e.valLoss ?? s.valLoss,
      etaSeconds: e.etaSeconds,
      message: e.message ?? s.message,
      collected: e.dataPointsCollected,
      requested: e.dataPointsRequested,
      error: e.error ?? s.error,
    };
  }
  return s;
}

export function JobPage({ id }: { id: string }) {
  const viewer = useViewer();
  const job = useLoad(() => gql<JobPageQuery, JobPageVariables>(JobPageDocument, { id }), [id]);
  const [live, setLive] = useState<LiveState | null>(null);
  const [streamError, setStreamError] = useState<string | null>(null);
  const [streamDone, setStreamDone] = useState(false);
  const series = useRef(new LossSeries());
  const chart = useRef<uPlot | null>(null);
  const pending = useRef<Event[]>([]);
  const liveRef = useRef<LiveState | null>(null);
  const reloadRef = useRef(job.reload);
  reloadRef.current = job.reload;
  const gapReload = useRef(0);

  // Everything the stream brings is applied here, once per animation frame.
  const frame = useMemo(
    () =>
      frameScheduler(() => {
        const batch = pending.current;
        pending.current = [];
        let seriesChanged = false;
        for (const e of batch) {
          if (e.epoch != null && (e.loss != null || e.valLoss != null))
            seriesChanged = series.current.upsert({ epoch: e.epoch, loss: e.loss, valLoss: e.valLoss }) || seriesChanged;
        }
        if (seriesChanged) drawChart();
        // Epochs missed while the socket was down are in the job's stored history: fetch it again
        // (at most every 2 s) rather than leave a hole in the curve until the job ends.
        if (seriesChanged && series.current.hasGaps() && Date.now() - gapReload.current > 2000) {
          gapReload.current = Date.now();
          reloadRef.current();
        }
        if (batch.length && liveRef.current) {
          liveRef.current = applyEvents(liveRef.current, batch);
          setLive(liveRef.current);
          if (TERMINAL.includes(liveRef.current.status)) reloadRef.current();
        }
      }),
    [],
  );

  function drawChart() {
    if (!chart.current) return;
    chart.current.setData(series.current.data() as uPlot.AlignedData);
    perf.points = series.current.length;
    perf.redraws++;
  }

  const onChartReady = useCallback((u: uPlot | null) => {
    chart.current = u;
    if (u) drawChart();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);

  // The stored history and the job's state, on every load (the first, and after the terminal event).
  useEffect(() => {
    const j = job.data?.trainingJob;
    if (!j) return;
    if (series.current.merge(j.history)) drawChart();
    const base = liveFromJob(j);
    liveRef.current = liveRef.current ? { ...liveRef.current, ...(TERMINAL.includes(j.status) ? { status: j.status, fraction: base.fraction, error: j.error } : {}) } : base;
    setLive(liveRef.current);
  }, [job.data]);

  // The live stream: first the current snapshot, then every newer event; resumes after `seq`.
  useEffect(() => {
    const dispose = subscribeResumable<Event, TrainingProgressVariables>(
      TrainingProgressDocument,
      { jobId: id, afterSeq: null },
      (data) => (data as TrainingProgressSubscription).trainingProgress,
      {
        next(event) {
          perf.events++;
          pending.current.push(event);
          frame.schedule();
        },
        error: (message) => setStreamError(message),
        complete: () => setStreamDone(true),
      },
    );
    return () => {
      dispose();
      frame.cancel();
    };
  }, [id, frame]);

  if (job.error && !job.data) return <ErrorBox error={job.error} />;
  if (!job.data) return <p class="muted">Loading the job…</p>;
  const j = job.data.trainingJob;
  if (!j) return <p data-testid="not-found">No training job {id} (or it is another tenant's).</p>;
  const state = live ?? liveFromJob(j);
  const finished = TERMINAL.includes(state.status);

  return (
    <div class="page" data-testid="job-page">
      <p class="crumbs">
        <a href={href.models()}>Models</a> ›{" "}
        {j.model ? <a href={href.model(j.modelId)}>{j.model.name}</a> : <span>deleted model</span>} › job {j.id}
      </p>
      <ErrorBox error={job.error} />
      <LiveHeader state={state} stalled={j.stalled} streamError={streamError} streamDone={streamDone} />
      {viewer.canMutate && !finished && <CancelButton jobId={j.id} onDone={job.reload} />}
      {state.status === "COMPLETED" && (
        <p>
          <a href={href.forecast(j.id)} data-testid="forecast-link">
            Forecast with this version →
          </a>
        </p>
      )}
      <Section title="Loss" testid="loss-section">
        <LossChart onReady={onChartReady} />
        <p class="muted small">Scaled MSE per epoch; drag to zoom, double-click to reset.</p>
      </Section>
      <StaticSections job={j} canMutate={viewer.canMutate} reload={job.reload} />
    </div>
  );
}

function LiveHeader({ state, stalled, streamError, streamDone }: { state: LiveState; stalled: boolean; streamError: string | null; streamDone: boolean }) {
  const epochText =
    state.epoch != null
      ? `epoch ${state.epoch}${state.expectedLastEpoch ? ` of ~${state.expectedLastEpoch}` : ""}${state.totalEpochs ? ` (max ${state.totalEpochs})` : ""}`
      : "—";
  return (
    <section class="card live" data-testid="job-live">
      <div class="row">
        <span class={`status s-${state.status.toLowerCase()}`} data-testid="job-status" data-status={state.status}>
          {state.status}
        </span>
        {state.phase && (
          <span class="phase" data-testid="job-phase" data-phase={state.phase}>
            {state.phase.toLowerCase()}
          </span>
        )}
        {stalled && !TERMINAL.includes(state.status) && <span class="warn">stalled: no worker heartbeat</span>}
      </div>
      <progress max={1} value={state.fraction} data-testid="progress-bar" data-value={state.fraction} />
      <div class="row small">
        <span>{pct(state.fraction)}</span>
        <span data-testid="epoch-count" data-epoch={state.epoch ?? ""}>
          {epochText}
        </span>
        {state.etaSeconds != null && <span data-testid="eta">ETA {duration(state.etaSeconds)}</span>}
        {state.requested > 0 && state.status === "COLLECTING_DATA" && (
          <span>
            collected {state.collected} / {state.requested} points
          </span>
        )}
        <span>loss {num(state.loss)}</span>
        <span>val {num(state.valLoss)}</span>
        {state.bestEpoch != null && <span>best epoch {state.bestEpoch}</span>}
      </div>
      {state.message && <p class="muted small">{state.message}</p>}
      {state.error && (
        <div class="error" data-testid="job-error">
          {state.error.code}: {state.error.message}
        </div>
      )}
      {streamError && (
        <div class="error small" data-testid="stream-error">
          Live progress: {streamError}
        </div>
      )}
      {streamDone && !streamError && <p class="muted small" data-testid="stream-done">Live progress ended with the job.</p>}
    </section>
  );
}

const LossChart = memo(function LossChart({ onReady }: { onReady: (u: uPlot | null) => void }) {
  const options = useMemo<Omit<uPlot.Options, "width" | "height">>(
    () => ({
      scales: { x: { time: false } },
      axes: [{ label: "epoch" }, {}],
      series: [
        { label: "epoch" },
        { label: "loss", stroke: "#2563eb", width: 1.5, spanGaps: true },
        { label: "val loss", stroke: "#dc2626", width: 1.5, spanGaps: true },
      ],
      cursor: { drag: { x: true, y: false } },
    }),
    [],
  );
  const empty = useMemo<uPlot.AlignedData>(() => [[], [], []], []);
  return <UPlotChart options={options} data={empty} testid="loss-chart" onReady={onReady} />;
});

function CancelButton({ jobId, onDone }: { jobId: string; onDone: () => void }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  return (
    <p>
      <button
        class="danger"
        data-testid="cancel-job"
        disabled={busy}
        onClick={async () => {
          if (!confirm("Cancel this training job?")) return;
          setBusy(true);
          setError(null);
          try {
            const r = await gql<CancelTrainingMutation>(CancelTrainingDocument, { jobId });
            if (r.cancelTraining.errors.length) setError(r.cancelTraining.errors.map((e) => `${e.code}: ${e.message}`).join("; "));
            onDone();
          } catch (err) {
            setError((err as Error).message);
          } finally {
            setBusy(false);
          }
        }}
      >
        Cancel training
      </button>
      {error && <span class="error" data-testid="cancel-error">{error}</span>}
    </p>
  );
}

const StaticSections = memo(function StaticSections({ job: j, canMutate, reload }: { job: Job; canMutate: boolean; reload: () => void }) {
  const [toggleError, setToggleError] = useState<string | null>(null);
  return (
    <>
      <Section title="Data" testid="data-summary">
        {j.data ? (
          <dl class="grid">
            <dt>Raw points</dt><dd>{j.data.rawPoints}</dd>
            <dt>Slots</dt><dd data-testid="data-slots">{j.data.slots}</dd>
            <dt>Gaps</dt><dd data-testid="data-gaps">{j.data.gaps}</dd>
            <dt>Missing slots</dt><dd>{j.data.missing}</dd>
            <dt>Filled</dt><dd>{j.data.filled}</dd>
            <dt>Dropped (non-finite)</dt><dd>{j.data.droppedNonFinite}</dd>
            <dt>Merged duplicates</dt><dd>{j.data.mergedDuplicates}</dd>
            <dt>Sampling interval</dt><dd>{duration(j.data.samplingIntervalSeconds)}</dd>
            <dt>Series</dt><dd>{when(j.data.seriesStart)} – {when(j.data.seriesEnd)}</dd>
            <dt>Windows (train / val / test)</dt><dd>{j.data.trainWindows} / {j.data.validationWindows} / {j.data.testWindows}</dd>
            <dt>Lookback</dt><dd>{j.lookbackWindow} steps{j.lookbackReason ? ` — ${j.lookbackReason}` : ""}</dd>
          </dl>
        ) : (
          <p class="muted">
            Not preprocessed yet ({j.pointsCollected} of {j.pointsRequested} points collected).
          </p>
        )}
      </Section>
      <Section title="Test metrics" testid="metrics-section">
        {j.metrics ? (
          <table data-testid="metrics-table">
            <thead>
              <tr><th>Forecaster</th><th>RMSE</th><th>MAE</th><th>MAPE</th><th>sMAPE</th><th>MASE</th><th>Theil U2</th><th>points</th></tr>
            </thead>
            <tbody>
              <tr class="network" data-testid="metrics-network">
                <td>network{j.servedBy?.name === "network" ? " (serves)" : ""}</td>
                <td>{num(j.metrics.rmse)}</td><td>{num(j.metrics.mae)}</td><td>{num(j.metrics.mape)}</td><td>{num(j.metrics.smape)}</td>
                <td>{num(j.metrics.mase)}</td><td>{num(j.metrics.theilU)}</td><td>{j.metrics.points}</td>
              </tr>
            </tbody>
          </table>
        ) : (
          <p class="muted">Scores come when the job completes.</p>
        )}
        {j.metrics && (
          <p class="small">
            R² {num(j.metrics.r2)} · skill vs best baseline {num(j.metrics.skill)} ({j.metrics.bestBaseline ?? "none"}) · best epoch {j.metrics.bestEpoch ?? "—"}
          </p>
        )}
        {j.servedBy && <p class="small" data-testid="served-by">Serves: <b>{j.servedBy.name}</b> — {j.servedBy.reason}</p>}
        {j.baselines.length > 0 && (
          <table data-testid="baselines-table">
            <thead>
              <tr><th>Baseline</th><th>RMSE</th><th>MAE</th><th>MAPE</th><th>sMAPE</th><th>MASE</th><th>Theil U2</th><th>period</th></tr>
            </thead>
            <tbody>
              {j.baselines.map((b) => (
                <tr key={b.name} data-testid="baseline-row">
                  <td>{b.name}{j.servedBy?.name === b.name ? " (serves)" : ""}</td>
                  <td class={j.metrics?.rmse != null && b.rmse != null && b.rmse < j.metrics.rmse ? "worse" : ""}>{num(b.rmse)}</td>
                  <td>{num(b.mae)}</td><td>{num(b.mape)}</td><td>{num(b.smape)}</td><td>{num(b.mase)}</td><td>{num(b.theilU)}</td><td>{b.period ?? "—"}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
        {j.intervals.length > 0 && (
          <p class="small">
            Intervals: {j.intervals.map((i) => `${pct(i.level)} → test coverage ${pct(i.coverage)}`).join(" · ")}
          </p>
        )}
      </Section>
      <Section title="Artifacts" testid="artifacts-section">
        {j.artifacts.length ? (
          <ul class="artifacts">
              {j.artifacts.map((a) => (
                <li key={a.name} data-testid="artifact" data-name={a.name}>
                  <code>{a.name}</code> {a.contentType} · {bytes(a.sizeBytes)} · <ArtifactLink name={a.name} url={a.downloadUrl} /> ·{" "}
                  <span class="muted small">{a.checksum}</span>
                </li>
              ))}
          </ul>
        ) : (
          <p class="muted">None until the job completes.</p>
        )}
      </Section>
      {j.status === "COMPLETED" && (
        <Section title="This version's own forecasts" testid="job-forecasting">
          <p class="small">
            {j.prediction.enabled ? `On, every ${duration(j.prediction.intervalSeconds)}; next ${when(j.prediction.nextPredictionAt)}` : "Off"} · runs{" "}
            {j.prediction.runCount} · missed {j.prediction.missedCount}
            {j.prediction.lastError ? ` · last error: ${j.prediction.lastError}` : ""}
          </p>
          {canMutate && (
            <button
              data-testid="job-forecasting-toggle"
              data-enabled={String(j.prediction.enabled)}
              onClick={async () => {
                setToggleError(null);
                try {
                  const r = await gql<TogglePredictionMutation>(TogglePredictionDocument, { trainingJobId: j.id, enabled: !j.prediction.enabled });
                  if (r.togglePrediction.errors.length) setToggleError(r.togglePrediction.errors.map((e) => `${e.code}: ${e.message}`).join("; "));
                  reload();
                } catch (err) {
                  setToggleError((err as Error).message);
                }
              }}
            >
              {j.prediction.enabled ? "Stop this version's forecasts" : "Publish this version's forecasts"}
            </button>
          )}
          {toggleError && <div class="error">{toggleError}</div>}
        </Section>
      )}
    </>
  );
});
