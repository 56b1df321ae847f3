#!/usr/bin/env node
// `npm run contract:fixture [-- --check]`: derives test/contract/upstream.json, the facts-only copy of the
// upstream contract the tests read, from ../shared/reference/amigo/*.json (present beside this repository's
// own checkouts, never in a user's clone). Kept: methods, paths, operationIds, tags, parameters, request and
// response schemas with their property names, requiredness, types, enums, formats, bounds and patterns, and
// the declared statuses. Dropped: every description, summary, title, example and extension (prose).
// With --check it writes nothing and exits 1 if the committed fixture differs from a fresh derivation.
import { existsSync, readFileSync, writeFileSync } from "node:fs";

const SOURCES = {
  controlPlane: "platform-control-plane-extract.json",
  audit: "platform-audit-extract.json",
  settings: "platform-settings-extract.json",
};
const SOURCE_DIR = new URL("../../shared/reference/amigo/", import.meta.url);
const FIXTURE = new URL("../test/contract/upstream.json", import.meta.url);

/** Schema keywords that state a fact about the wire format; everything else is prose or tooling. */
const SCHEMA_FACTS = new Set([
  "$ref",
  "type",
  "format",
  "enum",
  "const",
  "default",
  "pattern",
  "minLength",
  "maxLength",
  "minimum",
  "maximum",
  "exclusiveMinimum",
  "exclusiveMaximum",
  "minItems",
  "maxItems",
  "uniqueItems",
  "required",
  "properties",
  "items",
  "anyOf",
  "oneOf",
  "allOf",
  "additionalProperties",
  "propertyNames",
  "contentMediaType",
]);

function facts(schema) {
  if (Array.isArray(schema)) return schema.map(facts);
  if (schema === null || typeof schema !== "object") return schema;
  const out = {};
  for (const [key, value] of Object.entries(schema)) {
    if (!SCHEMA_FACTS.has(key)) continue;
    // property names are data, not keywords: keep every one, reduce each property's schema
    if (key === "properties") out.properties = Object.fromEntries(Object.entries(value).map(([name, s]) => [name, facts(s)]));
    else out[key] = facts(value);
  }
  return out;
}

const content = (body) =>
  body?.content?.["application/json"]?.schema
    ? { "application/json": { schema: facts(body.content["application/json"].schema) } }
    : undefined;

function operationFacts(op) {
  return {
    operationId: op.operationId,
    tags: op.tags ?? [],
    parameters: (op.parameters ?? []).map((p) => ({
      name: p.name,
      in: p.in,
      required: Boolean(p.required),
      schema: facts(p.schema ?? {}),
    })),
    ...(op.requestBody ? { requestBody: { required: Boolean(op.requestBody.required), content: content(op.requestBody) } } : {}),
    responses: Object.fromEntries(
      Object.entries(op.responses ?? {}).map(([status, r]) => [status, r.content ? { content: content(r) } : {}]),
    ),
  };
}

function documentFacts(doc) {
  const paths = {};
  for (const path of Object.keys(doc.paths).sort()) {
    paths[path] = {};
    for (const method of Object.keys(doc.paths[path]).sort()) paths[path][method] = operationFacts(doc.paths[path][method]);
  }
  const schemas = doc.components?.schemas ?? {};
  return {
    paths,
    components: {
      schemas: Object.fromEntries(
        Object.keys(schemas)
          .sort()
          .map((name) => [name, facts(schemas[name])]),
      ),
    },
  };
}

const missing = Object.values(SOURCES).filter((file) => !existsSync(new URL(file, SOURCE_DIR)));
if (missing.length > 0) {
  console.error(`contract-fixture: ${missing.join(", ")} not found in ${SOURCE_DIR.pathname}; nothing to derive.`);
  process.exit(2);
}
const fixture = Object.fromEntries(
  Object.entries(SOURCES).map(([name, file]) => [name, documentFacts(JSON.parse(readFileSync(new URL(file, SOURCE_DIR), "utf8")))]),
);
const text = `${JSON.stringify(fixture, null, 1)}\n`;

if (process.argv.includes("--check")) {
  const committed = existsSync(FIXTURE) ? readFileSync(FIXTURE, "utf8") : "";
  if (committed !== text) {
    console.error("test/contract/upstream.json is stale: run npm run contract:fixture and commit the result.");
    process.exit(1);
  }
  console.log("test/contract/upstream.json matches the upstream extracts.");
} else {
  writeFileSync(FIXTURE, text);
  console.log(`wrote ${FIXTURE.pathname}`);
}
