/**
 * The authorization matrix, generated from the roles module: every workspace-scoped route x every role x
 * {own workspace, other workspace} for API keys, and every such route x {member of each role, non-member}
 * for identities. The expected status is derived from ROLES, so the table cannot drift from the rules.
 * Each case gets a fresh workspace, since some routes (archive, convert) change it.
 */
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { type Permission, ROLES } from "../../src/auth/roles";
import { MEMBERSHIP_ROLES, type MembershipRole } from "../../src/core/domain";
import type { Assignment, AuditExport, ExternalRole, Invitation, RoleGrant } from "../harness/bodies";
import { call, type ErrorBody, errorOf } from "../harness/call";
import { expectConformant } from "../harness/conformance";
import { addMember, apiKeyWithRole, createApiKey, type MintedIdentity, mintIdentity, ownedWorkspace, seedApiKey } from "../harness/seed";

type Target = {
  workspaceId: string;
  slug: string;
  keyId: string;
  ownerId: string;
  memberId: string;
  invitationId: string;
  roleId: string;
  assignmentId: string;
  grantId: string;
  exportId: string;
};
type RouteCase = {
  name: string;
  permission: Permission;
  success: number;
  method: string;
  template: string;
  request: (t: Target) => { path: string; body?: unknown };
  /**
   * What the route acts on besides the workspace: a viewer member, a pending viewer invitation, an external role,
   * an assignment, a grant, an audit export.
   */
  needs?: "member" | "invitation" | "role" | "assignment" | "grant" | "export";
};

