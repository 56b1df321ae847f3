/**
 * Exports: NDJSON in R2 under the workspace's prefix, written in parts (never whole in memory), downloaded
 * through a signed, expiring link; and the stated maxima. (Their deletion after 7 days: test/jobs/scheduled.test.ts.)
 */
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { seedAuditEvents } from "../../../scripts/seed-audit-events.mjs";
import { EXPORT_PART_BYTES } from "../../../src/routes/audit/service";
import { signObjectKey } from "../../../src/security/signed-url";
import { expectVerifiedExport, parseExport, regionVerifiers } from "../../harness/audit-log";
import type { AuditEventPage, AuditExport, AuditExportList } from "../../harness/bodies";
import { call, type ErrorBody, type TestEnv, type ValidationErrorBody } from "../../harness/call";
import { expectConformant } from "../../harness/conformance";
import { apiKeyWithRole, type MintedIdentity, ownedWorkspace } from "../../harness/seed";

const EXPORT = "/v1/{workspace_id}/audit/export";
const DOWNLOAD = "/downloads/audit-exports/{workspace_id}/{file}";
const RANGE = { date_from: "2026-01-01T00:00:00Z", date_to: "2026-12-31T23:59:59Z" };

let owner: MintedIdentity;
let workspaceId: string;

beforeAll(async () => {
  ({ owner, workspaceId } = await ownedWorkspace());
});

/** create-audit-export; typed as the success unless the test names another body. */
async function createExport<Body = AuditExport>(
  body: Record<string, unknown>,
  options: { token?: string; env?: Partial<TestEnv>; workspace?: string } = {},
) {
  return call<Body>("POST", `/v1/${options.workspace ?? workspaceId}/audit/export`, {
    token: options.token ?? owner.token,
    body,
    env: options.env,
  });
}

/** The download link as the client would follow it (path and query; no bearer token). */
async function download(url: string) {
  const { pathname, search } = new URL(url);
  return call("GET", `${pathname}${search}`);
}

/** Tests that write or delete tens of thousands of rows: slow by nature, and slower still on a busy machine. */
const SLOW_TEST_MS = 120_000;

/** An export's events, each checked against its proof and the file's signed checkpoints. */
async function lines(text: string) {
  const file = parseExport(text);
  await expectVerifiedExport(file, await regionVerifiers());
  // biome-ignore lint/suspicious/noExplicitAny: the tests read fields of the parsed events freely
  return file.events as any[];
}

