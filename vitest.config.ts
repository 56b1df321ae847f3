import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";

export default defineConfig(async () => {
  const migrations = await readD1Migrations("./drizzle");
  return {
    plugins: [
      cloudflareTest({
        wrangler: { configPath: "./wrangler.toml" },
        miniflare: {
          bindings: { ADMIN_TOKEN: "test-admin-token-0123456789", TEST_MIGRATIONS: migrations },
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
