import { createMiddleware } from "hono/factory";
import { recordKeyUse } from "../api-keys/service";
import type { AppEnv } from "../env";
import { ApiError, UNAUTHORIZED_DETAIL } from "../errors";
import { kvGetJson, kvKeys } from "../kv";
import { PrincipalSchema } from "./principal";
import { parseSecret, sha256Hex, timingSafeEqualStrings } from "./secret";

/** `Bearer <token>`: scheme case-insensitive (RFC 9110 §11.1), exactly one space, one token. */
const BEARER = /^Bearer ([^\s]+)$/i;

const unauthorized = () => new ApiError("unauthorized", UNAUTHORIZED_DETAIL);

function bearerToken(header: string | undefined): string | null {
  return BEARER.exec(header ?? "")?.[1] ?? null;
}

/**
 * The one authentication path for /v1/*: a malformed token or a bad checksum fails before any I/O;
 * otherwise the SHA-256 of the token is looked up in KV. Every failure gives the same 401 body.
 */
export const authenticate = createMiddleware<AppEnv>(async (c, next) => {
  const token = bearerToken(c.req.header("authorization"));
  const prefix = token === null ? null : parseSecret(token);
  if (token === null || prefix === null) throw unauthorized();

  const principal = await kvGetJson(c.env.KV, kvKeys.principal(prefix, await sha256Hex(token)), PrincipalSchema);
  if (principal === null || principal.type !== (prefix === "pat" ? "identity" : "api_key")) throw unauthorized();
  // KV expiry is approximate (it may serve a record up to a minute late), so expiry is also checked here.
  if (principal.type === "api_key" && Date.parse(principal.expires_at) <= Date.now()) throw unauthorized();

  c.set("principal", principal);
  if (principal.type === "api_key") {
    c.executionCtx.waitUntil(
      recordKeyUse(c.var.db, principal.id).catch((err: unknown) => c.var.logger.warn("could not record key use", { cause: String(err) })),
    );
  }
  await next();
});

/** The admin surface: `Authorization: Bearer <ADMIN_TOKEN>`, compared in constant time. */
export const requireAdmin = createMiddleware<AppEnv>(async (c, next) => {
  const expected = c.env.ADMIN_TOKEN;
  if (!expected) {
    c.var.logger.error("ADMIN_TOKEN is not configured; the admin surface refuses every request");
    throw unauthorized();
  }
  const token = bearerToken(c.req.header("authorization"));
  if (token === null || !(await timingSafeEqualStrings(token, expected))) throw unauthorized();
  await next();
});
