/**
 * POST /admin/workspaces/{workspace_id}/release-slug (admin-release-workspace-slug): an archived workspace's
 * slug goes back to the global namespace once SLUG_RELEASE_GRACE_DAYS have passed since its archive. No test
 * waits for days: the archive's time is written into the row.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { DAY_MS } from "../../../src/core/time";
import type { OperatorAuditEventPage, ReleasedSlug, Workspace } from "../../harness/bodies";
import { call, type ErrorBody, type TestEnv } from "../../harness/call";
import { expectConformant } from "../../harness/conformance";
import { createWorkspace, mintIdentity, ownedWorkspace } from "../../harness/seed";
import { faultySlugs, slugObject } from "../../harness/storage";

const ROUTE = "/admin/workspaces/{workspace_id}/release-slug";
const ADMIN = { token: env.ADMIN_TOKEN };
const EU: Partial<TestEnv> = { REGION: "eu-central-1", DB: env.DB_EU };

const release = (workspaceId: string, options: { env?: Partial<TestEnv> } = {}) =>
  call<ReleasedSlug>("POST", `/admin/workspaces/${workspaceId}/release-slug`, { ...ADMIN, ...options });

/** A workspace archived through the API, its archive then moved `daysAgo` days into the past. */
async function archivedWorkspace(daysAgo: number) {
  const { owner, workspaceId, slug } = await ownedWorkspace();
  expect((await call("POST", `/v1/workspaces/${workspaceId}/archive`, { token: owner.token, body: { slug } })).status).toBe(200);
  const archivedAt = new Date(Date.now() - daysAgo * DAY_MS).toISOString();
  await env.DB.prepare("update workspaces set archived_at = ? where id = ?").bind(archivedAt, workspaceId).run();
  return { owner, workspaceId, slug, archivedAt };
}

async function slugReleasedAt(workspaceId: string): Promise<string | null> {
  return env.DB.prepare("select slug_released_at from workspaces where id = ?").bind(workspaceId).first<string | null>("slug_released_at");
}

async function releaseEvents(workspaceId: string) {
  const res = await call<OperatorAuditEventPage>("GET", `/admin/audit?action=workspace.slug_released&resource_id=${workspaceId}`, ADMIN);
  expect(res.status).toBe(200);
  return res.body.events;
}

