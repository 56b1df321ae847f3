/**
 * A value outside an enum is answered as FastAPI answers it: type `enum`, "Input should be 'a', 'b' or 'c'"
 * naming every allowed value, at the value's own `loc`. Walks every enum parameter and body field /doc
 * declares (nullable ones and list items included), so a new enum is covered the day it is added.
 */
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import type { OpenApiDoc, JsonSchema as Schema } from "../harness/bodies";
import { call, type ValidationErrorBody } from "../harness/call";
import { expectConformant, openApiDocument } from "../harness/conformance";
import { type MintedIdentity, ownedWorkspace } from "../harness/seed";

type Doc = OpenApiDoc;
/** One enum the document declares: where a client puts a value, and the values it allows. */
type EnumSite = { method: string; path: string; in: "query" | "path" | "header" | "body"; loc: (string | number)[]; values: unknown[] };

const BOGUS = "bogus-value";

function resolve(doc: Doc, schema: Schema | undefined): Schema | undefined {
  let current = schema;
  while (current?.$ref) current = doc.components.schemas[String(current.$ref).split("/").pop()!];
  return current;
}

/** The enum values of a schema that is an enum, or a nullable one (`anyOf: [enum, null]`). */
function enumOf(doc: Doc, schema: Schema | undefined): unknown[] | undefined {
  const s = resolve(doc, schema);
  if (s?.enum) return s.enum.filter((v: unknown) => v !== null);
  const branches = (s?.anyOf ?? s?.oneOf ?? []).map((b) => resolve(doc, b)).filter((b) => b?.type !== "null");
  return branches.length === 1 ? enumOf(doc, branches[0]) : undefined;
}

/** Every enum inside a body schema, with its loc below `at` (a list's items at index 0). */
function bodyEnums(doc: Doc, schema: Schema | undefined, at: (string | number)[]): { loc: (string | number)[]; values: unknown[] }[] {
  const values = enumOf(doc, schema);
  if (values) return [{ loc: at, values }];
  const s = resolve(doc, schema);
  if (!s) return [];
  const branches = (s.anyOf ?? s.oneOf ?? []).map((b) => resolve(doc, b)).filter((b) => b?.type !== "null");
  if (branches.length === 1) return bodyEnums(doc, branches[0], at);
  if (s.type === "array") return bodyEnums(doc, s.items, [...at, 0]);
  return Object.entries(s.properties ?? {}).flatMap(([name, property]) => bodyEnums(doc, property, [...at, name]));
}

function enumSites(doc: Doc): EnumSite[] {
  return Object.entries(doc.paths).flatMap(([path, operations]) =>
    Object.entries(operations).flatMap(([method, op]) => [
      ...(op.parameters ?? []).flatMap((p): EnumSite[] => {
        const schema = resolve(doc, p.schema);
        const list = schema?.type === "array";
        const values = enumOf(doc, list ? schema?.items : p.schema);
        const location = p.in as EnumSite["in"];
        return values ? [{ method, path, in: location, loc: list ? [p.name, 0] : [p.name], values }] : [];
      }),
      ...bodyEnums(doc, op.requestBody?.content?.["application/json"]?.schema, []).map((e) => ({
        method,
        path,
        in: "body" as const,
        ...e,
      })),
    ]),
  );
}

/** FastAPI's wording: 'a', 'b' or 'c'. */
const allowed = (values: unknown[]) => {
  const quoted = values.map((v) => `'${String(v)}'`);
  return quoted.length > 1 ? `${quoted.slice(0, -1).join(", ")} or ${quoted.at(-1)}` : quoted[0];
};

/** A body holding BOGUS at `loc` (lists of one item on the way). */
function bodyWith(loc: (string | number)[]): unknown {
  const [head, ...rest] = loc;
  if (head === undefined) return BOGUS;
  return typeof head === "number" ? [bodyWith(rest)] : { [head]: bodyWith(rest) };
}

let doc: Doc;
let owner: MintedIdentity;
let workspaceId: string;
beforeAll(async () => {
  doc = await openApiDocument();
  ({ owner, workspaceId } = await ownedWorkspace());
});

/** A concrete URL for the site: path parameters valid in form (validation runs before any lookup), BOGUS at the enum. */
function requestFor(site: EnumSite): { url: string; body?: unknown; headers: Record<string, string> } {
  let url = site.path.replace("{workspace_id}", workspaceId).replace(/\{[a-z_]+\}/g, () => crypto.randomUUID());
  const headers: Record<string, string> = {};
  if (site.in === "query") url += `?${String(site.loc[0])}=${BOGUS}`;
  if (site.in === "header") headers[String(site.loc[0])] = BOGUS;
  return { url, body: site.in === "body" ? bodyWith(site.loc) : undefined, headers };
}

describe("enum errors", () => {
  it("finds the enums /doc declares, in parameters and bodies", () => {
    const sites = enumSites(doc);
    const names = sites.map((s) => `${s.method} ${s.path} ${s.in}:${s.loc.join(".")}`);
    // a few that must be among them, so an empty walk cannot pass
    expect(names).toEqual(
      expect.arrayContaining([
        "post /v1/me/workspaces body:environment",
        "get /v1/{workspace_id}/external-roles query:sort_by.0",
        "get /v1/{workspace_id}/role-grants query:status",
        "post /v1/{workspace_id}/api-keys body:role",
      ]),
    );
    expect(sites.length).toBeGreaterThan(10);
  });

  it("answers a value outside each enum with type enum and every allowed value, at the value's loc", async () => {
    const failures: string[] = [];
    for (const site of enumSites(doc)) {
      const { url, body, headers } = requestFor(site);
      const token = site.path.startsWith("/admin/") ? env.ADMIN_TOKEN : owner.token;
      const res = await call<ValidationErrorBody>(site.method.toUpperCase(), url, { token, body, headers });
      const name = `${site.method.toUpperCase()} ${site.path} ${site.in}:${site.loc.join(".")}`;
      if (res.status !== 422) {
        failures.push(`${name}: ${res.status} ${res.text}`);
        continue;
      }
      await expectConformant(site.method, site.path, res);
      const item = res.body.detail.find((d) => JSON.stringify(d.loc) === JSON.stringify([site.in, ...site.loc]));
      const expected = {
        type: "enum",
        msg: `Input should be ${allowed(site.values)}`,
        input: BOGUS,
        ctx: { expected: allowed(site.values) },
      };
      if (!item || JSON.stringify({ type: item.type, msg: item.msg, input: item.input, ctx: item.ctx }) !== JSON.stringify(expected)) {
        failures.push(`${name}: expected ${JSON.stringify(expected)}, got ${res.text}`);
      }
    }
    expect(failures).toEqual([]);
  });
});
