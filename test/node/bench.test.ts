/**
 * The benchmark measures what it says: against the same seeded D1, KV and audit stores, the framework-free
 * baseline (bench/baseline/worker.js) answers every scenario as the built project does (startBench checks
 * each before returning), and both cold-start; the export cleanup's measurement seeds what it says, and one run
 * deletes it all. The load itself is `npm run bench`; no test here times anything.
 */
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { describeCleanup, measureCleanup } from "../../bench/cleanup.mjs";
import { firstResponse, standaloneBaseline } from "../../bench/cold-start.mjs";
import { answerOf, expectedAnswer } from "../../bench/scenarios.mjs";
import { ENVIRONMENT, prepareBench, startBench } from "../../bench/setup.mjs";

let prepared: Awaited<ReturnType<typeof prepareBench>>;
let bench: Awaited<ReturnType<typeof startBench>> | undefined;

beforeAll(async () => {
  prepared = await prepareBench();
}, 120_000);

afterAll(async () => {
  // startBench's dispose stops the issuer too; without a bench, only the issuer runs.
  await (bench ? bench.dispose() : prepared?.issuer.close());
});

describe("the benchmark", () => {
  it("gets the expected answer to every scenario from all three Workers (2,000 memberships and events, pages of 2)", async () => {
    const seed = { memberships: 2000, page: 2, events: 2000, storeSizes: [3, 30] };
    bench = await startBench(prepared, { seed, baselineCopy: true });
    expect(bench.scenarios.map((s) => s.name)).toEqual(
      expect.arrayContaining([
        "list-workspaces, page 1,000 of 2k",
        "list-audit-events, offset 1,000 of 2k",
        "GET /v1/me, provider token",
        "list-audit-events, page 1 of a 3-event store",
        "list-audit-events, page 1 of a 30-event store",
        "update-workspace",
        "list-audit-checkpoints of a 3-event store",
        "get-audit-consistency-proof, half of a 30-event store to all of it",
        "admin-get-audit-event-proof, the operator log's newest event",
        "get-audit-keys (no token)",
      ]),
    );
    // Answers that ran on a D1 session carry its bookmark, from both Workers; the others do not.
    const bookmarked = bench.scenarios.filter((s) => expectedAnswer(s).headers.includes("x-d1-bookmark")).map((s) => s.name);
    expect(bookmarked).toEqual(expect.arrayContaining(["create-my-workspace", "update-workspace", "list-api-keys, one page (10 of 25)"]));
    expect(bookmarked).not.toContain("GET /v1/auth/me, API key");
    expect(bookmarked).not.toContain("malformed token (401)");
    expect(bookmarked).not.toContain("get-audit-keys (no token)");
    // startBench has checked them all; one more look each, so a regression in that check cannot hide one.
    expect(Object.keys(bench.targets)).toEqual(["project", "baseline", "baselineCopy"]);
    for (const scenario of bench.scenarios) {
      const bodies = new Map<string, unknown>();
      for (const [worker, base] of Object.entries(bench.targets)) {
        const { body, ...answer } = await answerOf(base, scenario);
        expect(answer, `${scenario.name}: ${worker}`).toEqual(expectedAnswer(scenario));
        bodies.set(worker, body);
      }
      // the same body from all, but for what differs on every request (a request id, a countdown, a new row)
      for (const [worker, body] of bodies) expect(body, `${scenario.name}: ${worker}`).toEqual(bodies.get("project"));
    }
    const malformed = bench.scenarios.find((s) => s.status === 401);
    expect((await answerOf(bench.targets.baseline, malformed)).body).toEqual({
      detail: "Missing or invalid bearer token.",
      error_code: "unauthorized",
      request_id: "string",
    });
  }, 120_000);

  it("starts each Worker fresh for the cold start, and its first answer is the malformed token's 401", async () => {
    for (const fresh of [prepared.projectOptions, standaloneBaseline(prepared.projectOptions, prepared.baseline)]) {
      const { status, body } = await firstResponse(fresh);
      expect(status, fresh.name).toBe(401);
      expect(body.error_code).toBe("unauthorized");
    }
  });

  it("measures the export cleanup in a Worker of its own: one run deletes the 1,500 seeded exports, rows and objects", async () => {
    const measured = await measureCleanup(prepared.projectOptions, { count: 1500, environment: ENVIRONMENT });
    expect(measured.runs).toEqual([{ deleted: 1500, ms: expect.any(Number), left: { rows: 0, objects: 0 } }]);
    // The cap the bench compares with is the Worker's own (read from its source: its module needs the Workers
    // types), the write limit wrangler.toml's (60 per 10 s).
    const source = readFileSync(new URL("../../src/storage/audit-exports.ts", import.meta.url), "utf8");
    const cap = Number(/^export const EXPORTS_PER_WORKSPACE = (\d+);$/m.exec(source)?.[1]);
    expect(measured.perWorkspaceHour).toEqual({ cap, writeLimit: 21_600 });
    expect(describeCleanup(measured)).toMatch(/^export cleanup: 1,500 exports created 8 days ago .* deleted by 1 scheduled run/);
  }, 120_000);
});
