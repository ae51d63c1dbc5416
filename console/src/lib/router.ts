import { useEffect, useState } from "preact/hooks";

export type Route =
  | { page: "models" }
  | { page: "model"; id: string }
  | { page: "job"; id: string }
  | { page: "devices" }
  | { page: "forecast"; jobId: string }
  | { page: "notFound"; path: string };

export function parseHash(hash: string): Route {
  const path = hash.replace(/^#/, "") || "/models";
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  const [head, id] = parts;
  if (head === "models" && !id) return { page: "models" };
  if (head === "models" && id && parts.length === 2) return { page: "model", id };
  if (head === "jobs" && id && parts.length === 2) return { page: "job", id };
  if (head === "devices" && !id) return { page: "devices" };
  if (head === "forecast" && id && parts.length === 2) return { page: "forecast", jobId: id };
  return { page: "notFound", path };
}

export const href = {
  models: () => "#/models",
  model: (id: string) => `#/models/${encodeURIComponent(id)}`,
  job: (id: string) => `#/jobs/${encodeURIComponent(id)}`,
  devices: () => "#/devices",
  forecast: (jobId: string) => `#/forecast/${encodeURIComponent(jobId)}`,
};

export function navigate(to: string): void {
  window.location.hash = to;
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseHash(window.location.hash));
  useEffect(() => {
    const on = () => setRoute(parseHash(window.location.hash));
    window.addEventListener("hashchange", on);
    return () => window.removeEventListener("hashchange", on);
  }, []);
  return route;
}