const ws = (t: Target) => `/v1/workspaces/${t.workspaceId}`;
const ROUTES: RouteCase[] = [
  {
    name: "permission catalog",
    permission: "ApiKey.view",
    success: 200,
    method: "GET",
    template: "/v1/{workspace_id}/api-keys/permission-catalog",
    request: (t) => ({ path: `/v1/${t.workspaceId}/api-keys/permission-catalog` }),
  },
  {
    name: "list keys",
    permission: "ApiKey.view",
    success: 200,
    method: "GET",
    template: "/v1/{workspace_id}/api-keys",
    request: (t) => ({ path: `/v1/${t.workspaceId}/api-keys` }),
  },
  {
    name: "create key",
    permission: "ApiKey.create",
    success: 201,
    method: "POST",
    template: "/v1/{workspace_id}/api-keys",
    request: (t) => ({
      path: `/v1/${t.workspaceId}/api-keys`,
      body: { duration_days: 1, role: "viewer", permissions: ["Workspace.view"] },
    }),
  },
  {
    name: "rotate key",
    permission: "ApiKey.rotate",
    success: 200,
    method: "POST",
    template: "/v1/{workspace_id}/api-keys/{key_id}/rotate",
    request: (t) => ({ path: `/v1/${t.workspaceId}/api-keys/${t.keyId}/rotate`, body: { duration_days: 1 } }),
  },
  {
    name: "delete key",
    permission: "ApiKey.delete",
    success: 204,
    method: "DELETE",
    template: "/v1/{workspace_id}/api-keys/{key_id}",
    request: (t) => ({ path: `/v1/${t.workspaceId}/api-keys/${t.keyId}` }),
  },
  {
    name: "get workspace",
    permission: "Workspace.view",
    success: 200,
    method: "GET",
    template: "/v1/workspaces/{workspace_id}",
    request: (t) => ({ path: ws(t) }),
  },
  {
    name: "update workspace",
    permission: "Workspace.update",
    success: 200,
    method: "PATCH",
    template: "/v1/workspaces/{workspace_id}",
    request: (t) => ({ path: ws(t), body: { name: "Renamed" } }),
  },
  {
    name: "provision",
    permission: "Workspace.update",
    success: 200,
    method: "POST",
    template: "/v1/workspaces/{workspace_id}/provision",
    request: (t) => ({ path: `${ws(t)}/provision` }),
  },
  {
    name: "archive",
    permission: "Workspace.archive",
    success: 200,
    method: "POST",
    template: "/v1/workspaces/{workspace_id}/archive",
    request: (t) => ({ path: `${ws(t)}/archive`, body: { slug: t.slug } }),
  },
  {
    name: "environment check",
    permission: "Workspace.view",
    success: 200,
    method: "GET",
    template: "/v1/workspaces/{workspace_id}/environment-check",
    request: (t) => ({ path: `${ws(t)}/environment-check` }),
  },
  {
    name: "convert",
    permission: "Workspace.convert",
    success: 200,
    method: "POST",
    template: "/v1/workspaces/{workspace_id}/convert-environment",
    request: (t) => ({ path: `${ws(t)}/convert-environment`, body: { target: "production", confirm_slug: t.slug } }),
  },
  {
    name: "get test caller numbers",
    permission: "Workspace.view",
    success: 200,
    method: "GET",
    template: "/v1/workspaces/{workspace_id}/test-caller-numbers",
    request: (t) => ({ path: `${ws(t)}/test-caller-numbers` }),
  },
  {
    name: "update test caller numbers",
    permission: "Workspace.update",
    success: 200,
    method: "PUT",
    template: "/v1/workspaces/{workspace_id}/test-caller-numbers",
    request: (t) => ({ path: `${ws(t)}/test-caller-numbers`, body: { numbers: ["+14155550100"] } }),
  },
  {
    name: "get test credential ids",
    permission: "Workspace.view",
    success: 200,
    method: "GET",
    template: "/v1/workspaces/{workspace_id}/test-credential-ids",
    request: (t) => ({ path: `${ws(t)}/test-credential-ids` }),
  },
  {
    name: "list audit events",
    permission: "Audit.view",
    success: 200,
    method: "GET",
    template: "/v1/{workspace_id}/audit",
    request: (t) => ({ path: `/v1/${t.workspaceId}/audit` }),
  },
  {
    name: "audit summary",
    permission: "Audit.view",
    success: 200,
    method: "GET",
    template: "/v1/{workspace_id}/audit/summary",
    request: (t) => ({ path: `/v1/${t.workspaceId}/audit/summary` }),
  },
  {
    name: "entity access log",
    permission: "Audit.view",
    success: 200,
    method: "GET",
    template: "/v1/{workspace_id}/audit/entity/{entity_id}/access-log",
    request: (t) => ({ path: `/v1/${t.workspaceId}/audit/entity/${t.workspaceId}/access-log` }),
  },
  {
    name: "PHI access report",
    permission: "Audit.view",
    success: 200,
    method: "GET",
    template: "/v1/{workspace_id}/audit/phi-access",
    request: (t) => ({ path: `/v1/${t.workspaceId}/audit/phi-access` }),
  },
  {
    name: "create audit export",
    permission: "Audit.export",
    success: 200,
    method: "POST",
    template: "/v1/{workspace_id}/audit/export",
    request: (t) => ({
      path: `/v1/${t.workspaceId}/audit/export`,
      body: { date_from: "2026-01-01T00:00:00Z", date_to: "2026-12-31T23:59:59Z" },
    }),
  },
  {
    name: "list audit exports",
    permission: "Audit.export",
    success: 200,
    method: "GET",
    template: "/v1/{workspace_id}/audit/exports",
    request: (t) => ({ path: `/v1/${t.workspaceId}/audit/exports` }),
  },
  {
    name: "get audit export",
    permission: "Audit.export",
    success: 200,
    method: "GET",
    template: "/v1/{workspace_id}/audit/exports/{export_id}",
    request: (t) => ({ path: `/v1/${t.workspaceId}/audit/exports/${t.exportId}` }),
    needs: "export",
  },
  {
    name: "list members",
    permission: "Member.view",
    success: 200,
    method: "GET",
    template: "/v1/{workspace_id}/members",
    request: (t) => ({ path: `/v1/${t.workspaceId}/members` }),
  },
  {
    name: "change a member's role",
    permission: "Member.manage",
    success: 200,
    method: "PATCH",
    template: "/v1/{workspace_id}/members/{identity_id}",
    request: (t) => ({ path: `/v1/${t.workspaceId}/members/${t.memberId}`, body: { role: "member" } }),
    needs: "member",
  },
  {
    name: "remove a member",
    permission: "Member.manage",
    success: 204,
    method: "DELETE",
    template: "/v1/{workspace_id}/members/{identity_id}",
    request: (t) => ({ path: `/v1/${t.workspaceId}/members/${t.memberId}` }),
    needs: "member",
  },
  {
    name: "invite",
    permission: "Member.manage",
    success: 201,
    method: "POST",
    template: "/v1/{workspace_id}/invitations",
    request: (t) => ({ path: `/v1/${t.workspaceId}/invitations`, body: { email: `${crypto.randomUUID()}@example.com`, role: "viewer" } }),
  },
  {
    name: "list invitations",
    permission: "Member.view",
    success: 200,
    method: "GET",
    template: "/v1/{workspace_id}/invitations",
    request: (t) => ({ path: `/v1/${t.workspaceId}/invitations` }),
  },
  {
    name: "revoke an invitation",
    permission: "Member.manage",
    success: 204,
    method: "DELETE",
    template: "/v1/{workspace_id}/invitations/{invitation_id}",
    request: (t) => ({ path: `/v1/${t.workspaceId}/invitations/${t.invitationId}` }),
    needs: "invitation",
  },
  {
    name: "list external roles",
    permission: "ExternalRole.view",
    success: 200,
    method: "GET",
    template: "/v1/{workspace_id}/external-roles",
    request: (t) => ({ path: `/v1/${t.workspaceId}/external-roles` }),
  },
  {
    name: "create an external role",
    permission: "ExternalRole.manage",
    success: 201,
    method: "POST",
    template: "/v1/{workspace_id}/external-roles",
    request: (t) => ({ path: `/v1/${t.workspaceId}/external-roles`, body: { name: "auditor", external_name: "Auditor" } }),
  },
  {
    name: "get an external role",
    permission: "ExternalRole.view",
    success: 200,
    method: "GET",
    template: "/v1/{workspace_id}/external-roles/{role_id}",
    request: (t) => ({ path: `/v1/${t.workspaceId}/external-roles/${t.roleId}` }),
    needs: "role",
  },
  {
    name: "delete an external role",
    permission: "ExternalRole.manage",
    success: 204,
    method: "DELETE",
    template: "/v1/{workspace_id}/external-roles/{role_id}",
    request: (t) => ({ path: `/v1/${t.workspaceId}/external-roles/${t.roleId}` }),
    needs: "role",
  },
  {
    name: "list assignments",
    permission: "ExternalRole.view",
    success: 200,
    method: "GET",
    template: "/v1/{workspace_id}/external-role-assignments",
    request: (t) => ({ path: `/v1/${t.workspaceId}/external-role-assignments` }),
  },
  {
    name: "upsert an assignment",
    permission: "ExternalRole.manage",
    success: 200,
    method: "PUT",
    template: "/v1/{workspace_id}/external-role-assignments",
    request: (t) => ({
      path: `/v1/${t.workspaceId}/external-role-assignments`,
      body: { source: "okta", external_subject_key: "s1", entity_id: t.ownerId, provisioned_via: "jit" },
    }),
  },
  {
    name: "get an assignment",
    permission: "ExternalRole.view",
    success: 200,
    method: "GET",
    template: "/v1/{workspace_id}/external-role-assignments/{assignment_id}",
    request: (t) => ({ path: `/v1/${t.workspaceId}/external-role-assignments/${t.assignmentId}` }),
    needs: "assignment",
  },
  {
    name: "delete an assignment",
    permission: "ExternalRole.manage",
    success: 204,
    method: "DELETE",
    template: "/v1/{workspace_id}/external-role-assignments/{assignment_id}",
    request: (t) => ({ path: `/v1/${t.workspaceId}/external-role-assignments/${t.assignmentId}` }),
    needs: "assignment",
  },
  {
    name: "list role grants",
    permission: "RoleGrant.view",
    success: 200,
    method: "GET",
    template: "/v1/{workspace_id}/role-grants",
    request: (t) => ({ path: `/v1/${t.workspaceId}/role-grants` }),
  },
  {
    name: "create a role grant",
    permission: "RoleGrant.manage",
    success: 201,
    method: "POST",
    template: "/v1/{workspace_id}/role-grants",
    request: (t) => ({
      path: `/v1/${t.workspaceId}/role-grants`,
      body: { role_id: t.roleId, resource_type: "kb_scope", resource_key: "faq", access: "read" },
    }),
    needs: "role",
  },
  {
    name: "get a role grant",
    permission: "RoleGrant.view",
    success: 200,
    method: "GET",
    template: "/v1/{workspace_id}/role-grants/{grant_id}",
    request: (t) => ({ path: `/v1/${t.workspaceId}/role-grants/${t.grantId}` }),
    needs: "grant",
  },
  {
    name: "supersede a role grant",
    permission: "RoleGrant.manage",
    success: 204,
    method: "DELETE",
    template: "/v1/{workspace_id}/role-grants/{grant_id}",
    request: (t) => ({ path: `/v1/${t.workspaceId}/role-grants/${t.grantId}` }),
    needs: "grant",
  },
  {
    name: "access review",
    permission: "Compliance.view",
    success: 200,
    method: "GET",
    template: "/v1/{workspace_id}/compliance/access-review",
    request: (t) => ({ path: `/v1/${t.workspaceId}/compliance/access-review` }),
  },
  {
    name: "update test credential ids",
    permission: "Workspace.update",
    success: 200,
    method: "PUT",
    template: "/v1/workspaces/{workspace_id}/test-credential-ids",
    request: (t) => ({ path: `${ws(t)}/test-credential-ids`, body: { credential_ids: [crypto.randomUUID()] } }),
  },
];

