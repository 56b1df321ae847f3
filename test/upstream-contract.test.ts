/**
 * Wire compatibility with the upstream contract (../shared/reference/amigo/platform-control-plane-extract.json):
 * for every upstream operation of the groups this service implements, /doc has the same method, path and
 * operationId; every upstream request field and parameter exists here with the same requiredness; every
 * upstream status is declared; every upstream response field exists here, with the same requiredness.
 */
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { openApiDocument } from "./harness";

const IMPLEMENTED_TAGS = ["Account", "Auth", "Workspaces", "API Keys"];
type Doc = { paths: Record<string, Record<string, any>>; components: { schemas: Record<string, any> } };

function deref(doc: Doc, schema: any): any {
  let current = schema;
  while (current?.$ref) current = doc.components.schemas[current.$ref.split("/").pop()];
  return current;
}

/** The object schema a (possibly anyOf/allOf-wrapped) schema stands for; for anyOf, the branch `match` picks. */
function objectSchema(doc: Doc, schema: any, match?: (candidate: any) => boolean): any {
  const resolved = deref(doc, schema);
  if (resolved?.anyOf) return resolved.anyOf.map((s: any) => deref(doc, s)).find((s: any) => s?.properties && (!match || match(s)));
  return resolved;
}

const upstream = (): Doc => env.UPSTREAM_SPEC;
const operations = () =>
  Object.entries(upstream().paths).flatMap(([path, methods]) =>
    Object.entries(methods)
      .filter(([, op]) => op.tags?.some((t: string) => IMPLEMENTED_TAGS.includes(t)))
      .map(([method, op]) => ({ path, method, op, name: `${op.operationId} (${method.toUpperCase()} ${path})` })),
  );

let ours: Doc;
beforeAll(async () => {
  expect(env.UPSTREAM_SPEC, "../shared/reference/amigo/platform-control-plane-extract.json must sit beside the repository").toBeTruthy();
  ours = await openApiDocument();
});

describe("upstream contract", () => {
  it("covers the implemented groups", () => {
    expect(operations().length).toBe(18);
  });

  it.each(operations().map((o) => [o.name, o] as const))("%s", (_, { path, method, op }) => {
    const mine = ours.paths[path]?.[method];
    expect(mine, "same method and path").toBeDefined();
    expect(mine.operationId).toBe(op.operationId);

    for (const param of op.parameters ?? []) {
      const p = (mine.parameters ?? []).find((q: any) => q.name === param.name && q.in === param.in);
      expect(p, `parameter ${param.in}.${param.name}`).toBeDefined();
      expect(Boolean(p.required), `parameter ${param.name} requiredness`).toBe(Boolean(param.required));
    }

    const upstreamBody = op.requestBody?.content?.["application/json"]?.schema;
    if (upstreamBody) {
      const theirs = objectSchema(upstream(), upstreamBody);
      const mineBody = objectSchema(ours, mine.requestBody?.content?.["application/json"]?.schema);
      expect(mine.requestBody?.required).toBe(op.requestBody.required);
      expect(Object.keys(mineBody.properties).sort(), "request fields").toEqual(Object.keys(theirs.properties).sort());
      expect([...(mineBody.required ?? [])].sort(), "required request fields").toEqual([...(theirs.required ?? [])].sort());
    }

    for (const [status, response] of Object.entries<any>(op.responses)) {
      expect(mine.responses[status], `status ${status} declared`).toBeDefined();
      const theirSchema = response.content?.["application/json"]?.schema;
      if (!theirSchema || status === "422") continue;
      const theirs = objectSchema(upstream(), theirSchema);
      const fields = Object.keys(theirs.properties);
      const mineSchema = objectSchema(ours, mine.responses[status].content?.["application/json"]?.schema, (s) => fields.every((f) => f in s.properties));
      expect(mineSchema, `response ${status} schema`).toBeDefined();
      expect(Object.keys(mineSchema.properties).sort(), `response ${status} fields`).toEqual([...fields].sort());
      for (const field of theirs.required ?? []) expect(mineSchema.required, `response ${status} requires ${field}`).toContain(field);
    }
  });
});
