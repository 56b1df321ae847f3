/**
 * What the Worker assumes of wrangler.toml, checked for the local configuration and every region: the
 * rate-limit bindings (their period is the Retry-After the 429s send), the secrets each region must set,
 * one namespace for all regions (KV and the slug registry shared, D1 each its own), and each region's own
 * audit store.
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { unstable_readConfig } from "wrangler";
import { PLACEMENT } from "../../scripts/regions.mjs";
import { REGIONS } from "../../src/core/domain";

// Read from the source: the module runs in workerd, not here.
const RATE_LIMIT_PERIOD_SECONDS = Number(
  /export const RATE_LIMIT_PERIOD_SECONDS = (\d+);/.exec(readFileSync("src/security/rate-limit.ts", "utf8"))?.[1],
);

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

  it.each(REGIONS)("region %s requires AUDIT_SIGNING_KEY and IDEMPOTENCY_SECRET beside the other secrets", (region) => {
    const config = unstable_readConfig({ config: "wrangler.toml", env: region });
    expect(config.secrets?.required).toEqual(
      expect.arrayContaining(["ADMIN_TOKEN", "AUDIT_EXPORT_SIGNING_KEY", "AUDIT_SIGNING_KEY", "IDEMPOTENCY_SECRET"]),
    );
  });

  it("every region shares one KV namespace and one slug registry, hosted by exactly one region, and has its own D1", () => {
    const configs = REGIONS.map((region) => unstable_readConfig({ config: "wrangler.toml", env: region }));
    expect(new Set(configs.map((c) => c.kv_namespaces[0]?.id)).size).toBe(1);
    expect(new Set(configs.map((c) => c.d1_databases[0]?.database_id)).size).toBe(REGIONS.length);
    const hosts = configs.filter((c) =>
      c.durable_objects.bindings.some((b: { name: string; script_name?: string }) => b.name === "SLUGS" && b.script_name === undefined),
    );
    expect(hosts).toHaveLength(1);
    const host = hosts[0]!;
    const AUDIT_STORE = { name: "AUDIT_STORE", class_name: "AuditStore" };
    const AUDIT_MIGRATION = { tag: "v2", new_sqlite_classes: ["AuditStore"] };
    expect(host.migrations).toEqual([{ tag: "v1", new_sqlite_classes: ["SlugRegistry"] }, AUDIT_MIGRATION]);
    for (const config of configs.filter((c) => c !== host)) {
      expect(config.durable_objects.bindings, config.name).toEqual([
        { name: "SLUGS", class_name: "SlugRegistry", script_name: host.name },
        AUDIT_STORE,
      ]);
      expect(config.migrations, config.name).toEqual([AUDIT_MIGRATION]);
    }
    // The audit store is each region's own (no script_name): a workspace's events stay in its region.
    for (const config of configs) expect(config.durable_objects.bindings).toContainEqual(AUDIT_STORE);
  });

  it("keeps audit events six years unless the operator says otherwise, and sweeps hourly", () => {
    for (const environment of environments) {
      const config = unstable_readConfig({ config: "wrangler.toml", env: environment });
      expect(config.vars.AUDIT_RETENTION_DAYS, String(environment)).toBe("2190");
      expect(config.triggers.crons).toEqual(["17 * * * *"]);
    }
  });

  it("provisioning knows where to place every region", () => {
    expect(Object.keys(PLACEMENT).sort()).toEqual([...REGIONS].sort());
  });
});
