import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { SECRET_PREFIXES } from "../../src/core/token-format";
import { generateSecret } from "../../src/security/secret";
import type { AuthInfo, MyIdentity } from "../harness/bodies";
import { type ApiResponse, call, type ErrorBody, errorOf } from "../harness/call";
import { expectConformant } from "../harness/conformance";
import { apiKeyWithRole, mintIdentity, ownedWorkspace, seedApiKey } from "../harness/seed";
import { countingKV, faultyKV, interceptKV, kvKeyCount } from "../harness/storage";

const ME = "/v1/auth/me";
const MY_IDENTITY = "/v1/me";
const UNAUTHORIZED_BODY = { detail: "Missing or invalid bearer token.", error_code: "unauthorized" };

function expectUnauthorized(res: ApiResponse) {
  expect(res.status).toBe(401);
  expect(res.headers.get("www-authenticate")).toMatch(/^Bearer\b/);
  const { request_id, ...rest } = errorOf(res) ?? {};
  expect(rest).toEqual(UNAUTHORIZED_BODY);
  expect(request_id).toBe(res.headers.get("x-request-id"));
}

/** Flips one character of the random part, keeping the checksum: a typo. */
function typo(secret: string): string {
  const i = 6;
  return secret.slice(0, i) + (secret[i] === "a" ? "b" : "a") + secret.slice(i + 1);
}

