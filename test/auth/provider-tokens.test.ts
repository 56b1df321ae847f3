/**
 * Identity providers' tokens, verified for real: the providers of test/issuers.mjs serve their discovery
 * documents and key sets to the Worker's fetch, and the tokens are signed with keys made for this run.
 */
import { env } from "cloudflare:workers";
import { base64url, SignJWT } from "jose";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { MyIdentity } from "../harness/bodies";
import { type ApiResponse, call, errorOf } from "../harness/call";
import { expectConformant } from "../harness/conformance";
import { providerToken, TEST_AUDIENCE, type TokenOptions } from "../harness/issuer";
import { mintIdentity } from "../harness/seed";

const ME = "/v1/me";
const now = () => Math.floor(Date.now() / 1000);
const UNAUTHORIZED_BODY = { detail: "Missing or invalid bearer token.", error_code: "unauthorized" };

function expectUnauthorized(res: ApiResponse) {
  expect(res.status).toBe(401);
  expect(res.headers.get("www-authenticate")).toMatch(/^Bearer\b/);
  const { request_id: _, ...rest } = errorOf(res) ?? {};
  expect(rest).toEqual(UNAUTHORIZED_BODY);
}

const me = (token: string) => call<MyIdentity>("GET", ME, { token });
const meWith = async (options: TokenOptions) => me(await providerToken(options));

describe("an identity provider's token on /v1/*", () => {
  it.each([
    ["RS256", "rsa"],
    ["ES256", "ec"],
    ["EdDSA", "ed"],
  ] as const)("signs a person in with a %s token, found by the key set the discovery document names", async (_, key) => {
    const subject = `person-${key}-${crypto.randomUUID()}`;
    const token = await providerToken({ key, subject, claims: { email: "Grace@Example.com", name: "  Grace Hopper " } });
    const res = await me(token);
    expect(res.status).toBe(200);
    await expectConformant("GET", ME, res);
    expect(res.body).toMatchObject({
      email: "Grace@Example.com",
      display_name: "Grace Hopper",
      scopes: ["workspaces:read", "workspaces:write"],
      issuer: "https://idp.test",
      token_expires_at: expect.stringMatching(/Z$/),
    });
    // The same person on the next token: the same identity.
    expect((await me(await providerToken({ key, subject }))).body.identity_id).toBe(res.body.identity_id);
  });

  it("accepts a token whose exp passed less than a minute ago (clock skew), and nbf up to a minute ahead", async () => {
    expect((await meWith({ claims: { exp: now() - 30 } })).status).toBe(200);
    expect((await meWith({ claims: { nbf: now() + 30, iat: now() + 30 } })).status).toBe(200);
  });

  it("narrows the provider's scopes to those the token's scope or scp names", async () => {
    expect((await meWith({ claims: { scope: "openid workspaces:read email" } })).body.scopes).toEqual(["workspaces:read"]);
    expect((await meWith({ claims: { scp: ["workspaces:write", "workspaces:read"] } })).body.scopes).toEqual([
      "workspaces:read",
      "workspaces:write",
    ]);
    expect((await meWith({ claims: { scp: "openid" } })).body.scopes).toEqual([]);
    // A token can never widen what its issuer is configured with.
    expect((await meWith({ issuer: "https://readonly.test", claims: { scope: "workspaces:write" } })).body.scopes).toEqual([]);
    expect((await meWith({ issuer: "https://readonly.test" })).body.scopes).toEqual(["workspaces:read"]);
  });

  it("takes the token from Cf-Access-Jwt-Assertion (Cloudflare Access: keys at /cdn-cgi/access/certs, no discovery)", async () => {
    const token = await providerToken({ issuer: "https://team.cloudflareaccess.com", key: "ec", claims: { name: undefined } });
    const res = await call<MyIdentity>("GET", ME, { headers: { "cf-access-jwt-assertion": token } });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ issuer: "https://team.cloudflareaccess.com", display_name: null });
    // Authorization, when present, is the credential: a bad one is not passed over for Access's header.
    expectUnauthorized(await call("GET", ME, { headers: { authorization: "Bearer nope", "cf-access-jwt-assertion": token } }));
  });
});

