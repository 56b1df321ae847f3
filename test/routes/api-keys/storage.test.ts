import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { sha256Hex } from "../../../src/security/secret";
import { kvKeys } from "../../../src/storage/kv";
import type { ApiKeyPage } from "../../harness/bodies";
import { type ApiResponse, call } from "../../harness/call";
import { expectConformant } from "../../harness/conformance";
import { addMember, apiKeyWithRole, createApiKey, type MintedIdentity, mintIdentity, ownedWorkspace } from "../../harness/seed";
import { faultyKV, interceptD1 } from "../../harness/storage";

let owner: MintedIdentity;
let workspaceId: string;

beforeAll(async () => {
  ({ owner, workspaceId } = await ownedWorkspace());
});

const keyRows = (ws: string) =>
  env.DB.prepare("select key_id, key_hash, revoked_at, expires_at from api_keys where workspace_id = ?")
    .bind(ws)
    .all<{ key_id: string; key_hash: string; revoked_at: string | null; expires_at: string }>()
    .then((r) => r.results);
const wskCount = async () => (await env.KV.list({ prefix: "wsk:" })).keys.length;

describe("listing API keys", () => {
  it("pages newest first through more than three pages with no duplicates or gaps while keys are created", async () => {
    const { owner: o, workspaceId: ws } = await ownedWorkspace();
    const initial: string[] = [];
    for (let i = 0; i < 34; i++) initial.push((await apiKeyWithRole(o.token, ws, "viewer", { name: `k${i}` })).keyId);

    const seen: string[] = [];
    let token: number | null = 0;
    let pages = 0;
    while (token !== null) {
      const res: ApiResponse<ApiKeyPage> = await call("GET", `/v1/${ws}/api-keys?limit=10&continuation_token=${token}`, { token: o.token });
      expect(res.status).toBe(200);
      await expectConformant("GET", "/v1/{workspace_id}/api-keys", res);
      seen.push(...res.body.items.map((k) => k.key_id));
      expect(res.body.has_more).toBe(res.body.continuation_token !== null);
      token = res.body.continuation_token;
      pages += 1;
      // created between pages: newer than the cursor, so never on a later page
      await apiKeyWithRole(o.token, ws, "viewer");
    }
    expect(pages).toBe(4);
    expect(new Set(seen).size).toBe(seen.length);
    expect(seen).toEqual([...initial].reverse());
  });

  it("fills total, leaves revoked keys out, and filters mine_only by creator", async () => {
    const { owner: o, workspaceId: ws } = await ownedWorkspace();
    const colleague = await mintIdentity();
    await addMember(ws, colleague, "admin");
    const mine = await apiKeyWithRole(o.token, ws, "viewer");
    const theirs = await apiKeyWithRole(colleague.token, ws, "viewer");
    const revoked = await apiKeyWithRole(o.token, ws, "viewer");
    expect((await call("DELETE", `/v1/${ws}/api-keys/${revoked.keyId}`, { token: o.token })).status).toBe(204);

    const all = await call("GET", `/v1/${ws}/api-keys?limit=1`, { token: o.token });
    expect(all.body).toMatchObject({ total: 2, has_more: true, items: [expect.objectContaining({ key_id: theirs.keyId })] });
    const onlyMine = await call<ApiKeyPage>("GET", `/v1/${ws}/api-keys?mine_only=true`, { token: o.token });
    expect(onlyMine.body.items.map((k) => k.key_id)).toEqual([mine.keyId]);
    expect(onlyMine.body.total).toBe(1);
    const adminKey = await apiKeyWithRole(o.token, ws, "admin");
    const child = await apiKeyWithRole(adminKey.secret, ws, "viewer");
    const byKey = await call<ApiKeyPage>("GET", `/v1/${ws}/api-keys?mine_only=1`, { token: adminKey.secret });
    expect(byKey.body.items.map((k) => k.key_id)).toEqual([child.keyId]);
  });

  it("returns an empty last page for a cursor past the end", async () => {
    const res = await call("GET", `/v1/${workspaceId}/api-keys?continuation_token=1`, { token: owner.token });
    expect(res.body).toMatchObject({ items: [], has_more: false, continuation_token: null });
  });
});

