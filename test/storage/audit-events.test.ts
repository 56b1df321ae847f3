/**
 * Every control-plane write records exactly one audit event, in the same D1 transaction as the write,
 * naming the accountable person and the credential used (identity token, API key, key made by a key).
 */
import { env } from "cloudflare:workers";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { AUDIT_ACTIONS } from "../../src/storage/audit-events/actions";
import type { ApiKeyPage, AuditEventPage, CreatedApiKey, OpenApiDoc, OperatorAuditEventPage, TestCallerNumbers } from "../harness/bodies";
import { call } from "../harness/call";
import { expectConformant, operationAt } from "../harness/conformance";
import { apiKeyWithRole, createApiKey, createWorkspace, type MintedIdentity, mintIdentity, ownedWorkspace } from "../harness/seed";
import { faultyKV, interceptKV } from "../harness/storage";

const AUDIT = "/v1/{workspace_id}/audit";
const CLIENT = { "cf-connecting-ip": "203.0.113.7", "user-agent": "audit-test/1.0" };

/** The workspace's whole trail, oldest first, read through the API as its owner. */
async function trail(token: string, workspaceId: string) {
  const res = await call<AuditEventPage>("GET", `/v1/${workspaceId}/audit?limit=100`, { token });
  expect(res.status, res.text).toBe(200);
  await expectConformant("GET", AUDIT, res);
  return [...res.body.events].reverse();
}

const actions = (events: { action: string }[]) => events.map((e) => e.action);

/** From now on every audit insert aborts inside its batch, as a failing statement of the transaction would. */
const failAuditInserts = () =>
  env.DB.exec("CREATE TRIGGER fail_audit BEFORE INSERT ON audit_events BEGIN SELECT RAISE(ABORT, 'injected'); END;");
const allowAuditInserts = () => env.DB.exec("DROP TRIGGER IF EXISTS fail_audit;");

/** The identity token's credential id, as the API reports it on what the token creates. */
async function credentialOf(identity: MintedIdentity, workspaceId: string) {
  const res = await createApiKey(identity.token, workspaceId, { role: "viewer", name: "probe" });
  return res.body.created_by_credential_id as string;
}

