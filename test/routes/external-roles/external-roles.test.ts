/**
 * External roles and their assignments (docs/guides/rbac.md): every
 * operation and documented status, the uniqueness and reference rules, what deleting a role does to its
 * grants and assignments, and an upsert racing the deletion of a role it names.
 */
import { describe, expect, it } from "vitest";
import type { Assignment, AssignmentPage, AuditEventPage, ExternalRole, ExternalRolePage, RoleGrant } from "../../harness/bodies";
import { call, type ErrorBody, type ValidationErrorBody } from "../../harness/call";
import { expectConformant } from "../../harness/conformance";
import { joinedMember, type MintedIdentity, ownedWorkspace } from "../../harness/seed";
import { interceptD1 } from "../../harness/storage";

const ROLES = "/v1/{workspace_id}/external-roles";
const ROLE = "/v1/{workspace_id}/external-roles/{role_id}";
const ASSIGNMENTS = "/v1/{workspace_id}/external-role-assignments";
const ASSIGNMENT = "/v1/{workspace_id}/external-role-assignments/{assignment_id}";

/** create-external-role; typed as the success unless the test names another body. */
const createRole = <Body = ExternalRole>(token: string, workspaceId: string, body: Record<string, unknown>) =>
  call<Body>("POST", `/v1/${workspaceId}/external-roles`, { token, body: { external_name: "Some Role", ...body } });
/** upsert-external-role-assignment; typed as the success unless the test names another body. */
const upsert = <Body = Assignment>(token: string, workspaceId: string, body: Record<string, unknown>, env?: { DB: D1Database }) =>
  call<Body>("PUT", `/v1/${workspaceId}/external-role-assignments`, {
    token,
    body: { source: "okta", provisioned_via: "roster_sync", ...body },
    env,
  });

async function audit(token: string, workspaceId: string, action: string) {
  const res = await call<AuditEventPage>("GET", `/v1/${workspaceId}/audit?action=${action}&limit=100`, { token });
  expect(res.status).toBe(200);
  return res.body.events;
}

describe("external roles", () => {
  it("creates, reads, lists, refuses duplicates and unknown fields, deletes", async () => {
    const { owner, workspaceId } = await ownedWorkspace();
    const created = await createRole(owner.token, workspaceId, { name: "nurse", external_name: "Registered Nurse", description: "RNs" });
    expect(created.status, created.text).toBe(201);
    await expectConformant("POST", ROLES, created);
    expect(created.body).toMatchObject({ name: "nurse", external_name: "Registered Nurse", description: "RNs" });
    expect((await createRole(owner.token, workspaceId, { name: "admin_staff" })).status).toBe(201);

    const duplicate = await createRole<ErrorBody>(owner.token, workspaceId, { name: "nurse" });
    expect(duplicate.status).toBe(409);
    expect(duplicate.body.error_code).toBe("already_exists");
    await expectConformant("POST", ROLES, duplicate);
    for (const [body, loc] of [
      [{ name: "nurse2", colour: "blue" }, ["body", "colour"]],
      [{ name: "Nurse" }, ["body", "name"]],
      [{ name: "n".repeat(65) }, ["body", "name"]],
      [{ name: "ok", external_name: "" }, ["body", "external_name"]],
    ] as const) {
      const res = await createRole<ValidationErrorBody>(owner.token, workspaceId, body);
      expect(res.status, JSON.stringify(body)).toBe(422);
      expect(res.body.detail[0]?.loc).toEqual(loc);
    }

    const got = await call<ExternalRole>("GET", `/v1/${workspaceId}/external-roles/${created.body.id}`, { token: owner.token });
    expect(got.body).toEqual(created.body);
    await expectConformant("GET", ROLE, got);
    const byName = await call<ExternalRolePage>("GET", `/v1/${workspaceId}/external-roles`, { token: owner.token });
    await expectConformant("GET", ROLES, byName);
    expect(byName.body.items.map((r) => r.name)).toEqual(["admin_staff", "nurse"]);
    const reversed = await call<ExternalRolePage>("GET", `/v1/${workspaceId}/external-roles?sort_by=-name`, { token: owner.token });
    expect(reversed.body.items.map((r) => r.name)).toEqual(["nurse", "admin_staff"]);
    expect((await call("GET", `/v1/${workspaceId}/external-roles?sort_by=colour`, { token: owner.token })).status).toBe(422);

    const removed = await call("DELETE", `/v1/${workspaceId}/external-roles/${created.body.id}`, { token: owner.token });
    expect(removed.status).toBe(204);
    await expectConformant("DELETE", ROLE, removed);
    expect((await call("GET", `/v1/${workspaceId}/external-roles/${created.body.id}`, { token: owner.token })).status).toBe(404);
    expect((await call("DELETE", `/v1/${workspaceId}/external-roles/${created.body.id}`, { token: owner.token })).status).toBe(404);
    // The name is free again.
    expect((await createRole(owner.token, workspaceId, { name: "nurse" })).status).toBe(201);
  });

  it("deleting a role supersedes its active grants and takes it out of assignments, each audited", async () => {
    const { owner, workspaceId } = await ownedWorkspace();
    const member = await joinedMember(owner.token, workspaceId, "member");
    const nurse = (await createRole(owner.token, workspaceId, { name: "nurse" })).body;
    await createRole(owner.token, workspaceId, { name: "doctor" });
    const grant = await call<RoleGrant>("POST", `/v1/${workspaceId}/role-grants`, {
      token: owner.token,
      body: { role_id: nurse.id, resource_type: "skill", resource_key: "triage", access: "read" },
    });
    expect(grant.status, grant.text).toBe(201);
    const assignment = await upsert(owner.token, workspaceId, {
      external_subject_key: "u1",
      entity_id: member.identity_id,
      roles: ["doctor", "nurse"],
    });
    expect(assignment.status, assignment.text).toBe(200);

    expect((await call("DELETE", `/v1/${workspaceId}/external-roles/${nurse.id}`, { token: owner.token })).status).toBe(204);
    const after = await call("GET", `/v1/${workspaceId}/role-grants/${grant.body.id}`, { token: owner.token });
    expect(after.body).toMatchObject({ status: "superseded", changed_by: owner.identity_id });
    const reassigned = await call<Assignment>("GET", `/v1/${workspaceId}/external-role-assignments/${assignment.body.id}`, {
      token: owner.token,
    });
    expect(reassigned.body.roles).toEqual(["doctor"]);
    expect(reassigned.body.updated_at > assignment.body.updated_at).toBe(true);

    expect((await audit(owner.token, workspaceId, "external_role.deleted")).map((e) => e.resource_id)).toEqual([nurse.id]);
    expect(await audit(owner.token, workspaceId, "role_grant.superseded")).toEqual([
      expect.objectContaining({
        resource_id: grant.body.id,
        metadata: expect.objectContaining({ role_id: nurse.id, reason: "role_deleted" }),
      }),
    ]);
    expect(await audit(owner.token, workspaceId, "external_role_assignment.updated")).toEqual([
      expect.objectContaining({
        resource_id: assignment.body.id,
        metadata: expect.objectContaining({ removed_role: "nurse", reason: "role_deleted" }),
      }),
    ]);
  });
});

