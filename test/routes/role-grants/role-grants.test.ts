/**
 * Role grants and the access review (docs/guides/rbac.md): every
 * operation and documented status, the uniqueness and reference rules, paging through grants while more
 * are created, and what the access review lists.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { AccessReview, Assignment, AuditEventPage, ExternalRole, RoleGrant, RoleGrantPage } from "../../harness/bodies";
import { call, type ErrorBody, type ValidationErrorBody } from "../../harness/call";
import { expectConformant } from "../../harness/conformance";
import { apiKeyWithRole, joinedMember, ownedWorkspace } from "../../harness/seed";

const GRANTS = "/v1/{workspace_id}/role-grants";
type Credential = AccessReview["credentials"][number];
type KeyEntry = Extract<Credential, { credential_type: "api_key" }>;
type PersonEntry = Extract<Credential, { credential_type: "identity" }>;
const GRANT = "/v1/{workspace_id}/role-grants/{grant_id}";
const REVIEW = "/v1/{workspace_id}/compliance/access-review";

async function roleIn(token: string, workspaceId: string, name = "nurse") {
  const res = await call<ExternalRole>("POST", `/v1/${workspaceId}/external-roles`, { token, body: { name, external_name: name } });
  expect(res.status, res.text).toBe(201);
  return res.body.id;
}

/** create-role-grant; typed as the success unless the test names another body. */
const grant = <Body = RoleGrant>(token: string, workspaceId: string, body: Record<string, unknown>) =>
  call<Body>("POST", `/v1/${workspaceId}/role-grants`, {
    token,
    body: { resource_type: "skill", resource_key: "triage", access: "read", ...body },
  });

