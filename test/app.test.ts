import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { app } from "../src";
import { ERRORS } from "../src/core/errors";
import { isOperation } from "../src/http/not-found";
import type { OpenApiDoc } from "./harness/bodies";
import { call, type ErrorBody } from "./harness/call";
import { expectConformant, openApiDocument, operationAt } from "./harness/conformance";
import { createWorkspace, mintIdentity } from "./harness/seed";

describe("request ids", () => {
  it("generates one per response and puts it in the error body", async () => {
    const a = await call<ErrorBody>("GET", "/v1/auth/me");
    const b = await call("GET", "/v1/auth/me");
    expect(a.headers.get("x-request-id")).toMatch(/^req_[0-9a-f]{32}$/);
    expect(a.headers.get("x-request-id")).not.toBe(b.headers.get("x-request-id"));
    expect(a.body.request_id).toBe(a.headers.get("x-request-id"));
  });

  it("keeps a well-formed client request id and replaces a malformed one", async () => {
    const kept = await call("GET", "/doc", { headers: { "x-request-id": "trace-42.abc:1" } });
    expect(kept.headers.get("x-request-id")).toBe("trace-42.abc:1");
    const replaced = await call("GET", "/doc", { headers: { "x-request-id": "bad id\twith spaces" } });
    expect(replaced.headers.get("x-request-id")).toMatch(/^req_/);
  });
});

describe("unknown routes", () => {
  it("answer a JSON 404 outside /v1", async () => {
    const res = await call("GET", "/nope");
    expect(res.status).toBe(404);
    expect(res.body).toEqual({ detail: "No route for GET /nope.", error_code: "not_found", request_id: res.headers.get("x-request-id") });
  });

  it("answer 401 under /v1 without a token and a JSON 404 with one", async () => {
    expect((await call("GET", "/v1/nope")).status).toBe(401);
    const identity = await mintIdentity();
    const res = await call<ErrorBody>("GET", "/v1/nope", { token: identity.token });
    expect(res.status).toBe(404);
    expect(res.body.error_code).toBe("not_found");
  });

  it("answer a wrong method on a known path with 404", async () => {
    const identity = await mintIdentity();
    expect((await call("DELETE", "/v1/me/workspaces", { token: identity.token })).status).toBe(404);
  });

  it("name the methods a known path allows, in the detail and an Allow header", async () => {
    const identity = await mintIdentity();
    const res = await call<ErrorBody>("DELETE", `/v1/workspaces/${crypto.randomUUID()}`, { token: identity.token });
    expect(res.status).toBe(404);
    expect(res.headers.get("allow")).toBe("GET, PATCH");
    expect(res.body.detail).toMatch(/^No route for DELETE \/v1\/workspaces\/[0-9a-f-]{36}\. This path allows: GET, PATCH\.$/);
  });

  it("point GET /v1/me/workspaces to the listing", async () => {
    const identity = await mintIdentity();
    const res = await call<ErrorBody>("GET", "/v1/me/workspaces", { token: identity.token });
    expect(res.status).toBe(404);
    expect(res.headers.get("allow")).toBe("POST");
    expect(res.body.detail).toBe(
      "No route for GET /v1/me/workspaces. This path allows: POST. To list your workspaces: GET /v1/workspaces.",
    );
  });

  it("leave the Allow header off a path nothing serves", async () => {
    const res = await call("GET", "/nope/deeper");
    expect(res.status).toBe(404);
    expect(res.headers.get("allow")).toBeNull();
  });
});

describe("landing and health", () => {
  it("GET / links the document, the reference, the health check and the API, without a token", async () => {
    const res = await call("GET", "/");
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      name: "Platform API",
      region: "us-east-1",
      links: { openapi: "/doc", docs: "/docs", health: "/health", api: "/v1" },
    });
    for (const link of ["/doc", "/docs", "/health"]) expect((await call("GET", link)).status, link).toBe(200);
  });

  it("GET /health answers without touching storage", async () => {
    const broken = new Proxy(
      {},
      {
        get: () => {
          throw new Error("storage must not be touched");
        },
      },
    );
    const res = await call("GET", "/health", { env: { DB: broken as never, KV: broken as never } });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: "ok", region: "us-east-1" });
  });

  it("GET /health is 503 when the deployment's REGION is unknown, so a balancer takes it out", async () => {
    const res = await call<ErrorBody>("GET", "/health", { env: { REGION: "mars-north-1" as never } });
    expect(res.status).toBe(503);
    expect(res.body.error_code).toBe("service_unavailable");
  });
});

