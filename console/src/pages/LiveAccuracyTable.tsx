import { duration, num, pct } from "../lib/format";

/** One window of live accuracy, as the model and job queries both select it. */
export interface AccuracyWindow {
  windowSeconds: number;
  pairs: number;
  forecasts: number;
  rmse: number | null;
  mae: number | null;
  coverage: number | null;
  bias: number | null;
  u2: number | null;
}

/** Published forecasts scored against the readings that arrived, one row per window. */
export function LiveAccuracyTable({ windows, testid }: { windows: readonly AccuracyWindow[]; testid?: string }) {
  return (
    <table data-testid={testid}>
      <thead><tr><th>Window</th><th>Pairs</th><th>Forecasts</th><th>RMSE</th><th>MAE</th><th>Coverage</th><th>Bias</th><th>U2</th></tr></thead>
      <tbody>
        {windows.map((w) => (
          <tr key={w.windowSeconds}>
            <td>{duration(w.windowSeconds)}</td><td>{w.pairs}</td><td>{w.forecasts}</td><td>{num(w.rmse)}</td><td>{num(w.mae)}</td>
            <td>{pct(w.coverage)}</td><td>{num(w.bias)}</td><td>{num(w.u2)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
