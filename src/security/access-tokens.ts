import { z } from "@hono/zod-openapi";
import { type CryptoKey, decodeProtectedHeader, errors, importJWK, type JWK, jwtVerify, SignJWT } from "jose";
import { SCOPES, type Scope } from "../core/domain";
import { isLoopbackHost } from "./oidc-providers";

/**
 * The deployment's own access tokens (decision 0040): RS256 JWTs of 15 minutes for one person and at most
 * one workspace, signed with the first key of the `IDENTITY_SIGNING_KEYS` secret (a JSON array of RSA
 * private JWKs, each with its `kid`). Every key of the array verifies and is published at
 * /.well-known/jwks.json, so a rotation puts the new key first and keeps the old one until the tokens it
 * signed have expired. jose does the cryptography and the claim checks.
 */

export const ACCESS_TOKEN_LIFETIME_SECONDS = 15 * 60;
/** RFC 9068's type: an ID token or another JWT of ours can never be taken for an access token. */
const ACCESS_TOKEN_TYPE = "at+jwt";
/** Our own clock signs them; a few seconds cover the distance between two of our machines. */
const CLOCK_TOLERANCE_SECONDS = 5;

const RsaPrivateJwk = z.looseObject({
  kty: z.literal("RSA"),
  kid: z.string().min(1).max(64),
  n: z.string().min(342, "the key must be RSA of at least 2048 bits"),
  e: z.string(),
  d: z.string(),
  p: z.string(),
  q: z.string(),
  dp: z.string(),
  dq: z.string(),
  qi: z.string(),
});
const KeysSchema = z
  .array(RsaPrivateJwk)
  .min(1)
  .max(4)
  .refine((keys) => new Set(keys.map((key) => key.kid)).size === keys.length, "each kid may appear once");

type PublicJwk = { kty: "RSA"; kid: string; n: string; e: string; alg: "RS256"; use: "sig" };

export type KeyRing = { signing: { kid: string; key: CryptoKey }; verifying: Map<string, CryptoKey>; published: PublicJwk[] };

/** What the secret holds: the key ring, or why it cannot be used (sign-in then answers 503). */
export type SigningKeys = { ring: KeyRing } | { invalid: string };

let loaded: { value: string; keys: Promise<SigningKeys> } | undefined;

/** The key ring of `IDENTITY_SIGNING_KEYS`, imported once per value of the secret (it changes only with a deploy). */
export function signingKeys(configured: string | undefined): Promise<SigningKeys> {
  const value = configured?.trim() ?? "";
  if (loaded?.value !== value) loaded = { value, keys: importKeys(value) };
  return loaded.keys;
}

async function importKeys(value: string): Promise<SigningKeys> {
  if (value === "") return { invalid: "IDENTITY_SIGNING_KEYS is unset" };
  let json: unknown;
  try {
    json = JSON.parse(value);
  } catch {
    return { invalid: "IDENTITY_SIGNING_KEYS is not JSON" };
  }
  const parsed = KeysSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return { invalid: `IDENTITY_SIGNING_KEYS ${issue?.path.join(".") ?? ""}: ${issue?.message ?? "invalid"}` };
  }
  try {
    const verifying = new Map<string, CryptoKey>();
    const published: PublicJwk[] = [];
    for (const { kid, n, e } of parsed.data) {
      const publicJwk: PublicJwk = { kty: "RSA", kid, n, e, alg: "RS256", use: "sig" };
      verifying.set(kid, (await importJWK(publicJwk, "RS256")) as CryptoKey);
      published.push(publicJwk);
    }
    const first = parsed.data[0] as JWK & { kid: string };
    const signing = { kid: first.kid, key: (await importJWK({ ...first, alg: "RS256" }, "RS256")) as CryptoKey };
    return { ring: { signing, verifying, published } };
  } catch (err) {
    return { invalid: `IDENTITY_SIGNING_KEYS cannot be imported: ${err instanceof Error ? err.message : String(err)}` };
  }
}

/** What an access token says. `workspace_id` absent: a bootstrap token, for no workspace (`workspace_bootstrap: true`). */
export type AccessClaims = {
  /** The person (identity id). */
  sub: string;
  /** The sign-in (refresh-token family) it came from: the token's credential id. */
  sid: string;
  workspace_id: string | null;
  scopes: Scope[];
  expiresAt: string;
  /** When it was signed, in milliseconds (`iat`, `iat_ms`): a person disabled since is refused it, even once enabled again. */
  issuedAt: number;
};

