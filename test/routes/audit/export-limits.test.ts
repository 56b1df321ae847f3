/**
 * What bounds exports: an export expires 7 days after it finished (at its creation, for one written within
 * its request), and from then on is neither listed nor signed, and its download is 404 even through a link
 * signed before, still within its hour; a workspace holds at most 100 unexpired exports (403 quota_exceeded
 * beyond, until the oldest expires), counted again in the batch that records one. (Their deletion: test/jobs/scheduled.test.ts.)
 */
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { seedAuditExports } from "../../../scripts/seed-audit-exports.mjs";
import { DAY_MS } from "../../../src/core/time";
import { EXPORTS_PER_WORKSPACE } from "../../../src/storage/audit-exports";
import type { AuditEventPage, AuditExport, AuditExportList } from "../../harness/bodies";
import { call, type ErrorBody, type TestEnv } from "../../harness/call";
import { expectConformant } from "../../harness/conformance";
import { type MintedIdentity, ownedWorkspace } from "../../harness/seed";
import { exportObjects, exportRows, interceptD1 } from "../../harness/storage";

const EXPORT = "/v1/{workspace_id}/audit/export";
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

const exportEvents = async ({ owner, workspaceId }: Workspace) =>
  (await call<AuditEventPage>("GET", `/v1/${workspaceId}/audit?action=audit.export_created`, { token: owner.token })).body.total;

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
    expect((expired.body as ErrorBody).detail).toMatch(/expire 7 days after they finished/);
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

describe(`the limit of ${EXPORTS_PER_WORKSPACE} unexpired exports per workspace`, () => {
  /** A workspace holding `held` unexpired exports (the oldest created 6 days ago, the rest an hour ago) and 5 expired ones. */
  async function workspaceHolding(held: number) {
    const workspace = await ownedWorkspace();
    const { workspaceId } = workspace;
    const at = (msAgo: number) => new Date(Date.now() - msAgo).toISOString();
    await seedAuditExports(env.DB, env.AUDIT_EXPORTS, { workspaceId, count: 5, createdAt: at(8 * DAY_MS) });
    const oldest = at(6 * DAY_MS);
    await seedAuditExports(env.DB, env.AUDIT_EXPORTS, { workspaceId, count: 1, createdAt: oldest });
    await seedAuditExports(env.DB, env.AUDIT_EXPORTS, { workspaceId, count: held - 1, createdAt: at(60 * MINUTE_MS) });
    return { ...workspace, oldest };
  }

  it("refuses the next with 403 quota_exceeded, naming the limit and when room frees; it frees when the oldest expires", async () => {
    const workspace = await workspaceHolding(EXPORTS_PER_WORKSPACE - 1);
    expect((await createExport(workspace)).status).toBe(200); // the 100th: expired ones do not count
    const objects = await exportObjects(workspace.workspaceId);

    const refused = await createExport<ErrorBody>(workspace);
    expect(refused.status).toBe(403);
    await expectConformant("POST", EXPORT, refused);
    const frees = new Date(Date.parse(workspace.oldest) + 7 * DAY_MS).toISOString();
    expect(refused.body).toMatchObject({
      error_code: "quota_exceeded",
      detail:
        `This workspace holds ${EXPORTS_PER_WORKSPACE} unexpired audit exports, the most it may hold; room frees at ${frees}, ` +
        "when the oldest expires (an export expires 7 days after it finished).",
    });
    // Refused before any work: no object, no row, no event.
    expect(await exportObjects(workspace.workspaceId)).toEqual(objects);
    expect(await exportRows(workspace.workspaceId)).toBe(EXPORTS_PER_WORKSPACE + 5);
    expect(await exportEvents(workspace)).toBe(1);

    // A second after the oldest expired: room for one, and only one.
    clockAt(Date.parse(frees) + 1000);
    expect((await createExport(workspace)).status).toBe(200);
    const again = await createExport<ErrorBody>(workspace);
    expect([again.status, again.body.error_code]).toEqual([403, "quota_exceeded"]);
  });

  it("lets one of two creates racing for the last place have it: the other is 403 and leaves no object and no event", async () => {
    const workspace = await workspaceHolding(EXPORTS_PER_WORKSPACE - 1);
    let other: Awaited<ReturnType<typeof createExport>> | undefined;
    // The other create runs whole when this one's batch is about to record it: both found room before writing.
    const DB = interceptD1(async (query, proceed) => {
      if (!other && query.startsWith('insert into "audit_exports"')) other = await createExport(workspace);
      return proceed();
    });
    const loser = await createExport<ErrorBody>(workspace, { DB });
    expect(other?.status, other?.text).toBe(200);
    expect([loser.status, loser.body.error_code]).toEqual([403, "quota_exceeded"]);
    expect(await exportRows(workspace.workspaceId)).toBe(EXPORTS_PER_WORKSPACE + 5);
    expect(await exportObjects(workspace.workspaceId)).toHaveLength(EXPORTS_PER_WORKSPACE + 5); // the loser's object is gone
    expect(await exportEvents(workspace)).toBe(1);
  });
});
