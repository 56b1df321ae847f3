import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";
import { buildAssets } from "./scripts/build-assets.mjs";
import { identitySigningKeys } from "./scripts/identity-keys.mjs";
import { generateKeyPair } from "./src/security/transparency/signed-note.ts";
import { testIssuers } from "./test/issuers.mjs";

// Projects: "workers" runs inside workerd with real D1 and KV (the API's own tests, laid out as src/ is); "node" runs in Node
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
  // Identity providers for real, served to the Worker's fetch from here; their keys are made for this run.
  const issuers = await testIssuers();
  // The audit log's checkpoint key, made for this run (tests read its verifier key at /.well-known/audit-keys).
  const auditKey = await generateKeyPair("localhost/audit");
  // The access tokens' key ring (decision 0040): two keys, as during a rotation; tests sign with either.
  const identityKeys = JSON.parse(await identitySigningKeys(await identitySigningKeys()));
  return {
    test: {
      projects: [
        {
          plugins: [
            cloudflareTest({
              wrangler: { configPath: "./wrangler.toml" },
              miniflare: {
                bindings: {
                  ADMIN_TOKEN: "test-admin-token-0123456789abcdef0123",
                  AUDIT_EXPORT_SIGNING_KEY: "test-audit-export-signing-key-0123456789abcdef",
                  AUDIT_SIGNING_KEY: auditKey.signer,
                  IDEMPOTENCY_SECRET: "test-idempotency-secret-0123456789abcdef",
                  IDENTITY_SIGNING_KEYS: JSON.stringify(identityKeys),
                  TEST_MIGRATIONS: migrations,
                  OIDC_PROVIDERS: JSON.stringify(issuers.providers),
                  TEST_ISSUER_KEYS: issuers.privateKeys,
                },
                outboundService: { node: issuers.handler },
                // The suite's limits are out of reach, so no test meets one by accident; test/security/rate-limit.test.ts
                // puts TIGHT_RATE_LIMIT (3 per 10 s) in place of the limit it tests.
                ratelimits: {
                  CREDENTIAL_RATE_LIMIT: { namespace_id: "1001", simple: { limit: 1_000_000, period: 10 } },
                  AUTH_FAILURE_RATE_LIMIT: { namespace_id: "1002", simple: { limit: 1_000_000, period: 10 } },
                  WORKSPACE_WRITE_RATE_LIMIT: { namespace_id: "1003", simple: { limit: 1_000_000, period: 10 } },
                  TIGHT_RATE_LIMIT: { namespace_id: "1999", simple: { limit: 3, period: 10 } },
                },
                // A second region's database, for cross-region (421) tests: env.DB_EU with REGION eu-central-1.
                d1Databases: ["DB_EU"],
              },
            }),
          ],
          test: {
            name: "workers",
            include: ["test/**/*.test.ts"],
            exclude: ["test/node/**", "test/browser/**"],
            setupFiles: ["./test/setup.ts"],
            // Vitest's 5 s default is for a machine running nothing else: on two busy cores a test of a few
            // hundred milliseconds alone can take many seconds. Tests that are slow by nature set their own.
            testTimeout: 30_000,
            hookTimeout: 60_000,
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
