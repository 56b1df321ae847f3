// What `npm run bench` and `node bench/profile.mjs` both start: the local identity provider, the built
// bundle beside the baseline in one Miniflare, the seeded scenarios, each checked to get the same answer
// (status, number of items, contract headers, body) from both Workers before anything is measured.
import { isDeepStrictEqual } from "node:util";
import { artifactWorkerOptions, buildArtifact, startArtifact } from "../scripts/artifact.mjs";
import { identitySigningKeys } from "../scripts/identity-keys.mjs";
import { generateKeyPair } from "../src/security/transparency/signed-note.ts";
import { answerOf, baselineWorker, expectedAnswer, seederWorker, seedScenarios, startBenchIssuer } from "./scenarios.mjs";

export const ENVIRONMENT = "us-east-1";
/** The bench environment's PUBLIC_URL (wrangler.toml, us-east-1): the `iss` of the project's own access tokens. */
const ACCESS_TOKEN_ISSUER = "https://us-east-1.platform-api.invalid";
const ADMIN_TOKEN = "bench-admin-token-0123456789abcdef0123";
/** Signs export links (get-audit-export's `download_url`), for both Workers. */
const AUDIT_EXPORT_SIGNING_KEY = "bench-export-link-signing-key-0123456789abcdef";

/**
 * Builds the bundle (`minify: false` for readable profiles) and starts the issuer both Workers trust.
 * `projectOptions` are the bundle's Miniflare options (for a cold start); `baseline` is the baseline's.
 */
export async function prepareBench({ minify = true } = {}) {
  const issuer = await startBenchIssuer();
  // The create-my-workspace scenario makes thousands of one owner's workspaces: far past the default limit of 100.
  const { signer, verifier } = await generateKeyPair("bench/audit");
  // The deployment's own access tokens: the project signs and verifies with this ring; the baseline verifies with its public keys.
  const IDENTITY_SIGNING_KEYS = await identitySigningKeys();
  const secrets = {
    ADMIN_TOKEN,
    AUDIT_SIGNING_KEY: signer,
    OIDC_PROVIDERS: issuer.providers,
    WORKSPACES_PER_IDENTITY: "999999999",
    IDENTITY_SIGNING_KEYS,
    AUDIT_EXPORT_SIGNING_KEY,
  };
  const baseline = baselineWorker(ENVIRONMENT, {
    OIDC_PROVIDERS: issuer.providers,
    ADMIN_TOKEN,
    AUDIT_VERIFIER_KEY: verifier,
    IDENTITY_SIGNING_KEYS,
    ACCESS_TOKEN_ISSUER,
    AUDIT_EXPORT_SIGNING_KEY,
    PUBLIC_URL: ACCESS_TOKEN_ISSUER,
  });
  const outdir = await buildArtifact(ENVIRONMENT, { minify });
  const projectOptions = { ...artifactWorkerOptions({ outdir, environment: ENVIRONMENT, secrets }), assets: undefined };
  return { issuer, secrets, baseline, outdir, projectOptions };
}

/**
 * Runs both Workers (without static assets: Miniflare would route every request through its asset
 * router first, which Cloudflare's edge does not), seeds the scenarios and checks every answer. Returns
 * each Worker's own URL (`targets`), the scenarios and a dispose() that also stops the issuer. `seed`:
 * seedScenarios()'s sizes (the tests' are small); `inspectorPort`: startArtifact()'s. `baselineCopy`: also
 * run a second Worker of the baseline's script (`targets.baselineCopy`, its own isolate), for the
 * self-check: one Worker measured against itself shares its isolate's state with itself, two do not.
 */
export async function startBench({ issuer, secrets, baseline, outdir }, { inspectorPort, seed = {}, baselineCopy = false } = {}) {
  const seeder = seederWorker();
  const copy = baselineCopy ? { ...baseline, name: `${baseline.name}-copy` } : null;
  const companions = [baseline, seeder, ...(copy ? [copy] : [])];
  const worker = await startArtifact({ outdir, environment: ENVIRONMENT, secrets, companions, assets: false, inspectorPort });
  const dispose = async () => {
    await worker.dispose();
    await issuer.close();
  };
  try {
    /** @type {{ project: string, baseline: string, baselineCopy?: string }} */
    const targets = { project: (await worker.directUrl()).href, baseline: (await worker.directUrl(baseline.name)).href };
    if (copy) targets.baselineCopy = (await worker.directUrl(copy.name)).href;
    const db = await worker.mf.getD1Database("DB", "artifact");
    const scenarios = await seedScenarios({
      base: targets.project,
      seeder: (await worker.directUrl(seeder.name)).href,
      db,
      adminToken: ADMIN_TOKEN,
      region: ENVIRONMENT,
      issuer,
      access: { keys: secrets.IDENTITY_SIGNING_KEYS, issuer: ACCESS_TOKEN_ISSUER },
      ...seed,
    });
    for (const scenario of scenarios) {
      const bodies = [];
      for (const base of Object.values(targets)) {
        const [{ body, ...answer }, expected] = [await answerOf(base, scenario), expectedAnswer(scenario)];
        if (!isDeepStrictEqual(answer, expected)) {
          throw new Error(`${scenario.name} at ${base}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(answer)}`);
        }
        bodies.push(body);
      }
      if (bodies.some((body) => !isDeepStrictEqual(body, bodies[0]))) {
        throw new Error(`${scenario.name}: the Workers answer different bodies: ${JSON.stringify(bodies)}`);
      }
    }
    return { mf: worker.mf, targets, scenarios, workerNames: { project: "artifact", baseline: baseline.name }, dispose };
  } catch (err) {
    await dispose();
    throw err;
  }
}