describe("API keys under KV failure", () => {
  it("create: 503, no row, no KV record", async () => {
    const [rows, records] = [(await keyRows(workspaceId)).length, await wskCount()];
    const res = await createApiKey(owner.token, workspaceId, {}, { env: { KV: faultyKV(["put"]) } });
    expect(res.status).toBe(503);
    expect(res.headers.get("retry-after")).toBe("1");
    await expectConformant("POST", "/v1/{workspace_id}/api-keys", res);
    expect([(await keyRows(workspaceId)).length, await wskCount()]).toEqual([rows, records]);
  });

  it("rotate: 503 when the new record cannot be written; the old secret keeps working, nothing changes", async () => {
    const key = await apiKeyWithRole(owner.token, workspaceId, "viewer");
    const before = (await keyRows(workspaceId)).find((r) => r.key_id === key.keyId);
    const res = await call("POST", `/v1/${workspaceId}/api-keys/${key.keyId}/rotate`, {
      token: owner.token,
      body: { duration_days: 5 },
      env: { KV: faultyKV(["put"]) },
    });
    expect(res.status).toBe(503);
    expect((await keyRows(workspaceId)).find((r) => r.key_id === key.keyId)).toEqual(before);
    expect((await call("GET", "/v1/auth/me", { token: key.secret })).status).toBe(200);
  });

  it("rotate: 503 when the old record cannot be deleted; everything is rolled back", async () => {
    const key = await apiKeyWithRole(owner.token, workspaceId, "viewer");
    const before = (await keyRows(workspaceId)).find((r) => r.key_id === key.keyId);
    const records = await wskCount();
    const res = await call("POST", `/v1/${workspaceId}/api-keys/${key.keyId}/rotate`, {
      token: owner.token,
      body: { duration_days: 5 },
      env: { KV: faultyKV(["delete"]) },
    });
    expect(res.status).toBe(503);
    expect((await keyRows(workspaceId)).find((r) => r.key_id === key.keyId)).toEqual(before);
    expect(before?.key_hash).toBe(await sha256Hex(key.secret));
    expect((await call("GET", "/v1/auth/me", { token: key.secret })).status).toBe(200);
    // the new record written before the failure could not be deleted by the broken KV either: it is
    // unreachable (its secret was never returned) and expires with the key; nothing else is left behind
    expect(await wskCount()).toBeLessThanOrEqual(records + 1);
  });

  it("delete: 503 when the revocation marker cannot be written; the key stays usable and listed, a retry completes it", async () => {
    const key = await apiKeyWithRole(owner.token, workspaceId, "viewer");
    const res = await call("DELETE", `/v1/${workspaceId}/api-keys/${key.keyId}`, { token: owner.token, env: { KV: faultyKV(["put"]) } });
    expect(res.status).toBe(503);
    await expectConformant("DELETE", "/v1/{workspace_id}/api-keys/{key_id}", res);
    expect((await call("GET", "/v1/auth/me", { token: key.secret })).status).toBe(200);
    const listed = await call<ApiKeyPage>("GET", `/v1/${workspaceId}/api-keys?limit=100`, { token: owner.token });
    expect(listed.body.items.map((k) => k.key_id)).toContain(key.keyId);

    expect((await call("DELETE", `/v1/${workspaceId}/api-keys/${key.keyId}`, { token: owner.token })).status).toBe(204);
    expect((await call("GET", "/v1/auth/me", { token: key.secret })).status).toBe(401);
  });

  it("delete: when only the record cannot be deleted the key is revoked all the same, its record purged when presented", async () => {
    const key = await apiKeyWithRole(owner.token, workspaceId, "viewer");
    const res = await call("DELETE", `/v1/${workspaceId}/api-keys/${key.keyId}`, { token: owner.token, env: { KV: faultyKV(["delete"]) } });
    expect(res.status).toBe(204);
    const record = `wsk:${await sha256Hex(key.secret)}`;
    expect(await env.KV.get(record)).not.toBeNull();
    const listed = await call<ApiKeyPage>("GET", `/v1/${workspaceId}/api-keys?limit=100`, { token: owner.token });
    expect(listed.body.items.map((k) => k.key_id)).not.toContain(key.keyId);
    expect((await call("GET", "/v1/auth/me", { token: key.secret })).status).toBe(401);
    expect(await env.KV.get(record)).toBeNull();
  });

  it("delete: a D1 failure after the revocation marker is written takes the marker back: 503, the key still works", async () => {
    const key = await apiKeyWithRole(owner.token, workspaceId, "viewer");
    const DB = interceptD1(async (sql, proceed) => {
      if (sql.startsWith('update "api_keys"')) throw new Error("D1_ERROR: Network connection lost.");
      return proceed();
    });
    const res = await call("DELETE", `/v1/${workspaceId}/api-keys/${key.keyId}`, { token: owner.token, env: { DB } });
    expect(res.status).toBe(503);
    expect((await call("GET", "/v1/auth/me", { token: key.secret })).status).toBe(200);
    expect((await call("GET", `/v1/${workspaceId}/api-keys/permission-catalog`, { token: key.secret })).status).toBe(200);
  });

  it("a key revoked in D1 whose KV record was left behind is refused on every route, its record purged; deleting it is 404", async () => {
    const key = await apiKeyWithRole(owner.token, workspaceId, "viewer");
    const record = kvKeys.principal("wsk", await sha256Hex(key.secret));
    // simulate a revoke whose KV delete and undo both failed: revoked in D1, record still in KV
    await env.DB.prepare("update api_keys set revoked_at = ? where key_id = ?").bind(new Date().toISOString(), key.keyId).run();
    expect(await env.KV.get(record)).not.toBeNull();
    expect((await call("GET", "/v1/auth/me", { token: key.secret })).status).toBe(401);
    expect(await env.KV.get(record)).toBeNull();
    expect((await call("DELETE", `/v1/${workspaceId}/api-keys/${key.keyId}`, { token: owner.token })).status).toBe(404);
  });

  it("concurrent deletes of one key give one 204 and 404s, never a 5xx", async () => {
    const key = await apiKeyWithRole(owner.token, workspaceId, "viewer");
    const results = await Promise.all(
      Array.from({ length: 5 }, () => call("DELETE", `/v1/${workspaceId}/api-keys/${key.keyId}`, { token: owner.token })),
    );
    expect(results.map((r) => r.status).sort()).toEqual([204, 404, 404, 404, 404]);
  });
});
