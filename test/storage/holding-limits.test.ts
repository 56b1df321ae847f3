/**
 * What one workspace may hold at once (drizzle/0012_live_row_limits.sql, src/core/limits.ts): each table is
 * filled straight in D1 to one below its limit (as that many creates would), then written through the API:
 * the last place is taken, the next create is 403 quota_exceeded with nothing written, and rows that no
 * longer count (revoked, expired, deleted) make no difference.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { MAX_ACTIVE_ROLE_GRANTS, MAX_LIVE_API_KEYS, MAX_LIVE_EXTERNAL_ROLES, MAX_PENDING_INVITATIONS } from "../../src/core/limits";
import type { ExternalRole } from "../harness/bodies";
import { type ApiResponse, call, type ErrorBody } from "../harness/call";
import { expectConformant } from "../harness/conformance";
import { createApiKey, invite, ownedWorkspace } from "../harness/seed";
import { insertGeneratedRows } from "../harness/storage";

const hour = (n: number) => new Date(Date.now() + n * 3_600_000).toISOString();

/**
 * Inserts `count` rows into `table` (`values`: SQL per row, `n.i` the row's number; `binds` its parameters),
 * with the table's limit trigger set aside meanwhile (it counts on every insert) and put back as it was.
 */
async function fill(table: string, trigger: string, count: number, columns: string, values: string, ...binds: unknown[]) {
  const created = await env.DB.prepare("select sql from sqlite_master where type = 'trigger' and name = ?")
    .bind(trigger)
    .first<string>("sql");
  expect(created).toContain(table);
  await env.DB.prepare(`drop trigger ${trigger}`).run();
  try {
    await insertGeneratedRows(table, count, columns, values, ...binds);
  } finally {
    await env.DB.prepare(created!).run();
  }
}

async function expectRefused(res: ApiResponse<unknown>, method: string, path: string, names: string) {
  expect(res.status, res.text).toBe(403);
  const body = res.body as ErrorBody;
  expect(body.error_code).toBe("quota_exceeded");
  expect(body.detail).toContain(names);
  await expectConformant(method, path, res);
}

const rowsNamed = async (table: string, column: string, value: string) =>
  (await env.DB.prepare(`select count(*) as n from ${table} where ${column} = ?`).bind(value).first<{ n: number }>())?.n;

