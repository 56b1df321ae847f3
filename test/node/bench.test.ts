/**
 * The benchmark measures what it says: against the same seeded D1 and KV, the framework-free baseline
 * (bench/baseline/worker.js) answers every scenario as the built project does, and both cold-start. The
 * load itself is `npm run bench`; no test here times anything.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { firstResponse, standaloneBaseline } from "../../bench/cold-start.mjs";
import { answerOf, baselineWorker, expectedAnswer, seedScenarios, startBenchIssuer } from "../../bench/scenarios.mjs";
import { artifactWorkerOptions, buildArtifact, startArtifact } from "../../scripts/artifact.mjs";

const ENVIRONMENT = "us-east-1";
const ADMIN_TOKEN = "bench-admin-token-0123456789";
let issuer: Awaited<ReturnType<typeof startBenchIssuer>>;
let BASELINE: ReturnType<typeof baselineWorker>;
let worker: Awaited<ReturnType<typeof startArtifact>>;
let outdir: string;

beforeAll(async () => {
  issuer = await startBenchIssuer();
  BASELINE = baselineWorker(ENVIRONMENT, { OIDC_PROVIDERS: issuer.providers });
  outdir = await buildArtifact(ENVIRONMENT);
  const secrets = { ADMIN_TOKEN, OIDC_PROVIDERS: issuer.providers };
  worker = await startArtifact({ outdir, environment: ENVIRONMENT, secrets, companions: [BASELINE], assets: false });
}, 120_000);

afterAll(async () => {
  await worker?.dispose();
  await issuer?.close();
});

describe("the benchmark", () => {
  it("gets the expected answer to every scenario from both Workers (2,000 memberships and audit events, pages of 2)", async () => {
    const project = (await worker.directUrl()).href;
    const baseline = (await worker.directUrl(BASELINE.name)).href;
    const db = await worker.mf.getD1Database("DB", "artifact");
    const scenarios = await seedScenarios({
      base: project,
      db,
      adminToken: ADMIN_TOKEN,
      region: ENVIRONMENT,
      issuer,
      memberships: 2000,
      page: 2,
      events: 2000,
    });
    expect(scenarios.map((s) => s.name)).toEqual(
      expect.arrayContaining(["list-workspaces, page 1,000 of 2k", "list-audit-events, offset 1,000 of 2k", "GET /v1/me, provider token"]),
    );
    for (const scenario of scenarios) {
      expect(await answerOf(project, scenario), `${scenario.name}: project`).toEqual(expectedAnswer(scenario));
      expect(await answerOf(baseline, scenario), `${scenario.name}: baseline`).toEqual(expectedAnswer(scenario));
    }
  });

  it("starts each Worker fresh for the cold start, and its first answer is the malformed token's 401", async () => {
    const project = { ...artifactWorkerOptions({ outdir, environment: ENVIRONMENT, secrets: { ADMIN_TOKEN } }), assets: undefined };
    for (const fresh of [project, standaloneBaseline(project, BASELINE)]) {
      const { status, body } = await firstResponse(fresh);
      expect(status, fresh.name).toBe(401);
      expect(body.error_code).toBe("unauthorized");
    }
  });
});