describe("one event per write, with the actor", () => {
  let owner: MintedIdentity;
  let workspaceId: string;
  let slug: string;

  beforeAll(async () => {
    owner = await mintIdentity();
    const res = await createWorkspace(owner.token, { environment: "staging" }, { headers: CLIENT });
    expect(res.status).toBe(201);
    ({ id: workspaceId, slug } = res.body);
  });

  it("records the create with who, from where, and nothing else yet", async () => {
    const [created, ...rest] = await trail(owner.token, workspaceId);
    expect(rest).toEqual([]);
    const credential = await credentialOf(owner, workspaceId);
    expect(created).toEqual({
      id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      workspace_id: workspaceId,
      timestamp: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
      service: "platform",
      action: "workspace.created",
      actor_entity_id: owner.identity_id,
      actor_credential_id: credential,
      resource_type: "workspace",
      resource_id: workspaceId,
      resource_name: "Test Workspace",
      metadata: { slug, environment: "staging", region: "us-east-1", request_id: expect.stringMatching(/^req_[0-9a-f]{32}$/) },
      ip_address: "203.0.113.7",
      user_agent: "audit-test/1.0",
      phi_accessed: false,
    });
  });

  it("records each workspace write once, with old and new values, and nothing for a write that changes nothing", async () => {
    const base = `/v1/workspaces/${workspaceId}`;
    const before = (await trail(owner.token, workspaceId)).length;
    const steps: [string, string, unknown][] = [
      ["PATCH", base, { name: "Renamed", connector_type: "epic" }],
      ["PATCH", base, { name: "Renamed" }], // unchanged: no event
      ["POST", `${base}/provision`, undefined],
      ["POST", `${base}/provision`, undefined], // already provisioned: no event
      ["PUT", `${base}/test-caller-numbers`, { numbers: ["+14155550100"] }],
      ["PUT", `${base}/test-caller-numbers`, { numbers: ["+14155550100"] }], // same list: no event
      ["PUT", `${base}/test-credential-ids`, { credential_ids: ["0b6f2c1e-5d1a-4c4e-9f7a-1e2d3c4b5a69"] }],
      ["POST", `${base}/convert-environment`, { target: "production", confirm_slug: slug }],
      ["POST", `${base}/convert-environment`, { target: "production", confirm_slug: slug }], // no change
    ];
    for (const [method, path, body] of steps) expect((await call(method, path, { token: owner.token, body })).status).toBe(200);

    const events = (await trail(owner.token, workspaceId)).slice(before);
    expect(actions(events)).toEqual([
      "workspace.updated",
      "workspace.provisioned",
      "workspace.test_caller_numbers_updated",
      "workspace.test_credential_ids_updated",
      "workspace.environment_converted",
    ]);
    const changesOf = (i: number) => {
      const { request_id, ...rest } = events[i]?.metadata ?? {};
      expect(request_id).toMatch(/^req_/);
      return rest;
    };
    expect(changesOf(0)).toEqual({
      changes: { name: { old: "Test Workspace", new: "Renamed" }, connector_type: { old: null, new: "epic" } },
    });
    expect(changesOf(2)).toEqual({ changes: { test_caller_numbers: { old: [], new: ["+14155550100"] } } });
    expect(changesOf(4)).toEqual({ changes: { environment: { old: "staging", new: "production" } } });
    for (const event of events) expect(event.actor_entity_id).toBe(owner.identity_id);
  });

  it("records key create, rotate and delete, and never a secret or hash", async () => {
    const before = (await trail(owner.token, workspaceId)).length;
    const created = await apiKeyWithRole(owner.token, workspaceId, "member", { name: "ci" });
    const rotated = await call<CreatedApiKey>("POST", `/v1/${workspaceId}/api-keys/${created.keyId}/rotate`, {
      token: owner.token,
      body: { duration_days: 3 },
    });
    expect(rotated.status).toBe(200);
    expect((await call("DELETE", `/v1/${workspaceId}/api-keys/${created.keyId}`, { token: owner.token })).status).toBe(204);
    expect((await call("DELETE", `/v1/${workspaceId}/api-keys/${created.keyId}`, { token: owner.token })).status).toBe(404);

    const events = (await trail(owner.token, workspaceId)).slice(before);
    expect(actions(events)).toEqual(["api_key.created", "api_key.rotated", "api_key.deleted"]);
    const keyRowId = events[0]?.resource_id;
    for (const event of events)
      expect(event).toMatchObject({
        resource_type: "api_key",
        resource_id: keyRowId,
        resource_name: "ci",
        metadata: expect.objectContaining({ key_id: created.keyId }),
      });
    expect(events[0]?.metadata).toMatchObject({
      role: "member",
      expires_at: created.body.expires_at,
      permissions: created.body.permissions,
    });
    expect((events[1]?.metadata?.changes as Record<string, unknown> | undefined)?.expires_at).toEqual({
      old: created.body.expires_at,
      new: rotated.body.expires_at,
    });

    const text = JSON.stringify(events);
    const stored = await env.DB.prepare("select key_hash from api_keys where id = ?").bind(keyRowId).first<string>("key_hash");
    for (const secret of [created.secret, rotated.body.api_key, stored ?? "missing"]) expect(text).not.toContain(secret);
    expect(text).not.toMatch(/wsk_|pat_/);
  });

  it("records archive once; a repeat records nothing", async () => {
    const { owner: o, workspaceId: id, slug: s } = await ownedWorkspace();
    for (let i = 0; i < 2; i++)
      expect((await call("POST", `/v1/workspaces/${id}/archive`, { token: o.token, body: { slug: s } })).status).toBe(200);
    expect(actions(await trail(o.token, id))).toEqual(["workspace.created", "workspace.archived"]);
  });
});