describe("export round trip", () => {
  it("rotating a key, then exporting, gives an NDJSON download with that rotation and who did it", async () => {
    const key = await apiKeyWithRole(owner.token, workspaceId, "member");
    expect(
      (await call("POST", `/v1/${workspaceId}/api-keys/${key.keyId}/rotate`, { token: owner.token, body: { duration_days: 1 } })).status,
    ).toBe(200);
    const listed = (await call<AuditEventPage>("GET", `/v1/${workspaceId}/audit`, { token: owner.token })).body.events;

    const res = await createExport(RANGE);
    expect(res.status, res.text).toBe(200);
    await expectConformant("POST", EXPORT, res);
    expect(res.body).toEqual({
      export_id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      s3_key: `audit-exports/${workspaceId}/${res.body.export_id}.ndjson`,
      row_count: listed.length,
      download_url: expect.stringMatching(/^http:\/\/localhost\/downloads\/audit-exports\/.+\?expires=\d+&signature=[0-9a-f]{64}$/),
      created_at: expect.any(String),
      status: "done",
    });

    const file = await download(res.body.download_url);
    expect(file.status).toBe(200);
    expect(file.headers.get("content-type")).toBe("application/x-ndjson");
    const events = await lines(file.text);
    expect(events).toEqual([...listed].reverse()); // oldest first, the list's shape
    const rotation = events.find((e) => e.action === "api_key.rotated");
    expect(rotation).toMatchObject({ actor_entity_id: owner.identity_id, metadata: { key_id: key.keyId } });

    // The export itself is a recorded write; the list of exports offers a fresh link to the same file.
    const after = (await call<AuditEventPage>("GET", `/v1/${workspaceId}/audit?action=audit.export_created`, { token: owner.token })).body
      .events;
    expect(after[0]).toMatchObject({
      resource_type: "audit_export",
      resource_id: res.body.export_id,
      metadata: { row_count: listed.length },
    });
    const exports = await call<AuditExportList>("GET", `/v1/${workspaceId}/audit/exports`, { token: owner.token });
    expect(exports.status).toBe(200);
    await expectConformant("GET", "/v1/{workspace_id}/audit/exports", exports);
    expect(exports.body.exports[0]).toMatchObject({
      key: res.body.s3_key,
      size: new TextEncoder().encode(file.text).length, // bytes: a checkpoint's signature line has an em dash
      last_modified: res.body.created_at,
    });
    expect((await download(exports.body.exports[0]?.download_url ?? "")).text).toBe(file.text);
  });

  it("exports only what the filters select, and an empty range as an empty file", async () => {
    const filtered = await createExport({ ...RANGE, action: "workspace.created" });
    expect(filtered.body.row_count).toBe(1);
    expect((await lines((await download(filtered.body.download_url)).text)).map((e) => e.action)).toEqual(["workspace.created"]);
    const empty = await createExport({ date_from: "2020-01-01T00:00:00Z", date_to: "2020-01-02T00:00:00Z" });
    expect(empty.body.row_count).toBe(0);
    const file = await download(empty.body.download_url);
    expect([file.status, file.text]).toEqual([200, '{"checkpoints":[]}\n']); // no event, so no log to prove it by
  });

  it(
    "writes a large export in parts and reads it back whole",
    async () => {
      const { owner: o, workspaceId: id } = await ownedWorkspace();
      const count = 12_000;
      await seedAuditEvents(env.DB, { workspaceId: id, count, from: "2026-03-01T00:00:00.000Z", nameLength: 600 });
      const res = await createExport(RANGE, { token: o.token, workspace: id });
      expect(res.status, res.text).toBe(200);
      expect(res.body.row_count).toBe(count + 1);
      const object = await env.AUDIT_EXPORTS.head(res.body.s3_key);
      expect(object?.size).toBeGreaterThan(EXPORT_PART_BYTES); // so it took the multipart path
      const file = await download(res.body.download_url);
      const events = await lines(file.text);
      expect(events).toHaveLength(count + 1);
      expect(events[0].timestamp).toBe("2026-03-01T00:00:00.000Z");
      expect(new Set(events.map((e) => e.id)).size).toBe(count + 1);
    },
    SLOW_TEST_MS,
  );
});

describe("signed links", () => {
  let url: URL;
  beforeAll(async () => {
    url = new URL((await createExport(RANGE)).body.download_url);
  });
  const withQuery = (changes: Record<string, string>) => {
    const changed = new URL(url);
    for (const [k, v] of Object.entries(changes)) changed.searchParams.set(k, v);
    return changed.toString();
  };

  it("refuses an altered signature, an altered expiry, an expired link and another object's path (403)", async () => {
    const signature = url.searchParams.get("signature") ?? "";
    const flipped = `${signature.slice(0, -1)}${signature.endsWith("0") ? "1" : "0"}`;
    const expires = Number(url.searchParams.get("expires"));
    const key = url.pathname.replace("/downloads/", "");
    const past = Math.floor(Date.now() / 1000) - 1;
    const expired = withQuery({ expires: String(past), signature: await signObjectKey(env.AUDIT_EXPORT_SIGNING_KEY ?? "", key, past) });
    const other = new URL(url);
    other.pathname = `/downloads/audit-exports/${crypto.randomUUID()}/${key.split("/").pop()}`;
    const forged = withQuery({ signature: await signObjectKey("some-other-secret-0123456789abcdef0123", key, expires) });
    for (const link of [
      withQuery({ signature: flipped }),
      withQuery({ expires: String(expires + 60) }),
      expired,
      other.toString(),
      forged,
      withQuery({ signature: "zz" }),
    ]) {
      const res = await download(link);
      expect(res.status, link).toBe(403);
      await expectConformant("GET", DOWNLOAD, res);
      expect(res.text).not.toContain("workspace.created");
    }
    expect((await download(url.toString())).status).toBe(200);
  });

  it("answers 422 without expires or signature, and 404 once the object is gone", async () => {
    const bare = await call("GET", url.pathname);
    expect(bare.status).toBe(422);
    await env.AUDIT_EXPORTS.delete(url.pathname.replace("/downloads/", ""));
    const gone = await download(url.toString());
    expect(gone.status).toBe(404);
    await expectConformant("GET", DOWNLOAD, gone);
  });
});

