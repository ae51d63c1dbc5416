import { LiveAccuracyTable } from "./LiveAccuracyTable";
import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import type uPlot from "uplot";
import { gql } from "../api/client";
import { buildForecastColumns, readingsWindow } from "../charts/forecastData";
import { UPlotChart } from "../charts/UPlotChart";
import {
  ForecastDocument,
  ForecastJobDocument,
  PredictionHistoryDocument,
  ReadingsDocument,
  type ForecastJobQuery,
  type ForecastQuery,
  type PredictionHistoryQuery,
  type ReadingsQuery,
  type ReadingsVariables,
} from "../generated/graphql";
import { pct, when } from "../lib/format";
import { href } from "../lib/router";
import { ErrorBox, Section, useLoad } from "../lib/ui";

const WINDOWS = [3600, 86400, 604800];

export function ForecastPage({ jobId }: { jobId: string }) {
  const job = useLoad(() => gql<ForecastJobQuery>(ForecastJobDocument, { id: jobId, windows: WINDOWS }), [jobId]);
  const [level, setLevel] = useState<number | null>(null);
  const forecast = useLoad(() => gql<ForecastQuery>(ForecastDocument, { trainingJobId: jobId, intervalLevel: level }), [jobId, level]);
  const history = useLoad(() => gql<PredictionHistoryQuery>(PredictionHistoryDocument, { trainingJobId: jobId, first: 50 }), [jobId]);

  const j = job.data?.trainingJob;
  const runs = useMemo(() => history.data?.predictionHistory.edges.map((e) => e.node) ?? [], [history.data]);
  const p = forecast.data?.predict;
  const readings = useReadings(j?.model ?? null, p ?? null, runs, !history.loading && !forecast.loading);
  const actual = readings.data?.points;
  const columns = useMemo(() => buildForecastColumns(p ?? null, runs, actual ?? []), [p, runs, actual]);
  const data = useMemo<uPlot.AlignedData>(
    () => [columns.x, columns.actual, columns.observed, columns.forecast, columns.lower, columns.upper, columns.past],
    [columns],
  );

  const options = useMemo<Omit<uPlot.Options, "width" | "height">>(
    () => ({
      scales: { x: { time: true } },
      cursor: { drag: { x: true, y: false } },
      series: [
        {},
        { label: "readings", stroke: "#6b7280", width: 1, spanGaps: true },
        { label: "context window", stroke: "#111827", width: 1.5, spanGaps: true },
        { label: "forecast", stroke: "#2563eb", width: 2, spanGaps: true },
        { label: "lower", stroke: "rgba(37,99,235,0.35)", width: 1, spanGaps: true },
        { label: "upper", stroke: "rgba(37,99,235,0.35)", width: 1, spanGaps: true },
        { label: "past forecasts", stroke: "#d97706", width: 1, dash: [4, 3], spanGaps: true, points: { show: true, size: 3 } },
      ],
      bands: [{ series: [5, 4], fill: "rgba(37,99,235,0.15)" }],
    }),
    [],
  );

  return (
    <div class="page" data-testid="forecast-page">
      <p class="crumbs">
        <a href={href.models()}>Models</a> ›{" "}
        {j?.model ? <a href={href.model(j.modelId)}>{j.model.name}</a> : "model"} › <a href={href.job(jobId)}>job {jobId.slice(0, 8)}</a> › forecast
      </p>
      <ErrorBox error={job.error} />
      {j === null && <p data-testid="not-found">No training job {jobId}.</p>}
      <Section title="Forecast now" testid="forecast-section">
        <div class="row">
          {j && j.intervals.length > 0 && (
            <label>
              Interval{" "}
              <select value={level ?? ""} onChange={(e) => setLevel(e.currentTarget.value ? Number(e.currentTarget.value) : null)} data-testid="interval-level">
                <option value="">job default</option>
                {j.intervals.map((i) => <option key={i.level} value={i.level}>{pct(i.level)}</option>)}
              </select>
            </label>
          )}
          <button onClick={forecast.reload} data-testid="forecast-refresh">Forecast again</button>
          {p && <span class="small muted">generated {when(p.generatedAt)} by {p.servedBy}, {p.horizon} steps</span>}
        </div>
        <ErrorBox error={forecast.error} testid="forecast-error" />
        {(p || runs.length > 0 || columns.actualPoints > 0) && <UPlotChart key="forecast" options={options} data={data} height={320} testid="forecast-chart" />}
        {p && (
          <p class="small" data-testid="forecast-band" data-level={p.intervalLevel ?? ""} data-points={columns.bandPoints}>
            {p.intervalLevel != null ? `Shaded: the ${pct(p.intervalLevel)} prediction interval (${columns.bandPoints} steps).` : "This job has no prediction interval."}
          </p>
        )}
        <ActualCaption readings={readings} points={columns.actualPoints} />
        <p class="muted small">
          Grey: the readings that arrived, from the model's history store. Black: the readings the forecast started from (its context window).
          Blue: the forecast now, shaded by its interval. Orange: what earlier published forecasts said for each time (the latest forecast made for
          it), to compare with the grey readings. Drag across the chart to zoom in time, double-click to zoom out.
        </p>
        <ErrorBox error={history.error} testid="history-error" />
        {history.data && runs.length === 0 && <p class="muted small">No published forecasts stored for this job.</p>}
      </Section>
      {j && (
        <Section title="Live accuracy of this job's published forecasts" testid="job-live-accuracy">
          <LiveAccuracyTable windows={j.liveAccuracy} />
        </Section>
      )}
    </div>
  );
}

