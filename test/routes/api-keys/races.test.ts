/**
 * "The workspace is archived" and "this key is revoked" hold at every moment, whatever runs concurrently:
 * archive racing create-api-key, and revoke racing rotate, both at exact interleavings (one request runs to
 * completion at a chosen point of the other) and with many concurrent requests over jittery storage.
 * Afterwards no secret authenticates for a revoked key or an archived workspace.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { ApiKeyPage, CreatedApiKey } from "../../harness/bodies";
import { type ApiResponse, call, type ErrorBody, errorOf, successOf, type TestEnv } from "../../harness/call";
import { expectConformant } from "../../harness/conformance";
import { apiKeyWithRole, createApiKey, ownedWorkspace } from "../../harness/seed";
import { interceptD1, interceptKV, jitteryStorage } from "../../harness/storage";

type Workspace = Awaited<ReturnType<typeof ownedWorkspace>>;

const archive = (w: Workspace, env?: Partial<TestEnv>) =>
  call("POST", `/v1/workspaces/${w.workspaceId}/archive`, { token: w.owner.token, body: { slug: w.slug }, env });
const rotate = (w: Workspace, keyId: string, env?: Partial<TestEnv>) =>
  call<CreatedApiKey | ErrorBody>("POST", `/v1/${w.workspaceId}/api-keys/${keyId}/rotate`, {
    token: w.owner.token,
    body: { duration_days: 3 },
    env,
  });
const revoke = (w: Workspace, keyId: string, env?: Partial<TestEnv>) =>
  call("DELETE", `/v1/${w.workspaceId}/api-keys/${keyId}`, { token: w.owner.token, env });
const authStatus = async (secret: string | undefined) => (await call("GET", "/v1/auth/me", { token: secret })).status;

/** Runs `other` to completion the first time `matches(sql)` holds after a statement of this request. */
function pauseAt<Body>(matches: (sql: string) => boolean, other: () => Promise<ApiResponse<Body>>) {
  let outcome: Promise<ApiResponse<Body>> | undefined;
  const DB = interceptD1(async (sql, proceed) => {
    const result = await proceed();
    if (outcome === undefined && matches(sql)) {
      outcome = other();
      await outcome;
    }
    return result;
  });
  return { DB, outcome: () => outcome };
}

async function activeKeyRows(workspaceId: string) {
  const rows = await env.DB.prepare("select key_id, key_hash from api_keys where workspace_id = ? and revoked_at is null")
    .bind(workspaceId)
    .all<{ key_id: string; key_hash: string }>();
  return rows.results;
}

/** Every key record in KV that names this workspace. */
async function keyRecordsOf(workspaceId: string): Promise<number> {
  const { keys } = await env.KV.list({ prefix: "wsk:" });
  const values = await Promise.all(keys.map((k) => env.KV.get(k.name, "json") as Promise<{ workspace_id: string } | null>));
  return values.filter((v) => v?.workspace_id === workspaceId).length;
}

async function expectArchivedClean(w: Workspace, secrets: string[]) {
  for (const secret of secrets) expect(await authStatus(secret), "a key of an archived workspace authenticates").toBe(401);
  expect(await activeKeyRows(w.workspaceId)).toEqual([]);
  const listed = await call<ApiKeyPage>("GET", `/v1/${w.workspaceId}/api-keys?limit=100`, { token: w.owner.token });
  expect(listed.status).toBe(200);
  expect(listed.body.total).toBe(0);
}

