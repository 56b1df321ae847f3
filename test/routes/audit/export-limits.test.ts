/**
 * What bounds exports: an export expires 7 days after its creation, and from then on is neither listed nor
 * signed, and its download is 404 even through a link signed before, still within its hour. (Their
 * deletion: test/jobs/scheduled.test.ts.)
 */
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { seedAuditExports } from "../../../scripts/seed-audit-exports.mjs";
import { DAY_MS } from "../../../src/core/time";
import type { AuditExport, AuditExportList } from "../../harness/bodies";
import { call, type ErrorBody, type TestEnv } from "../../harness/call";
import { expectConformant } from "../../harness/conformance";
import { type MintedIdentity, ownedWorkspace } from "../../harness/seed";

const RANGE = { date_from: "2026-01-01T00:00:00Z", date_to: "2026-12-31T23:59:59Z" };
const MINUTE_MS = 60_000;

afterEach(() => {
  vi.useRealTimers();
});

type Workspace = { owner: MintedIdentity; workspaceId: string };

/** create-audit-export; typed as the success unless the test names another body. */
const createExport = <Body = AuditExport>({ owner, workspaceId }: Workspace, bindings: Partial<TestEnv> = {}) =>
  call<Body>("POST", `/v1/${workspaceId}/audit/export`, { token: owner.token, body: RANGE, env: bindings });

const listExports = ({ owner, workspaceId }: Workspace) =>
  call<AuditExportList>("GET", `/v1/${workspaceId}/audit/exports?limit=200`, { token: owner.token });

/** The download link as the client would follow it (path and query; no bearer token). */
async function download(url: string) {
  const { pathname, search } = new URL(url);
  return call("GET", `${pathname}${search}`);
}

/** The clock of this test's Worker code (not of R2 or D1, which keep their own), set to `ms`. */
const clockAt = (ms: number) => vi.useFakeTimers({ toFake: ["Date"], now: ms });

describe("an expired export", () => {
  it("is listed with a working link until it expires; then it is not listed, and that link, within its hour, gets 404", async () => {
    const workspace = await ownedWorkspace();
    const created = await createExport(workspace);
    expect(created.status, created.text).toBe(200);
    const expiry = Date.parse(created.body.created_at) + 7 * DAY_MS;

    clockAt(expiry - 30 * MINUTE_MS);
    const before = await listExports(workspace);
    expect(before.body.exports.map((e) => e.key)).toEqual([created.body.s3_key]);
    const link = before.body.exports[0]?.download_url ?? "";
    expect((await download(link)).status).toBe(200);

    clockAt(expiry + MINUTE_MS);
    expect((await listExports(workspace)).body.exports).toEqual([]);
    const expired = await download(link); // signed half an hour before the expiry: valid for another 29 minutes
    expect(expired.status).toBe(404);
    await expectConformant("GET", "/downloads/audit-exports/{workspace_id}/{file}", expired);
    expect((expired.body as ErrorBody).detail).toMatch(/expire 7 days after their creation/);
    // The hourly run has not deleted it: the answer comes from its age, not its absence.
    expect(await env.AUDIT_EXPORTS.head(created.body.s3_key)).not.toBeNull();
  });

  it("is not listed among unexpired ones, whose links all work", async () => {
    const workspace = await ownedWorkspace();
    const { workspaceId } = workspace;
    await seedAuditExports(env.DB, env.AUDIT_EXPORTS, {
      workspaceId,
      count: 3,
      createdAt: new Date(Date.now() - 8 * DAY_MS).toISOString(),
    });
    const fresh = await createExport(workspace);
    const listed = await listExports(workspace);
    expect(listed.body.exports.map((e) => e.key)).toEqual([fresh.body.s3_key]);
    for (const item of listed.body.exports) expect((await download(item.download_url ?? "")).status).toBe(200);
  });
});
