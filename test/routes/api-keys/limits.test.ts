/**
 * What one workspace may hold at once (drizzle/0012_live_row_limits.sql): live API keys and pending
 * invitations. Filled straight in D1 to one below the limit (as that many creates would), then through the API.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { MAX_LIVE_API_KEYS, MAX_PENDING_INVITATIONS } from "../../../src/core/limits";
import { call, type ErrorBody } from "../../harness/call";
import { expectConformant } from "../../harness/conformance";
import { createApiKey, invite, ownedWorkspace } from "../../harness/seed";

/** `count` keys of the workspace, held by `holder`; `revoked` ones are history and do not count. */
async function fillKeys(workspaceId: string, holder: string, count: number, revoked: boolean) {
  const at = new Date().toISOString();
  await env.DB.prepare(
    `with recursive n(i) as (select 1 union all select i + 1 from n where i < ?)
     insert into api_keys (id, key_id, workspace_id, name, role, permissions, key_hash, accountable_entity_id, expires_at,
       revoked_at, created_at, updated_at)
     select lower(hex(randomblob(16))), 'key_fill' || lower(hex(randomblob(8))), ?, 'filled', 'viewer', '[]',
       lower(hex(randomblob(32))), ?, ?, ?, ?, ? from n`,
  )
    .bind(count, workspaceId, holder, new Date(Date.now() + 86_400_000).toISOString(), revoked ? at : null, at, at)
    .run();
}

/** `count` pending invitations of the workspace, expiring at `expiresAt` (past ones do not count). */
async function fillInvitations(workspaceId: string, count: number, expiresAt: string) {
  const at = new Date().toISOString();
  await env.DB.prepare(
    `with recursive n(i) as (select 1 union all select i + 1 from n where i < ?)
     insert into invitations (id, workspace_id, email, role, state, invited_by_entity_id, invited_by_credential_id, expires_at,
       created_at, updated_at)
     select lower(hex(randomblob(16))), ?, 'fill-' || lower(hex(randomblob(8))) || '@example.com', 'member', 'pending', null,
       'filled', ?, ?, ? from n`,
  )
    .bind(count, workspaceId, expiresAt, at, at)
    .run();
}

describe("live API keys per workspace", () => {
  it(`stops at ${MAX_LIVE_API_KEYS}: the next is 403 quota_exceeded; revoked keys do not count, a delete makes room`, async () => {
    const { owner, workspaceId } = await ownedWorkspace();
    await fillKeys(workspaceId, owner.identity_id, 300, true);
    await fillKeys(workspaceId, owner.identity_id, MAX_LIVE_API_KEYS - 1, false);
    const last = await createApiKey(owner.token, workspaceId, { name: "last" });
    expect(last.status, last.text).toBe(201);

    const refused = await createApiKey<ErrorBody>(owner.token, workspaceId, { name: "one too many" });
    expect(refused.status, refused.text).toBe(403);
    expect(refused.body.error_code).toBe("quota_exceeded");
    expect(refused.body.detail).toContain(`${MAX_LIVE_API_KEYS.toLocaleString("en-US")} live API keys`);
    await expectConformant("POST", "/v1/{workspace_id}/api-keys", refused);
    const named = await env.DB.prepare("select count(*) as n from api_keys where name = 'one too many'").first<{ n: number }>();
    expect(named?.n).toBe(0);

    expect((await call("DELETE", `/v1/${workspaceId}/api-keys/${last.body.key_id}`, { token: owner.token })).status).toBe(204);
    expect((await createApiKey(owner.token, workspaceId, { name: "room again" })).status).toBe(201);
    // Another workspace is not affected.
    const other = await ownedWorkspace();
    expect((await createApiKey(other.owner.token, other.workspaceId)).status).toBe(201);
  });
});

describe("pending invitations per workspace", () => {
  it(`stops at ${MAX_PENDING_INVITATIONS}: the next is 403 quota_exceeded; expired ones do not count`, async () => {
    const { owner, workspaceId } = await ownedWorkspace();
    await fillInvitations(workspaceId, 200, new Date(Date.now() - 1000).toISOString());
    await fillInvitations(workspaceId, MAX_PENDING_INVITATIONS - 1, new Date(Date.now() + 86_400_000).toISOString());
    expect((await invite(owner.token, workspaceId, { email: `last-${crypto.randomUUID()}@example.com` })).status).toBe(201);

    const refused = await invite<ErrorBody>(owner.token, workspaceId, { email: `over-${crypto.randomUUID()}@example.com` });
    expect(refused.status, refused.text).toBe(403);
    expect(refused.body.error_code).toBe("quota_exceeded");
    expect(refused.body.detail).toContain("pending invitations");
    await expectConformant("POST", "/v1/{workspace_id}/invitations", refused);
  });
});