type ForecastModel = NonNullable<NonNullable<ForecastJobQuery["trainingJob"]>["model"]>;

interface ReadingsState {
  data: ReadingsQuery["readings"] | null;
  error: unknown;
  loading: boolean;
  window: { dateFrom: string | null; dateTo: string; lastN: number } | null;
}

/**
 * The model's readings from its history store over the window the forecasts cover, loaded once the
 * forecast and the past forecasts are in (`ready`) and again when the forecast is made anew.
 */
function useReadings(model: ForecastModel | null, prediction: ForecastQuery["predict"] | null, runs: PredictionHistoryQuery["predictionHistory"]["edges"][number]["node"][], ready: boolean): ReadingsState {
  const [state, setState] = useState<ReadingsState>({ data: null, error: null, loading: false, window: null });
  const request = useMemo(() => {
    if (!model || !ready) return null;
    const w = readingsWindow(prediction, runs, Date.now());
    const variables: ReadingsVariables = {
      entityType: model.entityType,
      entityId: model.entityId,
      attribute: model.feature,
      service: model.fiwareService,
      servicePath: model.fiwareServicePath,
      historyStore: model.historyStore,
      lastN: w.lastN,
      dateFrom: w.dateFrom,
      dateTo: w.dateTo,
    };
    return { variables, window: w };
  }, [model, prediction, runs, ready]);
  // A new request only when what it asks for changes (not for a later "now" alone).
  const key = request ? JSON.stringify({ ...request.variables, dateTo: null, at: prediction?.generatedAt ?? null }) : null;
  // Only the newest request's answer counts; a key going null (forecast reloading) leaves it be.
  const latest = useRef(0);
  useEffect(() => {
    if (!request) return;
    const id = ++latest.current;
    setState((s) => ({ ...s, loading: true, window: request.window }));
    gql<ReadingsQuery, ReadingsVariables>(ReadingsDocument, request.variables).then(
      (r) => id === latest.current && setState({ data: r.readings, error: null, loading: false, window: request.window }),
      (error) => id === latest.current && setState((s) => ({ ...s, error, loading: false })),
    );
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [key]);
  useEffect(() => () => void (latest.current = -1), []);
  return state;
}

function ActualCaption({ readings, points }: { readings: ReadingsState; points: number }) {
  const { data, window: w } = readings;
  const truncated = data && w?.dateFrom && data.points.length >= w.lastN;
  return (
    <>
      <ErrorBox error={readings.error} testid="readings-error" />
      {readings.loading && !data && <p class="muted small" data-testid="actual-loading">Loading the readings that arrived…</p>}
      {data && (
        <p class="small" data-testid="actual-series" data-points={points} data-store={data.historyStore}>
          {points > 0
            ? `Readings (grey): ${points} from ${data.historyStore === "QUANTUMLEAP" ? "QuantumLeap" : "STH-Comet"}, ${when(data.points[0].timestamp)} – ${when(
                data.points[data.points.length - 1].timestamp,
              )}${w?.dateFrom ? "" : " (the newest ones)"}.`
            : `No readings in ${data.historyStore === "QUANTUMLEAP" ? "QuantumLeap" : "STH-Comet"} ${w?.dateFrom ? `since ${when(w.dateFrom)}` : "for this sensor"}.`}
          {data.dropped > 0 && ` ${data.dropped} not numeric, left out.`}
          {truncated && ` Only the newest ${w!.lastN.toLocaleString()} of the window.`}
        </p>
      )}
    </>
  );
}
