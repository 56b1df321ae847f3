import { decodeJwt, errors, jwtVerify } from "jose";
import { SCOPES, type Scope } from "../core/domain";
import { providerKeys } from "./key-sets";
import type { OidcProvider } from "./oidc-providers";

/**
 * Verifies an identity provider's token (decision 0029). jose does the cryptography and the claim checks;
 * this module chooses the provider by the token's `iss` and says what is accepted.
 */

/** Asymmetric only: `none` and HS* are refused before any key is looked at, so no key-confusion trick reaches one. */
const ALGORITHMS = ["RS256", "ES256", "EdDSA", "Ed25519"];
/** How far the provider's clock may be from ours, for `exp`, `nbf` and `iat`. */
const CLOCK_TOLERANCE_SECONDS = 60;
/** Longer bearer values are not tokens of any provider we know: refused without parsing. */
const MAX_TOKEN_LENGTH = 16_384;
const MAX_SUBJECT_LENGTH = 255;
const MAX_EMAIL_LENGTH = 320;
const MAX_NAME_LENGTH = 256;
const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

/** Why a provider's token was refused: the security event's `reason` (the client sees the one 401). */
export class ProviderTokenRefused extends Error {
  constructor(readonly reason: "not_a_token" | "unknown_issuer" | "invalid_token" | "expired" | "no_subject") {
    super(reason);
  }
}

export type VerifiedProviderToken = {
  provider: OidcProvider;
  subject: string;
  /** null when the token has no usable `email` claim. */
  email: string | null;
  /**
   * True only when the token says `email_verified: true` (a JSON boolean), or the provider's configuration
   * declares its emails verified (`emails_verified`): absent, `0`, `"true"` or anything else is unverified.
   */
  emailVerified: boolean;
  name: string | null;
  scopes: Scope[];
  expiresAt: string;
};

/**
 * A JWT's `iss`, read unverified: only to choose how the token is verified (ours, or which provider's);
 * null when the payload cannot be read. The last token's is kept: authentication reads it to tell our own
 * tokens from a provider's, then the provider's verification reads it again for the same request.
 */
export function claimedIssuer(token: string): { issuer: unknown } | null {
  if (lastClaim?.token !== token) {
    let claim: { issuer: unknown } | null;
    try {
      claim = { issuer: decodeJwt(token).iss };
    } catch {
      claim = null;
    }
    lastClaim = { token, claim };
  }
  return lastClaim.claim;
}

let lastClaim: { token: string; claim: { issuer: unknown } | null } | undefined;

/** Cheap to tell apart from the personal and API-key secrets: three base64url parts. */
export function looksLikeJwt(token: string): boolean {
  return token.length <= MAX_TOKEN_LENGTH && JWT_SHAPE.test(token);
}

/**
 * The token's verified claims. The issuer is read unverified only to choose the provider; an issuer that
 * is not configured costs no I/O. `KeySetUnavailable` (from key-sets.ts) passes through: a 503.
 */
export async function verifyProviderToken(
  providers: Map<string, OidcProvider>,
  token: string,
  /** An ID token from the sign-in page's code flow is for the client, not the API: its `aud` is the client_id. */
  audience?: string,
): Promise<VerifiedProviderToken> {
  const claimed = claimedIssuer(token);
  if (claimed === null) throw new ProviderTokenRefused("not_a_token");
  const provider = typeof claimed.issuer === "string" ? providers.get(claimed.issuer) : undefined;
  if (provider === undefined) throw new ProviderTokenRefused("unknown_issuer");

  let payload: Awaited<ReturnType<typeof jwtVerify>>["payload"];
  try {
    ({ payload } = await jwtVerify(token, providerKeys(provider), {
      algorithms: ALGORITHMS,
      issuer: provider.issuer,
      audience: audience ?? provider.audience,
      clockTolerance: CLOCK_TOLERANCE_SECONDS,
      requiredClaims: ["exp", "sub"],
    }));
  } catch (err) {
    if (err instanceof errors.JWTExpired) throw new ProviderTokenRefused("expired");
    if (err instanceof errors.JOSEError) throw new ProviderTokenRefused("invalid_token");
    throw err;
  }
  // jose checks `iat` only against a maximum age; one from the future is refused here, with the same tolerance.
  if (typeof payload.iat === "number" && payload.iat > Date.now() / 1000 + CLOCK_TOLERANCE_SECONDS) {
    throw new ProviderTokenRefused("invalid_token");
  }
  const subject = payload.sub;
  if (typeof subject !== "string" || subject.length === 0 || subject.length > MAX_SUBJECT_LENGTH) {
    throw new ProviderTokenRefused("no_subject");
  }
  return {
    provider,
    subject,
    email: emailOf(payload.email),
    emailVerified: provider.emails_verified || payload.email_verified === true,
    name: typeof payload.name === "string" && payload.name.trim() !== "" ? payload.name.trim().slice(0, MAX_NAME_LENGTH) : null,
    scopes: grantedScopes(provider.scopes, payload.scope ?? payload.scp),
    expiresAt: new Date((payload.exp as number) * 1000).toISOString(),
  };
}

/** An address is at most MAX_EMAIL_LENGTH bytes of UTF-8 (it names KV keys, which hold 512 bytes). */
function emailOf(claim: unknown): string | null {
  if (typeof claim !== "string" || new TextEncoder().encode(claim).length > MAX_EMAIL_LENGTH) return null;
  return /^[^\s@]+@[^\s@]+$/.test(claim) ? claim : null;
}

/** The provider's scopes; when the token carries `scope` (space-separated) or `scp` (a list or a string), only those of them it names. */
function grantedScopes(configured: Scope[], claim: unknown): Scope[] {
  if (claim === undefined) return configured;
  const named = new Set(Array.isArray(claim) ? claim : typeof claim === "string" ? claim.split(" ") : []);
  return SCOPES.filter((scope) => configured.includes(scope) && named.has(scope));
}
