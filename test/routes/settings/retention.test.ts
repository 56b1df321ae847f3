/**
 * The retention policy (upstream's get-retention-policy and update-retention-policy): defaults for what was
 * never set, partial updates, upstream's bounds, who may read and change it, and the audit event of each change.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { auditStoreOf } from "../../../src/storage/audit-store/outbox";
import type { AuditEventPage, RetentionPolicy } from "../../harness/bodies";
import { call, type ErrorBody, type ValidationErrorBody } from "../../harness/call";
import { expectConformant } from "../../harness/conformance";
import { apiKeyWithRole, joinedMember, type MintedIdentity, ownedWorkspace } from "../../harness/seed";
import { faultyAuditStore, interceptD1, testStorage } from "../../harness/storage";

const PATH = "/v1/{workspace_id}/settings/retention";
const DEFAULTS: RetentionPolicy = {
  call_recordings_days: 2190,
  call_transcripts_days: 2190,
  audit_log_days: 2190,
  world_events_days: 2190,
  phi_data_days: 2190,
  legal_hold: false,
  legal_hold_reason: null,
};

const url = (workspaceId: string) => `/v1/${workspaceId}/settings/retention`;

async function getPolicy(token: string, workspaceId: string) {
  const res = await call<RetentionPolicy>("GET", url(workspaceId), { token });
  expect(res.status, res.text).toBe(200);
  await expectConformant("GET", PATH, res);
  return res.body;
}

async function putPolicy(token: string, workspaceId: string, body: unknown) {
  return call<RetentionPolicy>("PUT", url(workspaceId), { token, body });
}

async function policyEvents(token: string, workspaceId: string) {
  const res = await call<AuditEventPage>("GET", `/v1/${workspaceId}/audit?action=workspace.retention_policy_updated`, { token });
  expect(res.status, res.text).toBe(200);
  return res.body.events;
}

describe("get-retention-policy", () => {
  it("answers upstream's defaults (2190 days, no hold) for a workspace that never set one", async () => {
    const { owner, workspaceId } = await ownedWorkspace();
    expect(await getPolicy(owner.token, workspaceId)).toEqual(DEFAULTS);
  });

  it("gives the deployment's AUDIT_RETENTION_DAYS as the audit default, and 2190 for an out-of-bounds setting", async () => {
    const { owner, workspaceId } = await ownedWorkspace();
    const set = await call<RetentionPolicy>("GET", url(workspaceId), { token: owner.token, env: { AUDIT_RETENTION_DAYS: "3650" } });
    expect(set.body).toEqual({ ...DEFAULTS, audit_log_days: 3650 });
    const wrong = await call<RetentionPolicy>("GET", url(workspaceId), { token: owner.token, env: { AUDIT_RETENTION_DAYS: "30" } });
    expect(wrong.body.audit_log_days).toBe(2190);
  });
});

describe("update-retention-policy", () => {
  let owner: MintedIdentity;
  let workspaceId: string;

  beforeAll(async () => {
    ({ owner, workspaceId } = await ownedWorkspace());
  });

  it("changes only the fields sent, and records old and new values of each change in one event", async () => {
    const res = await putPolicy(owner.token, workspaceId, { audit_log_days: 3650, phi_data_days: 365 });
    expect(res.status, res.text).toBe(200);
    await expectConformant("PUT", PATH, res);
    expect(res.body).toEqual({ ...DEFAULTS, audit_log_days: 3650, phi_data_days: 365 });
    expect(await getPolicy(owner.token, workspaceId)).toEqual(res.body);

    const [event, ...rest] = await policyEvents(owner.token, workspaceId);
    expect(rest).toEqual([]);
    expect(event).toMatchObject({
      resource_type: "workspace",
      resource_id: workspaceId,
      actor_entity_id: owner.identity_id,
      metadata: {
        changes: { audit_log_days: { old: 2190, new: 3650 }, phi_data_days: { old: 2190, new: 365 } },
        request_id: res.headers.get("x-request-id"),
      },
    });
  });

  it("places and lifts a legal hold with its reason; null leaves a field as it is, and clears the reason", async () => {
    const held = await putPolicy(owner.token, workspaceId, { legal_hold: true, legal_hold_reason: "Litigation 2026-114" });
    expect(held.body).toMatchObject({ legal_hold: true, legal_hold_reason: "Litigation 2026-114", audit_log_days: 3650 });
    const kept = await putPolicy(owner.token, workspaceId, { legal_hold: null, audit_log_days: null, legal_hold_reason: null });
    expect(kept.body).toMatchObject({ legal_hold: true, legal_hold_reason: null, audit_log_days: 3650 });
    const lifted = await putPolicy(owner.token, workspaceId, { legal_hold: false });
    expect(lifted.body.legal_hold).toBe(false);
    const changes = (await policyEvents(owner.token, workspaceId)).map((e) => e.metadata?.changes);
    expect(changes.slice(0, 3)).toEqual([
      { legal_hold: { old: true, new: false } },
      { legal_hold_reason: { old: "Litigation 2026-114", new: null } },
      { legal_hold: { old: false, new: true }, legal_hold_reason: { old: null, new: "Litigation 2026-114" } },
    ]);
  });

  it("records nothing for a request that changes nothing (an empty body, or the values already in force)", async () => {
    const before = (await policyEvents(owner.token, workspaceId)).length;
    expect((await putPolicy(owner.token, workspaceId, {})).status).toBe(200);
    const same = await putPolicy(owner.token, workspaceId, { audit_log_days: 3650, call_recordings_days: 2190 });
    expect(same.status).toBe(200);
    expect((await policyEvents(owner.token, workspaceId)).length).toBe(before);
  });

  it("answers 409 to a change that lost to a concurrent one, which stands alone in the policy and the trail", async () => {
    const { owner: o, workspaceId: id } = await ownedWorkspace();
    let raced = false;
    // Just before this request's batch, another change commits: the row is no longer the one it read.
    const DB = interceptD1(async (sql, proceed) => {
      if (!raced && sql.includes('insert into "retention_policies"')) {
        raced = true;
        expect((await putPolicy(o.token, id, { audit_log_days: 1000 })).status).toBe(200);
      }
      return proceed();
    });
    const lost = await call<ErrorBody>("PUT", url(id), { token: o.token, body: { audit_log_days: 4000 }, env: { DB } });
    expect(lost.status, lost.text).toBe(409);
    expect(lost.body.error_code).toBe("conflict");
    expect((await getPolicy(o.token, id)).audit_log_days).toBe(1000);
    expect((await policyEvents(o.token, id)).map((e) => e.metadata?.changes)).toEqual([{ audit_log_days: { old: 2190, new: 1000 } }]);
  });

  it.each([
    ["audit_log_days", 364, "greater_than_equal"],
    ["phi_data_days", 36501, "less_than_equal"],
    ["call_recordings_days", 400.5, "int_type"],
    ["world_events_days", "730", "int_type"],
    ["legal_hold", "yes", "bool_type"],
    ["legal_hold_reason", "x".repeat(2001), "string_too_long"],
  ])("refuses %s = %j with a 422 at its field, and changes nothing", async (field, value, type) => {
    const before = await getPolicy(owner.token, workspaceId);
    const res = await putPolicy(owner.token, workspaceId, { [field]: value });
    expect(res.status, res.text).toBe(422);
    await expectConformant("PUT", PATH, res);
    const detail = (res.body as unknown as ValidationErrorBody).detail;
    expect(
      detail.some((item) => item.loc.join(".") === `body.${field}` && item.type === type),
      JSON.stringify(detail),
    ).toBe(true);
    expect(await getPolicy(owner.token, workspaceId)).toEqual(before);
  });
});

describe("who may read and change it", () => {
  it("lets every role read it, and only owners and admins (and keys with Workspace.update) change it", async () => {
    const { owner, workspaceId } = await ownedWorkspace();
    const admin = await joinedMember(owner.token, workspaceId, "admin");
    const member = await joinedMember(owner.token, workspaceId, "member");
    const viewerKey = await apiKeyWithRole(owner.token, workspaceId, "viewer");
    const adminKey = await apiKeyWithRole(owner.token, workspaceId, "admin");

    for (const token of [member.token, viewerKey.secret, admin.token]) expect(await getPolicy(token, workspaceId)).toEqual(DEFAULTS);
    for (const token of [member.token, viewerKey.secret]) {
      const res = await call<ErrorBody>("PUT", url(workspaceId), { token, body: { legal_hold: true } });
      expect(res.status, res.text).toBe(403);
    }
    expect((await putPolicy(admin.token, workspaceId, { audit_log_days: 400 })).status).toBe(200);
    expect((await putPolicy(adminKey.secret, workspaceId, { audit_log_days: 500 })).status).toBe(200);
    expect((await getPolicy(owner.token, workspaceId)).audit_log_days).toBe(500);
  });

  it("refuses a non-member (403) and another workspace's key (403), and answers 401 without a credential", async () => {
    const { workspaceId } = await ownedWorkspace();
    const other = await ownedWorkspace();
    const foreign = await call<ErrorBody>("GET", url(workspaceId), { token: other.owner.token });
    expect(foreign.status).toBe(403);
    const otherKey = await apiKeyWithRole(other.owner.token, other.workspaceId, "owner");
    expect((await call<ErrorBody>("PUT", url(workspaceId), { token: otherKey.secret, body: { legal_hold: true } })).status).toBe(403);
    expect((await call("GET", url(workspaceId))).status).toBe(401);
  });

  it("answers a hold 200 only once every audit store has it: 503 while one cannot be told, and the repeat completes it", async () => {
    const { owner, workspaceId } = await ownedWorkspace();
    const down = faultyAuditStore(["setLegalHold"]);
    const failed = await call<ErrorBody>("PUT", url(workspaceId), {
      token: owner.token,
      body: { legal_hold: true },
      env: { AUDIT_STORE: down.binding },
    });
    expect(failed.status, failed.text).toBe(503);
    expect(failed.headers.get("retry-after")).not.toBeNull();
    expect(failed.body.detail).toContain("repeat the request");
    expect(down.calls.setLegalHold).toBeGreaterThan(0);
    // Recorded in D1 (every later prune reads it), not yet in the store:
    expect((await getPolicy(owner.token, workspaceId)).legal_hold).toBe(true);

    const repeated = await putPolicy(owner.token, workspaceId, { legal_hold: true });
    expect(repeated.status, repeated.text).toBe(200);
    // A prune that read the policy before the hold (version 0, no hold) is refused by the store now.
    const store = auditStoreOf(testStorage(), workspaceId, new Date().getUTCFullYear());
    const cutoff = new Date(Date.now() + 86_400_000).toISOString();
    expect(await store.prune({ cutoff, legalHold: false, policyVersion: 0, limit: 100 })).toMatchObject({ deleted: 0, held: true });
    // Only one change was recorded: the repeat changed nothing.
    expect((await policyEvents(owner.token, workspaceId)).length).toBe(1);
  });

  it("keeps an archived workspace's policy readable by its owner, and refuses changes", async () => {
    const { owner, workspaceId, slug } = await ownedWorkspace();
    expect((await putPolicy(owner.token, workspaceId, { legal_hold: true })).status).toBe(200);
    const archived = await call("POST", `/v1/workspaces/${workspaceId}/archive`, { token: owner.token, body: { slug } });
    expect(archived.status, archived.text).toBe(200);
    expect((await getPolicy(owner.token, workspaceId)).legal_hold).toBe(true);
    expect((await putPolicy(owner.token, workspaceId, { legal_hold: false })).status).toBe(404);
  });
});