/**
 * Any token of ours, ready to sign with the ring's first key (`.sign(ring.signing.key)`): its `typ`, our
 * issuer, its subject, `iat` with our `iat_ms` beside it (see issuedAtOf), and its lifetime.
 */
function ringToken(ring: KeyRing, issuer: string, typ: string, subject: string, claims: Record<string, unknown>, lifetimeSeconds: number) {
  const now = Date.now();
  return new SignJWT({ ...claims, iat_ms: now })
    .setProtectedHeader({ alg: "RS256", kid: ring.signing.kid, typ })
    .setIssuer(issuer)
    .setSubject(subject)
    .setIssuedAt(Math.floor(now / 1000))
    .setExpirationTime(`${lifetimeSeconds}s`);
}

/**
 * The ring's key for a token of ours, by the `kid` of its header: `not_a_token` when the header cannot be
 * read, `unknown_key` when no key of the ring has that `kid` (a retired key's tokens, or a forger's).
 */
function ringKeyOf(ring: KeyRing, token: string): CryptoKey | "not_a_token" | "unknown_key" {
  let kid: unknown;
  try {
    kid = decodeProtectedHeader(token).kid;
  } catch {
    return "not_a_token";
  }
  return (typeof kid === "string" ? ring.verifying.get(kid) : undefined) ?? "unknown_key";
}

/** Signs an access token for `claims` with the ring's first key. */
export function signAccessToken(ring: KeyRing, issuer: string, claims: Omit<AccessClaims, "expiresAt" | "issuedAt">): Promise<string> {
  const workspace = claims.workspace_id === null ? { workspace_bootstrap: true } : { workspace_id: claims.workspace_id };
  const payload = { ...workspace, scope: claims.scopes.join(" "), sid: claims.sid };
  return ringToken(ring, issuer, ACCESS_TOKEN_TYPE, claims.sub, payload, ACCESS_TOKEN_LIFETIME_SECONDS)
    .setJti(crypto.randomUUID())
    .sign(ring.signing.key);
}

/** Why one of our access tokens was refused: the security event's `reason` (the client sees the one 401). */
export class AccessTokenRefused extends Error {
  constructor(readonly reason: "invalid_token" | "expired" | "unknown_key") {
    super(reason);
  }
}

/** Our own claims, signed by our ring: their shapes are checked, not their formats (no request chose them). */
const ClaimsSchema = z.object({
  sub: z.string().min(1).max(64),
  sid: z.string().min(1).max(64),
  workspace_id: z.string().min(1).max(64).optional(),
  workspace_bootstrap: z.literal(true).optional(),
  scope: z.string().max(200),
  exp: z.number(),
  iat: z.number(),
  iat_ms: z.number().optional(),
});

/** A scope claim's scopes; null if it names one that does not exist. */
function scopesOfClaim(scope: string): Scope[] | null {
  const names = scope.split(" ").filter((name) => name !== "");
  return names.every((name) => (SCOPES as readonly string[]).includes(name)) ? (names as Scope[]) : null;
}

/**
 * When a token of ours was signed, in milliseconds (`iat_ms`, our own claim: `iat` has whole seconds,
 * and an enable within the second of a sign-in must still tell the tokens from before it from those after).
 * Without one, or with one outside `iat`'s second, the end of `iat`'s second.
 */
function issuedAtOf({ iat, iat_ms }: { iat: number; iat_ms?: unknown }): number {
  return typeof iat_ms === "number" && Math.floor(iat_ms / 1000) === iat ? iat_ms : iat * 1000 + 999;
}

/** A page token's signing time in milliseconds, as for an access token (null: no `iat`). */
export function pageTokenIssuedAt(payload: Record<string, unknown>): number | null {
  return typeof payload.iat === "number" ? issuedAtOf({ iat: payload.iat, iat_ms: payload.iat_ms }) : null;
}

