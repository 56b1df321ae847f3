import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { sha256Hex } from "../../../src/security/secret";
import type { EnabledIdentity, Identity, IdentityList } from "../../harness/bodies";
import { call, type ErrorBody, type ValidationErrorBody } from "../../harness/call";
import { expectConformant } from "../../harness/conformance";
import { mintIdentity } from "../../harness/seed";
import { faultyKV, kvKeyCount } from "../../harness/storage";

const CREATE = "/admin/identities";
const REVOKE = "/admin/identities/{identity_id}";
const admin = () => env.ADMIN_TOKEN;

describe("POST /admin/identities", () => {
  it("creates an identity with default scopes and a token shown once", async () => {
    const res = await call<Identity>("POST", CREATE, { token: admin(), body: { email: "ada@example.com" } });
    expect(res.status).toBe(201);
    expect(res.body).toEqual({
      identity_id: expect.any(String),
      email: "ada@example.com",
      display_name: null,
      scopes: ["workspaces:read", "workspaces:write"],
      token: expect.stringMatching(/^pat_[0-9A-Za-z]{36}$/),
      created_at: expect.any(String),
    });
    await expectConformant("POST", CREATE, res);
    // only the hash is stored
    const stored = await env.KV.get(`identity:${res.body.identity_id}`, "json");
    expect(JSON.stringify(stored)).not.toContain(res.body.token);
    expect(stored).toMatchObject({ token_hashes: [await sha256Hex(res.body.token)] });
  });

  it("takes display_name and de-duplicated scopes", async () => {
    const res = await call("POST", CREATE, {
      token: admin(),
      body: { email: "bob@example.com", display_name: " Bob ", scopes: ["workspaces:read", "workspaces:read"] },
    });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ display_name: "Bob", scopes: ["workspaces:read"] });
  });

  it.each([
    ["an unknown scope", { email: "a@example.com", scopes: ["workspaces:read", "root"] }, ["body", "scopes", 1], "enum"],
    ["an invalid email", { email: "not-an-email" }, ["body", "email"], "value_error"],
    ["a missing email", {}, ["body", "email"], "missing"],
  ])("rejects %s with 422", async (_, body, loc, type) => {
    const res = await call<ValidationErrorBody>("POST", CREATE, { token: admin(), body });
    expect(res.status).toBe(422);
    expect(res.body.detail).toContainEqual(expect.objectContaining({ loc, type }));
    await expectConformant("POST", CREATE, res);
  });

  it.each([
    ["no token", {}],
    ["a wrong token", { authorization: "Bearer wrong-token" }],
    ["a wrong token of the same length", { authorization: `Bearer ${"x".repeat(26)}` }],
    ["an identity token", null],
  ])("answers %s with 401 and creates nothing", async (_, headers) => {
    const identity = await mintIdentity();
    const before = await kvKeyCount("identity:");
    const res = await call<ErrorBody>("POST", CREATE, {
      headers: headers ?? { authorization: `Bearer ${identity.token}` },
      body: { email: "eve@example.com" },
    });
    expect(res.status).toBe(401);
    expect(res.headers.get("www-authenticate")).toMatch(/^Bearer/);
    expect(res.body.error_code).toBe("unauthorized");
    expect(await kvKeyCount("identity:")).toBe(before);
    await expectConformant("POST", CREATE, res);
  });

  it("answers 503 to everyone when ADMIN_TOKEN is not configured (test/auth/authenticate.test.ts: also when it is too short)", async () => {
    const res = await call("POST", CREATE, { token: admin(), body: { email: "a@example.com" }, env: { ADMIN_TOKEN: "" } });
    expect(res.status).toBe(503);
    await expectConformant("POST", CREATE, res);
  });

  it("answers 503 and leaves nothing behind when KV fails", async () => {
    const [identities, tokens] = [await kvKeyCount("identity:"), await kvKeyCount("pat:")];
    const failingPut = await call("POST", CREATE, { token: admin(), body: { email: "a@example.com" }, env: { KV: faultyKV(["put"]) } });
    expect(failingPut.status).toBe(503);
    expect(failingPut.headers.get("retry-after")).toBe("1");
    await expectConformant("POST", CREATE, failingPut);
    expect([await kvKeyCount("identity:"), await kvKeyCount("pat:")]).toEqual([identities, tokens]);
  });
});

