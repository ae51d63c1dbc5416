import { createContext } from "preact";
import { useContext, useEffect, useRef, useState } from "preact/hooks";
import { ApiError, apiDown, getApiKey, gql, keyRefused, setApiKey } from "./api/client";
import { resetSocket, socketStatus } from "./api/socket";
import { ViewerDocument, type ViewerQuery } from "./generated/graphql";
import { href, useRoute } from "./lib/router";
import { useStore } from "./lib/store";
import { formatTenant, parseTenant, setTenant, tenantStore } from "./lib/tenant";
import { DevicesPage } from "./pages/Devices";
import { ForecastPage } from "./pages/Forecast";
import { JobPage } from "./pages/Job";
import { ModelPage } from "./pages/Model";
import { ModelsPage } from "./pages/Models";

export type Viewer = ViewerQuery["viewer"];
const ViewerContext = createContext<Viewer | null>(null);

export function useViewer(): Viewer {
  const v = useContext(ViewerContext);
  if (!v) throw new Error("useViewer outside the shell");
  return v;
}

type Shell =
  | { state: "loading" }
  | { state: "needKey"; message: string | null }
  | { state: "ready"; viewer: Viewer };

export function App() {
  const [shell, setShell] = useState<Shell>({ state: "loading" });
  const down = useStore(apiDown);
  const refused = useStore(keyRefused);
  const retry = useRef<number | null>(null);
  const [attempt, setAttempt] = useState(0);

  async function loadViewer(afterSubmit: boolean) {
    try {
      const data = await gql<ViewerQuery>(ViewerDocument);
      setShell({ state: "ready", viewer: data.viewer });
      const tenants = data.viewer.tenants;
      // Keep the chosen tenant only when the key holds it; one tenant is chosen for the user.
      const current = tenantStore.get();
      if (tenants && !tenants.some((t) => current && t.service === current.service && t.servicePath === current.servicePath))
        setTenant(tenants.length === 1 ? tenants[0] : null);
    } catch (err) {
      if (err instanceof ApiError && err.kind === "unauthenticated") {
        const had = getApiKey();
        setApiKey(null);
        resetSocket();
        setShell({ state: "needKey", message: had || afterSubmit ? "The API refused this key (unknown or revoked). Enter another." : null });
      } else if (err instanceof ApiError && err.kind === "unreachable") {
        // The banner shows; try again with a growing delay.
        const delay = Math.min(2000 * 2 ** attempt, 30_000);
        retry.current = window.setTimeout(() => setAttempt((a) => a + 1), delay);
      } else {
        setShell({ state: "needKey", message: err instanceof Error ? err.message : String(err) });
      }
    }
  }

  useEffect(() => {
    void loadViewer(false);
    return () => {
      if (retry.current) clearTimeout(retry.current);
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [attempt]);

  // While the API is down after the shell loaded, probe it every 5 s; the banner goes when it answers.
  useEffect(() => {
    if (!down || shell.state !== "ready") return;
    const timer = window.setInterval(() => void gql<ViewerQuery>(ViewerDocument).catch(() => undefined), 5000);
    return () => clearInterval(timer);
  }, [down, shell.state]);

  // A 401 on any later request (key revoked meanwhile): back to the form.
  useEffect(() => {
    if (refused > 0 && shell.state === "ready") {
      setApiKey(null);
      resetSocket();
      setShell({ state: "needKey", message: "The API refused the key (revoked or expired). Enter another." });
    }
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [refused]);

  return (
    <div class="shell">
      <header class="top">
        <a class="brand" href="#/models">Chronos</a>
        {shell.state === "ready" && (
          <nav>
            <a href={href.models()}>Models</a>
            <a href={href.devices()}>Devices</a>
          </nav>
        )}
        <span class="spacer" />
        {shell.state === "ready" && <TenantPicker viewer={shell.viewer} />}
        {shell.state === "ready" && <SocketBadge />}
        {shell.state === "ready" && (
          <span class="who" data-testid="viewer">
            {shell.viewer.name} · {shell.viewer.role.toLowerCase()}
            {getApiKey() && (
              <button
                class="link"
                data-testid="sign-out"
                onClick={() => {
                  setApiKey(null);
                  resetSocket();
                  setShell({ state: "needKey", message: null });
                }}
              >
                forget key
              </button>
            )}
          </span>
        )}
      </header>
      {down && (
        <div class="banner" role="alert" data-testid="api-down">
          The Chronos API cannot be reached. Retrying…
          <button onClick={() => setAttempt((a) => a + 1)}>Retry now</button>
        </div>
      )}
      <main>
        {shell.state === "loading" && !down && <p class="muted">Connecting to the API…</p>}
        {shell.state === "needKey" && (
          <KeyForm
            message={shell.message}
            onKey={(key) => {
              setApiKey(key);
              resetSocket();
              setShell({ state: "loading" });
              void loadViewer(true);
            }}
          />
        )}
        {shell.state === "ready" && (
          <ViewerContext.Provider value={shell.viewer}>
            <Pages />
          </ViewerContext.Provider>
        )}
      </main>
    </div>
  );
}

function Pages() {
  const route = useRoute();
  switch (route.page) {
    case "models":
      return <ModelsPage />;
    case "model":
      return <ModelPage key={route.id} id={route.id} />;
    case "job":
      return <JobPage key={route.id} id={route.id} />;
    case "devices":
      return <DevicesPage />;
    case "forecast":
      return <ForecastPage key={route.jobId} jobId={route.jobId} />;
    default:
      return (
        <p data-testid="not-found">
          No page at <code>{route.path}</code>. <a href={href.models()}>Models</a>
        </p>
      );
  }
}

export function KeyForm({ message, onKey }: { message: string | null; onKey: (key: string) => void }) {
  const [key, setKey] = useState("");
  return (
    <form
      class="card keyform"
      data-testid="key-form"
      onSubmit={(e) => {
        e.preventDefault();
        if (key.trim()) onKey(key.trim());
      }}
    >
      <h1>API key</h1>
      <p class="muted">This Chronos asks for an API key. It is kept in this tab's session storage only.</p>
      {message && (
        <div class="error" role="alert" data-testid="key-error">
          {message}
        </div>
      )}
      <input
        type="password"
        autoComplete="off"
        placeholder="Bearer key"
        value={key}
        onInput={(e) => setKey(e.currentTarget.value)}
        data-testid="key-input"
        aria-label="API key"
      />
      <button type="submit" data-testid="key-submit" disabled={!key.trim()}>
        Use key
      </button>
    </form>
  );
}

function TenantPicker({ viewer }: { viewer: Viewer }) {
  const tenant = useStore(tenantStore);
  const [text, setText] = useState(formatTenant(tenant));
  useEffect(() => setText(formatTenant(tenant)), [tenant]);
  if (viewer.tenants) {
    if (!viewer.tenants.length) return <span class="muted" data-testid="tenant-picker">no tenant</span>;
    return (
      <label class="tenant">
        Tenant{" "}
        <select
          data-testid="tenant-picker"
          value={formatTenant(tenant)}
          onChange={(e) => setTenant(parseTenant(e.currentTarget.value))}
        >
          {viewer.tenants.length > 1 && <option value="">API default</option>}
          {viewer.tenants.map((t) => (
            <option key={formatTenant(t)} value={formatTenant(t)}>
              {formatTenant(t)}
            </option>
          ))}
        </select>
      </label>
    );
  }
  return (
    <form
      class="tenant"
      onSubmit={(e) => {
        e.preventDefault();
        setTenant(parseTenant(text));
      }}
    >
      <label>
        Tenant{" "}
        <input
          data-testid="tenant-picker"
          placeholder="service:/path (blank: the API's default)"
          value={text}
          onInput={(e) => setText(e.currentTarget.value)}
          onBlur={() => setTenant(parseTenant(text))}
          size={28}
        />
      </label>
    </form>
  );
}

function SocketBadge() {
  const status = useStore(socketStatus);
  if (status === "idle") return <span class="badge muted" data-testid="socket-status" data-status="idle" />;
  const label = { connecting: "live: connecting", connected: "live", reconnecting: "live: reconnecting…", refused: "live: key refused" }[status];
  return (
    <span class={`badge ${status}`} data-testid="socket-status" data-status={status}>
      {label}
    </span>
  );
}
