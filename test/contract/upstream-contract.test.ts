/**
 * Wire compatibility with the upstream contract, read from test/contract/upstream.json (the facts-only
 * fixture `npm run contract:fixture` derives from the upstream extracts): for every upstream operation of
 * the groups this service implements, /doc has the same method, path and operationId; every upstream
 * parameter and request field exists here with the same requiredness and constraints (bounds, lengths,
 * pattern, enum, format, default); every upstream status is declared; every upstream response field exists
 * here, with the same requiredness.
 */
import { beforeAll, describe, expect, it } from "vitest";
import type { JsonSchema, UpstreamDoc } from "../harness/bodies";
import { openApiDocument } from "../harness/conformance";
import upstream from "./upstream.json";

/** Tags whose operations this service implements; an upstream group joins when its routes exist. */
const IMPLEMENTED_TAGS = [
  "Account",
  "Auth",
  "Workspaces",
  "API Keys",
  "Audit",
  "External Roles",
  "External Role Assignments",
  "Role Grants",
  "Compliance",
  "Settings",
];
type Doc = UpstreamDoc;
const documents: Doc[] = Object.values(upstream as unknown as Record<string, Doc>);

function deref(doc: Doc, schema: JsonSchema | undefined): JsonSchema | undefined {
  let current = schema;
  while (current?.$ref) current = doc.components.schemas[current.$ref.split("/").pop() ?? ""];
  return current;
}

/** The object schema a (possibly anyOf/allOf-wrapped) schema stands for; for anyOf, the branch `match` picks. */
function objectSchema(doc: Doc, schema: JsonSchema | undefined, match?: (candidate: JsonSchema) => boolean): JsonSchema | undefined {
  const resolved = deref(doc, schema);
  if (resolved?.anyOf) return resolved.anyOf.map((s) => deref(doc, s)).find((s) => s?.properties && (!match || match(s)));
  return resolved;
}

const propertiesOf = (schema: JsonSchema | undefined) => schema?.properties ?? {};

/**
 * The constraints a value schema states, normalised so equal rules compare equal: `T | null` is T (with
 * `nullable`), an integer's exclusive bound n is the inclusive n±1, enums are sorted.
 */
function constraints(doc: Doc, schema: JsonSchema | undefined): Record<string, unknown> {
  let s: JsonSchema = deref(doc, schema) ?? {};
  let nullable = false;
  if (s.anyOf) {
    const branches = s.anyOf.map((b) => deref(doc, b));
    nullable = branches.some((b) => b?.type === "null");
    const values = branches.filter((b) => b?.type !== "null");
    if (values.length === 1) s = { ...values[0], ...(s.default !== undefined ? { default: s.default } : {}) };
  }
  if (Array.isArray(s.type) && s.type.includes("null")) {
    nullable = true;
    s = { ...s, type: s.type.find((t) => t !== "null") };
  }
  const integer = s.type === "integer";
  const out: Record<string, unknown> = { nullable };
  for (const key of ["format", "pattern", "minLength", "maxLength", "minItems", "maxItems", "default"])
    if (s[key] !== undefined) out[key] = s[key];
  if (s.enum) out.enum = [...s.enum].sort();
  const min = s.minimum ?? (s.exclusiveMinimum !== undefined ? s.exclusiveMinimum + (integer ? 1 : 0) : undefined);
  const max = s.maximum ?? (s.exclusiveMaximum !== undefined ? s.exclusiveMaximum - (integer ? 1 : 0) : undefined);
  if (min !== undefined) out.minimum = min;
  if (max !== undefined) out.maximum = max;
  return out;
}

/**
 * Where this service refuses what upstream's schema accepts, each a decision that
 * docs/decisions/0005-stricter-than-upstream.md lists with its reason. Bounds on lengths and list sizes
 * are one decision for every input (docs/decisions/0020-input-bounds.md) and are not listed one by one.
 */
const STRICTER_THAN_UPSTREAM = [
  "create-api-key body role: enum", // the four roles (upstream: "422 Invalid request body or role")
  "update-test-caller-numbers body numbers[]: pattern", // E.164
  "list-workspaces query continuation_token: minimum", // a seq is never negative
  "list-api-keys query continuation_token: minimum",
  // the sortable fields of each list
  ...["list-external-roles", "list-external-role-assignments", "list-role-grants"].map((op) => `${op} query sort_by[]: enum`),
].sort();
const LENGTH_BOUNDS = new Set(["maxLength", "maxItems"]);

/** Fields this service adds to upstream's responses (additive: none is taken away or changed). */
const ADDED_RESPONSE_FIELDS: Record<string, string[]> = {
  "list-audit-events": ["next_offset"],
  "get-entity-access-log": ["next_offset"],
  "get-phi-access-report": ["next_offset"],
  // Who answers for the key now (decision 0031); list-api-keys adds it to each item.
  "create-api-key": ["accountable_entity_id"],
  "rotate-api-key": ["accountable_entity_id"],
  // Where an export stands (decision 0041); list-audit-exports adds these to each item.
  "create-audit-export": ["status"],
};

/** The constraints ours states that upstream's does not (or states differently), recursing into list items. */
function addedConstraints(theirDoc: Doc, theirs: JsonSchema | undefined, ours: JsonSchema | undefined, what: string): string[] {
  const expected = constraints(theirDoc, theirs);
  const actual = constraints(oursDoc, ours);
  const added = Object.keys(actual)
    .filter(
      (key) =>
        !["nullable", "default"].includes(key) && !LENGTH_BOUNDS.has(key) && JSON.stringify(actual[key]) !== JSON.stringify(expected[key]),
    )
    .filter((key) => !(key === "enum" && expected.enum === undefined && actual.enum === undefined))
    .map((key) => `${what}: ${key}`);
  const [theirItems, ourItems] = [resolvedNonNull(theirDoc, theirs)?.items, resolvedNonNull(oursDoc, ours)?.items];
  return ourItems ? [...added, ...addedConstraints(theirDoc, theirItems ?? {}, ourItems, `${what}[]`)] : added;
}