const expected = (role: MembershipRole, route: RouteCase) =>
  (ROLES[role].permissions as readonly string[]).includes(route.permission) ? route.success : 403;

/** A fresh workspace with a viewer key in it to act on (for rotate and delete), and what `route` needs. */
async function freshTarget(route?: RouteCase): Promise<Target & { owner: MintedIdentity }> {
  const { owner, workspaceId, slug } = await ownedWorkspace();
  const { keyId } = await apiKeyWithRole(owner.token, workspaceId, "viewer");
  const target = { owner, workspaceId, slug, keyId, ownerId: owner.identity_id, ...unknownIds() };
  if (route?.needs === "member") {
    const member = await mintIdentity();
    await addMember(workspaceId, member, "viewer");
    target.memberId = member.identity_id;
  }
  if (route?.needs === "invitation") {
    const res = await call<Invitation>("POST", `/v1/${workspaceId}/invitations`, {
      token: owner.token,
      body: { email: `${crypto.randomUUID()}@example.com`, role: "viewer" },
    });
    expect(res.status, res.text).toBe(201);
    target.invitationId = res.body.id;
  }
  if (route?.needs === "role" || route?.needs === "grant") {
    const res = await call<ExternalRole>("POST", `/v1/${workspaceId}/external-roles`, {
      token: owner.token,
      body: { name: "clinician", external_name: "Clinician" },
    });
    expect(res.status, res.text).toBe(201);
    target.roleId = res.body.id;
  }
  if (route?.needs === "grant") {
    const res = await call<RoleGrant>("POST", `/v1/${workspaceId}/role-grants`, {
      token: owner.token,
      body: { role_id: target.roleId, resource_type: "skill", resource_key: "triage", access: "read" },
    });
    expect(res.status, res.text).toBe(201);
    target.grantId = res.body.id;
  }
  if (route?.needs === "export") {
    const res = await call<AuditExport>("POST", `/v1/${workspaceId}/audit/export`, {
      token: owner.token,
      body: { date_from: "2026-01-01T00:00:00Z", date_to: "2026-12-31T23:59:59Z" },
    });
    expect(res.status, res.text).toBe(200);
    target.exportId = res.body.export_id;
  }
  if (route?.needs === "assignment") {
    const body = { source: "okta", external_subject_key: "s0", entity_id: owner.identity_id, provisioned_via: "roster_sync" };
    const res = await call<Assignment>("PUT", `/v1/${workspaceId}/external-role-assignments`, { token: owner.token, body });
    expect(res.status, res.text).toBe(200);
    target.assignmentId = res.body.id;
  }
  return target;
}

