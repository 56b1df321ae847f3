declare namespace Cloudflare {
  interface Env {
    DB_EU: D1Database;
    TEST_MIGRATIONS: import("cloudflare:test").D1Migration[];
    /** Always set by the test bindings (vitest.config.ts), though optional in the local wrangler config. */
    ADMIN_TOKEN: string;
    IDEMPOTENCY_SECRET: string;
    /** Two RSA keys, as during a rotation (vitest.config.ts): the first signs. */
    IDENTITY_SIGNING_KEYS: string;
    /** 3 requests per 10 s: put in place of the limit under test (vitest.config.ts). */
    TIGHT_RATE_LIMIT: RateLimit;
    /** The test identity providers' private keys, generated per run (test/issuers.mjs), as JSON. */
    TEST_ISSUER_KEYS: string;
  }
}