describe("export limits and configuration", () => {
  it.each([
    [{ date_from: "2026-02-01T00:00:00Z", date_to: "2026-01-01T00:00:00Z" }, "date_to", /must not be before/],
    [{ date_from: "2026-01-01T00:00:00Z", date_to: "9999-12-31T23:00:00-02:00" }, "date_to", /between 0000-01-01T00:00:00Z and 9999/],
    [{ date_to: "2026-01-01T00:00:00Z" }, "date_from", /Field required/],
    [{ ...RANGE, action: "a".repeat(129) }, "action", /at most 128/],
  ])("refuses %o with 422", async (body, field, message) => {
    const res = await createExport<ValidationErrorBody>(body);
    expect(res.status).toBe(422);
    await expectConformant("POST", EXPORT, res);
    expect(res.body.detail[0]).toMatchObject({ loc: ["body", field], msg: expect.stringMatching(message) });
  });

  it("exports a range across years within the request when it holds few events", async () => {
    const res = await createExport({ date_from: "2019-01-01T00:00:00Z", date_to: "2026-12-31T23:59:59Z" });
    expect(res.status, res.text).toBe(200);
    expect(res.body.status).toBe("done");
    expect((await lines((await download(res.body.download_url)).text)).length).toBe(res.body.row_count);
  });

  it("answers 503, writing nothing, for more events than one request writes when the deployment has no export workflow", async () => {
    const { owner: o, workspaceId: id } = await ownedWorkspace();
    await seedAuditEvents(env.DB, { workspaceId: id, count: 20, from: "2026-01-02T00:00:00.000Z" });
    const res = await createExport<ErrorBody>(RANGE, {
      token: o.token,
      workspace: id,
      env: { AUDIT_EXPORT_SYNC_MAX_EVENTS: "10", AUDIT_EXPORT_WORKFLOW: undefined as unknown as Workflow },
    });
    expect(res.status).toBe(503);
    await expectConformant("POST", EXPORT, res);
    expect(res.body.detail).toBe("Audit exports of more than 10 events are not configured in this deployment.");
    expect((await call<AuditExportList>("GET", `/v1/${id}/audit/exports`, { token: o.token })).body.exports).toEqual([]);
  });

  it("answers 503 when the bucket or the signing key is missing, and writes nothing", async () => {
    for (const missing of [
      { AUDIT_EXPORT_SIGNING_KEY: undefined },
      { AUDIT_EXPORT_SIGNING_KEY: "too-short" },
      { AUDIT_EXPORTS: undefined },
    ]) {
      const res = await createExport<ErrorBody>(RANGE, { env: missing });
      expect(res.status).toBe(503);
      await expectConformant("POST", EXPORT, res);
      expect(res.body.detail).toBe("Audit export is not configured in this deployment.");
      expect((await call("GET", `/v1/${workspaceId}/audit/exports`, { token: owner.token, env: missing })).status).toBe(503);
    }
  });

  it("needs Audit.export: an admin key without it, and a member, are refused", async () => {
    const viewerOnly = await apiKeyWithRole(owner.token, workspaceId, "admin", { permissions: ["Audit.view"] });
    const res = await createExport<ErrorBody>(RANGE, { token: viewerOnly.secret });
    expect(res.status).toBe(403);
    expect(res.body.detail).toBe("Missing the Audit.export permission.");
  });
});