/** Ids of nothing, for the parts of a target a route does not need. */
const unknownIds = () => ({
  memberId: crypto.randomUUID(),
  invitationId: crypto.randomUUID(),
  roleId: crypto.randomUUID(),
  assignmentId: crypto.randomUUID(),
  grantId: crypto.randomUUID(),
  exportId: crypto.randomUUID(),
});

// Shared by the role-ceiling and tenancy tests below.
let owner: MintedIdentity;
let workspaceId: string;
let otherWorkspaceId: string;
let otherOwner: MintedIdentity;

beforeAll(async () => {
  ({ owner, workspaceId } = await ownedWorkspace());
  ({ owner: otherOwner, workspaceId: otherWorkspaceId } = await ownedWorkspace());
});

async function targetKey(token: string, workspace: string) {
  return (await apiKeyWithRole(token, workspace, "viewer")).keyId;
}

describe("matrix: workspace API keys", () => {
  const cases = ROUTES.flatMap((route) =>
    MEMBERSHIP_ROLES.flatMap((role) => (["own", "other"] as const).map((where) => ({ route, role, where }))),
  );

  it.each(cases)("$route.name with a $role key on the $where workspace", async ({ route, role, where }) => {
    const target = await freshTarget(route);
    const home = where === "own" ? target : await freshTarget();
    const { secret } = await apiKeyWithRole(home.owner.token, home.workspaceId, role);
    const { path, body } = route.request(target);
    const res = await call(route.method, path, { token: secret, body });
    expect(res.status, res.text).toBe(where === "own" ? expected(role, route) : 403);
    await expectConformant(route.method, route.template, res);
  });
});

