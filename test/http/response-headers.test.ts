/**
 * Headers for browser clients and caches (OWASP REST guidance): every answer is `nosniff` and, but for the
 * cacheable OpenAPI document, `Cache-Control: no-store` (above all those that hand out a secret); CORS only
 * for the exact origins of ALLOWED_ORIGINS, with preflights answered before authentication.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { CreatedApiKey } from "../harness/bodies";
import { type ApiResponse, call } from "../harness/call";
import { createApiKey, ownedWorkspace } from "../harness/seed";

const CONSOLE = "https://console.example.com";
const OTHER = "https://evil.example.net";
const ORIGINS = { ALLOWED_ORIGINS: `${CONSOLE}, https://admin.example.com` };
const ADMIN = { authorization: `Bearer ${env.ADMIN_TOKEN}` };

const corsHeaders = (res: ApiResponse) => [...res.headers.keys()].filter((name) => name.startsWith("access-control-"));

describe("every answer", () => {
  it("is nosniff and no-store: successes, the secrets they hand out, and errors alike", async () => {
    const { owner, workspaceId } = await ownedWorkspace();
    const key = await createApiKey<CreatedApiKey>(owner.token, workspaceId, { role: "viewer" });
    const minted = await call("POST", "/admin/identities", { headers: ADMIN, body: { email: "headers@example.com" } });
    expect(minted.status).toBe(201);
    const answers = [
      key,
      minted,
      await call("POST", `/v1/${workspaceId}/api-keys/${key.body.key_id}/rotate`, { token: owner.token, body: { duration_days: 7 } }),
      await call("GET", "/v1/workspaces", { token: owner.token }),
      await call("GET", "/v1/workspaces"), // 401
      await call("GET", `/v1/${workspaceId}/api-keys?limit=0`, { token: owner.token }), // 422
      await call("GET", "/v1/nowhere", { token: owner.token }), // 404
      await call("GET", "/health"),
    ];
    for (const res of answers) {
      expect(res.headers.get("x-content-type-options"), res.text).toBe("nosniff");
      expect(res.headers.get("cache-control"), res.text).toBe("no-store");
    }
    expect(answers.map((res) => res.status)).toEqual([201, 201, 200, 200, 401, 422, 404, 200]);
  });

  it("keeps the OpenAPI document cacheable with its ETag, and nosniff", async () => {
    const doc = await call("GET", "/doc");
    expect(doc.headers.get("cache-control")).toBe("public, max-age=60");
    expect(doc.headers.get("etag")).toMatch(/^"[0-9a-f]{32}"$/);
    expect(doc.headers.get("x-content-type-options")).toBe("nosniff");
  });
});

describe("CORS by allowlist", () => {
  it("answers an allowed origin's preflight before authentication: 204, that origin, the methods and headers", async () => {
    const res = await call("OPTIONS", "/v1/workspaces", {
      headers: {
        origin: CONSOLE,
        "access-control-request-method": "POST",
        "access-control-request-headers": "authorization, idempotency-key",
      },
      env: ORIGINS,
    });
    expect(res.status).toBe(204);
    expect(res.headers.get("access-control-allow-origin")).toBe(CONSOLE);
    expect(res.headers.get("access-control-allow-methods")?.split(",")).toEqual(
      expect.arrayContaining(["GET", "POST", "PUT", "PATCH", "DELETE"]),
    );
    expect(res.headers.get("access-control-allow-headers")?.split(",")).toEqual(
      expect.arrayContaining(["Authorization", "Idempotency-Key", "Content-Type"]),
    );
    expect(res.headers.get("access-control-max-age")).toBe("600");
    expect(res.headers.get("vary")).toMatch(/Origin/);
    expect(res.headers.get("access-control-allow-credentials")).toBeNull();
  });

  it("echoes an allowed origin on the answer itself, with Vary: Origin and the headers a client reads", async () => {
    const { owner } = await ownedWorkspace();
    for (const token of [owner.token, undefined]) {
      const res = await call("GET", "/v1/workspaces", { token, headers: { origin: CONSOLE }, env: ORIGINS });
      expect(res.status).toBe(token ? 200 : 401);
      expect(res.headers.get("access-control-allow-origin")).toBe(CONSOLE);
      expect(res.headers.get("vary")).toMatch(/Origin/);
      expect(res.headers.get("access-control-expose-headers")?.split(",")).toEqual(
        expect.arrayContaining(["X-Request-Id", "Retry-After", "WWW-Authenticate"]),
      );
    }
  });

  it("gives an origin not on the list no CORS header at all, and never *", async () => {
    const { owner } = await ownedWorkspace();
    const read = await call("GET", "/v1/workspaces", { token: owner.token, headers: { origin: OTHER }, env: ORIGINS });
    expect(read.status).toBe(200);
    expect(corsHeaders(read)).toEqual([]);
    expect(read.headers.get("vary")).toMatch(/Origin/);
    const preflight = await call("OPTIONS", "/v1/workspaces", {
      headers: { origin: OTHER, "access-control-request-method": "DELETE" },
      env: ORIGINS,
    });
    expect(preflight.status).toBe(401); // an ordinary request without a credential
    expect(corsHeaders(preflight)).toEqual([]);
    // A prefix, a suffix or another scheme of an allowed origin is another origin.
    for (const near of [`${CONSOLE}.evil.net`, "http://console.example.com", `${CONSOLE}:8443`]) {
      const res = await call("GET", "/health", { headers: { origin: near }, env: ORIGINS });
      expect(corsHeaders(res), near).toEqual([]);
    }
  });

  it("does no CORS when ALLOWED_ORIGINS is empty (the default)", async () => {
    const res = await call("OPTIONS", "/v1/workspaces", { headers: { origin: CONSOLE, "access-control-request-method": "GET" } });
    expect(res.status).toBe(401);
    expect(corsHeaders(res)).toEqual([]);
    expect(res.headers.get("vary")).toBeNull();
  });
});