describe("GET /doc", () => {
  it("is an OpenAPI 3.1 document with the BearerAuth scheme, tags and upstream operationIds", async () => {
    const doc = await openApiDocument();
    expect(doc.openapi).toBe("3.1.0");
    expect(doc.servers).toEqual([{ url: "http://localhost", description: "This deployment (us-east-1)" }]);
    expect(doc.components.securitySchemes.BearerAuth).toMatchObject({ type: "http", scheme: "bearer" });
    expect(doc.components.securitySchemes.AdminToken).toMatchObject({ type: "http", scheme: "bearer" });
    expect(operationAt(doc, "post", "/v1/me/workspaces").operationId).toBe("create-my-workspace");
    expect(operationAt(doc, "post", "/v1/me/workspaces").tags).toEqual(["Account"]);
    expect(operationAt(doc, "get", "/v1/auth/me").operationId).toBe("get-auth-info");
    expect(operationAt(doc, "post", "/admin/identities").tags).toEqual(["Admin"]);
    expect(operationAt(doc, "post", "/admin/identities").security).toEqual([{ AdminToken: [] }]);
    expect(doc.tags.map((t) => t.name)).toEqual(expect.arrayContaining(["Account", "Auth", "Admin"]));
  });

  it("lists exactly the routes the app serves (no undocumented route, no phantom one)", async () => {
    const doc = await openApiDocument();
    const documented = Object.entries<Record<string, unknown>>(doc.paths)
      .flatMap(([path, methods]) => Object.keys(methods).map((m) => `${m.toUpperCase()} ${path.replace(/\{(\w+)\}/g, ":$1")}`))
      .sort();
    const served = app.routes
      .filter((r) => isOperation(r) && !["/doc", "/docs", "/v1/openapi.json", "/v1/docs"].includes(r.path))
      .map((r) => `${r.method} ${r.path}`);
    expect([...new Set(served)].sort()).toEqual(documented);
  });

  it("documents every error status from the same table the runtime uses", async () => {
    const doc = await openApiDocument();
    const responses = operationAt(doc, "post", "/v1/me/workspaces").responses;
    for (const code of ["slug_taken", "insufficient_scope", "unsupported_principal_type", "unauthorized", "service_unavailable"] as const) {
      const status = String(ERRORS[code].status);
      expect(responses[status]?.description, `${code} -> ${status}`).toContain(`\`${code}\``);
    }
    expect(responses["503"]?.headers?.["Retry-After"]).toBeDefined();
    expect(responses["401"]?.headers?.["WWW-Authenticate"]).toBeDefined();
  });

  it("matches the upstream request constraints for CreateWorkspaceRequest", async () => {
    const doc = await openApiDocument();
    expect(doc.components.schemas.SlugString).toMatchObject({
      type: "string",
      minLength: 2,
      maxLength: 63,
      pattern: "^[a-z0-9][a-z0-9-]*[a-z0-9]$",
    });
    const create = doc.components.schemas.CreateWorkspaceRequest;
    expect(create?.required).toEqual(["slug", "name", "environment"]);
    expect(create?.properties?.environment?.enum).toEqual(["production", "staging", "development"]);
    expect(create?.properties?.backend_org_id?.anyOf).toEqual([{ $ref: "#/components/schemas/StrippedNonemptyString" }, { type: "null" }]);
  });
});

describe("/doc caching", () => {
  it("is built once per isolate and served with a strong ETag and Cache-Control; a matching If-None-Match gets 304", async () => {
    const origin = "http://127.0.0.1:9123"; // a server URL no other test asks for: a fresh build
    const build = vi.spyOn(app, "getOpenAPI31Document");
    const first = await call("GET", "/doc", { origin });
    const second = await call("GET", "/v1/openapi.json", { origin });
    expect(build).toHaveBeenCalledTimes(1);
    build.mockRestore();

    const tag = first.headers.get("etag");
    expect(tag).toMatch(/^"[0-9a-f]{32}"$/);
    expect(second.headers.get("etag")).toBe(tag);
    expect(second.text).toBe(first.text);
    expect(first.headers.get("cache-control")).toBe("public, max-age=60");
    expect(first.headers.get("content-type")).toMatch(/^application\/json/);

    const revalidated = await call("GET", "/doc", { origin, headers: { "if-none-match": `"stale", ${tag}` } });
    expect(revalidated.status).toBe(304);
    expect(revalidated.text).toBe("");
    expect(revalidated.headers.get("etag")).toBe(tag);
    expect(revalidated.headers.get("cache-control")).toBe("public, max-age=60");
    expect(revalidated.headers.get("x-request-id")).toBeTruthy();
    expect((await call("GET", "/doc", { origin, headers: { "if-none-match": '"stale"' } })).status).toBe(200);
  });

  it("differs between deployments that name different servers", async () => {
    const local = await call("GET", "/doc", { origin: "http://localhost:8787" });
    const deployed = await call("GET", "/doc", { env: { PUBLIC_URL: "https://eu-central-1.platform-api.invalid" } });
    expect(local.headers.get("etag")).not.toBe(deployed.headers.get("etag"));
  });
});

