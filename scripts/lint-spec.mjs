#!/usr/bin/env node
// `npm run lint:spec`: lints the OpenAPI document the deployable artefact serves (built and run as in the
// artefact smoke test) with Redocly (redocly.yaml) and Spectral's OpenAPI rules (.spectral.yaml). Fails on
// any error or warning of either.
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { SPEC, writeServedDocument } from "./served-document.mjs";

await writeServedDocument();

const run = (command, args, env = process.env) =>
  promisify(execFile)("npx", [command, ...args], { env, maxBuffer: 16 * 1024 * 1024 }).catch((err) => err);

const redocly = await run("redocly", ["lint", SPEC, "--config", "redocly.yaml", "--format", "json"], {
  ...process.env,
  REDOCLY_TELEMETRY: "off",
  REDOCLY_SUPPRESS_UPDATE_NOTICE: "true",
});
const report = JSON.parse(redocly.stdout);
for (const problem of report.problems) {
  console.log(`${problem.severity} ${problem.ruleId}: ${problem.message} (${problem.location?.[0]?.pointer ?? ""})`);
}
const { errors, warnings } = report.totals;
console.log(`redocly lint ${SPEC}: ${errors} error(s), ${warnings} warning(s)`);

// Spectral's severities: 0 error, 1 warning, 2 information, 3 hint.
const spectral = await run("spectral", ["lint", SPEC, "--ruleset", ".spectral.yaml", "--format", "json", "--quiet"]);
const results = JSON.parse(spectral.stdout || "[]");
const SEVERITY = ["error", "warning", "information", "hint"];
for (const r of results) console.log(`${SEVERITY[r.severity]} ${r.code}: ${r.message} (${r.path.join(".")})`);
const spectralFailures = results.filter((r) => r.severity <= 1).length;
console.log(
  `spectral lint ${SPEC} (spectral:oas): ${spectralFailures} error(s) or warning(s), ${results.length - spectralFailures} other finding(s)`,
);

process.exit(errors + warnings + spectralFailures === 0 ? 0 : 1);
