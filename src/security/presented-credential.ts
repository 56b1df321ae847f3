import type { SecretPrefix } from "../core/token-format";
import { looksLikeJwt } from "./provider-token";
import { parseBearerSecret } from "./secret";

/** `Bearer <token>`: scheme case-insensitive (RFC 9110 §11.1), exactly one space, one token. */
const BEARER = /^Bearer ([^\s]+)$/i;

export function bearerToken(header: string | null | undefined): string | null {
  return BEARER.exec(header ?? "")?.[1] ?? null;
}

/**
 * The request's credential (`header(name)` reads one of its headers): `Authorization: Bearer`, or else the
 * token Cloudflare Access puts in `Cf-Access-Jwt-Assertion` (an app behind Access). A malformed
 * Authorization header is not passed over.
 */
export function presentedToken(header: (name: string) => string | null | undefined): string | null {
  const authorization = header("authorization");
  if (authorization != null) return bearerToken(authorization);
  return header("cf-access-jwt-assertion")?.trim() || null;
}

/**
 * What a credential is shaped as, told before any I/O: one of our secrets (its prefix; the checksum holds),
 * an identity provider's token (a JWT), or nothing we take (null: none presented, or malformed), which is
 * refused at once.
 */
export function credentialShape(token: string | null): SecretPrefix | "jwt" | null {
  if (token === null) return null;
  if (lastShape?.token !== token) lastShape = { token, shape: parseBearerSecret(token) ?? (looksLikeJwt(token) ? "jwt" : null) };
  return lastShape.shape;
}

/**
 * The last token's shape: the early refusal tells it before the router and authentication asks again for
 * the same request, and a secret's checksum is most of what telling it costs.
 */
let lastShape: { token: string; shape: SecretPrefix | "jwt" | null } | undefined;
