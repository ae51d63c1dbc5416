// Chronos's GraphiQL page script (served by the API with the files from console/node_modules).
//
// It renders GraphiQL as Strawberry's page does (same fetcher over HTTP, subscriptions over
// graphql-transport-ws, the explorer plugin, headers persisted), and adds the walkthrough:
// default tabs from the page's config, and ids that one tab's result gives filled into the
// variables of the next tabs, so a newcomer can press Run in each tab in order.
(function () {
  "use strict";

  const config = JSON.parse(document.getElementById("chronos-graphiql").textContent);
  const fetchURL = window.location.href.split("?")[0].split("#")[0];
  const subscriptionURL = fetchURL.replace(/^http/, "ws");
  const ids = readIds();
  // GraphiQL's own state, reached from inside its providers (see ContextHandles).
  const graphiql = { variables: null, schema: null };
  let authorization = null;

  // Per browser tab, so a reload keeps the walkthrough in progress: the newest id of each kind,
  // and the ids this page wrote into Variables (those it may replace; an id typed there it never does).
  function readIds() {
    try {
      const stored = JSON.parse(window.sessionStorage.getItem("chronos-graphiql:ids"));
      if (stored && stored.latest && stored.filled) {
        return stored;
      }
    } catch (_) {
      // Unreadable: start afresh.
    }
    return { latest: {}, filled: {} };
  }

  function saveIds() {
    try {
      window.sessionStorage.setItem("chronos-graphiql:ids", JSON.stringify(ids));
    } catch (_) {
      // Storage may be off (private mode); the ids then last until the page is closed.
    }
  }

  function operationOf(params, documentAST) {
    const operations = (documentAST ? documentAST.definitions : []).filter(
      (d) => d.kind === "OperationDefinition",
    );
    if (params.operationName) {
      return operations.find((o) => o.name && o.name.value === params.operationName) || null;
    }
    return operations.length === 1 ? operations[0] : null;
  }

  // Declared variables left empty, or holding an id this page put there before, get the newest
  // id of their kind (so running CreateModel again moves the next tabs to the new model).
  function fillVariables(params, operation) {
    const declared = (operation ? operation.variableDefinitions : []).map((v) => v.variable.name.value);
    const given = Object.assign({}, params.variables || {});
    const ours = (name) => given[name] == null || (ids.filled[name] || []).includes(given[name]);
    const filled = declared.filter(
      (name) =>
        name in config.fills && ids.latest[name] != null && given[name] !== ids.latest[name] && ours(name),
    );
    if (filled.length === 0) {
      return params;
    }
    for (const name of filled) {
      given[name] = ids.latest[name];
      ids.filled[name] = (ids.filled[name] || []).concat([given[name]]);
    }
    saveIds();
    if (graphiql.variables) {
      graphiql.variables.setValue(JSON.stringify(given, null, 2));
    }
    return Object.assign({}, params, { variables: given });
  }

  function rememberIds(result) {
    const data = result && result.data;
    for (const [name, path] of Object.entries(config.fills)) {
      const value = path.reduce((node, key) => (node == null ? null : node[key]), data);
      if (typeof value === "string" && value) {
        ids.latest[name] = value;
        saveIds();
      }
    }
    return result;
  }

  // One key for every tab: typed once under Headers, it is sent by the tabs that have none.
  function withKey(opts) {
    const headers = Object.assign({}, (opts && opts.headers) || {});
    const own = Object.keys(headers).find((k) => k.toLowerCase() === "authorization");
    if (own && headers[own] !== authorization) {
      authorization = headers[own];
      refetchSchemaIfMissing();
    } else if (!own && authorization) {
      headers.Authorization = authorization;
    }
    return Object.assign({}, opts, { headers: headers });
  }

  // With keys checked, the schema request at load is refused; the first key brings the schema
  // (completion, docs) without a trip to the re-fetch button.
  function refetchSchemaIfMissing() {
    const context = graphiql.schema;
    if (context && !context.schema && !context.isFetching) {
      window.setTimeout(context.introspect, 0);
    }
  }

  async function* tap(results) {
    for await (const result of results) {
      yield rememberIds(result);
    }
  }

  // GraphiQL's HTTP fetcher answers a result, or a stream of them (incremental delivery),
  // either of them possibly behind a promise.
  function watch(value) {
    if (value && typeof value.then === "function") {
      return value.then(watch);
    }
    if (value && typeof value[Symbol.asyncIterator] === "function") {
      return tap(value);
    }
    return rememberIds(value);
  }

  const inner = GraphiQL.createFetcher({ url: fetchURL, subscriptionUrl: subscriptionURL });

  function fetcher(params, opts) {
    const options = withKey(opts);
    const operation = operationOf(params, options.documentAST);
    const result = inner(fillVariables(params, operation), options);
    // Subscriptions give no ids to remember, and GraphiQL must keep its handle to stop them.
    return operation && operation.operation === "subscription" ? result : watch(result);
  }

  // Rendered inside GraphiQL's providers only to reach the variables editor and the schema.
  function ContextHandles() {
    graphiql.variables = GraphiQL.React.useEditorContext({ nonNull: true }).variableEditor;
    graphiql.schema = GraphiQL.React.useSchemaContext({ nonNull: true });
    return null;
  }

  function ChronosGraphiQL() {
    return React.createElement(GraphiQL, {
      fetcher: fetcher,
      defaultTabs: config.tabs,
      storage: GraphiQL.createLocalStorage({ namespace: config.storageNamespace }),
      defaultEditorToolsVisibility: true,
      plugins: [GraphiQLPluginExplorer.explorerPlugin()],
      toolbar: { additionalComponent: ContextHandles },
      inputValueDeprecation: true,
      isHeadersEditorEnabled: true,
      shouldPersistHeaders: true,
    });
  }

  ReactDOM.createRoot(document.getElementById("graphiql")).render(React.createElement(ChronosGraphiQL));
})();
