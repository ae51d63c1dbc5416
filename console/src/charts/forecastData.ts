// Columns for the forecast chart: the readings that arrived, observed context, the forecast with its
// interval band, and the values past runs forecast (the latest forecast made for each target, i.e.
// the smallest step), all on one time axis.
import type { ForecastQuery, PredictionHistoryQuery } from "../generated/graphql";

type Prediction = ForecastQuery["predict"];
type Run = PredictionHistoryQuery["predictionHistory"]["edges"][number]["node"];
export interface ReadingPoint {
  timestamp: string;
  value: number;
}

export interface ForecastColumns {
  /** Seconds since the epoch (uPlot's time scale), ascending, no repeats. */
  x: number[];
  /** The readings read from the history store (what arrived), null where a row has none. */
  actual: (number | null)[];
  observed: (number | null)[];
  forecast: (number | null)[];
  lower: (number | null)[];
  upper: (number | null)[];
  past: (number | null)[];
  bandPoints: number;
  /** Readings drawn (non-null values of `actual`). */
  actualPoints: number;
}

const seconds = (iso: string) => Date.parse(iso) / 1000;

export function buildForecastColumns(
  prediction: Prediction | null,
  runs: readonly Run[],
  readings: readonly ReadingPoint[] = [],
): ForecastColumns {
  const rows = new Map<number, { actual?: number; observed?: number; forecast?: number; lower?: number; upper?: number; past?: number; pastStep?: number }>();
  const row = (t: number) => {
    let r = rows.get(t);
    if (!r) rows.set(t, (r = {}));
    return r;
  };
  let bandPoints = 0;
  for (const p of readings) {
    const t = seconds(p.timestamp);
    if (Number.isFinite(t) && Number.isFinite(p.value)) row(t).actual = p.value;
  }
  if (prediction) {
    for (const p of prediction.contextWindow) row(seconds(p.timestamp)).observed = p.value;
    const last = prediction.contextWindow[prediction.contextWindow.length - 1];
    // Join the forecast line to the last observed value so the two read as one series.
    if (last) row(seconds(last.timestamp)).forecast = last.value;
    for (const p of prediction.points) {
      const r = row(seconds(p.targetTimestamp));
      r.forecast = p.value;
      if (p.lower != null && p.upper != null) {
        r.lower = p.lower;
        r.upper = p.upper;
        bandPoints++;
      }
    }
  }
  for (const run of runs) {
    for (const p of run.points) {
      if (p.value == null || !p.targetTimestamp) continue;
      const r = row(seconds(p.targetTimestamp));
      if (r.pastStep === undefined || p.step < r.pastStep) {
        r.past = p.value;
        r.pastStep = p.step;
      }
    }
  }
  const x = [...rows.keys()].filter(Number.isFinite).sort((a, b) => a - b);
  const col = (k: "actual" | "observed" | "forecast" | "lower" | "upper" | "past") => x.map((t) => rows.get(t)![k] ?? null);
  const actual = col("actual");
  return { x, actual, actualPoints: actual.filter((v) => v !== null).length, observed: col("observed"), forecast: col("forecast"), lower: col("lower"), upper: col("upper"), past: col("past"), bandPoints };
}

/** Milliseconds since the epoch → the ISO form the API takes (DateTime with an explicit offset). */
export function isoUtc(ms: number): string {
  return new Date(ms).toISOString().replace("Z", "+00:00");
}

export interface ReadingsWindow {
  /** Earliest reading asked for, or null for "the newest `lastN`". */
  dateFrom: string | null;
  dateTo: string;
  lastN: number;
}

/** Most readings one request may ask for. */
export const MAX_READINGS = 10_000;

/**
 * Which readings to plot against the forecasts: from the first target time of the oldest past
 * forecast shown (or the start of the current forecast's context window when there is none) to now.
 * Without either, the newest `fallbackN` readings.
 */
export function readingsWindow(prediction: Prediction | null, runs: readonly Run[], now: number, fallbackN = 500): ReadingsWindow {
  let from = Infinity;
  for (const run of runs)
    for (const p of run.points) {
      const t = p.targetTimestamp ? Date.parse(p.targetTimestamp) : NaN;
      if (t < from) from = t;
    }
  if (from === Infinity && prediction?.contextWindow.length) from = Date.parse(prediction.contextWindow[0].timestamp);
  const dateTo = isoUtc(now);
  if (!Number.isFinite(from)) return { dateFrom: null, dateTo, lastN: fallbackN };
  return { dateFrom: isoUtc(Math.min(from, now)), dateTo, lastN: MAX_READINGS };
}