describe("the actor of a key's writes", () => {
  it("is the accountable person and the key itself, also for a key made by a key", async () => {
    const { owner, workspaceId } = await ownedWorkspace();
    const first = await apiKeyWithRole(owner.token, workspaceId, "admin");
    const second = await apiKeyWithRole(first.secret, workspaceId, "member"); // made by a key
    const target = await apiKeyWithRole(owner.token, workspaceId, "viewer");
    expect(
      (await call("POST", `/v1/${workspaceId}/api-keys/${target.keyId}/rotate`, { token: second.secret, body: { duration_days: 1 } }))
        .status,
    ).toBe(403);
    expect((await call("PATCH", `/v1/workspaces/${workspaceId}`, { token: first.secret, body: { name: "By key" } })).status).toBe(200);
    const third = await apiKeyWithRole(second.secret, workspaceId, "viewer");

    const keys = (await call<ApiKeyPage>("GET", `/v1/${workspaceId}/api-keys?limit=100`, { token: owner.token })).body.items as {
      key_id: string;
      id: string;
    }[];
    const rowId = (keyId: string) => keys.find((k) => k.key_id === keyId)?.id;
    const events = await trail(owner.token, workspaceId);
    const made = (keyId: string) => events.find((e) => e.action === "api_key.created" && e.metadata?.key_id === keyId);

    expect(made(second.keyId)).toMatchObject({ actor_entity_id: owner.identity_id, actor_credential_id: rowId(first.keyId) });
    expect(made(third.keyId)).toMatchObject({ actor_entity_id: owner.identity_id, actor_credential_id: rowId(second.keyId) });
    expect(events.find((e) => e.action === "workspace.updated")).toMatchObject({
      actor_entity_id: owner.identity_id,
      actor_credential_id: rowId(first.keyId),
    });
    // The refused rotation wrote nothing.
    expect(events.filter((e) => e.action === "api_key.rotated")).toEqual([]);
  });
});

describe("the operator log", () => {
  const ADMIN = { token: env.ADMIN_TOKEN };

  it("records identity create and revoke (once, however often it is repeated) under GET /admin/audit", async () => {
    const identity = await mintIdentity();
    for (let i = 0; i < 2; i++) expect((await call("DELETE", `/admin/identities/${identity.identity_id}`, ADMIN)).status).toBe(204);
    const res = await call<OperatorAuditEventPage>("GET", `/admin/audit?resource_id=${identity.identity_id}`, ADMIN);
    expect(res.status).toBe(200);
    await expectConformant("GET", "/admin/audit", res);
    expect(res.body.total).toBe(2);
    expect(actions(res.body.events)).toEqual(["identity.revoked", "identity.created"]);
    const first = await call<OperatorAuditEventPage>("GET", `/admin/audit?resource_id=${identity.identity_id}&limit=1`, ADMIN);
    expect(first.body).toMatchObject({ has_more: true, next_offset: 1 });
    const last = await call("GET", `/admin/audit?resource_id=${identity.identity_id}&limit=1&offset=${first.body.next_offset}`, ADMIN);
    expect(last.body).toMatchObject({ has_more: false, next_offset: null, events: [{ action: "identity.created" }] });
    expect(res.body.events[1]).toMatchObject({
      workspace_id: null,
      actor_entity_id: null,
      actor_credential_id: null,
      resource_type: "identity",
      resource_name: identity.email,
      metadata: { scopes: identity.scopes },
    });
    expect(JSON.stringify(res.body)).not.toMatch(/pat_/);
  });

  it("keeps identity events out of every workspace's trail, and needs the admin token", async () => {
    expect((await call("GET", "/admin/audit")).status).toBe(401);
    const { owner, workspaceId } = await ownedWorkspace();
    expect(actions(await trail(owner.token, workspaceId))).toEqual(["workspace.created"]);
  });

  it("writes nothing when the identity's KV write fails, and keeps no KV record when the event's write fails", async () => {
    const before = (await call<OperatorAuditEventPage>("GET", "/admin/audit?action=identity.created&limit=1", ADMIN)).body.total;
    const failedKv = await call("POST", "/admin/identities", {
      ...ADMIN,
      body: { email: "kv-fails@example.com" },
      env: { KV: faultyKV(["put"], undefined, { after: 1 }) },
    });
    expect(failedKv.status).toBe(503);
    expect((await call<OperatorAuditEventPage>("GET", "/admin/audit?action=identity.created&limit=1", ADMIN)).body.total).toBe(before);

    await failAuditInserts();
    const puts: string[] = [];
    const kv = interceptKV(async (method, key, proceed) => {
      if (method === "put") puts.push(String(key));
      return proceed();
    });
    try {
      expect((await call("POST", "/admin/identities", { ...ADMIN, body: { email: "d1-fails@example.com" }, env: { KV: kv } })).status).toBe(
        500,
      );
    } finally {
      await allowAuditInserts();
    }
    // The identity record, its email index entry and the token's principal record: each undone.
    expect(puts).toHaveLength(3);
    for (const key of puts) expect(await env.KV.get(key)).toBeNull();
  });
});

