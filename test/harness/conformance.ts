/**
 * Responses against the documents: the served /doc (objects closed, so no undeclared field passes) and,
 * where upstream defines the operation, upstream's own schema (test/contract/upstream.json).
 */
import Ajv2020, { type ValidateFunction } from "ajv/dist/2020";
import addFormats from "ajv-formats";
import { expect } from "vitest";
import upstream from "../contract/upstream.json";
import type { JsonSchema, OpenApiDoc, OpenApiOperation, UpstreamDoc } from "./bodies";
import { type ApiResponse, call } from "./call";

let documentPromise: Promise<OpenApiDoc> | undefined;
const validators = new Map<string, ValidateFunction>();
const ajv = new Ajv2020({ strict: false, allErrors: true });
addFormats(ajv);

export function openApiDocument(): Promise<OpenApiDoc> {
  documentPromise ??= call<OpenApiDoc>("GET", "/doc").then((res) => res.body);
  return documentPromise;
}

/** Objects in response schemas get `additionalProperties: false`, so an undeclared field fails the check. */
function closeObjects<T>(schema: T): T {
  if (Array.isArray(schema)) return schema.map(closeObjects) as T;
  if (schema === null || typeof schema !== "object") return schema;
  const out: JsonSchema = Object.fromEntries(Object.entries(schema).map(([k, v]) => [k, closeObjects(v)]));
  if (out.type === "object" && out.properties && out.additionalProperties === undefined) out.additionalProperties = false;
  return out as T;
}

/** Validates `body` against `schema` (its $refs resolved in `components`), compiled once per key. */
function conforms(key: string, schema: JsonSchema, components: UpstreamDoc["components"], body: unknown): string | null {
  let validate = validators.get(key);
  if (!validate) {
    validate = ajv.compile({ ...schema, components });
    validators.set(key, validate);
  }
  return validate(body) ? null : ajv.errorsText(validate.errors);
}

const upstreamDocs: UpstreamDoc[] = Object.values(upstream as unknown as Record<string, UpstreamDoc>);

/**
 * Where upstream defines the operation and declares a JSON body for the status, the body must validate
 * against upstream's own schema too (as a validating proxy on upstream's document would check it): what a
 * client generated from upstream receives is what its types say. Objects stay open there, since this
 * service may add fields.
 */
function expectUpstreamConformant(method: string, pathTemplate: string, res: ApiResponse) {
  const doc = upstreamDocs.find((d) => d.paths[pathTemplate]?.[method.toLowerCase()]);
  const schema = doc?.paths[pathTemplate]?.[method.toLowerCase()]?.responses[String(res.status)]?.content?.["application/json"]?.schema;
  if (!doc || !schema) return;
  const key = `upstream ${method} ${pathTemplate} ${res.status}`;
  const problems = conforms(key, schema, doc.components, res.body);
  expect(problems, `${key}: the body does not match upstream's schema: ${problems}\n${res.text}`).toBeNull();
}

/**
 * Asserts that the status is declared for the operation and the body validates against the declared
 * response schema (objects closed), and against upstream's schema where upstream has one, with the full
 * response in the failure message.
 */
export async function expectConformant(method: string, pathTemplate: string, res: ApiResponse): Promise<void> {
  expectUpstreamConformant(method, pathTemplate, res);
  const doc = await openApiDocument();
  const operation = doc.paths[pathTemplate]?.[method.toLowerCase()];
  expect(operation, `${method} ${pathTemplate} is not in /doc`).toBeDefined();
  const declared = operation?.responses[String(res.status)];
  expect(declared, `status ${res.status} not declared for ${method} ${pathTemplate}: ${res.text}`).toBeDefined();
  const schema = declared?.content?.["application/json"]?.schema;
  if (!schema) {
    expect(res.text, `${method} ${pathTemplate} ${res.status} declares no body`).toBe("");
    return;
  }
  const key = `${method} ${pathTemplate} ${res.status}`;
  const problems = conforms(key, closeObjects(schema), closeObjects(doc.components), res.body);
  expect(problems, `${key} body does not match its schema: ${problems}\n${res.text}`).toBeNull();
}

/** The operation of /doc at `method` and `path`; the test fails if there is none. */
export function operationAt(doc: OpenApiDoc, method: string, path: string): OpenApiOperation {
  const operation = doc.paths[path]?.[method.toLowerCase()];
  if (!operation) throw new Error(`${method.toUpperCase()} ${path} is not in /doc`);
  return operation;
}