describe("bearer authentication on /v1/*", () => {
  it("accepts a valid identity token", async () => {
    const identity = await mintIdentity();
    const res = await call("GET", MY_IDENTITY, { token: identity.token });
    expect(res.status).toBe(200);
  });

  it.each([
    ["no Authorization header", {}],
    ["an empty header", { authorization: "" }],
    ["a Basic scheme", { authorization: "Basic dXNlcjpwYXNz" }],
    ["Bearer without a token", { authorization: "Bearer " }],
    ["a double space", { authorization: "Bearer  pat_x" }],
    ["a trailing extra word", { authorization: "Bearer pat_abc extra" }],
    ["a token of the wrong shape", { authorization: "Bearer not-a-token" }],
    ["an unknown prefix", { authorization: `Bearer ${generateSecret(SECRET_PREFIXES.identity).replace(/^pat_/, "xyz_")}` }],
  ])("answers %s with the one 401 body", async (_, headers) => {
    const res = await call("GET", ME, { headers });
    expectUnauthorized(res);
    await expectConformant("GET", ME, res);
  });

  it("accepts the scheme in any case", async () => {
    const identity = await mintIdentity();
    const res = await call("GET", MY_IDENTITY, { headers: { authorization: `bearer ${identity.token}` } });
    expect(res.status).toBe(200);
  });

  it("never authenticates from the query string", async () => {
    const identity = await mintIdentity();
    expectUnauthorized(await call("GET", `${ME}?api_key=${identity.token}&token=${identity.token}`));
  });

  it("rejects a token with a wrong checksum, or a wrong length, without any KV read", async () => {
    const identity = await mintIdentity();
    const { kv, calls } = countingKV();
    for (const token of [typo(identity.token), `${identity.token}x`, identity.token.slice(0, -1)]) {
      expectUnauthorized(await call("GET", ME, { token, env: { KV: kv } }));
    }
    expect(calls).toEqual({});
  });

  it("reads KV once for a well-formed token", async () => {
    const identity = await mintIdentity();
    const { kv, calls } = countingKV();
    expect((await call("GET", MY_IDENTITY, { token: identity.token, env: { KV: kv } })).status).toBe(200);
    expect(calls).toEqual({ get: 1 });
  });

  it("reads KV twice for an API key: its record, then the three revocation markers (key, workspace, holder) in one bulk get", async () => {
    const { owner, workspaceId } = await ownedWorkspace();
    const { secret } = await apiKeyWithRole(owner.token, workspaceId, "viewer");
    const keys: unknown[] = [];
    const kv = interceptKV((method, key, proceed) => {
      keys.push([method, key]);
      return proceed();
    });
    expect((await call("GET", ME, { token: secret, env: { KV: kv } })).status).toBe(200);
    expect(keys).toEqual([
      ["get", expect.stringMatching(/^wsk:[0-9a-f]{64}$/)],
      [
        "get",
        [expect.stringMatching(/^revoked-key:/), expect.stringMatching(/^archived-workspace:/), `revoked-before:${owner.identity_id}`],
      ],
    ]);
  });

  it("reads the key's row in its region's D1 on every route: a key revoked there is refused while KV still holds it", async () => {
    const { owner, workspaceId } = await ownedWorkspace();
    const key = await apiKeyWithRole(owner.token, workspaceId, "viewer");
    // Revoked in D1 only (as a member's removal does before its KV purge reaches every location).
    await env.DB.prepare("update api_keys set revoked_at = ? where key_id = ?").bind(new Date().toISOString(), key.keyId).run();
    expectUnauthorized(await call("GET", ME, { token: key.secret }));
    expectUnauthorized(await call("GET", MY_IDENTITY, { token: key.secret }));
    expectUnauthorized(await call("GET", "/v1/me/invitations", { token: key.secret }));
  });

  it("answers an API key of another region with 421 on every route, /v1/auth/me included", async () => {
    const { owner, workspaceId } = await ownedWorkspace();
    const key = await apiKeyWithRole(owner.token, workspaceId, "viewer");
    const res = await call<ErrorBody>("GET", ME, { token: key.secret, env: { REGION: "eu-central-1", DB: env.DB_EU } });
    expect(res.status).toBe(421);
    expect(res.body).toMatchObject({ error_code: "misdirected_request", region: "us-east-1" });
    await expectConformant("GET", ME, res);
  });

  it("answers an unknown but well-formed token with the same 401", async () => {
    expectUnauthorized(await call("GET", ME, { token: generateSecret(SECRET_PREFIXES.identity) }));
    expectUnauthorized(await call("GET", ME, { token: generateSecret(SECRET_PREFIXES.api_key) }));
  });

  it("answers an expired API key with 401 even while KV still holds it", async () => {
    const { secret } = await seedApiKey({ expires_at: new Date(Date.now() - 1000).toISOString() });
    expectUnauthorized(await call("GET", ME, { token: secret }));
  });

  it("answers a revoked identity token with 401", async () => {
    const identity = await mintIdentity();
    const revoke = await call("DELETE", `/admin/identities/${identity.identity_id}`, { token: env.ADMIN_TOKEN });
    expect(revoke.status).toBe(204);
    expectUnauthorized(await call("GET", ME, { token: identity.token }));
  });

  it("answers 503 with Retry-After when KV fails while authenticating", async () => {
    const identity = await mintIdentity();
    const res = await call<ErrorBody>("GET", ME, { token: identity.token, env: { KV: faultyKV(["get"], "KV GET failed: 500") } });
    expect(res.status).toBe(503);
    expect(res.headers.get("retry-after")).toBe("1");
    expect(res.body.error_code).toBe("service_unavailable");
    await expectConformant("GET", ME, res);
  });

  it("does not accept the admin token as a /v1 bearer token", async () => {
    expectUnauthorized(await call("GET", ME, { token: env.ADMIN_TOKEN }));
  });
});