describe("role grants", () => {
  it("creates, refuses an active duplicate (409), supersedes (never deletes), and grants again", async () => {
    const { owner, workspaceId } = await ownedWorkspace();
    const roleId = await roleIn(owner.token, workspaceId);
    const created = await grant(owner.token, workspaceId, { role_id: roleId, param_binding: "patient_id" });
    expect(created.status, created.text).toBe(201);
    await expectConformant("POST", GRANTS, created);
    expect(created.body).toMatchObject({
      role_id: roleId,
      resource_type: "skill",
      resource_key: "triage",
      access: "read",
      param_binding: "patient_id",
      status: "active",
      changed_by: owner.identity_id,
    });

    const duplicate = await grant<ErrorBody>(owner.token, workspaceId, { role_id: roleId });
    expect(duplicate.status).toBe(409);
    expect(duplicate.body.error_code).toBe("already_exists");
    await expectConformant("POST", GRANTS, duplicate);
    // Another access to the same resource is another grant.
    expect((await grant(owner.token, workspaceId, { role_id: roleId, access: "write" })).status).toBe(201);

    const admin = await joinedMember(owner.token, workspaceId, "admin");
    const superseded = await call("DELETE", `/v1/${workspaceId}/role-grants/${created.body.id}`, { token: admin.token });
    expect(superseded.status).toBe(204);
    await expectConformant("DELETE", GRANT, superseded);
    const after = await call<RoleGrant>("GET", `/v1/${workspaceId}/role-grants/${created.body.id}`, { token: owner.token });
    await expectConformant("GET", GRANT, after);
    expect(after.body).toEqual({ ...created.body, status: "superseded", changed_by: admin.identity_id });
    expect((await call("DELETE", `/v1/${workspaceId}/role-grants/${created.body.id}`, { token: owner.token })).status).toBe(404);
    expect((await call("GET", `/v1/${workspaceId}/role-grants/${crypto.randomUUID()}`, { token: owner.token })).status).toBe(404);
    expect((await grant(owner.token, workspaceId, { role_id: roleId })).status).toBe(201);

    const events = await call<AuditEventPage>("GET", `/v1/${workspaceId}/audit?resource_id=${created.body.id}`, { token: owner.token });
    expect(events.body.events.map((e) => [e.action, e.actor_entity_id])).toEqual([
      ["role_grant.superseded", admin.identity_id],
      ["role_grant.created", owner.identity_id],
    ]);
  });

  it("needs an external role of this workspace (422 at role_id), and refuses unknown fields", async () => {
    const { owner, workspaceId } = await ownedWorkspace();
    const other = await ownedWorkspace();
    const foreignRole = await roleIn(other.owner.token, other.workspaceId);
    const deletedRole = await roleIn(owner.token, workspaceId, "gone");
    expect((await call("DELETE", `/v1/${workspaceId}/external-roles/${deletedRole}`, { token: owner.token })).status).toBe(204);
    for (const roleId of [foreignRole, deletedRole, crypto.randomUUID()]) {
      const res = await grant<ValidationErrorBody>(owner.token, workspaceId, { role_id: roleId });
      expect(res.status, res.text).toBe(422);
      expect(res.body.detail[0]?.loc).toEqual(["body", "role_id"]);
      await expectConformant("POST", GRANTS, res);
    }
    const roleId = await roleIn(owner.token, workspaceId);
    for (const [body, loc] of [
      [{ role_id: roleId, scope: "all" }, ["body", "scope"]],
      [{ role_id: roleId, resource_type: "database" }, ["body", "resource_type"]],
      [{ role_id: roleId, access: "admin" }, ["body", "access"]],
      [{ role_id: roleId, resource_key: "" }, ["body", "resource_key"]],
    ] as const) {
      const res = await grant<ValidationErrorBody>(owner.token, workspaceId, body);
      expect(res.status, JSON.stringify(body)).toBe(422);
      expect(res.body.detail[0]?.loc).toEqual(loc);
    }
    const res = await call<RoleGrantPage>("GET", `/v1/${workspaceId}/role-grants`, { token: owner.token });
    expect(res.body.items).toEqual([]);
  });

  it("pages through every grant exactly once while more are created, and filters by status", async () => {
    const { owner, workspaceId } = await ownedWorkspace();
    const roleId = await roleIn(owner.token, workspaceId);
    const first: string[] = [];
    for (let i = 0; i < 12; i++) first.push((await grant(owner.token, workspaceId, { role_id: roleId, resource_key: `r${i}` })).body.id);

    const seen: string[] = [];
    let token: string | null = null;
    let pages = 0;
    do {
      const query: string = `limit=5${token ? `&continuation_token=${encodeURIComponent(token)}` : ""}`;
      const res = await call<RoleGrantPage>("GET", `/v1/${workspaceId}/role-grants?${query}`, { token: owner.token });
      expect(res.status, res.text).toBe(200);
      await expectConformant("GET", GRANTS, res);
      seen.push(...res.body.items.map((g) => g.id));
      token = res.body.continuation_token;
      expect(res.body.has_more).toBe(token !== null);
      pages += 1;
      // Created while paging (newest first): they are before the cursor, so later pages do not shift.
      await grant(owner.token, workspaceId, { role_id: roleId, resource_key: `late${pages}` });
    } while (token);
    expect(pages).toBe(3);
    expect(seen).toEqual([...first].reverse());

    await call("DELETE", `/v1/${workspaceId}/role-grants/${first[0]}`, { token: owner.token });
    const superseded = await call<RoleGrantPage>("GET", `/v1/${workspaceId}/role-grants?status=superseded`, { token: owner.token });
    expect(superseded.body.items.map((g) => g.id)).toEqual([first[0]]);
    const active = await call<RoleGrantPage>("GET", `/v1/${workspaceId}/role-grants?status=active&limit=200&sort_by=resource_key`, {
      token: owner.token,
    });
    expect(active.body.items).toHaveLength(14);
    expect(active.body.items[0]?.resource_key).toBe("late1");
  });

  it("sorts by several fields in order, and pages through them exactly once", async () => {
    const { owner, workspaceId } = await ownedWorkspace();
    const roleId = await roleIn(owner.token, workspaceId);
    const created: { id: string; resource_key: string }[] = [];
    for (const [resource_type, access] of [
      ["skill", "read"],
      ["skill", "write"],
      ["kb_scope", "read"],
    ]) {
      for (const key of ["b", "a", "c"]) {
        const res = await grant(owner.token, workspaceId, { role_id: roleId, resource_key: key, resource_type, access });
        expect(res.status, res.text).toBe(201);
        created.push(res.body);
      }
    }
    // resource_key ascending, then the newest first: the order the server must give
    const expected = ["a", "b", "c"].flatMap((key) => created.filter((g) => g.resource_key === key).reverse()).map((g) => g.id);
    const seen: string[] = [];
    let token: string | null = null;
    do {
      const after = token ? `&continuation_token=${encodeURIComponent(token)}` : "";
      const query: string = `sort_by=resource_key&sort_by=-created_at&limit=2${after}`;
      const res = await call<RoleGrantPage>("GET", `/v1/${workspaceId}/role-grants?${query}`, { token: owner.token });
      expect(res.status, res.text).toBe(200);
      seen.push(...res.body.items.map((g) => g.id));
      token = res.body.continuation_token;
    } while (token);
    expect(seen).toEqual(expected);

    // the same field twice, more fields than there are, and a token of another sort: 422 saying which
    const twice = await call<ValidationErrorBody>("GET", `/v1/${workspaceId}/role-grants?sort_by=resource_key&sort_by=-resource_key`, {
      token: owner.token,
    });
    expect(twice.status).toBe(422);
    expect(twice.body.detail).toEqual([
      expect.objectContaining({
        loc: ["query", "sort_by", 1],
        msg: "Sort by 'resource_key' only once (ascending or descending)",
        input: "-resource_key",
      }),
    ]);
    await expectConformant("GET", GRANTS, twice);
    const tooMany = await call<ValidationErrorBody>(
      "GET",
      `/v1/${workspaceId}/role-grants?sort_by=resource_key&sort_by=created_at&sort_by=resource_key`,
      {
        token: owner.token,
      },
    );
    expect(tooMany.status).toBe(422);
    expect(tooMany.body.detail[0]).toMatchObject({ loc: ["query", "sort_by"], type: "too_long" });
    const single = await call<RoleGrantPage>("GET", `/v1/${workspaceId}/role-grants?sort_by=resource_key&limit=1`, { token: owner.token });
    const mixed = await call<ValidationErrorBody>(
      "GET",
      `/v1/${workspaceId}/role-grants?sort_by=resource_key&sort_by=-created_at` +
        `&continuation_token=${encodeURIComponent(single.body.continuation_token ?? "")}`,
      { token: owner.token },
    );
    expect(mixed.status).toBe(422);
    expect(mixed.body.detail[0]?.loc).toEqual(["query", "continuation_token"]);
  });

  it("pages by the longest resource keys (512 characters) too", async () => {
    const { owner, workspaceId } = await ownedWorkspace();
    const roleId = await roleIn(owner.token, workspaceId);
    const keys = ["a", "b", "c"].map((c) => c.repeat(512));
    for (const key of keys) expect((await grant(owner.token, workspaceId, { role_id: roleId, resource_key: key })).status).toBe(201);
    const seen: string[] = [];
    let token: string | null = null;
    do {
      const query: string = `limit=1&sort_by=resource_key${token ? `&continuation_token=${encodeURIComponent(token)}` : ""}`;
      const res = await call<RoleGrantPage>("GET", `/v1/${workspaceId}/role-grants?${query}`, { token: owner.token });
      expect(res.status, res.text).toBe(200);
      seen.push(...res.body.items.map((g) => g.resource_key));
      token = res.body.continuation_token;
    } while (token);
    expect(seen).toEqual(keys);
  });

  it("refuses a continuation token that is not one, or belongs to another sort, and limits outside 1..200", async () => {
    const { owner, workspaceId } = await ownedWorkspace();
    const roleId = await roleIn(owner.token, workspaceId);
    for (let i = 0; i < 3; i++) await grant(owner.token, workspaceId, { role_id: roleId, resource_key: `r${i}` });
    const page = await call<RoleGrantPage>("GET", `/v1/${workspaceId}/role-grants?limit=1`, { token: owner.token });
    const token = encodeURIComponent(page.body.continuation_token ?? "");
    for (const query of [
      `continuation_token=${token}&sort_by=resource_key`,
      "continuation_token=not-a-token",
      "limit=0",
      "limit=201",
      "status=expired",
    ]) {
      const res = await call("GET", `/v1/${workspaceId}/role-grants?${query}`, { token: owner.token });
      expect(res.status, query).toBe(422);
      await expectConformant("GET", GRANTS, res);
    }
  });
});