describe("releasing an archived workspace's slug", () => {
  it("gives the slug back after the grace, audited; any region may take it; the owner still reads the workspace with it", async () => {
    const { owner, workspaceId, slug, archivedAt } = await archivedWorkspace(31);
    const res = await release(workspaceId);
    expect(res.status, res.text).toBe(200);
    expect(res.body).toEqual({ workspace_id: workspaceId, slug, slug_released_at: expect.any(String) });
    await expectConformant("POST", ROUTE, res);
    expect(await slugReleasedAt(workspaceId)).toBe(res.body.slug_released_at);
    expect(await slugObject(slug).holder()).toBeNull();
    expect(await releaseEvents(workspaceId)).toEqual([
      expect.objectContaining({
        workspace_id: null,
        action: "workspace.slug_released",
        actor_entity_id: null,
        resource_type: "workspace",
        resource_id: workspaceId,
        resource_name: "Test Workspace",
        metadata: { slug, archived_at: archivedAt, request_id: res.headers.get("x-request-id") },
      }),
    ]);

    // Another person takes the slug in another region; then this region refuses it again, as the registry holds it.
    const taken = await createWorkspace((await mintIdentity()).token, { slug }, { env: EU });
    expect(taken.status, taken.text).toBe(201);
    expect((await createWorkspace((await mintIdentity()).token, { slug })).status).toBe(409);
    const read = await call<Workspace>("GET", `/v1/workspaces/${workspaceId}`, { token: owner.token });
    expect(read.status).toBe(200);
    expect(read.body.slug).toBe(slug);

    // A repeat answers the same, records nothing, and leaves the new workspace's hold alone.
    const again = await release(workspaceId);
    expect([again.status, again.body]).toEqual([200, res.body]);
    expect(await slugObject(slug).holder()).toMatchObject({ workspaceId: taken.body.id, region: "eu-central-1", confirmed: true });
    expect(await releaseEvents(workspaceId)).toHaveLength(1);
  });

  it("refuses inside the grace period with 409 saying when it ends, and a live workspace with 409; nothing changes", async () => {
    const { workspaceId, slug, archivedAt } = await archivedWorkspace(10);
    const early = await release(workspaceId);
    expect(early.status).toBe(409);
    const ends = new Date(Date.parse(archivedAt) + 30 * DAY_MS).toISOString();
    expect(early.body).toEqual({
      detail: `The workspace was archived at ${archivedAt}; its slug can be released from ${ends} (30 days later).`,
      error_code: "conflict",
      request_id: expect.any(String),
    });
    await expectConformant("POST", ROUTE, early);

    const live = await ownedWorkspace();
    const refused = await release(live.workspaceId);
    expect(refused.status).toBe(409);
    expect((refused.body as unknown as ErrorBody).detail).toMatch(/not archived/);
    for (const [id, held] of [
      [workspaceId, slug],
      [live.workspaceId, live.slug],
    ] as const) {
      expect(await slugReleasedAt(id)).toBeNull();
      expect(await slugObject(held).holder()).toMatchObject({ workspaceId: id, confirmed: true });
      expect(await releaseEvents(id)).toEqual([]);
    }
    // The grace period is the operator's: 7 days have passed since this archive.
    expect((await release(workspaceId, { env: { SLUG_RELEASE_GRACE_DAYS: "7" } })).status).toBe(200);
  });

  it("frees room under the creator's workspace limit: the archived workspace no longer counts", async () => {
    const { owner, workspaceId } = await archivedWorkspace(30);
    const limit = { env: { WORKSPACES_PER_IDENTITY: "1" } };
    expect((await createWorkspace<ErrorBody>(owner.token, {}, limit)).body.error_code).toBe("quota_exceeded");
    expect((await release(workspaceId)).status).toBe(200);
    expect((await createWorkspace(owner.token, {}, limit)).status).toBe(201);
  });

  it("answers 503 when the registry cannot be reached, keeping the region's mark; a repeat finishes the release", async () => {
    const { workspaceId, slug } = await archivedWorkspace(40);
    const failed = await release(workspaceId, { env: { SLUGS: faultySlugs(["dropHold"]) } });
    expect(failed.status).toBe(503);
    expect(failed.headers.get("retry-after")).toBe("1");
    await expectConformant("POST", ROUTE, failed);
    const marked = await slugReleasedAt(workspaceId);
    expect(marked).not.toBeNull();
    expect(await slugObject(slug).holder()).toMatchObject({ workspaceId, confirmed: true });
    expect((await createWorkspace((await mintIdentity()).token, { slug }, { env: EU })).status).toBe(409);

    const retried = await release(workspaceId);
    expect([retried.status, retried.body.slug_released_at]).toEqual([200, marked]);
    expect(await slugObject(slug).holder()).toBeNull();
    expect(await releaseEvents(workspaceId)).toHaveLength(1);
  });

  it("records one release when two run at once, both answering the same", async () => {
    const { workspaceId } = await archivedWorkspace(30);
    const answers = await Promise.all([release(workspaceId), release(workspaceId)]);
    expect(answers.map((a) => a.status)).toEqual([200, 200]);
    expect(answers[0]!.body).toEqual(answers[1]!.body);
    expect(await releaseEvents(workspaceId)).toHaveLength(1);
  });

  it("answers 404 for a workspace this region does not hold, 422 for a malformed id, 401 without the admin token", async () => {
    const unknown = await release(crypto.randomUUID());
    expect(unknown.status).toBe(404);
    await expectConformant("POST", ROUTE, unknown);
    const eu = await createWorkspace((await mintIdentity()).token, {}, { env: EU });
    expect((await release(eu.body.id)).status).toBe(404);
    const malformed = await release("not-a-uuid");
    expect(malformed.status).toBe(422);
    await expectConformant("POST", ROUTE, malformed);

    const { owner, workspaceId } = await archivedWorkspace(30);
    for (const token of [null, owner.token]) {
      const refused = await call("POST", `/admin/workspaces/${workspaceId}/release-slug`, { token });
      expect(refused.status).toBe(401);
      await expectConformant("POST", ROUTE, refused);
    }
    expect(await slugReleasedAt(workspaceId)).toBeNull();
  });
});