/** The verified claims of one of our access tokens: our issuer, a key of the ring, RS256 and `at+jwt` only. */
export async function verifyAccessToken(ring: KeyRing, issuer: string, token: string): Promise<AccessClaims> {
  const key = ringKeyOf(ring, token);
  if (key === "not_a_token") throw new AccessTokenRefused("invalid_token");
  if (key === "unknown_key") throw new AccessTokenRefused("unknown_key");
  let payload: unknown;
  try {
    ({ payload } = await jwtVerify(token, key, {
      algorithms: ["RS256"],
      issuer,
      typ: ACCESS_TOKEN_TYPE,
      clockTolerance: CLOCK_TOLERANCE_SECONDS,
      requiredClaims: ["exp", "iat", "sub", "jti"],
    }));
  } catch (err) {
    if (err instanceof errors.JWTExpired) throw new AccessTokenRefused("expired");
    if (err instanceof errors.JOSEError) throw new AccessTokenRefused("invalid_token");
    throw err;
  }
  const claims = ClaimsSchema.safeParse(payload);
  const scopes = claims.success ? scopesOfClaim(claims.data.scope) : null;
  // A token names a workspace, or is a bootstrap token: never both, never neither.
  if (!claims.success || scopes === null || (claims.data.workspace_id === undefined) === (claims.data.workspace_bootstrap === undefined)) {
    throw new AccessTokenRefused("invalid_token");
  }
  const { sub, sid, workspace_id, exp } = claims.data;
  return {
    sub,
    sid,
    workspace_id: workspace_id ?? null,
    scopes,
    expiresAt: new Date(exp * 1000).toISOString(),
    issuedAt: issuedAtOf(claims.data),
  };
}

/**
 * Our `iss`: the deployment's PUBLIC_URL (each region's own); where none is configured (local dev), the
 * loopback origin the request came to. Null for any other request without PUBLIC_URL: no request's Host
 * header names the issuer (the links the sign-in hands out) of a deployed region.
 */
export function deploymentIssuer(publicUrl: string | undefined, requestUrl: string): string | null {
  if (publicUrl) {
    if (configuredIssuer?.publicUrl !== publicUrl) configuredIssuer = { publicUrl, issuer: publicUrl.replace(/\/+$/, "") };
    return configuredIssuer.issuer;
  }
  const url = new URL(requestUrl);
  return isLoopbackHost(url.hostname) ? url.origin : null;
}

/** PUBLIC_URL as an issuer, once per value (it changes only with a deploy). */
let configuredIssuer: { publicUrl: string; issuer: string } | undefined;

/**
 * The approval page's own tokens, signed by the ring and never taken for an access token (each `typ`
 * differs, and their audience is the page): the form's CSRF token (bound to the person shown it and to the
 * request it shows), the sign-in's state on its way to the identity provider and back, and the session
 * cookie of a person signed in there.
 */
export const PAGE_TOKENS = {
  form: { typ: "device-form+jwt", lifetimeSeconds: 10 * 60 },
  login: { typ: "device-login+jwt", lifetimeSeconds: 10 * 60 },
  session: { typ: "device-session+jwt", lifetimeSeconds: 15 * 60 },
} as const;
export type PageTokenKind = keyof typeof PAGE_TOKENS;

export function signPageToken(ring: KeyRing, issuer: string, kind: PageTokenKind, subject: string, claims: Record<string, string>) {
  const { typ, lifetimeSeconds } = PAGE_TOKENS[kind];
  return ringToken(ring, issuer, typ, subject, claims, lifetimeSeconds).setAudience(`${issuer}/device`).sign(ring.signing.key);
}

/** The claims of a page token of this kind that verifies (null: it does not, whatever the reason). */
export async function verifyPageToken(
  ring: KeyRing,
  issuer: string,
  kind: PageTokenKind,
  token: string,
): Promise<Record<string, unknown> | null> {
  const key = ringKeyOf(ring, token);
  if (typeof key === "string") return null;
  try {
    const { payload } = await jwtVerify(token, key, {
      algorithms: ["RS256"],
      issuer,
      audience: `${issuer}/device`,
      typ: PAGE_TOKENS[kind].typ,
      clockTolerance: CLOCK_TOLERANCE_SECONDS,
      requiredClaims: ["sub", "exp"],
    });
    return payload;
  } catch (err) {
    if (err instanceof errors.JOSEError) return null;
    throw err;
  }
}
