#!/usr/bin/env node
// Gzip size of everything dist/index.html loads on first load (scripts, module preloads,
// stylesheets, and the static imports of the entry chunks), and the total against the budget.
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

const dist = resolve(dirname(fileURLToPath(import.meta.url)), "..", "dist");
const BUDGET = 300 * 1024;
const indexPath = join(dist, "index.html");
if (!existsSync(indexPath)) {
  console.error("size: no dist/index.html; run `npm run build` first.");
  process.exit(1);
}
const html = readFileSync(indexPath, "utf8");
const files = new Set(["index.html"]);
for (const m of html.matchAll(/<(?:script|link)\b[^>]*?(?:src|href)="\/?([^"]+)"/g)) files.add(m[1]);
// Static imports between chunks are fetched on first load too; dynamic import() chunks are not.
const queue = [...files].filter((f) => f.endsWith(".js"));
while (queue.length) {
  const code = readFileSync(join(dist, queue.pop()), "utf8");
  for (const m of code.matchAll(/(?:^|[;\n}])\s*import\s*(?:[^"'()]*?from\s*)?["']\.?\/?((?:assets\/)?[\w.-]+\.js)["']/g)) {
    const f = m[1].startsWith("assets/") ? m[1] : `assets/${m[1]}`;
    if (!files.has(f)) {
      files.add(f);
      queue.push(f);
    }
  }
}
let total = 0;
const rows = [...files].map((f) => {
  const body = readFileSync(join(dist, f));
  const gz = gzipSync(body, { level: 9 }).length;
  total += gz;
  return [f, body.length, gz];
});
const kb = (n) => `${(n / 1024).toFixed(1)} KB`;
for (const [f, raw, gz] of rows) console.log(`${kb(gz).padStart(10)} gzip  ${kb(raw).padStart(10)} raw  ${f}`);
console.log(`${kb(total).padStart(10)} gzip  total first load of / (budget ${kb(BUDGET)})`);
if (total > BUDGET) {
  console.error("size: over budget");
  process.exit(1);
}
