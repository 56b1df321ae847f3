import { cors } from "hono/cors";
import { createMiddleware } from "hono/factory";
import type { AppContext, AppEnv } from "../core/env";

/** What every answer carries (Cache-Control: where the route chose none). */
export const SECURITY_HEADERS = { "X-Content-Type-Options": "nosniff", "Cache-Control": "no-store" } as const;

/**
 * Headers every answer carries: the request id, and as OWASP's REST guidance asks,
 * `X-Content-Type-Options: nosniff` and `Cache-Control: no-store` unless the route chose its own (the
 * OpenAPI document is cacheable, with its ETag): an answer may hold a secret (a created or rotated key, a
 * minted token) or a workspace's data, and no browser or proxy cache is to keep it. Set before the route
 * runs, they are in every answer the context builds (c.json, c.body, the error handler's) from the start,
 * and a route's own Cache-Control replaces the default. Set on the finished answer instead, each is a call
 * into the runtime's Headers per request (docs/performance.md). request-context.ts calls both halves.
 */
export function prepareAnswerHeaders(c: AppContext, requestId: string): void {
  c.header("x-request-id", requestId);
  c.header("X-Content-Type-Options", SECURITY_HEADERS["X-Content-Type-Options"]);
  c.header("Cache-Control", SECURITY_HEADERS["Cache-Control"]);
}

/** After the route: an answer built outside the context (a `new Response`, e.g. an idempotent replay) has none of them. */
export function completeAnswerHeaders(c: AppContext, requestId: string): void {
  const { headers } = c.res;
  if (headers.get("x-request-id") === requestId) return;
  headers.set("x-request-id", requestId);
  headers.set("X-Content-Type-Options", SECURITY_HEADERS["X-Content-Type-Options"]);
  if (!headers.has("Cache-Control")) headers.set("Cache-Control", SECURITY_HEADERS["Cache-Control"]);
}

/** What a browser client may send and read: the credential, the retry key, the request id, the bookmark. */
const ALLOWED_HEADERS = ["Authorization", "Content-Type", "Idempotency-Key", "X-Request-Id", "X-D1-Bookmark"];
const EXPOSED_HEADERS = ["X-Request-Id", "X-D1-Bookmark", "Retry-After", "Idempotent-Replayed", "WWW-Authenticate"];
const ALLOWED_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"];
/** How long a browser may reuse a preflight's answer. */
const PREFLIGHT_MAX_AGE_SECONDS = 600;

/** `ALLOWED_ORIGINS`: comma-separated exact origins; empty or unset, no CORS at all. Parsed once per value. */
let parsed: { value: string; origins: Set<string> } | undefined;
export function allowedOrigins(configured: unknown): Set<string> {
  const value = typeof configured === "string" ? configured : "";
  if (parsed?.value !== value) {
    parsed = {
      value,
      origins: new Set(
        value
          .split(",")
          .map((origin) => origin.trim())
          .filter(Boolean),
      ),
    };
  }
  return parsed.origins;
}

const corsForAllowedOrigin = cors({
  origin: (origin) => origin,
  allowMethods: ALLOWED_METHODS,
  allowHeaders: ALLOWED_HEADERS,
  exposeHeaders: EXPOSED_HEADERS,
  maxAge: PREFLIGHT_MAX_AGE_SECONDS,
});

/**
 * CORS by allowlist (docs/guides/authentication.md, "Browser clients"): a request whose `Origin` is on
 * `ALLOWED_ORIGINS` gets that exact origin back (never `*`, and no credentials mode: the API takes bearer
 * tokens, not cookies), with `Vary: Origin`; its preflight is answered here, before authentication (204).
 * Any other origin gets no CORS header at all, and its preflight goes on as an ordinary request would.
 */
export const corsByAllowlist = createMiddleware<AppEnv>(async (c, next) => {
  const origin = c.req.header("origin");
  if (origin && allowedOrigins(c.env.ALLOWED_ORIGINS).has(origin)) return corsForAllowedOrigin(c, next);
  await next();
  if (allowedOrigins(c.env.ALLOWED_ORIGINS).size > 0) c.header("Vary", "Origin", { append: true });
});