describe("DELETE /admin/identities/{identity_id}", () => {
  it("revokes every token; repeating it is harmless", async () => {
    const identity = await mintIdentity();
    const res = await call("DELETE", `/admin/identities/${identity.identity_id}`, { token: admin() });
    expect(res.status).toBe(204);
    expect(res.text).toBe("");
    await expectConformant("DELETE", REVOKE, res);
    expect((await call("GET", "/v1/me", { token: identity.token })).status).toBe(401);
    expect((await call("DELETE", `/admin/identities/${identity.identity_id}`, { token: admin() })).status).toBe(204);
    expect(await env.KV.get(`identity:${identity.identity_id}`, "json")).toMatchObject({
      revoked_at: expect.any(String),
      token_hashes: [],
    });
  });

  it("answers 404 for an unknown identity and 422 for a malformed id", async () => {
    const unknown = await call("DELETE", `/admin/identities/${crypto.randomUUID()}`, { token: admin() });
    expect(unknown.status).toBe(404);
    await expectConformant("DELETE", REVOKE, unknown);
    const malformed = await call<ValidationErrorBody>("DELETE", "/admin/identities/not-a-uuid", { token: admin() });
    expect(malformed.status).toBe(422);
    expect(malformed.body.detail[0]).toMatchObject({ loc: ["path", "identity_id"], type: "uuid_parsing" });
    await expectConformant("DELETE", REVOKE, malformed);
  });

  it("answers 503 when KV fails and completes on retry", async () => {
    const identity = await mintIdentity();
    const failed = await call("DELETE", `/admin/identities/${identity.identity_id}`, { token: admin(), env: { KV: faultyKV(["delete"]) } });
    expect(failed.status).toBe(503);
    expect((await call("GET", "/v1/me", { token: identity.token })).status).toBe(200);
    expect((await call("DELETE", `/admin/identities/${identity.identity_id}`, { token: admin() })).status).toBe(204);
    expect((await call("GET", "/v1/me", { token: identity.token })).status).toBe(401);
  });

  it("needs the admin token", async () => {
    const identity = await mintIdentity();
    const res = await call("DELETE", `/admin/identities/${identity.identity_id}`, { token: identity.token });
    expect(res.status).toBe(401);
    expect((await call("GET", "/v1/me", { token: identity.token })).status).toBe(200);
  });
});

describe("GET /admin/identities", () => {
  const LIST = "/admin/identities";

  it("pages through every identity in id order, each with how it signs in", async () => {
    const minted = await Promise.all([mintIdentity(), mintIdentity(), mintIdentity()]);
    const seen: IdentityList["items"] = [];
    let cursor: string | null = null;
    do {
      const query: string = cursor === null ? "limit=2" : `limit=2&continuation_token=${encodeURIComponent(cursor)}`;
      const page: Awaited<ReturnType<typeof call<IdentityList>>> = await call<IdentityList>("GET", `${LIST}?${query}`, { token: admin() });
      expect(page.status).toBe(200);
      await expectConformant("GET", LIST, page);
      expect(page.body.items.length).toBeLessThanOrEqual(2);
      expect(page.body.has_more).toBe(page.body.continuation_token !== null);
      seen.push(...page.body.items);
      cursor = page.body.continuation_token;
    } while (cursor !== null);
    const ids = seen.map((item) => item.identity_id);
    expect(ids).toEqual([...ids].sort());
    expect(new Set(ids).size).toBe(ids.length);
    for (const identity of minted) {
      expect(seen).toContainEqual({
        identity_id: identity.identity_id,
        email: identity.email,
        email_verified: true,
        display_name: null,
        scopes: identity.scopes,
        sign_in: "personal_token",
        issuer: null,
        created_at: identity.created_at,
        revoked_at: null,
      });
    }
    expect(JSON.stringify(seen)).not.toMatch(/pat_|token_hashes/);
  });

  it("filters by email, case-insensitively, and needs the admin token", async () => {
    const email = `Filtered-${crypto.randomUUID()}@example.com`;
    const [first, second] = [await mintIdentity({ email }), await mintIdentity({ email: email.toLowerCase() })];
    const res = await call<IdentityList>("GET", `${LIST}?email=${encodeURIComponent(email.toUpperCase())}`, { token: admin() });
    expect(res.status).toBe(200);
    expect(res.body.items.map((item) => item.identity_id).sort()).toEqual([first.identity_id, second.identity_id].sort());
    expect((await call("GET", LIST, { token: first.token })).status).toBe(401);
    const invalid = await call<ValidationErrorBody>("GET", `${LIST}?email=nope&limit=0&continuation_token=%20`, { token: admin() });
    expect(invalid.status).toBe(422);
    expect(invalid.body.detail.map((item) => item.loc)).toEqual([
      ["query", "email"],
      ["query", "limit"],
      ["query", "continuation_token"],
    ]);
  });
});

describe("POST /admin/identities/{identity_id}/enable", () => {
  const enable = (identityId: string) => call<EnabledIdentity>("POST", `/admin/identities/${identityId}/enable`, { token: admin() });

  it("gives a revoked personal-token identity a new token; its old tokens stay revoked", async () => {
    const identity = await mintIdentity();
    expect((await call("DELETE", `/admin/identities/${identity.identity_id}`, { token: admin() })).status).toBe(204);
    const res = await enable(identity.identity_id);
    expect(res.status).toBe(200);
    await expectConformant("POST", "/admin/identities/{identity_id}/enable", res);
    expect(res.body).toMatchObject({ identity_id: identity.identity_id, sign_in: "personal_token", revoked_at: null });
    expect(res.body.token).toMatch(/^pat_/);
    expect((await call("GET", "/v1/me", { token: identity.token })).status).toBe(401);
    expect((await call("GET", "/v1/me", { token: res.body.token! })).status).toBe(200);
    // Revoking again reaches the new token too.
    expect((await call("DELETE", `/admin/identities/${identity.identity_id}`, { token: admin() })).status).toBe(204);
    expect((await call("GET", "/v1/me", { token: res.body.token! })).status).toBe(401);
  });

  it("leaves an identity that is not revoked as it is, and answers 404 for an unknown one", async () => {
    const identity = await mintIdentity();
    const res = await enable(identity.identity_id);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ revoked_at: null, token: null });
    expect((await call("GET", "/v1/me", { token: identity.token })).status).toBe(200);
    const unknown = await enable(crypto.randomUUID());
    expect(unknown.status).toBe(404);
    await expectConformant("POST", "/admin/identities/{identity_id}/enable", unknown);
  });
});