describe("matrix: identities", () => {
  const cases = ROUTES.flatMap((route) => [...MEMBERSHIP_ROLES, "non-member" as const].map((membership) => ({ route, membership })));

  it.each(cases)("$route.name by an identity that is $membership", async ({ route, membership }) => {
    const target = await freshTarget(route);
    const identity = membership === "owner" ? target.owner : await mintIdentity();
    if (membership !== "non-member" && membership !== "owner") await addMember(target.workspaceId, identity, membership);
    const { path, body } = route.request(target);
    const res = await call(route.method, path, { token: identity.token, body });
    expect(res.status, res.text).toBe(membership === "non-member" ? 403 : expected(membership, route));
    if (membership === "non-member") expect(errorOf(res)?.detail).toBe("You are not a member of this workspace.");
    await expectConformant(route.method, route.template, res);
  });
});

describe("every workspace-scoped route refuses a missing, revoked or expired key with 401", () => {
  async function credential(kind: "missing" | "revoked" | "expired"): Promise<string | null> {
    if (kind === "missing") return null;
    if (kind === "expired") {
      // An owner key whose expiry has passed while KV still serves its record.
      const expired = await seedApiKey({
        workspace_id: workspaceId,
        role: "owner",
        permissions: [...ROLES.owner.permissions],
        expires_at: new Date(Date.now() - 1000).toISOString(),
      });
      return expired.secret;
    }
    const key = await apiKeyWithRole(owner.token, workspaceId, "owner");
    expect((await call("DELETE", `/v1/${workspaceId}/api-keys/${key.keyId}`, { token: owner.token })).status).toBe(204);
    return key.secret;
  }

  const cases = ROUTES.flatMap((route) => (["missing", "revoked", "expired"] as const).map((kind) => ({ route, kind })));

  it.each(cases)("$route.name with a $kind key", async ({ route, kind }) => {
    const token = await credential(kind);
    const { path, body } = route.request({
      workspaceId,
      slug: "irrelevant",
      keyId: await targetKey(owner.token, workspaceId),
      ownerId: owner.identity_id,
      ...unknownIds(),
    });
    const res = await call(route.method, path, { token, body });
    expect(res.status).toBe(401);
    await expectConformant(route.method, route.template, res);
  });
});