describe("external role assignments", () => {
  async function setUp(): Promise<{ owner: MintedIdentity; member: MintedIdentity; workspaceId: string }> {
    const { owner, workspaceId } = await ownedWorkspace();
    const member = await joinedMember(owner.token, workspaceId, "member");
    for (const name of ["nurse", "doctor"]) expect((await createRole(owner.token, workspaceId, { name })).status).toBe(201);
    return { owner, member, workspaceId };
  }

  it("upserts by source and subject key; an identical upsert writes nothing", async () => {
    const { owner, member, workspaceId } = await setUp();
    const first = await upsert(owner.token, workspaceId, {
      external_subject_key: "u1",
      entity_id: member.identity_id,
      roles: ["nurse", "nurse"],
      display_name: "Grace",
    });
    expect(first.status, first.text).toBe(200);
    await expectConformant("PUT", ASSIGNMENTS, first);
    expect(first.body).toMatchObject({
      roles: ["nurse"],
      roles_verified: false,
      last_verified_at: null,
      status: "active",
      provisioned_via: "roster_sync",
      external_subject_id: null,
    });

    const same = await upsert(owner.token, workspaceId, {
      external_subject_key: "u1",
      entity_id: member.identity_id,
      roles: ["nurse"],
      display_name: "Grace",
    });
    expect(same.body).toEqual(first.body);
    const verified = await upsert(owner.token, workspaceId, {
      external_subject_key: "u1",
      entity_id: member.identity_id,
      roles: ["nurse", "doctor"],
      display_name: "Grace",
      roles_verified: true,
    });
    expect(verified.body).toMatchObject({
      id: first.body.id,
      roles: ["nurse", "doctor"],
      roles_verified: true,
      created_at: first.body.created_at,
    });
    expect(verified.body.last_verified_at).toBe(verified.body.updated_at);
    expect(verified.body.updated_at > first.body.updated_at).toBe(true);

    const events = await audit(owner.token, workspaceId, "external_role_assignment.updated");
    expect(events).toHaveLength(1);
    expect(events[0]?.metadata?.changes).toEqual({
      roles: { old: ["nurse"], new: ["nurse", "doctor"] },
      roles_verified: { old: false, new: true },
    });
    expect(await audit(owner.token, workspaceId, "external_role_assignment.created")).toHaveLength(1);

    const got = await call<Assignment>("GET", `/v1/${workspaceId}/external-role-assignments/${first.body.id}`, { token: owner.token });
    await expectConformant("GET", ASSIGNMENT, got);
    expect(got.body).toEqual(verified.body);
  });

  it("refuses unknown roles, a non-member entity and unknown fields with 422 naming them", async () => {
    const { owner, workspaceId } = await setUp();
    const stranger = crypto.randomUUID();
    const res = await upsert<ValidationErrorBody>(owner.token, workspaceId, {
      external_subject_key: "u2",
      entity_id: stranger,
      roles: ["nurse", "surgeon"],
    });
    expect(res.status).toBe(422);
    await expectConformant("PUT", ASSIGNMENTS, res);
    expect(res.body.detail.map((d) => d.loc)).toEqual([
      ["body", "roles", 1],
      ["body", "entity_id"],
    ]);
    expect(res.body.detail[0]?.msg).toContain("surgeon");
    const extra = await upsert<ValidationErrorBody>(owner.token, workspaceId, {
      external_subject_key: "u2",
      entity_id: stranger,
      status: "active",
    });
    expect(extra.status).toBe(422);
    expect(extra.body.detail[0]?.loc).toEqual(["body", "status"]);
    const tooMany = await upsert<ValidationErrorBody>(owner.token, workspaceId, {
      external_subject_key: "u2",
      entity_id: stranger,
      roles: Array.from({ length: 65 }, (_, i) => `r${i}`),
    });
    expect(tooMany.body.detail[0]?.loc).toEqual(["body", "roles"]);
  });

  it("lists with opaque continuation tokens, gets, deletes (404 after)", async () => {
    const { owner, member, workspaceId } = await setUp();
    const ids: string[] = [];
    for (let i = 0; i < 5; i++)
      ids.push((await upsert(owner.token, workspaceId, { external_subject_key: `k${i}`, entity_id: member.identity_id })).body.id);
    const seen: string[] = [];
    let token: string | null = null;
    do {
      const query: string = `limit=2&sort_by=external_subject_key${token ? `&continuation_token=${token}` : ""}`;
      const res = await call<AssignmentPage>("GET", `/v1/${workspaceId}/external-role-assignments?${query}`, { token: owner.token });
      expect(res.status, res.text).toBe(200);
      await expectConformant("GET", ASSIGNMENTS, res);
      seen.push(...res.body.items.map((a) => a.id));
      token = res.body.continuation_token;
    } while (token);
    expect(seen).toEqual(ids);

    const removed = await call("DELETE", `/v1/${workspaceId}/external-role-assignments/${ids[0]}`, { token: owner.token });
    expect(removed.status).toBe(204);
    await expectConformant("DELETE", ASSIGNMENT, removed);
    for (const method of ["GET", "DELETE"])
      expect((await call(method, `/v1/${workspaceId}/external-role-assignments/${ids[0]}`, { token: owner.token })).status).toBe(404);
  });

  it("marks a removed member's assignments revoked, and an upsert after it rejoins makes them active", async () => {
    const { owner, member, workspaceId } = await setUp();
    const assignment = await upsert(owner.token, workspaceId, {
      external_subject_key: "u1",
      entity_id: member.identity_id,
      roles: ["nurse"],
    });
    expect((await call("DELETE", `/v1/${workspaceId}/members/${member.identity_id}`, { token: owner.token })).status).toBe(204);
    const revoked = await call<Assignment>("GET", `/v1/${workspaceId}/external-role-assignments/${assignment.body.id}`, {
      token: owner.token,
    });
    expect(revoked.body.status).toBe("revoked");
    expect(
      (await upsert(owner.token, workspaceId, { external_subject_key: "u1", entity_id: member.identity_id, roles: ["nurse"] })).status,
    ).toBe(422);
  });

  it("an upsert whose write runs just after the deletion of a role it names answers 422 and writes nothing", async () => {
    const { owner, member, workspaceId } = await setUp();
    const nurse = (await call<ExternalRolePage>("GET", `/v1/${workspaceId}/external-roles`, { token: owner.token })).body.items.find(
      (r) => r.name === "nurse",
    );
    let deletion: Promise<{ status: number }> | undefined;
    const DB = interceptD1(async (sql, proceed) => {
      if (deletion === undefined && sql.startsWith('insert into "external_role_assignments"')) {
        deletion = call("DELETE", `/v1/${workspaceId}/external-roles/${nurse?.id}`, { token: owner.token });
        await deletion;
      }
      return proceed();
    });
    const res = await upsert<ValidationErrorBody>(
      owner.token,
      workspaceId,
      { external_subject_key: "late", entity_id: member.identity_id, roles: ["nurse"] },
      { DB },
    );
    expect((await deletion)?.status).toBe(204);
    expect(res.status, res.text).toBe(422);
    expect(res.body.detail[0]?.loc).toEqual(["body", "roles", 0]);
    expect((await call<AssignmentPage>("GET", `/v1/${workspaceId}/external-role-assignments`, { token: owner.token })).body.items).toEqual(
      [],
    );
  });
});
