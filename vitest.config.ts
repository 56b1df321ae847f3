import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";
import { buildAssets } from "./scripts/build-assets.mjs";

// Projects: "workers" runs inside workerd with real D1 and KV (the API's own tests); "node" runs in Node
// and drives the built artefact through Miniflare (test/node/); "browser" drives Chromium against
// `wrangler dev` (test/browser/). `npm test` runs the first two, `npm run test:browser` the third.
// The tests set their own bindings (below): wrangler must not add secrets from a developer's .env files
// or shell. (Nothing in wrangler.toml's top level requires a secret, and `npm run dev` keeps its token in
// .dev.env, which only `wrangler dev --env-file` reads.)
process.env.CLOUDFLARE_LOAD_DEV_VARS_FROM_DOT_ENV = "false";

export default defineConfig(async () => {
  // wrangler.toml names the static-assets folder, which must exist wherever the config is read.
  buildAssets();
  const migrations = await readD1Migrations("./drizzle");
  return {
    test: {
      projects: [
        {
          plugins: [
            cloudflareTest({
              wrangler: { configPath: "./wrangler.toml" },
              miniflare: {
                bindings: { ADMIN_TOKEN: "test-admin-token-0123456789", AUDIT_EXPORT_SIGNING_KEY: "test-audit-export-signing-key-0123456789abcdef", TEST_MIGRATIONS: migrations },
                // A second region's database, for cross-region (421) tests: env.DB_EU with REGION eu-central-1.
                d1Databases: ["DB_EU"],
              },
            }),
          ],
          test: {
            name: "workers",
            include: ["test/*.test.ts"],
            setupFiles: ["./test/setup.ts"],
            // The app's JSON log lines are asserted on where they matter (secrets-and-logs.test.ts); elsewhere
            // they only bury the test report.
            onConsoleLog: (log: string) => !log.startsWith('{"level":'),
          },
        },
        {
          test: { name: "node", include: ["test/node/*.test.ts"], environment: "node", testTimeout: 60_000 },
        },
        // Needs Chromium, so not part of `npm test`: `npm run test:browser` (CI installs Chromium first).
        {
          test: { name: "browser", include: ["test/browser/*.test.ts"], environment: "node", testTimeout: 60_000 },
        },
      ],
    },
  };
});
