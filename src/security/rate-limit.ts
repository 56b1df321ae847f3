import type { AppContext } from "../core/env";
import { ApiError } from "../core/errors";

/**
 * Abuse limits through the Workers Rate Limiting bindings (wrangler.toml `[[ratelimits]]`): counted per
 * Cloudflare location, fast, and approximate by design, so they stop bursts and floods rather than meter
 * quotas. Every binding uses this period (test/node/wrangler-config.test.ts checks wrangler.toml).
 */
export const RATE_LIMIT_PERIOD_SECONDS = 10;

export type RateLimitName = "CREDENTIAL_RATE_LIMIT" | "AUTH_FAILURE_RATE_LIMIT" | "WORKSPACE_WRITE_RATE_LIMIT";

/** What each limit counts, for the 429's sentence. */
const COUNTED: Record<RateLimitName, string> = {
  CREDENTIAL_RATE_LIMIT: "this credential",
  AUTH_FAILURE_RATE_LIMIT: "failed authentications from this address",
  WORKSPACE_WRITE_RATE_LIMIT: "writes to this workspace",
};

/**
 * Counts one request against `key` under the named limit; 429 `rate_limited` (with `Retry-After`) once
 * the limit is reached. A deployment without the binding, or a binding that fails, does not limit: the
 * limits protect the service, and failing closed would turn a limiter fault into an outage.
 */
export async function countRequest(c: AppContext, name: RateLimitName, key: string): Promise<void> {
  const limiter = c.env[name] as RateLimit | undefined;
  if (!limiter) return;
  let outcome: { success: boolean };
  try {
    outcome = await limiter.limit({ key });
  } catch (err) {
    c.get("logger").warn("rate limiter failed; request allowed", { limit: name, cause: String(err) });
    return;
  }
  if (!outcome.success) throw rateLimited(name);
}

export function rateLimited(name: RateLimitName): ApiError {
  return new ApiError("rate_limited", `Too many requests for ${COUNTED[name]}; retry after ${RATE_LIMIT_PERIOD_SECONDS} seconds.`, {
    retryAfterSeconds: RATE_LIMIT_PERIOD_SECONDS,
  });
}

/**
 * An address over its failed-authentication limit has every failure refused (429) until the period ends,
 * so guessing cannot go on behind the 429s; a credential that verifies is never refused for it
 * (src/auth/authenticate.ts). Kept in this location's cache (the Cache API), where the limiter also
 * counts. The Cache API does nothing on `*.workers.dev` hosts: there each failure over the limit still gets
 * 429 as the limiter counts it.
 */
const blockedAddressUrl = (address: string) => `https://rate-limits.invalid/blocked-address/${encodeURIComponent(address)}`;

/** Whether the address is blocked; a cache that fails counts as "not blocked", as a failing limiter does. */
export async function isBlockedAddress(address: string): Promise<boolean> {
  const hit = await caches.default.match(blockedAddressUrl(address)).catch(() => undefined);
  return hit !== undefined;
}

export async function blockAddress(address: string): Promise<void> {
  await caches.default.put(
    blockedAddressUrl(address),
    new Response("blocked", { headers: { "Cache-Control": `max-age=${RATE_LIMIT_PERIOD_SECONDS}` } }),
  );
}