function resolvedNonNull(doc: Doc, schema: JsonSchema | undefined): JsonSchema | undefined {
  const s = deref(doc, schema);
  const branches = s?.anyOf?.map((b) => deref(doc, b)).filter((b) => b?.type !== "null");
  return branches?.length === 1 ? branches[0] : s;
}

/** Every constraint upstream states holds here too (we may add bounds upstream leaves open, never drop one). */
function expectSameConstraints(theirDoc: Doc, theirs: JsonSchema | undefined, ours: JsonSchema | undefined, what: string) {
  const expected = constraints(theirDoc, theirs);
  const actual = constraints(oursDoc, ours);
  for (const [key, value] of Object.entries(expected)) {
    if (key === "nullable" && value === false) continue;
    expect(actual[key], `${what}: ${key}`).toEqual(value);
  }
}

const operations = () =>
  documents.flatMap((doc) =>
    Object.entries(doc.paths).flatMap(([path, methods]) =>
      Object.entries(methods)
        .filter(([, op]) => op.tags?.some((t: string) => IMPLEMENTED_TAGS.includes(t)))
        .map(([method, op]) => ({ doc, path, method, op, name: `${op.operationId} (${method.toUpperCase()} ${path})` })),
    ),
  );

let oursDoc: Doc;
beforeAll(async () => {
  oursDoc = await openApiDocument();
});

describe("upstream contract", () => {
  it("covers the implemented groups", () => {
    expect(operations().length).toBe(39);
  });

  it("refuses nothing upstream's schema accepts, but for the decisions docs/decisions/0005 lists", () => {
    const added: string[] = [];
    for (const { doc, path, method, op } of operations()) {
      const mine = oursDoc.paths[path]?.[method];
      for (const param of op.parameters ?? []) {
        const p = (mine?.parameters ?? []).find((q) => q.name === param.name && q.in === param.in);
        if (p) added.push(...addedConstraints(doc, param.schema, p.schema, `${op.operationId} ${param.in} ${param.name}`));
      }
      const upstreamBody = op.requestBody?.content?.["application/json"]?.schema;
      if (!upstreamBody || !mine) continue;
      const theirs = objectSchema(doc, upstreamBody);
      const mineBody = objectSchema(oursDoc, mine.requestBody?.content?.["application/json"]?.schema);
      for (const [field, schema] of Object.entries(propertiesOf(theirs)))
        added.push(...addedConstraints(doc, schema, propertiesOf(mineBody)[field], `${op.operationId} body ${field}`));
      if (mineBody?.additionalProperties === false && theirs?.additionalProperties !== false)
        added.push(`${op.operationId} body: additionalProperties`);
    }
    expect(added.sort()).toEqual(STRICTER_THAN_UPSTREAM);
  });

  it.each(operations().map((o) => [o.name, o] as const))("%s", (_, { doc, path, method, op }) => {
    const mine = oursDoc.paths[path]?.[method];
    expect(mine, "same method and path").toBeDefined();
    expect(mine?.operationId).toBe(op.operationId);

    for (const param of op.parameters ?? []) {
      const p = (mine?.parameters ?? []).find((q) => q.name === param.name && q.in === param.in);
      expect(p, `parameter ${param.in}.${param.name}`).toBeDefined();
      expect(Boolean(p?.required), `parameter ${param.name} requiredness`).toBe(Boolean(param.required));
      expectSameConstraints(doc, param.schema, p?.schema, `parameter ${param.name}`);
    }

    const upstreamBody = op.requestBody?.content?.["application/json"]?.schema;
    if (upstreamBody) {
      const theirs = objectSchema(doc, upstreamBody);
      const mineBody = objectSchema(oursDoc, mine?.requestBody?.content?.["application/json"]?.schema);
      expect(mine?.requestBody?.required).toBe(op.requestBody?.required);
      expect(Object.keys(propertiesOf(mineBody)).sort(), "request fields").toEqual(Object.keys(propertiesOf(theirs)).sort());
      expect([...(mineBody?.required ?? [])].sort(), "required request fields").toEqual([...(theirs?.required ?? [])].sort());
      for (const [field, schema] of Object.entries(propertiesOf(theirs)))
        expectSameConstraints(doc, schema, propertiesOf(mineBody)[field], `request field ${field}`);
    }

    for (const [status, response] of Object.entries(op.responses)) {
      expect(mine?.responses[status], `status ${status} declared`).toBeDefined();
      const theirSchema = response.content?.["application/json"]?.schema;
      if (!theirSchema || status === "422") continue;
      const theirs = objectSchema(doc, theirSchema);
      const fields = Object.keys(propertiesOf(theirs));
      const mineSchema = objectSchema(oursDoc, mine?.responses[status]?.content?.["application/json"]?.schema, (s) =>
        fields.every((f) => f in propertiesOf(s)),
      );
      expect(mineSchema, `response ${status} schema`).toBeDefined();
      expect(Object.keys(propertiesOf(mineSchema)).sort(), `response ${status} fields`).toEqual(
        [...fields, ...(ADDED_RESPONSE_FIELDS[op.operationId] ?? [])].sort(),
      );
      for (const field of theirs?.required ?? []) expect(mineSchema?.required, `response ${status} requires ${field}`).toContain(field);
    }
  });
});
