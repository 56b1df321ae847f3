import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { sha256Hex } from "../../../src/security/secret";
import type { WorkspacePage } from "../../harness/bodies";
import { type ApiResponse, call, type ErrorBody, type ValidationErrorBody } from "../../harness/call";
import { expectConformant } from "../../harness/conformance";
import { apiKeyWithRole, createWorkspace, mintIdentity, ownedWorkspace } from "../../harness/seed";

const LIST = "/v1/workspaces";

async function pageThrough(token: string, limit: number, between?: (page: number) => Promise<void>) {
  const ids: string[] = [];
  let cursor: number | null = 0;
  let pages = 0;
  while (cursor !== null) {
    const res: ApiResponse<WorkspacePage> = await call("GET", `${LIST}?limit=${limit}&continuation_token=${cursor}`, { token });
    expect(res.status, res.text).toBe(200);
    if (pages === 0) await expectConformant("GET", LIST, res);
    expect(res.body.items.length).toBeLessThanOrEqual(limit);
    ids.push(...res.body.items.map((w) => w.id));
    cursor = res.body.continuation_token;
    expect(res.body.has_more).toBe(cursor !== null);
    pages += 1;
    await between?.(pages);
  }
  return { ids, pages };
}

describe("GET /v1/workspaces", () => {
  it("lists an identity's workspaces newest first, with no duplicates or gaps while others are created and archived", async () => {
    const o = await mintIdentity();
    const created: { id: string; slug: string }[] = [];
    for (let i = 0; i < 23; i++) created.push((await createWorkspace(o.token)).body);
    const newest = [...created].reverse();
    const archiveAhead = newest[20]!; // on the last page, archived before that page is read
    const archiveBehind = newest[1]!; // on the first page, archived after it was read
    const addedDuringPaging: string[] = [];

    const { ids, pages } = await pageThrough(o.token, 5, async (page) => {
      addedDuringPaging.push((await createWorkspace(o.token)).body.id);
      if (page === 1) {
        for (const w of [archiveAhead, archiveBehind]) {
          expect((await call("POST", `/v1/workspaces/${w.id}/archive`, { token: o.token, body: { slug: w.slug } })).status).toBe(200);
        }
      }
    });

    expect(pages).toBe(5);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids).toEqual(newest.map((w) => w.id).filter((id) => id !== archiveAhead.id));
    expect(ids.some((id) => addedDuringPaging.includes(id))).toBe(false);
  });

  it("lists 2,000 workspaces of one identity page by page", async () => {
    const o = await mintIdentity();
    const now = new Date().toISOString();
    const ids = Array.from({ length: 2000 }, () => crypto.randomUUID());
    const statements = ids.flatMap((id, i) => [
      env.DB.prepare(
        "insert into workspaces (id, slug, name, environment, region, created_by_identity_id, created_at, updated_at) values (?, ?, ?, " +
          "'staging', 'us-east-1', ?, ?, ?)",
      ).bind(id, `bulk-${i}-${id.slice(0, 8)}`, `Bulk ${i}`, o.identity_id, now, now),
      env.DB.prepare("insert into memberships (workspace_id, identity_id, role, created_at) values (?, ?, 'owner', ?)").bind(
        id,
        o.identity_id,
        now,
      ),
    ]);
    await env.DB.batch(statements);

    const { ids: listed, pages } = await pageThrough(o.token, 100);
    expect(pages).toBe(20);
    expect(listed).toHaveLength(2000);
    expect(listed).toEqual([...ids].reverse());
  });

  it("shows an API key its own workspace only, with total 1", async () => {
    const { owner, workspaceId } = await ownedWorkspace();
    await createWorkspace(owner.token);
    const { secret } = await apiKeyWithRole(owner.token, workspaceId, "viewer");
    const res = await call<WorkspacePage>("GET", LIST, { token: secret });
    expect(res.body).toMatchObject({ has_more: false, continuation_token: null, total: 1 });
    expect(res.body.items.map((w) => w.id)).toEqual([workspaceId]);
    await expectConformant("GET", LIST, res);
    expect((await call<WorkspacePage>("GET", `${LIST}?continuation_token=5`, { token: secret })).body.items).toEqual([]);
  });

  it("refuses an API key once its workspace is archived in D1, even where KV still holds its record, and purges the record", async () => {
    const { owner, workspaceId } = await ownedWorkspace();
    const { secret } = await apiKeyWithRole(owner.token, workspaceId, "viewer");
    // Archived in D1 only, as a race before the key-state guards could leave it: no marker, record intact.
    await env.DB.prepare("update workspaces set archived_at = ? where id = ?").bind(new Date().toISOString(), workspaceId).run();
    const res = await call("GET", LIST, { token: secret });
    expect(res.status).toBe(401);
    await expectConformant("GET", LIST, res);
    expect(await env.KV.get(`wsk:${await sha256Hex(secret)}`)).toBeNull();
  });

  it("refuses an API key without Workspace.view and an identity without workspaces:read", async () => {
    const { owner, workspaceId } = await ownedWorkspace();
    const { secret } = await apiKeyWithRole(owner.token, workspaceId, "member", { permissions: ["ApiKey.view"] });
    expect((await call("GET", LIST, { token: secret })).status).toBe(403);
    const writer = await mintIdentity({ scopes: ["workspaces:write"] });
    const res = await call<ErrorBody>("GET", LIST, { token: writer.token });
    expect(res.status).toBe(403);
    expect(res.body.error_code).toBe("insufficient_scope");
  });

  it("has total null for identities and an empty first page for a newcomer", async () => {
    const newcomer = await mintIdentity();
    const res = await call("GET", LIST, { token: newcomer.token });
    expect(res.body).toEqual({ items: [], has_more: false, continuation_token: null, total: null });
  });

  it.each(["limit=0", "limit=101", "continuation_token=-1", "continuation_token=1.5", "continuation_token=x", "limit=1e3"])(
    "rejects %s with 422",
    async (query) => {
      const o = await mintIdentity();
      const res = await call<ValidationErrorBody>("GET", `${LIST}?${query}`, { token: o.token });
      expect(res.status).toBe(422);
      expect(res.body.detail[0]?.loc[0]).toBe("query");
      await expectConformant("GET", LIST, res);
    },
  );
});
