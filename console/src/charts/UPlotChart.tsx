import { useEffect, useRef } from "preact/hooks";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";

export interface UPlotChartProps {
  /** Options without width/height: the chart takes its container's width. */
  options: Omit<uPlot.Options, "width" | "height">;
  data: uPlot.AlignedData;
  height?: number;
  testid: string;
  /** The instance, once created (for live charts that call setData themselves). */
  onReady?: (chart: uPlot | null) => void;
}

/** A uPlot chart created once per mount; `data` changes call setData, never rebuild the chart. */
export function UPlotChart({ options, data, height = 260, testid, onReady }: UPlotChartProps) {
  const box = useRef<HTMLDivElement>(null);
  const chart = useRef<uPlot | null>(null);

  useEffect(() => {
    const el = box.current!;
    const u = new uPlot({ ...options, width: Math.max(el.clientWidth, 300), height }, data, el);
    chart.current = u;
    onReady?.(u);
    const ro = typeof ResizeObserver === "function"
      ? new ResizeObserver(() => {
          const w = Math.max(el.clientWidth, 300);
          if (w !== u.width) u.setSize({ width: w, height });
        })
      : null;
    ro?.observe(el);
    return () => {
      ro?.disconnect();
      onReady?.(null);
      u.destroy();
      chart.current = null;
    };
    // Options are fixed for a chart's life; a new chart is a new key.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);

  useEffect(() => {
    if (chart.current && chart.current.data !== data) chart.current.setData(data);
  }, [data]);

  return <div class="chart" ref={box} data-testid={testid} />;
}
