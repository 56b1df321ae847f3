/**
 * Every input is bounded, and says so in /doc: each string a client can send (path, query, header, body)
 * has a maxLength (or is an enum), each array a maxItems; JSON nesting, the body, the URL and the headers
 * have their limits, each with its documented answer.
 */
import { describe, expect, it } from "vitest";
import { MAX_BODY_BYTES, MAX_HEADER_BYTES, MAX_JSON_DEPTH, MAX_URL_LENGTH } from "../../src/core/limits";
import type { ApiKeyPage, OpenApiDoc, JsonSchema as Schema } from "../harness/bodies";
import { call, type ErrorBody, type ValidationErrorBody } from "../harness/call";
import { expectConformant } from "../harness/conformance";
import { createApiKey, ownedWorkspace } from "../harness/seed";

/** Every string or array in the schema lacking its bound, as a path from `at`. */
function unbounded(schema: Schema | undefined, components: Record<string, Schema>, at: string, seen = new Set<string>()): string[] {
  if (!schema || typeof schema !== "object") return [];
  if (schema.$ref) {
    const name = String(schema.$ref).split("/").pop()!;
    if (seen.has(name)) return [];
    return unbounded(components[name], components, at, new Set([...seen, name]));
  }
  const found: string[] = [];
  for (const parts of [schema.anyOf, schema.oneOf, schema.allOf])
    for (const [i, part] of (parts ?? []).entries()) found.push(...unbounded(part, components, `${at}|${i}`, seen));
  const types = [schema.type].flat();
  if (types.includes("string") && schema.maxLength === undefined && schema.enum === undefined && schema.const === undefined) found.push(at);
  if (types.includes("array")) {
    if (schema.maxItems === undefined) found.push(`${at}[]`);
    found.push(...unbounded(schema.items, components, `${at}[]`, seen));
  }
  for (const [name, property] of Object.entries(schema.properties ?? {}))
    found.push(...unbounded(property, components, `${at}.${name}`, seen));
  if (schema.additionalProperties && typeof schema.additionalProperties === "object")
    found.push(...unbounded(schema.additionalProperties, components, `${at}.*`, seen));
  return found;
}

describe("the OpenAPI document", () => {
  it("bounds every string and array a client can send", async () => {
    const doc = (await call<OpenApiDoc>("GET", "/doc")).body;
    const components = doc.components.schemas;
    const missing: string[] = [];
    for (const [path, operations] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(operations)) {
        const name = `${method.toUpperCase()} ${path}`;
        for (const parameter of op.parameters ?? [])
          missing.push(...unbounded(parameter.schema, components, `${name} ${parameter.in}:${parameter.name}`));
        missing.push(...unbounded(op.requestBody?.content?.["application/json"]?.schema, components, `${name} body`));
      }
    }
    expect(missing).toEqual([]);
  });
});

describe("limits on the request itself", () => {
  it(`a URL longer than ${MAX_URL_LENGTH} characters is 414, documented`, async () => {
    const { owner, workspaceId } = await ownedWorkspace();
    const path = `/v1/workspaces/${workspaceId}?pad=${"x".repeat(MAX_URL_LENGTH)}`;
    const res = await call<ErrorBody>("GET", path, { token: owner.token });
    expect(res.status).toBe(414);
    expect(res.body.error_code).toBe("uri_too_long");
    await expectConformant("GET", "/v1/workspaces/{workspace_id}", res);
    const fits = await call("GET", `/v1/workspaces/${workspaceId}?pad=${"x".repeat(MAX_URL_LENGTH - 200)}`, { token: owner.token });
    expect(fits.status).toBe(200);
  });

  it(`headers over ${MAX_HEADER_BYTES} bytes in total are 431, documented, and nothing runs`, async () => {
    const { owner, workspaceId } = await ownedWorkspace();
    const headers = { "x-padding-1": "p".repeat(MAX_HEADER_BYTES / 2), "x-padding-2": "p".repeat(MAX_HEADER_BYTES / 2) };
    const res = await createApiKey<ErrorBody>(owner.token, workspaceId, { name: "padded" }, { headers });
    expect(res.status).toBe(431);
    expect(res.body.error_code).toBe("headers_too_large");
    await expectConformant("POST", "/v1/{workspace_id}/api-keys", res);
    const listed = await call<ApiKeyPage>("GET", `/v1/${workspaceId}/api-keys`, { token: owner.token });
    expect(listed.body.items.map((k) => k.name)).not.toContain("padded");
  });

  it(`a body over ${MAX_BODY_BYTES} bytes is 413; JSON nested deeper than ${MAX_JSON_DEPTH} is 422 json_too_deep`, async () => {
    const { owner, workspaceId } = await ownedWorkspace();
    const path = `/v1/workspaces/${workspaceId}`;
    const big = await call("PATCH", path, {
      token: owner.token,
      rawBody: JSON.stringify({ name: "x".repeat(MAX_BODY_BYTES) }),
      headers: { "content-type": "application/json" },
    });
    expect(big.status).toBe(413);
    const deep = `{"name":${"[".repeat(MAX_JSON_DEPTH)}1${"]".repeat(MAX_JSON_DEPTH)}}`;
    const tooDeep = await call<ValidationErrorBody>("PATCH", path, {
      token: owner.token,
      rawBody: deep,
      headers: { "content-type": "application/json" },
    });
    expect(tooDeep.status).toBe(422);
    expect(tooDeep.body.detail[0]).toMatchObject({ type: "json_too_deep", ctx: { max_depth: MAX_JSON_DEPTH } });
    // At the limit the body parses, and fails on its content instead.
    const atLimit = `{"name":${"[".repeat(MAX_JSON_DEPTH - 1)}1${"]".repeat(MAX_JSON_DEPTH - 1)}}`;
    const parsed = await call<ValidationErrorBody>("PATCH", path, {
      token: owner.token,
      rawBody: atLimit,
      headers: { "content-type": "application/json" },
    });
    expect(parsed.status).toBe(422);
    expect(parsed.body.detail[0]?.loc).toEqual(["body", "name"]);
  });
});
