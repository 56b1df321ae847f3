import { env } from "cloudflare:workers";
import { exportJWK, generateKeyPair, importJWK, type JWK, type JWTPayload, SignJWT } from "jose";
import { describe, expect, it } from "vitest";
import { providerIdentityId } from "../../src/auth/provider-identity";
import { call } from "../harness/call";
import { ORIGIN } from "../harness/device-flow";
import { providerToken } from "../harness/issuer";
import { createWorkspace } from "../harness/seed";

/** The test ring's keys (vitest.config.ts): [signing, previous]. */
const ring = () => JSON.parse(env.IDENTITY_SIGNING_KEYS) as (JWK & { kid: string })[];

/** A person with a workspace, and claims for an access token of theirs. */
async function personClaims() {
  const subject = crypto.randomUUID();
  const assertion = await providerToken({ subject });
  const workspace = await createWorkspace<{ id: string }>(assertion);
  const sub = await providerIdentityId("https://idp.test", subject);
  return {
    workspaceId: workspace.body.id,
    claims: { scope: "workspaces:read workspaces:write", sid: crypto.randomUUID(), workspace_id: workspace.body.id, sub },
  };
}

type Signing = { key?: JWK & { kid?: string }; alg?: string; typ?: string; iss?: string; exp?: number; kid?: string };

/** An access token as the deployment would sign it, with what a test changes. */
async function accessToken(claims: JWTPayload & { sub: string }, options: Signing = {}) {
  const key = options.key ?? (ring()[0] as JWK & { kid: string });
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT(claims)
    .setProtectedHeader({ alg: options.alg ?? "RS256", kid: options.kid ?? key.kid, typ: options.typ ?? "at+jwt" })
    .setIssuer(options.iss ?? ORIGIN)
    .setIssuedAt(now)
    .setExpirationTime(options.exp ?? now + 900)
    .setJti(crypto.randomUUID())
    .sign(await importJWK(key, options.alg ?? "RS256"));
}

const status = async (token: string, path: string, bindings = {}) => (await call("GET", path, { token, env: bindings })).status;

describe("the deployment's own access tokens", () => {
  it("verify with either key of the ring while it rotates, and not once a key has left it", async () => {
    const { workspaceId, claims } = await personClaims();
    const path = `/v1/workspaces/${workspaceId}`;
    const bySigning = await accessToken(claims);
    const byPrevious = await accessToken(claims, { key: ring()[1] });
    expect(await status(bySigning, path)).toBe(200);
    expect(await status(byPrevious, path)).toBe(200);
    // The rotation finished: the previous key is gone from the ring, and so are its tokens.
    const rotated = { IDENTITY_SIGNING_KEYS: JSON.stringify([ring()[0]]) };
    expect(await status(byPrevious, path, rotated)).toBe(401);
    expect(await status(bySigning, path, rotated)).toBe(200);
  });

  it("refuse forged, expired, foreign, mistyped and malformed tokens with the one 401", async () => {
    const { workspaceId, claims } = await personClaims();
    const path = `/v1/workspaces/${workspaceId}`;
    const { privateKey } = await generateKeyPair("RS256", { extractable: true });
    const foreign = { ...(await exportJWK(privateKey)), kid: ring()[0]?.kid };
    const none = `${btoa(JSON.stringify({ alg: "none", typ: "at+jwt", kid: ring()[0]?.kid })).replace(/=+$/, "")}.${btoa(
      JSON.stringify({ ...claims, iss: ORIGIN, exp: Math.floor(Date.now() / 1000) + 900, iat: Math.floor(Date.now() / 1000), jti: "x" }),
    ).replace(/=+$/, "")}.`;
    const hmac = await new SignJWT({ ...claims })
      .setProtectedHeader({ alg: "HS256", kid: ring()[0]?.kid, typ: "at+jwt" })
      .setIssuer(ORIGIN)
      .setIssuedAt()
      .setExpirationTime("15m")
      .setJti("x")
      .sign(new TextEncoder().encode(ring()[0]?.n));
    const refused = {
      "another key under the ring's kid": await accessToken(claims, { key: foreign }),
      expired: await accessToken(claims, { exp: Math.floor(Date.now() / 1000) - 60 }),
      "an unknown kid": await accessToken(claims, { kid: "nobody" }),
      "an ID token's type": await accessToken(claims, { typ: "JWT" }),
      "another issuer": await accessToken(claims, { iss: "https://elsewhere.example" }),
      "no workspace and no bootstrap claim": await accessToken({ ...claims, workspace_id: undefined }),
      "a scope that does not exist": await accessToken({ ...claims, scope: "root" }),
      "HS256 keyed with the public modulus": hmac,
      "alg none": none,
    };
    for (const [what, token] of Object.entries(refused)) {
      const res = await call<{ error_code: string }>("GET", path, { token });
      expect(res.status, what).toBe(401);
      expect(res.body.error_code, what).toBe("unauthorized");
    }
  });

  it("are narrowed to the scopes the person still has", async () => {
    const { workspaceId, claims } = await personClaims();
    const readOnly = await accessToken({ ...claims, scope: "workspaces:read" });
    const res = await call<{ scopes: string[] }>("GET", "/v1/me", { token: readOnly });
    expect(res.body.scopes).toEqual(["workspaces:read"]);
    expect((await call("PATCH", `/v1/workspaces/${workspaceId}`, { token: readOnly, body: { name: "x" } })).status).toBe(403);
  });

  it("are published as a key set, public parts only, with a discovery document", async () => {
    const jwks = await call<{ keys: Record<string, unknown>[] }>("GET", "/.well-known/jwks.json");
    expect(jwks.status).toBe(200);
    expect(jwks.body.keys.map((k) => k.kid)).toEqual(ring().map((k) => k.kid));
    for (const key of jwks.body.keys) {
      expect(Object.keys(key).sort()).toEqual(["alg", "e", "kid", "kty", "n", "use"]);
    }
    const discovery = await call<Record<string, unknown>>("GET", "/.well-known/openid-configuration");
    expect(discovery.body).toMatchObject({
      issuer: ORIGIN,
      jwks_uri: `${ORIGIN}/.well-known/jwks.json`,
      token_endpoint: `${ORIGIN}/token`,
      device_authorization_endpoint: `${ORIGIN}/device/code`,
      revocation_endpoint: `${ORIGIN}/revoke`,
    });
    expect(discovery.body.grant_types_supported).toEqual(["urn:ietf:params:oauth:grant-type:device_code", "refresh_token"]);
  });

  it("are not issued while the deployment has no usable key ring: 503, never a 500", async () => {
    for (const value of ["", "not json", JSON.stringify([{ kty: "RSA", kid: "short", n: "AQAB", e: "AQAB" }])]) {
      const bindings = { IDENTITY_SIGNING_KEYS: value };
      const res = await call<{ error_code: string }>("POST", "/device/code", {
        rawBody: "client_description=x",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        env: bindings,
      });
      expect(res.status, value).toBe(503);
      expect((await call("GET", "/.well-known/jwks.json", { env: bindings })).status).toBe(503);
    }
  });
});
