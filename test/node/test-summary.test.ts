/** The CI summary line counts a test file that failed to load as a failure, not as "0 failed". */
import { expect, it } from "vitest";
import { summarize } from "../../scripts/test-summary.mjs";

const passingFile = { status: "passed", assertionResults: [{ status: "passed" }, { status: "passed" }] };
const failingTest = { status: "failed", assertionResults: [{ status: "passed" }, { status: "failed" }] };
const brokenFile = { status: "failed", assertionResults: [] };

it("counts passed and failed tests over several reports", () => {
  const run = { numPassedTests: 3, numFailedTests: 1, testResults: [passingFile, failingTest] };
  expect(summarize([run, { numPassedTests: 2, numFailedTests: 0, testResults: [passingFile] }]).line).toBe("5 passed, 1 failed");
});

it("counts a file that failed to load, which vitest reports with 0 failed tests", () => {
  const run = { numPassedTests: 449, numFailedTests: 0, testResults: [passingFile, brokenFile] };
  expect(summarize([run])).toMatchObject({ failed: 1, line: "449 passed, 1 failed" });
});

it("counts a missing report (a run that never finished) as a failure", () => {
  expect(summarize([null]).failed).toBe(1);
});