describe("archive racing create-api-key", () => {
  it("a create whose insert comes after the archive commits answers 404 and leaves no key", async () => {
    const w = await ownedWorkspace();
    // the create has read the (live) workspace; the archive runs to completion before the key is inserted
    const { DB, outcome } = pauseAt(
      (sql) => sql.startsWith("select") && sql.includes('from "workspaces"'),
      () => archive(w),
    );
    const created = await createApiKey<ErrorBody>(w.owner.token, w.workspaceId, {}, { env: { DB } });
    expect((await outcome())?.status).toBe(200);
    expect(created.status, created.text).toBe(404);
    expect(created.body.detail).toBe("Workspace not found.");
    await expectConformant("POST", "/v1/{workspace_id}/api-keys", created);
    await expectArchivedClean(w, []);
  });

  it("a key inserted before the archive but published to KV after it never authenticates, and the create answers 404", async () => {
    const w = await ownedWorkspace();
    let archived: Promise<ApiResponse> | undefined;
    const KV = interceptKV(async (method, key, proceed) => {
      if (method === "put" && String(key).startsWith("wsk:") && archived === undefined) {
        archived = archive(w);
        await archived;
      }
      return proceed();
    });
    const created = await createApiKey(w.owner.token, w.workspaceId, {}, { env: { KV } });
    expect((await archived)?.status).toBe(200);
    expect(created.status, created.text).toBe(404);
    expect(created.text).not.toContain("wsk_");
    await expectArchivedClean(w, []);
    expect(await keyRecordsOf(w.workspaceId)).toBe(0);
  });

  it("12 concurrent creates (owner token and admin key) around an archive leave no working key, over many rounds", async () => {
    for (let round = 0; round < 8; round++) {
      const w = await ownedWorkspace();
      const adminKey = await apiKeyWithRole(w.owner.token, w.workspaceId, "admin");
      const storage = jitteryStorage();
      const create = (i: number) =>
        createApiKey(i % 2 === 0 ? w.owner.token : adminKey.secret, w.workspaceId, { role: "viewer" }, { env: storage });
      const before = Array.from({ length: 6 }, (_, i) => create(i));
      const archived = archive(w, storage);
      const after = Array.from({ length: 6 }, (_, i) => create(i + 6));
      const results = await Promise.all([...before, ...after]);
      expect((await archived).status).toBe(200);
      for (const r of results) expect([201, 401, 404], r.text).toContain(r.status);
      const secrets = results.filter((r) => r.status === 201).map((r) => r.body.api_key as string);
      await expectArchivedClean(w, [...secrets, adminKey.secret]);
      expect(await keyRecordsOf(w.workspaceId)).toBe(0);
    }
  }, 60_000);
});