describe("refusals: every one the same 401", () => {
  const encoded = (part: object) => base64url.encode(JSON.stringify(part));
  // A signature part is still sent, so the token has a JWT's shape and reaches the algorithm check.
  const unsigned = (payload: object) => `${encoded({ alg: "none", typ: "JWT" })}.${encoded(payload)}.AAAA`;

  it.each<[string, TokenOptions, string]>([
    ["an issuer that is not configured", { issuer: "https://elsewhere.test" }, "unknown_issuer"],
    ["another audience", { claims: { aud: "someone-else" } }, "invalid_token"],
    ["an exp more than a minute past", { claims: { exp: now() - 120 } }, "expired"],
    ["no exp", { claims: { exp: undefined } }, "invalid_token"],
    ["an nbf more than a minute ahead", { claims: { nbf: now() + 120 } }, "invalid_token"],
    ["an iat more than a minute ahead", { claims: { iat: now() + 120 } }, "invalid_token"],
    ["no sub", { claims: { sub: undefined } }, "invalid_token"],
    ["an empty sub", { claims: { sub: "" } }, "no_subject"],
    ["a key the issuer does not publish (same kid)", { key: "stranger" }, "invalid_token"],
    ["a kid the key set does not have", { header: { kid: "unknown-kid" } }, "invalid_token"],
    ["a key of another issuer's set", { issuer: "https://team.cloudflareaccess.com", key: "rsa" }, "invalid_token"],
    ["an issuer claim that differs from the configured one by a slash", { issuer: "https://idp.test/" }, "unknown_issuer"],
  ])("refuses %s", async (_, options, reason) => {
    const warnings = vi.spyOn(console, "warn");
    expectUnauthorized(await meWith(options));
    const refusals = warnings.mock.calls
      .map(([line]) => JSON.parse(String(line)))
      .filter((line) => line.message === "refused a credential");
    expect(refusals).toEqual([expect.objectContaining({ reason, principal_type: "identity", via: "identity_provider" })]);
    warnings.mockRestore();
  });

  it("refuses alg none, and HS256 signed with the provider's public key (key confusion)", async () => {
    const claims = { iss: "https://idp.test", aud: TEST_AUDIENCE, sub: "mallory", exp: now() + 600, email: "m@example.com" };
    expectUnauthorized(await me(unsigned(claims)));
    const publicKey = JSON.parse(env.TEST_ISSUER_KEYS).rsa.private;
    const { d: _d, p: _p, q: _q, dp: _dp, dq: _dq, qi: _qi, ...publicJwk } = publicKey;
    const hs256 = await new SignJWT(claims)
      .setProtectedHeader({ alg: "HS256", kid: "rsa-1" })
      .sign(new TextEncoder().encode(JSON.stringify(publicJwk)));
    expectUnauthorized(await me(hs256));
  });

  it("refuses a tampered token, and a first token without an email (nobody to match invitations to)", async () => {
    const [header, payload, signature] = (await providerToken({ subject: "tamper" })).split(".");
    const forged = encoded({ ...JSON.parse(new TextDecoder().decode(base64url.decode(payload!))), sub: "admin" });
    expectUnauthorized(await me(`${header}.${forged}.${signature}`));
    expectUnauthorized(await meWith({ claims: { email: undefined } }));
    expectUnauthorized(await meWith({ claims: { email: "not an email" } }));
  });
});

describe("the provider's keys", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("answers 503 with Retry-After while a provider's keys cannot be fetched; other credentials keep working", async () => {
    for (const issuer of ["https://down.test", "https://keyless.test", "https://impostor.test"]) {
      const res = await meWith({ issuer });
      expect(res.status, issuer).toBe(503);
      expect(res.headers.get("retry-after")).toMatch(/^\d+$/);
      expect(errorOf(res)?.error_code).toBe("service_unavailable");
      await expectConformant("GET", ME, res);
    }
    const person = await mintIdentity();
    expect((await me(person.token)).status).toBe(200);
    expect((await meWith({})).status).toBe(200);
  });

  it("keeps a provider's discovery document and key set in the location's Cache API, as long as their Cache-Control says", async () => {
    expect((await meWith({ key: "ec" })).status).toBe(200);
    const cached = await caches.default.match("https://idp.test/jwks");
    if (cached === undefined) throw new Error("the key set is not in the Cache API");
    expect(cached.headers.get("cache-control")).toBe("public, max-age=300");
    expect(((await cached.json()) as { keys: { kid: string }[] }).keys.map((key) => key.kid)).toEqual(["rsa-1", "ec-1", "ed-1"]);
    expect(await caches.default.match("https://idp.test/.well-known/openid-configuration")).toBeDefined();
    expect(await caches.default.match("https://down.test/.well-known/openid-configuration")).toBeUndefined();
  });

  it("sees a rotation (a new kid) with one refetch, at most once a minute", async () => {
    expect((await meWith({ issuer: "https://rotating.test", key: "rsa" })).status).toBe(200);
    expect((await fetch("https://rotating.test/rotate", { method: "POST" })).status).toBe(204);
    const rotated = { issuer: "https://rotating.test", key: "rotated" } as const;
    // Within a minute of the last fetch, an unknown kid does not make the Worker ask again.
    expectUnauthorized(await meWith(rotated));
    vi.useFakeTimers({ toFake: ["Date"], now: Date.now() + 61_000 });
    expect((await meWith(rotated)).status).toBe(200);
    expect((await meWith({ issuer: "https://rotating.test", key: "rsa" })).status).toBe(200);
  });

  it("refuses every provider's token with 503 when OIDC_PROVIDERS cannot be read, and personal tokens keep working", async () => {
    const person = await mintIdentity();
    for (const OIDC_PROVIDERS of ["not json", JSON.stringify([{ issuer: "http://idp.test", audience: "a" }])]) {
      const res = await call("GET", ME, { token: await providerToken(), env: { OIDC_PROVIDERS } });
      expect(res.status, OIDC_PROVIDERS).toBe(503);
      expect((await call("GET", ME, { token: person.token, env: { OIDC_PROVIDERS } })).status).toBe(200);
    }
    expectUnauthorized(await call("GET", ME, { token: await providerToken(), env: { OIDC_PROVIDERS: "" } }));
  });
});
