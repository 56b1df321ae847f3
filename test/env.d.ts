declare namespace Cloudflare {
  interface Env {
    DB_EU: D1Database;
    UPSTREAM_SPEC: any;
    TEST_MIGRATIONS: import("cloudflare:test").D1Migration[];
  }
}