describe("revoke racing rotate", () => {
  it("a rotation that commits between the revoke's read and its write leaves no working secret", async () => {
    const w = await ownedWorkspace();
    const key = await apiKeyWithRole(w.owner.token, w.workspaceId, "viewer");
    // the delete has read the key (old hash); the rotation runs to completion before the delete writes
    const { DB, outcome } = pauseAt(
      (sql) => sql.startsWith("select") && sql.includes('from "api_keys"'),
      () => rotate(w, key.keyId),
    );
    const deleted = await revoke(w, key.keyId, { DB });
    const rotated = await outcome();
    expect(rotated?.status).toBe(200);
    expect(deleted.status, deleted.text).toBe(204);
    expect(await authStatus(rotated && successOf(rotated)?.api_key)).toBe(401);
    expect(await authStatus(key.secret)).toBe(401);
    expect(await activeKeyRows(w.workspaceId)).toEqual([]);
    expect(await keyRecordsOf(w.workspaceId)).toBe(0);
  });

  it("a revoke that commits between the rotation's read and its write makes the rotation fail without a working secret", async () => {
    const w = await ownedWorkspace();
    const key = await apiKeyWithRole(w.owner.token, w.workspaceId, "viewer");
    const { DB, outcome } = pauseAt(
      (sql) => sql.startsWith("select") && sql.includes('from "api_keys"'),
      () => revoke(w, key.keyId),
    );
    const rotated = await rotate(w, key.keyId, { DB });
    expect((await outcome())?.status).toBe(204);
    expect(rotated.status, rotated.text).toBe(404);
    expect(rotated.text).not.toContain("wsk_");
    expect(await authStatus(key.secret)).toBe(401);
    expect(await keyRecordsOf(w.workspaceId)).toBe(0);
  });

  it("one delete among concurrent rotations, over many rounds: the delete wins, no secret survives it", async () => {
    for (let round = 0; round < 10; round++) {
      const w = await ownedWorkspace();
      const key = await apiKeyWithRole(w.owner.token, w.workspaceId, "viewer");
      const storage = jitteryStorage(12);
      const rotations = Array.from({ length: 5 }, () => rotate(w, key.keyId, storage));
      const deleted = revoke(w, key.keyId, storage);
      const results = await Promise.all(rotations);
      expect((await deleted).status).toBe(204);
      for (const r of results) expect([200, 404, 409], r.text).toContain(r.status);
      const secrets = [key.secret, ...results.flatMap((r) => successOf(r)?.api_key ?? [])];
      for (const secret of secrets) expect(await authStatus(secret)).toBe(401);
      expect(await activeKeyRows(w.workspaceId)).toEqual([]);
      expect(await keyRecordsOf(w.workspaceId)).toBe(0);
    }
  }, 60_000);

  it.each([
    ["with storage jitter", true],
    ["without", false],
  ])("20 concurrent rotations (%s): one wins, the others answer 409 (never 404), and only the newest secret works", async (_, jitter) => {
    const w = await ownedWorkspace();
    const key = await apiKeyWithRole(w.owner.token, w.workspaceId, "viewer");
    const storage = jitter ? jitteryStorage() : undefined;
    const results = await Promise.all(Array.from({ length: 20 }, () => rotate(w, key.keyId, storage)));
    const statuses = results.map((r) => r.status);
    expect(
      statuses.filter((s) => s !== 200 && s !== 409),
      JSON.stringify(statuses),
    ).toEqual([]);
    const working: string[] = [];
    for (const secret of results.flatMap((r) => successOf(r)?.api_key ?? [])) if ((await authStatus(secret)) === 200) working.push(secret);
    expect(working).toHaveLength(1);
    for (const r of results.filter((x) => x.status === 409)) {
      expect(errorOf(r)?.error_code).toBe("conflict");
      await expectConformant("POST", "/v1/{workspace_id}/api-keys/{key_id}/rotate", r);
    }
    expect(await activeKeyRows(w.workspaceId)).toHaveLength(1);
  });
});

describe("repairing what a past race left", () => {
  /**
   * An active key in an archived workspace, as the old create-key race left them: archived in D1 only, the
   * key's row and KV record untouched.
   */
  async function straggler(w: Workspace) {
    const key = await apiKeyWithRole(w.owner.token, w.workspaceId, "viewer");
    await env.DB.prepare("update workspaces set archived_at = ? where id = ?").bind(new Date().toISOString(), w.workspaceId).run();
    return key;
  }

  it("a repeated archive revokes a still-active key of the archived workspace", async () => {
    const w = await ownedWorkspace();
    await straggler(w);
    expect((await call<ApiKeyPage>("GET", `/v1/${w.workspaceId}/api-keys`, { token: w.owner.token })).body.total).toBe(1);
    expect((await archive(w)).status).toBe(200);
    await expectArchivedClean(w, []);
    expect(await keyRecordsOf(w.workspaceId)).toBe(0);
  });

  it("the owner can delete such a key", async () => {
    const w = await ownedWorkspace();
    const key = await straggler(w);
    expect((await revoke(w, key.keyId)).status).toBe(204);
    await expectArchivedClean(w, []);
  });

  it("such a key is refused (401) on its workspace's routes and its record is purged", async () => {
    const w = await ownedWorkspace();
    const key = await straggler(w);
    const [row] = await activeKeyRows(w.workspaceId);
    const res = await call("GET", `/v1/${w.workspaceId}/api-keys`, { token: key.secret });
    expect(res.status).toBe(401);
    expect(await env.KV.get(`wsk:${row?.key_hash}`)).toBeNull();
  });
});
