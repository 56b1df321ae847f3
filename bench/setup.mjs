// What `npm run bench` and `node bench/profile.mjs` both start: the local identity provider, the built
// bundle beside the baseline in one Miniflare, the seeded scenarios, each checked to get the same answer
// (status, number of items, contract headers, body) from both Workers before anything is measured.
import { isDeepStrictEqual } from "node:util";
import { artifactWorkerOptions, buildArtifact, startArtifact } from "../scripts/artifact.mjs";
import { answerOf, baselineWorker, expectedAnswer, seederWorker, seedScenarios, startBenchIssuer } from "./scenarios.mjs";

export const ENVIRONMENT = "us-east-1";
const ADMIN_TOKEN = "bench-admin-token-0123456789";

/**
 * Builds the bundle (`minify: false` for readable profiles) and starts the issuer both Workers trust.
 * `projectOptions` are the bundle's Miniflare options (for a cold start); `baseline` is the baseline's.
 */
export async function prepareBench({ minify = true } = {}) {
  const issuer = await startBenchIssuer();
  const secrets = { ADMIN_TOKEN, OIDC_PROVIDERS: issuer.providers };
  const baseline = baselineWorker(ENVIRONMENT, { OIDC_PROVIDERS: issuer.providers });
  const outdir = await buildArtifact(ENVIRONMENT, { minify });
  const projectOptions = { ...artifactWorkerOptions({ outdir, environment: ENVIRONMENT, secrets }), assets: undefined };
  return { issuer, secrets, baseline, outdir, projectOptions };
}

/**
 * Runs both Workers (without static assets: Miniflare would route every request through its asset
 * router first, which Cloudflare's edge does not), seeds the scenarios and checks every answer. Returns
 * each Worker's own URL (`targets`), the scenarios and a dispose() that also stops the issuer. `seed`:
 * seedScenarios()'s sizes (the tests' are small); `inspectorPort`: startArtifact()'s.
 */
export async function startBench({ issuer, secrets, baseline, outdir }, { inspectorPort, seed = {} } = {}) {
  const seeder = seederWorker();
  const companions = [baseline, seeder];
  const worker = await startArtifact({ outdir, environment: ENVIRONMENT, secrets, companions, assets: false, inspectorPort });
  const dispose = async () => {
    await worker.dispose();
    await issuer.close();
  };
  try {
    const targets = { project: (await worker.directUrl()).href, baseline: (await worker.directUrl(baseline.name)).href };
    const db = await worker.mf.getD1Database("DB", "artifact");
    const scenarios = await seedScenarios({
      base: targets.project,
      seeder: (await worker.directUrl(seeder.name)).href,
      db,
      adminToken: ADMIN_TOKEN,
      region: ENVIRONMENT,
      issuer,
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
      if (!isDeepStrictEqual(bodies[0], bodies[1])) {
        throw new Error(`${scenario.name}: the two Workers answer different bodies: ${JSON.stringify(bodies)}`);
      }
    }
    return { mf: worker.mf, targets, scenarios, workerNames: { project: "artifact", baseline: baseline.name }, dispose };
  } catch (err) {
    await dispose();
    throw err;
  }
}
