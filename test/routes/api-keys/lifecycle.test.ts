import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { sha256Hex } from "../../../src/security/secret";
import type { ApiKeyPage, AuthInfo, CreatedApiKey, PermissionCatalog } from "../../harness/bodies";
import { call, type ValidationErrorBody } from "../../harness/call";
import { expectConformant } from "../../harness/conformance";
import { apiKeyWithRole, createApiKey, type MintedIdentity, ownedWorkspace } from "../../harness/seed";
import { interceptD1 } from "../../harness/storage";

const KEYS = "/v1/{workspace_id}/api-keys";
const KEY = "/v1/{workspace_id}/api-keys/{key_id}";
const ROTATE = "/v1/{workspace_id}/api-keys/{key_id}/rotate";
const CATALOG = "/v1/{workspace_id}/api-keys/permission-catalog";

let owner: MintedIdentity;
let workspaceId: string;

beforeAll(async () => {
  ({ owner, workspaceId } = await ownedWorkspace());
});

describe("API key lifecycle", () => {
  it("create -> use -> list -> rotate -> old 401 / new 200 -> delete -> 401 -> delete 404", async () => {
    const created = await createApiKey(owner.token, workspaceId, { name: "ci deploy", role: "admin", duration_days: 7 });
    expect(created.status, created.text).toBe(201);
    await expectConformant("POST", KEYS, created);
    expect(created.body).toEqual({
      key_id: expect.stringMatching(/^key_[0-9A-Za-z]{16}$/),
      api_key: expect.stringMatching(/^wsk_[0-9A-Za-z]{36}$/),
      name: "ci deploy",
      role: "admin",
      permissions: [
        "Workspace.view",
        "Workspace.update",
        "Workspace.convert",
        "ApiKey.view",
        "ApiKey.create",
        "ApiKey.rotate",
        "ApiKey.delete",
        "Audit.view",
        "Audit.export",
        "Member.view",
        "Member.manage",
        "ExternalRole.view",
        "ExternalRole.manage",
        "RoleGrant.view",
        "RoleGrant.manage",
        "Compliance.view",
      ],
      expires_at: expect.any(String),
      created_by_entity_id: owner.identity_id,
      created_by_credential_id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      accountable_entity_id: owner.identity_id,
    });
    const sevenDays = Date.parse(created.body.expires_at) - Date.now();
    expect(sevenDays).toBeGreaterThan(7 * 86_400_000 - 60_000);
    expect(sevenDays).toBeLessThanOrEqual(7 * 86_400_000);
    const { api_key: secret, key_id: keyId } = created.body;

    const me = await call("GET", "/v1/auth/me", { token: secret });
    expect(me.body).toMatchObject({ workspace_id: workspaceId, key_id: keyId, name: "ci deploy", expires_at: created.body.expires_at });

    const listed = await call<ApiKeyPage>("GET", `/v1/${workspaceId}/api-keys`, { token: secret });
    expect(listed.status).toBe(200);
    await expectConformant("GET", KEYS, listed);
    const item = listed.body.items.find((k) => k.key_id === keyId);
    expect(item).toMatchObject({ workspace_id: workspaceId, role: "admin", name: "ci deploy", created_by_entity_id: owner.identity_id });
    expect(listed.text).not.toContain(secret);
    expect(listed.text).not.toContain(await sha256Hex(secret));

    const rotated = await call<CreatedApiKey>("POST", `/v1/${workspaceId}/api-keys/${keyId}/rotate`, {
      token: owner.token,
      body: { duration_days: 30 },
    });
    expect(rotated.status, rotated.text).toBe(200);
    await expectConformant("POST", ROTATE, rotated);
    expect(rotated.body).toMatchObject({ key_id: keyId, role: "admin", permissions: created.body.permissions, name: "ci deploy" });
    expect(rotated.body.api_key).not.toBe(secret);
    expect(Date.parse(rotated.body.expires_at)).toBeGreaterThan(Date.parse(created.body.expires_at));
    expect((await call("GET", "/v1/auth/me", { token: secret })).status).toBe(401);
    expect((await call("GET", "/v1/auth/me", { token: rotated.body.api_key })).status).toBe(200);

    const deleted = await call("DELETE", `/v1/${workspaceId}/api-keys/${keyId}`, { token: owner.token });
    expect(deleted.status).toBe(204);
    await expectConformant("DELETE", KEY, deleted);
    expect((await call("GET", "/v1/auth/me", { token: rotated.body.api_key })).status).toBe(401);
    const again = await call("DELETE", `/v1/${workspaceId}/api-keys/${keyId}`, { token: owner.token });
    expect(again.status).toBe(404);
    expect(again.body).toMatchObject({ detail: "API key not found.", error_code: "not_found" });
    await expectConformant("DELETE", KEY, again);

    const after = await call<ApiKeyPage>("GET", `/v1/${workspaceId}/api-keys?limit=100`, { token: owner.token });
    expect(after.body.items.map((k) => k.key_id)).not.toContain(keyId);
    const row = await env.DB.prepare("select revoked_at from api_keys where key_id = ?").bind(keyId).first<{ revoked_at: string }>();
    expect(row?.revoked_at).toEqual(expect.any(String));
  });

  it("defaults to the member role with its permissions and a null name", async () => {
    const res = await createApiKey(owner.token, workspaceId, {});
    expect(res.body).toMatchObject({
      role: "member",
      permissions: ["Workspace.view", "ApiKey.view", "ApiKey.create", "ExternalRole.view", "RoleGrant.view"],
      name: null,
    });
  });

  it("stores only the hash, and gives KV the key's expiry", async () => {
    const { secret, body } = await apiKeyWithRole(owner.token, workspaceId, "viewer", { duration_days: 1 });
    const hash = await sha256Hex(secret);
    const row = await env.DB.prepare("select * from api_keys where key_id = ?").bind(body.key_id).first();
    expect(row?.key_hash).toBe(hash);
    expect(JSON.stringify(row)).not.toContain(secret.slice(4, 16));
    const { keys } = await env.KV.list({ prefix: `wsk:${hash}` });
    expect(keys).toEqual([{ name: `wsk:${hash}`, expiration: Math.ceil(Date.parse(body.expires_at) / 1000) }]);
    expect(await env.KV.get(`wsk:${hash}`)).not.toContain(secret);
  });

  it("records who made a key made by a key", async () => {
    const parent = await apiKeyWithRole(owner.token, workspaceId, "admin");
    const parentRow = await env.DB.prepare("select id from api_keys where key_id = ?").bind(parent.keyId).first<{ id: string }>();
    const child = await createApiKey(parent.secret, workspaceId, { role: "viewer" });
    expect(child.body).toMatchObject({ created_by_entity_id: owner.identity_id, created_by_credential_id: parentRow?.id });
  });

  it("answers GET /v1/auth/me for a key with the seconds left", async () => {
    const { secret } = await apiKeyWithRole(owner.token, workspaceId, "viewer", { duration_days: 1 });
    const res = await call<AuthInfo>("GET", "/v1/auth/me", { token: secret });
    expect(res.body.expires_in_seconds).toBeGreaterThan(86_400 - 60);
    expect(res.body.expires_in_seconds).toBeLessThanOrEqual(86_400);
  });

  it("serves the permission catalog from the roles module", async () => {
    const res = await call<PermissionCatalog>("GET", `/v1/${workspaceId}/api-keys/permission-catalog`, { token: owner.token });
    expect(res.status).toBe(200);
    await expectConformant("GET", CATALOG, res);
    expect(res.body.roles.map((r) => [r.name, r.priority])).toEqual([
      ["owner", 400],
      ["admin", 300],
      ["member", 200],
      ["viewer", 100],
    ]);
    expect(res.body.permissions).toContainEqual({ name: "ApiKey.rotate", namespace: "ApiKey", action: "rotate" });
    expect(res.body.permissions).toContainEqual({ name: "Member.manage", namespace: "Member", action: "manage" });
    expect(res.body.permissions).toHaveLength(17);
  });

  it("records last_used_at off the response path, at most once a minute", async () => {
    const { secret, keyId } = await apiKeyWithRole(owner.token, workspaceId, "viewer");
    const lastUsed = () =>
      env.DB.prepare("select last_used_at from api_keys where key_id = ?").bind(keyId).first<string | null>("last_used_at");
    expect(await lastUsed()).toBeNull();
    await call("GET", "/v1/auth/me", { token: secret });
    const first = await lastUsed();
    expect(first).toEqual(expect.any(String));
    // Within the minute there is nothing to write, and describing the key opens no D1 session at all.
    let sessions = 0;
    const DB = interceptD1((_sql, proceed) => proceed(), { onSession: () => sessions++ });
    for (let i = 0; i < 5; i++) expect((await call("GET", "/v1/auth/me", { token: secret, env: { DB } })).status).toBe(200);
    expect(sessions).toBe(0);
    expect(await lastUsed()).toBe(first);
    const listed = await call<ApiKeyPage>("GET", `/v1/${workspaceId}/api-keys?limit=100`, { token: owner.token });
    expect(listed.body.items.find((k) => k.key_id === keyId)?.last_used_at).toBe(first);
  });
});