describe("API keys: role ceiling and permission subset", () => {
  it.each([
    ["admin", "owner"],
    ["member", "admin"],
    ["member", "owner"],
  ] as const)("a %s key cannot create a %s key (403)", async (caller, requested) => {
    const { secret } = await apiKeyWithRole(owner.token, workspaceId, caller);
    const res = await createApiKey<ErrorBody>(secret, workspaceId, { role: requested });
    expect(res.status).toBe(403);
    expect(res.body.detail).toMatch(/exceeds your role/);
  });

  it("a member identity cannot create an admin key, but can create a member key", async () => {
    const member = await mintIdentity();
    await addMember(workspaceId, member, "member");
    expect((await createApiKey(member.token, workspaceId, { role: "admin" })).status).toBe(403);
    expect((await createApiKey(member.token, workspaceId, { role: "member" })).status).toBe(201);
  });

  it("a key cannot grant a permission it does not hold, even one the role allows", async () => {
    const { secret } = await apiKeyWithRole(owner.token, workspaceId, "member", { permissions: ["Workspace.view", "ApiKey.create"] });
    const res = await createApiKey<ErrorBody>(secret, workspaceId, { role: "member", permissions: ["ApiKey.view"] });
    expect(res.status).toBe(403);
    expect(res.body.detail).toContain("ApiKey.view");
    // the default for role member includes ApiKey.view, so it is refused as well
    expect((await createApiKey(secret, workspaceId, { role: "member" })).status).toBe(403);
    expect((await createApiKey(secret, workspaceId, { role: "viewer", permissions: ["Workspace.view"] })).status).toBe(201);
  });

  it("a key that may only view and rotate keys cannot take the secret of a key of its role that may do more", async () => {
    const rotator = await apiKeyWithRole(owner.token, workspaceId, "admin", { permissions: ["ApiKey.view", "ApiKey.rotate"] });
    const full = await apiKeyWithRole(owner.token, workspaceId, "admin");
    const rotate = (keyId: string) =>
      call<ErrorBody>("POST", `/v1/${workspaceId}/api-keys/${keyId}/rotate`, { token: rotator.secret, body: { duration_days: 1 } });
    const refused = await rotate(full.keyId);
    expect(refused.status, refused.text).toBe(403);
    expect(refused.body.detail).toContain("Member.view");
    expect(refused.text).not.toContain("wsk_");
    // The full key is untouched, and the rotator still cannot read what the full key could.
    expect((await call("GET", "/v1/auth/me", { token: full.secret })).status).toBe(200);
    expect((await call("GET", `/v1/${workspaceId}/members`, { token: rotator.secret })).status).toBe(403);
    // A key whose every permission the rotator holds can be rotated by it.
    const narrow = await apiKeyWithRole(owner.token, workspaceId, "viewer", { permissions: ["ApiKey.view"] });
    expect((await rotate(narrow.keyId)).status).toBe(200);
  });

  it("a key that may only delete keys cannot delete a key with more permissions", async () => {
    const deleter = await apiKeyWithRole(owner.token, workspaceId, "admin", { permissions: ["ApiKey.view", "ApiKey.delete"] });
    const full = await apiKeyWithRole(owner.token, workspaceId, "viewer");
    const refused = await call<ErrorBody>("DELETE", `/v1/${workspaceId}/api-keys/${full.keyId}`, { token: deleter.secret });
    expect(refused.status, refused.text).toBe(403);
    expect(refused.body.detail).toMatch(/Workspace\.view/);
    expect((await call("GET", "/v1/auth/me", { token: full.secret })).status).toBe(200);
    const narrow = await apiKeyWithRole(owner.token, workspaceId, "viewer", { permissions: ["ApiKey.view"] });
    expect((await call("DELETE", `/v1/${workspaceId}/api-keys/${narrow.keyId}`, { token: deleter.secret })).status).toBe(204);
  });

  it("an admin cannot rotate or delete an owner's key", async () => {
    const ownerKey = await apiKeyWithRole(owner.token, workspaceId, "owner");
    const { secret } = await apiKeyWithRole(owner.token, workspaceId, "admin");
    expect(
      (await call("POST", `/v1/${workspaceId}/api-keys/${ownerKey.keyId}/rotate`, { token: secret, body: { duration_days: 1 } })).status,
    ).toBe(403);
    expect((await call("DELETE", `/v1/${workspaceId}/api-keys/${ownerKey.keyId}`, { token: secret })).status).toBe(403);
    expect((await call("GET", "/v1/auth/me", { token: ownerKey.secret })).status).toBe(200);
  });
});

