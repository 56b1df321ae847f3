/**
 * What the Worker assumes of wrangler.toml, checked for the local configuration and every region: the
 * rate-limit bindings (their period is the Retry-After the 429s send) and the secrets each region must set.
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { unstable_readConfig } from "wrangler";
import { REGIONS } from "../../src/domain";

// Read from the source: the module runs in workerd, not here.
const RATE_LIMIT_PERIOD_SECONDS = Number(/export const RATE_LIMIT_PERIOD_SECONDS = (\d+);/.exec(readFileSync("src/rate-limit.ts", "utf8"))?.[1]);

const LIMITS = ["CREDENTIAL_RATE_LIMIT", "AUTH_FAILURE_RATE_LIMIT", "WORKSPACE_WRITE_RATE_LIMIT"];
const environments = [undefined, ...REGIONS];

describe("wrangler.toml", () => {
  it("reads the period the Worker announces", () => {
    expect([10, 60]).toContain(RATE_LIMIT_PERIOD_SECONDS);
  });

  it.each(environments)("environment %s binds the three rate limits, each with the period the Worker announces", (environment) => {
    const config = unstable_readConfig({ config: "wrangler.toml", env: environment });
    const limits = Object.fromEntries(config.ratelimits.map((limit: (typeof config.ratelimits)[number]) => [limit.name, limit]));
    expect(Object.keys(limits).sort()).toEqual([...LIMITS].sort());
    for (const name of LIMITS) {
      expect(limits[name]?.simple.period, name).toBe(RATE_LIMIT_PERIOD_SECONDS);
      expect(limits[name]?.simple.limit, name).toBeGreaterThan(0);
    }
  });

  it.each(REGIONS)("region %s requires IDEMPOTENCY_SECRET beside the other secrets", (region) => {
    const config = unstable_readConfig({ config: "wrangler.toml", env: region });
    expect(config.secrets?.required).toEqual(expect.arrayContaining(["ADMIN_TOKEN", "AUDIT_EXPORT_SIGNING_KEY", "IDEMPOTENCY_SECRET"]));
  });
});