describe("API key validation", () => {
  it.each([
    [0, 422],
    [1, 201],
    [90, 201],
    [91, 422],
  ])("duration_days %i -> %i", async (days, status) => {
    const res = await createApiKey<ValidationErrorBody>(owner.token, workspaceId, { duration_days: days });
    expect(res.status).toBe(status);
    if (status === 422) expect(res.body.detail[0]).toMatchObject({ loc: ["body", "duration_days"] });
    await expectConformant("POST", KEYS, res);
  });

  it.each([
    ["a fractional duration", { duration_days: 1.5 }, ["body", "duration_days"]],
    ["a string duration", { duration_days: "30" }, ["body", "duration_days"]],
    ["a missing duration", { duration_days: undefined }, ["body", "duration_days"]],
    ["a 257-character name", { name: "n".repeat(257) }, ["body", "name"]],
    ["an empty name", { name: "" }, ["body", "name"]],
    ["an unknown role", { role: "superuser" }, ["body", "role"]],
    ["an unknown permission", { role: "admin", permissions: ["Workspace.view", "Billing.pay"] }, ["body", "permissions", 1]],
    ["a permission outside the role", { role: "member", permissions: ["ApiKey.delete"] }, ["body", "permissions", 0]],
  ])("rejects %s with 422", async (_, body, loc) => {
    const res = await createApiKey<ValidationErrorBody>(owner.token, workspaceId, body);
    expect(res.status, res.text).toBe(422);
    expect(res.body.detail).toContainEqual(expect.objectContaining({ loc }));
  });

  it("accepts a 256-character name and a null name", async () => {
    expect((await createApiKey(owner.token, workspaceId, { name: "n".repeat(256) })).status).toBe(201);
    expect((await createApiKey(owner.token, workspaceId, { name: null })).body.name).toBeNull();
  });

  it("keeps a subset of the role's permissions, de-duplicated", async () => {
    const res = await createApiKey(owner.token, workspaceId, {
      role: "admin",
      permissions: ["ApiKey.view", "ApiKey.view", "Workspace.view"],
    });
    expect(res.body.permissions).toEqual(["ApiKey.view", "Workspace.view"]);
  });

  it.each([
    [0, 422],
    [91, 422],
  ])("rotate duration_days %i -> %i", async (days, status) => {
    const { keyId } = await apiKeyWithRole(owner.token, workspaceId, "viewer");
    const res = await call("POST", `/v1/${workspaceId}/api-keys/${keyId}/rotate`, { token: owner.token, body: { duration_days: days } });
    expect(res.status).toBe(status);
  });

  it("answers an unknown key with 404 on rotate and delete, and a malformed workspace id with 422", async () => {
    expect(
      (await call("POST", `/v1/${workspaceId}/api-keys/key_nope/rotate`, { token: owner.token, body: { duration_days: 1 } })).status,
    ).toBe(404);
    expect((await call("DELETE", `/v1/${workspaceId}/api-keys/key_nope`, { token: owner.token })).status).toBe(404);
    const malformed = await call<ValidationErrorBody>("GET", "/v1/not-a-uuid/api-keys", { token: owner.token });
    expect(malformed.status).toBe(422);
    expect(malformed.body.detail[0]).toMatchObject({ loc: ["path", "workspace_id"], type: "uuid_parsing" });
  });

  it.each([
    ["limit=0", ["query", "limit"]],
    ["limit=101", ["query", "limit"]],
    ["limit=ten", ["query", "limit"]],
    ["continuation_token=-1", ["query", "continuation_token"]],
    ["continuation_token=1.5", ["query", "continuation_token"]],
    ["continuation_token=abc", ["query", "continuation_token"]],
    ["mine_only=maybe", ["query", "mine_only"]],
  ])("rejects a list with %s", async (query, loc) => {
    const res = await call<ValidationErrorBody>("GET", `/v1/${workspaceId}/api-keys?${query}`, { token: owner.token });
    expect(res.status).toBe(422);
    expect(res.body.detail[0]?.loc).toEqual(loc);
    await expectConformant("GET", KEYS, res);
  });
});
