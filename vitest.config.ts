import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-plugin";
import { existsSync, readFileSync } from "node:fs";
import { defineConfig } from "vitest/config";

// The upstream contract lives beside the repository (read-only, never copied in); the contract test
// compares /doc with it. null when it is absent, which that test reports as a failure.
const UPSTREAM_SPEC_PATH = new URL("../shared/reference/amigo/platform-control-plane-extract.json", import.meta.url);
const upstreamSpec = existsSync(UPSTREAM_SPEC_PATH) ? JSON.parse(readFileSync(UPSTREAM_SPEC_PATH, "utf8")) : null;

export default defineConfig(async () => {
  const migrations = await readD1Migrations("./drizzle");
  return {
    plugins: [
      cloudflareTest({
        wrangler: { configPath: "./wrangler.toml" },
        miniflare: {
          bindings: { ADMIN_TOKEN: "test-admin-token-0123456789", TEST_MIGRATIONS: migrations, UPSTREAM_SPEC: upstreamSpec },
          // A second region's database, for cross-region (421) tests: env.DB_EU with REGION eu-central-1.
          d1Databases: ["DB_EU"],
        },
      }),
    ],
    test: {
      include: ["test/**/*.test.ts"],
      setupFiles: ["./test/setup.ts"],
      // The app's JSON log lines are asserted on where they matter (secrets-and-logs.test.ts); elsewhere
      // they only bury the test report.
      onConsoleLog: (log: string) => !log.startsWith('{"level":'),
    },
  };
});
