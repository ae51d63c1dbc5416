import { useEffect, useRef, useState } from "preact/hooks";
import { ApiError, gql } from "../api/client";
import { ReadingsDocument, type ReadingsQuery, type ReadingsVariables } from "../generated/graphql";
import { num, when } from "../lib/format";
import { createLimiter } from "../lib/limit";
import type { Tenant } from "../lib/tenant";
import { sparkline } from "./sparkline";

/** Every sparkline of the page shares these slots: at most 4 `readings` requests in flight. */
export const sparkLimiter = createLimiter(4);

export interface SparklineProps {
  entityType: string;
  entityId: string;
  attribute: string;
  tenant: Tenant | null;
  lastN?: number;
  width?: number;
  height?: number;
}

type State =
  | { kind: "waiting" }
  | { kind: "loaded"; data: ReadingsQuery["readings"] }
  | { kind: "error"; message: string };

/** The recent readings of one attribute, loaded once the sparkline scrolls into view. */
export function Sparkline({ entityType, entityId, attribute, tenant, lastN = 60, width = 120, height = 28 }: SparklineProps) {
  const box = useRef<HTMLSpanElement>(null);
  const [visible, setVisible] = useState(typeof IntersectionObserver !== "function");
  const [state, setState] = useState<State>({ kind: "waiting" });

  useEffect(() => {
    if (visible) return;
    const io = new IntersectionObserver((entries) => {
      if (entries.some((e) => e.isIntersecting)) {
        setVisible(true);
        io.disconnect();
      }
    }, { rootMargin: "200px" });
    io.observe(box.current!);
    return () => io.disconnect();
  }, [visible]);

  useEffect(() => {
    if (!visible) return;
    setState({ kind: "waiting" });
    const abort = new AbortController();
    const variables: ReadingsVariables = {
      entityType,
      entityId,
      attribute,
      lastN,
      service: tenant?.service ?? null,
      servicePath: tenant?.servicePath ?? null,
    };
    sparkLimiter
      .run(() => gql<ReadingsQuery, ReadingsVariables>(ReadingsDocument, variables), abort.signal)
      .then(
        (r) => !abort.signal.aborted && setState({ kind: "loaded", data: r.readings }),
        (err) => {
          if (abort.signal.aborted) return;
          const message = err instanceof ApiError ? `${err.code ? `${err.code}: ` : ""}${err.message}` : String((err as Error)?.message ?? err);
          setState({ kind: "error", message });
        },
      );
    return () => abort.abort();
  }, [visible, entityType, entityId, attribute, tenant?.service, tenant?.servicePath, lastN]);

  const style = { display: "inline-block", width: `${width}px`, height: `${height}px`, verticalAlign: "middle" };
  if (state.kind === "error")
    return (
      <span ref={box} class="spark-note warn" data-testid="sparkline-error" title={state.message}>
        readings unavailable
      </span>
    );
  if (state.kind === "waiting")
    return <span ref={box} class="spark-placeholder" style={style} data-testid="sparkline-loading" aria-busy="true" />;
  const points = state.data.points;
  const s = sparkline(points, width, height);
  if (!s.count)
    return (
      <span ref={box} class="spark-note muted" data-testid="sparkline-empty" data-attribute={attribute}>
        no readings{state.data.dropped ? ` (${state.data.dropped} not numeric)` : ""}
      </span>
    );
  const first = points[0].timestamp;
  const last = points[points.length - 1].timestamp;
  const title = `${attribute}: ${s.count} readings ${when(first)} – ${when(last)}, min ${num(s.min)}, max ${num(s.max)}, last ${num(s.last!.value)} (${state.data.historyStore})`;
  return (
    <span ref={box} class="spark" title={title}>
      <svg
        width={width}
        height={height}
        viewBox={`0 0 ${width} ${height}`}
        role="img"
        aria-label={title}
        data-testid="sparkline"
        data-points={s.count}
        data-attribute={attribute}
      >
        <polyline points={s.points} fill="none" stroke="#2563eb" stroke-width="1.25" stroke-linejoin="round" />
        <circle cx={s.last!.x} cy={s.last!.y} r="1.8" fill="#1d4ed8" />
      </svg>
      <span class="small">{num(s.last!.value)}</span>
    </span>
  );
}