describe("API keys: tenancy", () => {
  it("refuses a key on another workspace's path without reading anything of that workspace", async () => {
    const { secret } = await apiKeyWithRole(owner.token, workspaceId, "owner");
    // Every D1 statement is seen: only the key's own row and workspace are read (by authentication).
    const bound: unknown[][] = [];
    const spy = new Proxy(env.DB, {
      get(target, prop) {
        const value = Reflect.get(target, prop);
        if (prop !== "prepare") return typeof value === "function" ? value.bind(target) : value;
        return (sql: string) => {
          const statement = value.call(target, sql);
          return new Proxy(statement, {
            get(inner, name) {
              const method = Reflect.get(inner, name);
              if (name !== "bind") return typeof method === "function" ? method.bind(inner) : method;
              return (...args: unknown[]) => {
                bound.push(args);
                return method.apply(inner, args);
              };
            },
          });
        };
      },
    });
    const res = await call<ErrorBody>("GET", `/v1/${otherWorkspaceId}/api-keys`, { token: secret, env: { DB: spy } });
    expect(res.status).toBe(403);
    expect(res.body.detail).toBe("This API key belongs to another workspace.");
    expect(res.text).not.toContain(otherWorkspaceId);
    expect(bound.length).toBeGreaterThan(0);
    expect(bound.flat()).not.toContain(otherWorkspaceId);
    expect(bound.flat()).toContain(workspaceId);
  });

  it("cannot reach another workspace's key through its own workspace path (404, key unchanged)", async () => {
    const foreign = await apiKeyWithRole(otherOwner.token, otherWorkspaceId, "viewer");
    const { secret } = await apiKeyWithRole(owner.token, workspaceId, "owner");
    expect((await call("DELETE", `/v1/${workspaceId}/api-keys/${foreign.keyId}`, { token: secret })).status).toBe(404);
    expect(
      (await call("POST", `/v1/${workspaceId}/api-keys/${foreign.keyId}/rotate`, { token: secret, body: { duration_days: 1 } })).status,
    ).toBe(404);
    expect((await call("GET", "/v1/auth/me", { token: foreign.secret })).status).toBe(200);
  });

  it("answers an identity on an unknown workspace with 404", async () => {
    const res = await call<ErrorBody>("GET", `/v1/${crypto.randomUUID()}/api-keys`, { token: owner.token });
    expect(res.status).toBe(404);
    expect(res.body.detail).toBe("Workspace not found.");
  });

  it("answers an identity without workspaces:write with 403 insufficient_scope on create, but lets it list", async () => {
    const reader = await mintIdentity({ scopes: ["workspaces:read"] });
    await addMember(workspaceId, reader, "admin");
    const create = await createApiKey<ErrorBody>(reader.token, workspaceId, { role: "viewer" });
    expect(create.status).toBe(403);
    expect(create.body.error_code).toBe("insufficient_scope");
    expect((await call("GET", `/v1/${workspaceId}/api-keys`, { token: reader.token })).status).toBe(200);
  });

  it("keeps refusing an API key on POST /v1/me/workspaces", async () => {
    const { secret } = await apiKeyWithRole(owner.token, workspaceId, "owner");
    const res = await call<ErrorBody>("POST", "/v1/me/workspaces", {
      token: secret,
      body: { slug: "from-a-key", name: "x", environment: "staging" },
    });
    expect(res.status).toBe(403);
    expect(res.body.error_code).toBe("unsupported_principal_type");
  });

  it("answers 421 with the owning region when a key is used in another region's deployment", async () => {
    const { secret } = await apiKeyWithRole(owner.token, workspaceId, "owner");
    const res = await call("GET", `/v1/${workspaceId}/api-keys`, { token: secret, env: { REGION: "eu-central-1" } });
    expect(res.status).toBe(421);
    expect(res.body).toMatchObject({ error_code: "misdirected_request", region: "us-east-1" });
    await expectConformant("GET", "/v1/{workspace_id}/api-keys", res);
  });

  it("answers 421 when an identity asks a region that does not hold the workspace, 404 when no region does", async () => {
    const eu = { REGION: "eu-central-1" as const, DB: env.DB_EU };
    const res = await call<ErrorBody>("GET", `/v1/${workspaceId}/api-keys`, { token: owner.token, env: eu });
    expect(res.status).toBe(421);
    expect(res.body).toMatchObject({ error_code: "misdirected_request", region: "us-east-1" });
    expect(res.body.detail).toContain("us-east-1");
    await expectConformant("GET", "/v1/{workspace_id}/api-keys", res);
    expect((await call("GET", `/v1/${crypto.randomUUID()}/api-keys`, { token: owner.token, env: eu })).status).toBe(404);
  });
});
