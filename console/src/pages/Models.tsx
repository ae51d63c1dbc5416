import { useState } from "preact/hooks";
import { gql } from "../api/client";
import { ModelStatusValues, ModelsDocument, ModelTypeValues, type ModelFilter, type ModelsQuery, type ModelsVariables, type ModelStatus, type ModelType } from "../generated/graphql";
import { href } from "../lib/router";
import { ErrorBox, useLoad } from "../lib/ui";

const PAGE = 20;

export function ModelsPage() {
  const [filter, setFilter] = useState<ModelFilter>({});
  const [draft, setDraft] = useState({ name: "", status: "", modelType: "", entityId: "", feature: "" });
  // Cursors of the pages before the current one (null: the first page).
  const [cursors, setCursors] = useState<(string | null)[]>([null]);
  const after = cursors[cursors.length - 1];
  const list = useLoad(
    () => gql<ModelsQuery, ModelsVariables>(ModelsDocument, { first: PAGE, after, filter: Object.keys(filter).length ? filter : null }),
    [after, JSON.stringify(filter)],
  );

  function apply(e: Event) {
    e.preventDefault();
    const f: ModelFilter = {};
    if (draft.name.trim()) f.nameContains = draft.name.trim();
    if (draft.status) f.status = draft.status as ModelStatus;
    if (draft.modelType) f.modelType = draft.modelType as ModelType;
    if (draft.entityId.trim()) f.entityId = draft.entityId.trim();
    if (draft.feature.trim()) f.feature = draft.feature.trim();
    setFilter(f);
    setCursors([null]);
  }

  const models = list.data?.models;
  return (
    <div class="page" data-testid="models-page">
      <h1>Models</h1>
      <form class="filters" onSubmit={apply} data-testid="models-filter">
        <input placeholder="name contains" value={draft.name} onInput={(e) => setDraft({ ...draft, name: e.currentTarget.value })} data-testid="filter-name" />
        <select value={draft.status} onChange={(e) => setDraft({ ...draft, status: e.currentTarget.value })} data-testid="filter-status">
          <option value="">any status</option>
          {ModelStatusValues.map((s) => <option key={s} value={s}>{s}</option>)}
        </select>
        <select value={draft.modelType} onChange={(e) => setDraft({ ...draft, modelType: e.currentTarget.value })} data-testid="filter-type">
          <option value="">any type</option>
          {ModelTypeValues.map((s) => <option key={s} value={s}>{s}</option>)}
        </select>
        <input placeholder="entity id" value={draft.entityId} onInput={(e) => setDraft({ ...draft, entityId: e.currentTarget.value })} />
        <input placeholder="feature" value={draft.feature} onInput={(e) => setDraft({ ...draft, feature: e.currentTarget.value })} />
        <button type="submit" data-testid="filter-apply">Filter</button>
      </form>
      <ErrorBox error={list.error} />
      {models && (
        <>
          <p class="muted small" data-testid="models-count">
            {models.totalCount} model{models.totalCount === 1 ? "" : "s"} · page {cursors.length}
          </p>
          {models.edges.length === 0 ? (
            <p data-testid="models-empty">No models{Object.keys(filter).length ? " match this filter" : " yet: create one from a device"}.</p>
          ) : (
            <table data-testid="models-table">
              <thead>
                <tr><th>Name</th><th>Status</th><th>Type</th><th>Entity</th><th>Feature</th><th>Tenant</th><th>Active version</th><th>Forecasting</th></tr>
              </thead>
              <tbody>
                {models.edges.map(({ node: m }) => (
                  <tr key={m.id} data-testid="model-row" data-id={m.id}>
                    <td><a href={href.model(m.id)}>{m.name}</a></td>
                    <td>{m.status}{m.monitoring.drifting ? <span class="warn"> drifting</span> : null}</td>
                    <td>{m.modelType}</td>
                    <td>{m.entityType} / {m.entityId}</td>
                    <td>{m.feature}</td>
                    <td class="small">{m.fiwareService}:{m.fiwareServicePath}</td>
                    <td>{m.activeTrainingJobId ? <a href={href.job(m.activeTrainingJobId)}>{m.activeTrainingJobId.slice(0, 8)}</a> : "—"}
                      {m.latestTrainingJob && m.latestTrainingJob.id !== m.activeTrainingJobId && (
                        <span class="small"> · latest <a href={href.job(m.latestTrainingJob.id)}>{m.latestTrainingJob.status.toLowerCase()}</a></span>
                      )}
                    </td>
                    <td>{m.forecasting?.enabled ? "on" : "off"}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
          <div class="pager">
            <button disabled={cursors.length <= 1 || list.loading} onClick={() => setCursors(cursors.slice(0, -1))} data-testid="models-prev">← Previous</button>
            <button disabled={!models.pageInfo.hasNextPage || list.loading} onClick={() => setCursors([...cursors, models.pageInfo.endCursor])} data-testid="models-next">Next →</button>
          </div>
        </>
      )}
      {!models && list.loading && <p class="muted">Loading…</p>}
    </div>
  );
}