describe("the admin surface's token", () => {
  afterEach(() => vi.restoreAllMocks());

  it("answers 503 to every admin request while ADMIN_TOKEN is unset or under 32 characters (logged once per isolate)", async () => {
    const errors: string[] = [];
    vi.spyOn(console, "error").mockImplementation((line: unknown) => errors.push(String(line)));
    const short = env.ADMIN_TOKEN.slice(0, 31);
    const identities = await kvKeyCount("identity:");
    const answers: [string, string, ApiResponse][] = [
      ["GET", "/admin/identities", await call("GET", "/admin/identities", { token: short, env: { ADMIN_TOKEN: short } })],
      [
        "POST",
        "/admin/identities",
        await call("POST", "/admin/identities", { token: short, body: { email: "a@example.com" }, env: { ADMIN_TOKEN: short } }),
      ],
      ["GET", "/admin/audit", await call("GET", "/admin/audit", { env: { ADMIN_TOKEN: short } })],
      ["GET", "/admin/identities", await call("GET", "/admin/identities", { token: "anything", env: { ADMIN_TOKEN: "" } })],
    ];
    for (const [method, path, res] of answers) {
      expect(res.status, `${method} ${path}`).toBe(503);
      expect(errorOf(res)?.error_code).toBe("service_unavailable");
      expect(res.headers.get("retry-after")).toBe("1");
      await expectConformant(method, path, res);
    }
    expect(await kvKeyCount("identity:")).toBe(identities);
    // One line for the isolate, not one per request; it names the secret, never its value.
    expect(errors).toHaveLength(1);
    expect(JSON.parse(errors[0]!)).toMatchObject({ level: "error", message: expect.stringContaining("ADMIN_TOKEN") });
    expect(errors[0]).not.toContain(short);
    // 32 characters is enough.
    const token = "a".repeat(32);
    expect((await call("GET", "/admin/identities?limit=1", { token, env: { ADMIN_TOKEN: token } })).status).toBe(200);
  });
});

describe("GET /v1/auth/me and GET /v1/me: each credential has its own description", () => {
  it("describes an identity token at GET /v1/me", async () => {
    const identity = await mintIdentity({ display_name: "Ada", scopes: ["workspaces:read"] });
    const res = await call<MyIdentity>("GET", MY_IDENTITY, { token: identity.token });
    expect(res.status, res.text).toBe(200);
    expect(res.body).toEqual({
      identity_id: identity.identity_id,
      email: identity.email,
      display_name: "Ada",
      scopes: ["workspaces:read"],
      credential_id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      token_expires_at: null,
      issuer: null,
      token_kind: "personal_access_token",
      token_workspace_id: null,
    });
    expect(res.body.credential_id).not.toBe(identity.identity_id);
    await expectConformant("GET", MY_IDENTITY, res);
  });

  it("refuses an identity token at get-auth-info with 403 naming GET /v1/me: a 2xx there is upstream's AuthInfoResponse", async () => {
    const identity = await mintIdentity();
    const res = await call("GET", ME, { token: identity.token });
    expect(res.status).toBe(403);
    expect(res.body).toMatchObject({ error_code: "unsupported_principal_type", detail: expect.stringContaining("GET /v1/me") });
    await expectConformant("GET", ME, res);
  });

  it("refuses a workspace API key at GET /v1/me with 403 naming GET /v1/auth/me", async () => {
    const { owner, workspaceId } = await ownedWorkspace();
    const { secret } = await apiKeyWithRole(owner.token, workspaceId, "viewer");
    const res = await call("GET", MY_IDENTITY, { token: secret });
    expect(res.status).toBe(403);
    expect(res.body).toMatchObject({ error_code: "unsupported_principal_type", detail: expect.stringContaining("GET /v1/auth/me") });
    await expectConformant("GET", MY_IDENTITY, res);
  });

  it("answers a workspace API key with upstream's AuthInfoResponse", async () => {
    const { owner, workspaceId } = await ownedWorkspace();
    const { secret, keyId, body } = await apiKeyWithRole(owner.token, workspaceId, "viewer", { duration_days: 1 });
    const res = await call<AuthInfo>("GET", ME, { token: secret });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      workspace_id: workspaceId,
      key_id: keyId,
      name: null,
      expires_at: body.expires_at,
      expires_in_seconds: expect.any(Number),
    });
    expect(res.body.expires_in_seconds).toBeGreaterThan(86_390);
    expect(res.body.expires_in_seconds).toBeLessThanOrEqual(86_400);
    await expectConformant("GET", ME, res);
  });
});
