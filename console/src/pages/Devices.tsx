import { Fragment } from "preact";
import { useState } from "preact/hooks";
import { gql } from "../api/client";
import { useViewer } from "../app";
import { Sparkline } from "../charts/Sparkline";
import { DevicesDocument, ModelFormOptionsDocument, type DevicesQuery, type DevicesVariables, type ModelFormOptionsQuery } from "../generated/graphql";
import { useStore } from "../lib/store";
import { formatTenant, tenantStore } from "../lib/tenant";
import { ErrorBox, useLoad } from "../lib/ui";
import { ModelForm } from "./ModelForm";

/** Readings per sparkline. */
const SPARK_N = 60;

export function DevicesPage() {
  const viewer = useViewer();
  const tenant = useStore(tenantStore);
  const devices = useLoad(
    () => gql<DevicesQuery, DevicesVariables>(DevicesDocument, { service: tenant?.service ?? null, servicePath: tenant?.servicePath ?? null }),
    [formatTenant(tenant)],
  );
  const options = useLoad(() => (viewer.canMutate ? gql<ModelFormOptionsQuery>(ModelFormOptionsDocument) : Promise.resolve(null)), [viewer.canMutate]);
  const [open, setOpen] = useState<string | null>(null);
  // The attribute each entity's sparkline shows (its first one unless another was clicked).
  const [shown, setShown] = useState<Record<string, string>>({});
  const groups = devices.data?.devices;
  const tenantLabel = tenant ? formatTenant(tenant) : "the API's default tenant";

  return (
    <div class="page" data-testid="devices-page">
      <h1>Devices</h1>
      <p class="muted small">
        IoT Agent devices of {tenantLabel}, by entity type, with the newest {SPARK_N} readings of one attribute from the server's
        history store (click another attribute to see its readings).
      </p>
      <ErrorBox error={devices.error} />
      {devices.loading && !groups && <p class="muted">Loading…</p>}
      {groups && groups.length === 0 && (
        <p data-testid="devices-empty">No devices in {tenantLabel}. Pick another tenant above.</p>
      )}
      {groups && groups.length > 0 && (
        <div data-testid="devices-list">
          {groups.map((g) => (
            <section class="card" key={g.entityType} data-testid="device-group" data-entity-type={g.entityType}>
              <h2>{g.entityType}</h2>
              <table>
                <thead><tr><th>Entity</th><th>Device</th><th>Attributes</th><th>Recent readings</th><th></th></tr></thead>
                <tbody>
                  {g.entities.map((e) => {
                    const key = `${g.entityType}\u0000${e.entityId}`;
                    return (
                      <Fragment key={key}>
                        <tr data-testid="entity-row" data-entity-id={e.entityId}>
                          <td>{e.entityId}</td>
                          <td class="small">{e.deviceId}</td>
                          <td class="small">
                            {e.attributes.length === 0
                              ? "—"
                              : e.attributes.map((a, i) => {
                                  const current = (shown[key] ?? e.attributes[0]) === a;
                                  return (
                                    <Fragment key={a}>
                                      {i > 0 && ", "}
                                      <button
                                        type="button"
                                        class={`link attr${current ? " current" : ""}`}
                                        aria-pressed={current}
                                        data-testid="sparkline-attribute"
                                        onClick={() => setShown({ ...shown, [key]: a })}
                                      >
                                        {a}
                                      </button>
                                    </Fragment>
                                  );
                                })}
                          </td>
                          <td>
                            {e.attributes.length > 0 ? (
                              <Sparkline
                                entityType={g.entityType}
                                entityId={e.entityId}
                                attribute={shown[key] ?? e.attributes[0]}
                                tenant={tenant}
                                lastN={SPARK_N}
                              />
                            ) : (
                              <span class="spark-note muted" data-testid="sparkline-empty">no attributes</span>
                            )}
                          </td>
                          <td>
                            {viewer.canMutate && e.attributes.length > 0 && (
                              <button data-testid="new-model" onClick={() => setOpen(open === key ? null : key)}>New model</button>
                            )}
                          </td>
                        </tr>
                        {open === key && (
                          <tr>
                            <td colSpan={5}>
                              {options.data ? (
                                <ModelForm
                                  entity={{ entityType: g.entityType, entityId: e.entityId, attributes: e.attributes }}
                                  tenant={tenant}
                                  modelTypes={options.data.modelTypes}
                                  onClose={() => setOpen(null)}
                                />
                              ) : (
                                <ErrorBox error={options.error ?? "Loading the model types…"} />
                              )}
                            </td>
                          </tr>
                        )}
                      </Fragment>
                    );
                  })}
                </tbody>
              </table>
            </section>
          ))}
        </div>
      )}
    </div>
  );
}