describe("per workspace", () => {
  it(`live API keys: ${MAX_LIVE_API_KEYS}; revoked keys do not count, a delete makes room`, async () => {
    const { owner, workspaceId } = await ownedWorkspace();
    const columns =
      "id, key_id, workspace_id, name, role, permissions, key_hash, accountable_entity_id, expires_at, revoked_at, created_at, updated_at";
    const values = `lower(hex(randomblob(16))), 'key_fill' || lower(hex(randomblob(8))), ?, 'filled', 'viewer', '[]',
      lower(hex(randomblob(32))), ?, ?, ?, ?, ?`;
    const fillKeys = (n: number, revokedAt: string | null) =>
      fill(
        "api_keys",
        "api_keys_live_per_workspace",
        n,
        columns,
        values,
        workspaceId,
        owner.identity_id,
        hour(24),
        revokedAt,
        hour(0),
        hour(0),
      );
    await fillKeys(300, hour(0));
    await fillKeys(MAX_LIVE_API_KEYS - 1, null);
    const last = await createApiKey(owner.token, workspaceId, { name: "last" });
    expect(last.status, last.text).toBe(201);

    const refused = await createApiKey(owner.token, workspaceId, { name: "one too many" });
    await expectRefused(refused, "POST", "/v1/{workspace_id}/api-keys", `${MAX_LIVE_API_KEYS.toLocaleString("en-US")} live API keys`);
    expect(await rowsNamed("api_keys", "name", "one too many")).toBe(0);

    expect((await call("DELETE", `/v1/${workspaceId}/api-keys/${last.body.key_id}`, { token: owner.token })).status).toBe(204);
    expect((await createApiKey(owner.token, workspaceId, { name: "room again" })).status).toBe(201);
    const other = await ownedWorkspace();
    expect((await createApiKey(other.owner.token, other.workspaceId)).status).toBe(201);
  });

  it(`pending invitations: ${MAX_PENDING_INVITATIONS}; expired ones do not count`, async () => {
    const { owner, workspaceId } = await ownedWorkspace();
    const columns = "id, workspace_id, email, role, state, invited_by_credential_id, expires_at, created_at, updated_at";
    const values =
      "lower(hex(randomblob(16))), ?, 'fill-' || lower(hex(randomblob(8))) || '@example.com', 'member', 'pending', 'x', ?, ?, ?";
    const trigger = "invitations_pending_per_workspace";
    await fill("invitations", trigger, 200, columns, values, workspaceId, hour(-1), hour(-2), hour(-2));
    await fill("invitations", trigger, MAX_PENDING_INVITATIONS - 1, columns, values, workspaceId, hour(24), hour(0), hour(0));
    expect((await invite(owner.token, workspaceId, { email: `last-${crypto.randomUUID()}@example.com` })).status).toBe(201);

    const email = `over-${crypto.randomUUID()}@example.com`;
    const refused = await invite(owner.token, workspaceId, { email });
    await expectRefused(refused, "POST", "/v1/{workspace_id}/invitations", "pending invitations");
    expect(await rowsNamed("invitations", "email", email)).toBe(0);
  });

  it(`live external roles: ${MAX_LIVE_EXTERNAL_ROLES}; deleted ones do not count`, async () => {
    const { owner, workspaceId } = await ownedWorkspace();
    const columns = "id, workspace_id, name, external_name, created_at, updated_at, deleted_at";
    const values = "lower(hex(randomblob(16))), ?, ? || n.i, 'Filled', ?, ?, ?";
    const trigger = "external_roles_live_per_workspace";
    await fill("external_roles", trigger, 50, columns, values, workspaceId, "gone-", hour(0), hour(0), hour(0));
    await fill("external_roles", trigger, MAX_LIVE_EXTERNAL_ROLES - 1, columns, values, workspaceId, "fill-", hour(0), hour(0), null);
    const create = (name: string) =>
      call<ExternalRole>("POST", `/v1/${workspaceId}/external-roles`, { token: owner.token, body: { name, external_name: name } });
    expect((await create("last")).status).toBe(201);
    const refused = await create("over");
    await expectRefused(refused, "POST", "/v1/{workspace_id}/external-roles", "external roles");
    expect(await rowsNamed("external_roles", "name", "over")).toBe(0);
  });

  it(`active role grants: ${MAX_ACTIVE_ROLE_GRANTS.toLocaleString("en-US")}; superseded ones do not count`, async () => {
    const { owner, workspaceId } = await ownedWorkspace();
    const role = await call<ExternalRole>("POST", `/v1/${workspaceId}/external-roles`, {
      token: owner.token,
      body: { name: "nurse", external_name: "Nurse" },
    });
    const columns = "id, workspace_id, role_id, resource_type, resource_key, access, status, created_at, updated_at";
    const values = "lower(hex(randomblob(16))), ?, ?, 'skill', 'fill-' || n.i || ?, 'read', ?, ?, ?";
    const trigger = "role_grants_active_per_workspace";
    await fill("role_grants", trigger, 100, columns, values, workspaceId, role.body.id, "-old", "superseded", hour(0), hour(0));
    await fill(
      "role_grants",
      trigger,
      MAX_ACTIVE_ROLE_GRANTS - 1,
      columns,
      values,
      workspaceId,
      role.body.id,
      "",
      "active",
      hour(0),
      hour(0),
    );
    const grant = (key: string) =>
      call("POST", `/v1/${workspaceId}/role-grants`, {
        token: owner.token,
        body: { role_id: role.body.id, resource_type: "skill", resource_key: key, access: "read" },
      });
    expect((await grant("last")).status).toBe(201);
    await expectRefused(await grant("over"), "POST", "/v1/{workspace_id}/role-grants", "active role grants");
    expect(await rowsNamed("role_grants", "resource_key", "over")).toBe(0);
  });
});