describe("access review", () => {
  it("lists every API key with its status and every member with what its assignments give it; no secret", async () => {
    const { owner, workspaceId } = await ownedWorkspace();
    const member = await joinedMember(owner.token, workspaceId, "member");
    const active = await apiKeyWithRole(owner.token, workspaceId, "admin", { name: "deploy" });
    const expired = await apiKeyWithRole(owner.token, workspaceId, "viewer");
    await env.DB.prepare("update api_keys set expires_at = ? where key_id = ?")
      .bind(new Date(Date.now() - 1000).toISOString(), expired.keyId)
      .run();
    const revoked = await apiKeyWithRole(owner.token, workspaceId, "viewer");
    expect((await call("DELETE", `/v1/${workspaceId}/api-keys/${revoked.keyId}`, { token: owner.token })).status).toBe(204);
    const roleId = await roleIn(owner.token, workspaceId);
    const read = await grant(owner.token, workspaceId, { role_id: roleId });
    const assignment = await call<Assignment>("PUT", `/v1/${workspaceId}/external-role-assignments`, {
      token: owner.token,
      body: { source: "okta", external_subject_key: "u1", entity_id: member.identity_id, roles: ["nurse"], provisioned_via: "jit" },
    });

    const res = await call<AccessReview>("GET", `/v1/${workspaceId}/compliance/access-review`, { token: owner.token });
    expect(res.status, res.text).toBe(200);
    await expectConformant("GET", REVIEW, res);
    expect(res.body).toMatchObject({
      workspace_id: workspaceId,
      total_credentials: 5,
      jwt_credentials_note: expect.stringContaining("JWT"),
    });
    const keys = res.body.credentials.filter((c): c is KeyEntry => c.credential_type === "api_key");
    expect(keys.map((k) => [k.key_id, k.status])).toEqual([
      [active.keyId, "active"],
      [expired.keyId, "expired"],
      [revoked.keyId, "revoked"],
    ]);
    expect(keys[0]).toMatchObject({ name: "deploy", role: "admin", created_by: owner.identity_id, permissions: active.body.permissions });
    const people = res.body.credentials.filter((c): c is PersonEntry => c.credential_type === "identity");
    expect(people.map((p) => [p.identity_id, p.role])).toEqual([
      [owner.identity_id, "owner"],
      [member.identity_id, "member"],
    ]);
    expect(people[1]?.external_role_assignments).toEqual([
      { assignment_id: assignment.body.id, source: "okta", external_subject_key: "u1", roles: ["nurse"], status: "active" },
    ]);
    expect(people[1]?.effective_grants).toEqual([
      { grant_id: read.body.id, role: "nurse", resource_type: "skill", resource_key: "triage", access: "read", param_binding: null },
    ]);
    expect(people[0]?.effective_grants).toEqual([]);
    for (const secret of [active.secret, expired.secret, revoked.secret]) expect(res.text).not.toContain(secret);
    expect(res.text).not.toMatch(/wsk_|pat_|key_hash/);
  });

  it("is for owners and admins (Compliance.view)", async () => {
    const { owner, workspaceId } = await ownedWorkspace();
    const member = await joinedMember(owner.token, workspaceId, "member");
    const admin = await joinedMember(owner.token, workspaceId, "admin");
    const refused = await call<ErrorBody>("GET", `/v1/${workspaceId}/compliance/access-review`, { token: member.token });
    expect(refused.status).toBe(403);
    expect(refused.body.detail).toBe("Missing the Compliance.view permission.");
    expect((await call("GET", `/v1/${workspaceId}/compliance/access-review`, { token: admin.token })).status).toBe(200);
  });
});
