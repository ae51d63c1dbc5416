#!/usr/bin/env node
// Generates console/src/generated/graphql.ts from ../schema.graphql and the console's operations
// (console/src/**/*.graphql). Every operation is validated against the schema first: a schema change
// that breaks the console fails here, before TypeScript or Vite run.
//
// Emitted: enums as string-literal unions, input object types, each input type's schema defaults
// (`<Input>Defaults`), and per operation `<Name>Query|Mutation|Subscription`, `<Name>Variables` and
// `<Name>Document` (the source sent to the server).
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import {
  GraphQLError,
  Kind,
  buildSchema,
  getNamedType,
  isEnumType,
  isInputObjectType,
  isListType,
  isNonNullType,
  isScalarType,
  parse,
  print,
  typeFromAST,
  validate,
  visit,
} from "graphql";

const here = dirname(fileURLToPath(import.meta.url));
const consoleDir = resolve(here, "..");
const schemaPath = resolve(consoleDir, "..", "schema.graphql");
const srcDir = join(consoleDir, "src");
const outPath = join(srcDir, "generated", "graphql.ts");

const failures = [];
const fail = (where, message) => failures.push(`${where}: ${message}`);

let schema;
try {
  schema = buildSchema(readFileSync(schemaPath, "utf8"));
} catch (err) {
  console.error(`codegen: cannot read the schema ${schemaPath}: ${err.message}`);
  process.exit(1);
}

function walk(dir) {
  const found = [];
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (name === "generated" || name === "node_modules") continue;
    if (statSync(path).isDirectory()) found.push(...walk(path));
    else if (name.endsWith(".graphql")) found.push(path);
  }
  return found;
}

// Operations and fragments of every document; fragments are shared across files.
const operations = [];
const fragments = new Map();
for (const file of walk(srcDir)) {
  const rel = relative(consoleDir, file);
  let doc;
  try {
    doc = parse(readFileSync(file, "utf8"));
  } catch (err) {
    fail(rel, err instanceof GraphQLError ? err.message : String(err));
    continue;
  }
  for (const def of doc.definitions) {
    if (def.kind === Kind.OPERATION_DEFINITION) {
      if (!def.name) fail(rel, "every operation needs a name");
      else if (operations.some((op) => op.def.name.value === def.name.value))
        fail(rel, `operation ${def.name.value} is defined twice`);
      else operations.push({ file: rel, def });
    } else if (def.kind === Kind.FRAGMENT_DEFINITION) {
      if (fragments.has(def.name.value)) fail(rel, `fragment ${def.name.value} is defined twice`);
      fragments.set(def.name.value, { file: rel, def });
    } else {
      fail(rel, `only operations and fragments belong in console documents (found ${def.kind})`);
    }
  }
}

function usedFragments(node, seen = new Set()) {
  visit(node, {
    FragmentSpread(spread) {
      const name = spread.name.value;
      if (seen.has(name) || !fragments.has(name)) return;
      seen.add(name);
      usedFragments(fragments.get(name).def, seen);
    },
  });
  return seen;
}

for (const op of operations) {
  const names = [...usedFragments(op.def)];
  op.document = { kind: Kind.DOCUMENT, definitions: [op.def, ...names.map((n) => fragments.get(n).def)] };
  for (const err of validate(schema, op.document)) {
    const loc = err.locations?.[0];
    fail(`${op.file}${loc ? `:${loc.line}:${loc.column}` : ""} (${op.def.name.value})`, err.message);
  }
}

if (failures.length) {
  console.error(`codegen: ${failures.length} problem(s) between the console's operations and ${relative(process.cwd(), schemaPath)}:`);
  for (const f of failures) console.error(`  - ${f}`);
  process.exit(1);
}

// ---- TypeScript emission ----
const SCALARS = { ID: "string", String: "string", DateTime: "string", Int: "number", Float: "number", Boolean: "boolean", JSON: "unknown" };
const scalarTs = (name) => SCALARS[name] ?? "unknown";
const indent = (depth) => "  ".repeat(depth);

function namedTs(type) {
  if (isScalarType(type)) return scalarTs(type.name);
  return type.name; // enums and input objects are emitted by name
}

// A schema type (input or output leaf) as TypeScript, nullability respected.
function typeTs(type, inner = namedTs) {
  if (isNonNullType(type)) return typeTsNonNull(type.ofType, inner);
  return `${typeTsNonNull(type, inner)} | null`;
}
function typeTsNonNull(type, inner) {
  if (isListType(type)) return `Array<${typeTs(type.ofType, inner)}>`;
  return inner(type);
}

