#!/usr/bin/env node
// `npm run lint:spec`: lints the OpenAPI document the deployable artefact serves (built and run as in the
// artefact smoke test) with Redocly, under redocly.yaml. Fails on any error or warning.
import { execFile } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { promisify } from "node:util";
import { buildArtifact, startArtifact } from "./artifact.mjs";

const ENVIRONMENT = "us-east-1";
const SPEC = "build/openapi.json";

const worker = await startArtifact({ outdir: await buildArtifact(ENVIRONMENT), environment: ENVIRONMENT, secrets: { ADMIN_TOKEN: "unused-by-the-lint" } });
try {
  const res = await worker.mf.dispatchFetch(`${worker.url.origin}/doc`);
  if (res.status !== 200) throw new Error(`/doc answered ${res.status}`);
  mkdirSync("build", { recursive: true });
  writeFileSync(SPEC, await res.text());
} finally {
  await worker.dispose();
}

const env = { ...process.env, REDOCLY_TELEMETRY: "off", REDOCLY_SUPPRESS_UPDATE_NOTICE: "true" };
const { stdout } = await promisify(execFile)("npx", ["redocly", "lint", SPEC, "--config", "redocly.yaml", "--format", "json"], { env, maxBuffer: 16 * 1024 * 1024 }).catch((err) => err);
const report = JSON.parse(stdout);
for (const problem of report.problems) {
  console.log(`${problem.severity} ${problem.ruleId}: ${problem.message} (${problem.location?.[0]?.pointer ?? ""})`);
}
const { errors, warnings } = report.totals;
console.log(`redocly lint ${SPEC}: ${errors} error(s), ${warnings} warning(s)`);
process.exit(errors + warnings === 0 ? 0 : 1);
