#!/usr/bin/env node
// `node scripts/test-summary.mjs <report.json> ...`: one "N passed, N failed" line over vitest JSON reports,
// exit 1 if anything failed. A test file that fails to load (or a failing hook) fails its suite without
// failing a test, and vitest's own totals then say "0 failed": such a suite counts as one failure here,
// and so does a report that is missing (its run never finished).
import { existsSync, readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";

export function summarize(reports) {
  let passed = 0;
  let failed = 0;
  for (const report of reports) {
    if (report === null) {
      failed += 1;
      continue;
    }
    const brokenSuites = report.testResults.filter(
      (file) => file.status === "failed" && !file.assertionResults.some((a) => a.status === "failed"),
    ).length;
    passed += report.numPassedTests;
    failed += report.numFailedTests + brokenSuites;
  }
  return { passed, failed, line: `${passed} passed, ${failed} failed` };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const reports = process.argv.slice(2).map((file) => (existsSync(file) ? JSON.parse(readFileSync(file, "utf8")) : null));
  const { failed, line } = summarize(reports);
  console.log(line);
  process.exit(failed > 0 ? 1 : 0);
}