function collectFields(selectionSet, parentType, out = new Map()) {
  for (const sel of selectionSet.selections) {
    if (sel.kind === Kind.FIELD) {
      const key = sel.alias?.value ?? sel.name.value;
      if (sel.name.value === "__typename") continue;
      const prev = out.get(key);
      if (prev && sel.selectionSet && prev.selectionSet) {
        prev.selectionSet = { kind: Kind.SELECTION_SET, selections: [...prev.selectionSet.selections, ...sel.selectionSet.selections] };
      } else if (!prev) {
        out.set(key, { field: parentType.getFields()[sel.name.value], selectionSet: sel.selectionSet });
      }
    } else if (sel.kind === Kind.INLINE_FRAGMENT) {
      const cond = sel.typeCondition ? schema.getType(sel.typeCondition.name.value) : parentType;
      if (cond !== parentType) throw new Error(`inline fragments on another type (${cond}) are not supported by this generator`);
      collectFields(sel.selectionSet, parentType, out);
    } else if (sel.kind === Kind.FRAGMENT_SPREAD) {
      const frag = fragments.get(sel.name.value).def;
      collectFields(frag.selectionSet, parentType, out);
    }
  }
  return out;
}

function selectionTs(selectionSet, parentType, depth) {
  const lines = [];
  for (const [key, { field, selectionSet: sub }] of collectFields(selectionSet, parentType)) {
    const named = getNamedType(field.type);
    const ts = sub ? typeTs(field.type, () => selectionTs(sub, named, depth + 1)) : typeTs(field.type);
    lines.push(`${indent(depth + 1)}${key}: ${ts};`);
  }
  return `{\n${lines.join("\n")}\n${indent(depth)}}`;
}

const out = [];
out.push("// Generated by scripts/codegen.mjs from ../schema.graphql and src/**/*.graphql. Do not edit.");
out.push("/* eslint-disable */", "");

const typeMap = schema.getTypeMap();
const names = Object.keys(typeMap).filter((n) => !n.startsWith("__")).sort();
for (const name of names) {
  const type = typeMap[name];
  if (isEnumType(type)) {
    out.push(`export type ${name} = ${type.getValues().map((v) => JSON.stringify(v.name)).join(" | ")};`);
    out.push(`export const ${name}Values: readonly ${name}[] = ${JSON.stringify(type.getValues().map((v) => v.name))};`);
  }
}
out.push("");
// Input object types the operations' variables reach, with the types their fields reach.
const inputs = new Set();
const reach = (type) => {
  const named = getNamedType(type);
  if (!isInputObjectType(named) || inputs.has(named.name)) return;
  inputs.add(named.name);
  for (const f of Object.values(named.getFields())) reach(f.type);
};
for (const op of operations) for (const v of op.def.variableDefinitions ?? []) reach(typeFromAST(schema, v.type));
for (const name of names) {
  const type = typeMap[name];
  if (!isInputObjectType(type) || !inputs.has(name)) continue;
  const fields = Object.values(type.getFields());
  out.push(`export interface ${name} {`);
  for (const f of fields) {
    const optional = !isNonNullType(f.type) || f.defaultValue !== undefined;
    out.push(`  ${f.name}${optional ? "?" : ""}: ${typeTs(f.type)};`);
  }
  out.push("}");
  const defaults = {};
  for (const f of fields) {
    if (f.defaultValue === undefined) continue;
    defaults[f.name] = f.defaultValue;
  }
  out.push(`/** Defaults the schema declares for ${name}. */`);
  out.push(`export const ${name}Defaults = ${JSON.stringify(defaults)} as const;`, "");
}

const ROOT = { query: ["Query", schema.getQueryType()], mutation: ["Mutation", schema.getMutationType()], subscription: ["Subscription", schema.getSubscriptionType()] };
for (const op of operations) {
  const name = op.def.name.value;
  const [suffix, root] = ROOT[op.def.operation];
  out.push(`// ${op.file}`);
  out.push(`export type ${name}${suffix} = ${selectionTs(op.def.selectionSet, root, 0)};`);
  const vars = (op.def.variableDefinitions ?? []).map((v) => {
    const type = typeFromAST(schema, v.type);
    const optional = !isNonNullType(type) || v.defaultValue;
    return `  ${v.variable.name.value}${optional ? "?" : ""}: ${typeTs(type)};`;
  });
  out.push(vars.length ? `export type ${name}Variables = {\n${vars.join("\n")}\n};` : `export type ${name}Variables = Record<string, never>;`);
  out.push(`export const ${name}Document = ${JSON.stringify(op.document.definitions.map(print).join("\n"))};`, "");
}

mkdirSync(dirname(outPath), { recursive: true });
const text = out.join("\n");
let previous = "";
try {
  previous = readFileSync(outPath, "utf8");
} catch {}
if (previous !== text) writeFileSync(outPath, text);
console.log(`codegen: ${operations.length} operation(s) valid against the schema -> ${relative(process.cwd(), outPath)}`);