describe("atomicity: the write and its event commit together or not at all", () => {
  afterEach(allowAuditInserts);

  it("leaves no workspace, membership or directory entry when the event cannot be written", async () => {
    const owner = await mintIdentity();
    await failAuditInserts();
    const res = await createWorkspace(owner.token, { slug: "atomic-create" });
    expect(res.status).toBe(500);
    expect(await env.DB.prepare("select count(*) as n from workspaces where slug = 'atomic-create'").first("n")).toBe(0);
    expect(await env.DB.prepare("select count(*) as n from memberships where identity_id = ?").bind(owner.identity_id).first("n")).toBe(0);
  });

  it("changes no workspace field, key or secret when the event cannot be written", async () => {
    const { owner, workspaceId, slug } = await ownedWorkspace();
    const key = await apiKeyWithRole(owner.token, workspaceId, "member");
    const keysBefore = (await call<ApiKeyPage>("GET", `/v1/${workspaceId}/api-keys`, { token: owner.token })).body.total;
    const base = `/v1/workspaces/${workspaceId}`;
    await failAuditInserts();
    const attempts: [string, string, unknown][] = [
      ["PATCH", base, { name: "Never" }],
      ["POST", `${base}/provision`, undefined],
      ["PUT", `${base}/test-caller-numbers`, { numbers: ["+14155550199"] }],
      ["PUT", `${base}/test-credential-ids`, { credential_ids: [crypto.randomUUID()] }],
      ["POST", `${base}/convert-environment`, { target: "production", confirm_slug: slug }],
      ["POST", `/v1/${workspaceId}/api-keys`, { role: "viewer", duration_days: 1 }],
      ["POST", `/v1/${workspaceId}/api-keys/${key.keyId}/rotate`, { duration_days: 1 }],
      ["DELETE", `/v1/${workspaceId}/api-keys/${key.keyId}`, undefined],
      ["POST", `${base}/archive`, { slug }],
    ];
    for (const [method, path, body] of attempts)
      expect((await call(method, path, { token: owner.token, body })).status, `${method} ${path}`).toBe(500);
    await allowAuditInserts();

    const workspace = (await call("GET", base, { token: owner.token })).body;
    expect(workspace).toMatchObject({ name: "Test Workspace", environment: "staging", provisioned_at: null });
    expect((await call<TestCallerNumbers>("GET", `${base}/test-caller-numbers`, { token: owner.token })).body.numbers).toEqual([]);
    expect((await call<ApiKeyPage>("GET", `/v1/${workspaceId}/api-keys`, { token: owner.token })).body.total).toBe(keysBefore);
    // The key kept its secret and is still live (neither rotated nor deleted).
    expect((await call("GET", "/v1/auth/me", { token: key.secret })).status).toBe(200);
    expect((await call("GET", `/v1/${workspaceId}/api-keys`, { token: key.secret })).status).toBe(200);
    expect(actions(await trail(owner.token, workspaceId))).toEqual(["workspace.created", "api_key.created"]);
  });

  it("removes the event with the write when a later KV step fails and the write is undone", async () => {
    const { owner, workspaceId } = await ownedWorkspace();
    const key = await apiKeyWithRole(owner.token, workspaceId, "member");
    expect((await createApiKey(owner.token, workspaceId, { role: "viewer" }, { env: { KV: faultyKV(["put"]) } })).status).toBe(503);
    const rotate = await call("POST", `/v1/${workspaceId}/api-keys/${key.keyId}/rotate`, {
      token: owner.token,
      body: { duration_days: 1 },
      env: { KV: faultyKV(["delete"]) },
    });
    expect(rotate.status).toBe(503);
    expect((await createWorkspace(owner.token, {}, { env: { KV: faultyKV(["put"]) } })).status).toBe(503);
    expect(actions(await trail(owner.token, workspaceId))).toEqual(["workspace.created", "api_key.created"]);
    expect(
      await env.DB.prepare(
        "select count(*) as n from audit_events a left join workspaces w on w.id = a.workspace_id where a.workspace_id is not null and " +
          "w.id is null",
      ).first("n"),
    ).toBe(0);
  });
});

it("documents every action it records", async () => {
  const doc = (await call<OpenApiDoc>("GET", "/doc")).body;
  const description = operationAt(doc, "get", "/v1/{workspace_id}/audit").parameters?.find((p) => p.name === "action")?.description;
  for (const action of Object.keys(AUDIT_ACTIONS)) expect(description).toContain(action);
});
