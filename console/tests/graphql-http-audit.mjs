// The GraphQL over HTTP spec's own audit suite (graphql-http's serverAudits) against a running API.
// Usage: node console/tests/graphql-http-audit.mjs <graphql-url> [api-key]
// Prints one JSON array of {id, name, status, reason}; tests/app/test_graphql_over_http.py reads it.
import { auditServer } from 'graphql-http';

const [url, key] = process.argv.slice(2);
if (!url) {
  console.error('usage: graphql-http-audit.mjs <graphql-url> [api-key]');
  process.exit(2);
}

// Every audit request carries the key, as any client of an API that checks keys must.
const fetchFn = (input, init = {}) => {
  const headers = new Headers(init.headers);
  if (key) headers.set('authorization', `Bearer ${key}`);
  return fetch(input, { ...init, headers });
};

const results = await auditServer({ url, fetchFn });
console.log(
  JSON.stringify(results.map((r) => ({ id: r.id, name: r.name, status: r.status, reason: r.reason ?? null }))),
);