describe("the server /doc names", () => {
  const serverOf = async (origin: string, publicUrl?: string) => {
    const res = await call<OpenApiDoc>("GET", "/doc", { origin, env: publicUrl === undefined ? {} : { PUBLIC_URL: publicUrl as never } });
    expect(res.status).toBe(200);
    return res.body.servers.map((s) => s.url);
  };

  it("is the configured PUBLIC_URL, whatever host the request names", async () => {
    const configured = "https://eu-central-1.platform-api.invalid";
    expect(await serverOf("http://evil.example", configured)).toEqual([configured]);
    expect(await serverOf("http://localhost:8787", configured)).toEqual([configured]);
  });

  it("without one (local dev) is the loopback origin the document came from, and never another host", async () => {
    expect(await serverOf("http://localhost:8787")).toEqual(["http://localhost:8787"]);
    expect(await serverOf("http://127.0.0.1:9000")).toEqual(["http://127.0.0.1:9000"]);
    expect(await serverOf("http://evil.example")).toEqual(["/"]);
    expect(await serverOf("https://platform.example.com")).toEqual(["/"]);
  });
});

describe("the document and the reference under upstream's paths", () => {
  it("serves the same document at /doc and /v1/openapi.json, without a token", async () => {
    const [doc, v1] = await Promise.all([
      call("GET", "/doc"),
      call<OpenApiDoc & { info: { license: { name: string } } }>("GET", "/v1/openapi.json"),
    ]);
    expect(v1.status).toBe(200);
    expect(v1.body).toEqual(doc.body);
    expect(v1.body.info.license.name).toBe("Proprietary");
  });
});

describe("GET /docs and /v1/docs", () => {
  it.each([
    ["/docs", "/doc"],
    ["/v1/docs", "/v1/openapi.json"],
  ])("%s is an HTML reference of %s that loads its viewer from this deployment only, under a strict CSP", async (path, documentUrl) => {
    const res = await call("GET", path);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/text\/html/);
    expect(res.text).toContain(`"url": "${documentUrl}"`);
    const sources = [...res.text.matchAll(/<script[^>]*src="([^"]+)"/g)].map((m) => m[1]);
    expect(sources).toEqual(["/scalar/standalone.js"]);
    expect(res.text).not.toMatch(/https?:\/\//);
    const csp = res.headers.get("content-security-policy") ?? "";
    const nonce = /'nonce-([^']+)'/.exec(csp)?.[1];
    expect(nonce).toBeTruthy();
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("connect-src 'self'");
    // every script on the page carries this response's nonce
    const scripts = [...res.text.matchAll(/<script[^>]*>/g)].map((m) => m[0]);
    expect(scripts.length).toBeGreaterThan(0);
    for (const tag of scripts) expect(tag).toContain(`nonce="${nonce}"`);
  });
});

describe("REGION misconfiguration", () => {
  it("fails closed with a 500 that names nothing internal", async () => {
    const identity = await mintIdentity();
    const res = await createWorkspace(identity.token, {}, { env: { REGION: "mars-north-1" as never } });
    expect(res.status).toBe(500);
    expect(res.body).toEqual({ detail: "Internal server error.", error_code: "internal_error", request_id: expect.any(String) });
    await expectConformant("POST", "/v1/me/workspaces", res);
  });

  it("serves the region the binding names", async () => {
    const identity = await mintIdentity();
    const res = await createWorkspace(identity.token, {}, { env: { REGION: "eu-central-1" } });
    expect(res.body.region).toBe("eu-central-1");
    expect(await env.KV.get(`workspace-region:${res.body.id}`, "json")).toEqual({ region: "eu-central-1" });
  });
});
