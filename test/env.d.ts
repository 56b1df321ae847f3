declare namespace Cloudflare {
  interface Env {
    DB_EU: D1Database;
    TEST_MIGRATIONS: import("cloudflare:test").D1Migration[];
  }
}
