/**
 * Members (docs/guides/members.md): the whole flow through the API, the role rules of
 * src/auth/grants.ts, the last owner under concurrent requests, and the role ceiling of API keys at every
 * moment (a demotion or removal revokes the member's keys in its own batch; a key create racing it fails).
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { type Permission, ROLES, roleOutranks } from "../../../src/auth/roles";
import { MEMBERSHIP_ROLES, type MembershipRole } from "../../../src/core/domain";
import type { AuditEventPage, Member, MemberPage, MyInvitationPage, WorkspacePage } from "../../harness/bodies";
import { call, type ErrorBody, errorOf, successOf, type TestEnv } from "../../harness/call";
import { expectConformant } from "../../harness/conformance";
import {
  answerInvitation,
  apiKeyWithRole,
  createApiKey,
  invite,
  joinedMember,
  type MintedIdentity,
  mintIdentity,
  ownedWorkspace,
} from "../../harness/seed";
import { interceptD1, jitteryStorage, keysNamed } from "../../harness/storage";

const MEMBERS = "/v1/{workspace_id}/members";
const MEMBER = "/v1/{workspace_id}/members/{identity_id}";

const setRole = (token: string, workspaceId: string, identityId: string, role: string, env?: Partial<TestEnv>) =>
  call<Member | ErrorBody>("PATCH", `/v1/${workspaceId}/members/${identityId}`, { token, body: { role }, env });
const remove = (token: string, workspaceId: string, identityId: string, env?: Partial<TestEnv>) =>
  call<ErrorBody>("DELETE", `/v1/${workspaceId}/members/${identityId}`, { token, env });

async function members(token: string, workspaceId: string) {
  const res = await call<MemberPage>("GET", `/v1/${workspaceId}/members?limit=100`, { token });
  expect(res.status, res.text).toBe(200);
  await expectConformant("GET", MEMBERS, res);
  return res.body.items as { identity_id: string; role: string; email: string | null; invited_by: string | null }[];
}

async function trail(token: string, workspaceId: string) {
  const res = await call<AuditEventPage>("GET", `/v1/${workspaceId}/audit?limit=100`, { token });
  expect(res.status, res.text).toBe(200);
  return [...res.body.events].reverse();
}

async function workspaceIdsOf(identity: MintedIdentity) {
  const res = await call<WorkspacePage>("GET", "/v1/workspaces?limit=100", { token: identity.token });
  expect(res.status).toBe(200);
  return res.body.items.map((w) => w.id);
}

const ownerCount = async (workspaceId: string) =>
  (await env.DB.prepare("select count(*) as n from memberships where workspace_id = ? and role = 'owner'")
    .bind(workspaceId)
    .first<number>("n")) ?? 0;

describe("invite -> accept -> act -> demote -> remove", () => {
  it("runs through the API, with the role ceiling and the audit trail at each step", async () => {
    const { owner, workspaceId } = await ownedWorkspace();
    const grace = await mintIdentity({ display_name: "Grace Hopper" });

    const invitation = await invite(owner.token, workspaceId, { email: grace.email, role: "admin" });
    expect(invitation.status, invitation.text).toBe(201);
    await expectConformant("POST", "/v1/{workspace_id}/invitations", invitation);
    const pending = await call<MyInvitationPage>("GET", "/v1/me/invitations", { token: grace.token });
    expect(pending.body.items.map((i) => i.id)).toEqual([invitation.body.id]);
    expect(pending.body.items[0]).toMatchObject({
      workspace_id: workspaceId,
      role: "admin",
      status: "pending",
      workspace_name: "Test Workspace",
    });

    const accepted = await answerInvitation(grace.token, invitation.body.id, "accept");
    expect(accepted.status, accepted.text).toBe(200);
    await expectConformant("POST", "/v1/me/invitations/{invitation_id}/accept", accepted);
    expect(accepted.body).toMatchObject({
      workspace_id: workspaceId,
      identity_id: grace.identity_id,
      role: "admin",
      email: grace.email,
      display_name: "Grace Hopper",
      invited_by: owner.identity_id,
    });
    expect(await workspaceIdsOf(grace)).toContain(workspaceId);
    expect((await call<MyInvitationPage>("GET", "/v1/me/invitations", { token: grace.token })).body.items).toEqual([]);

    // As an admin: keys up to admin, never owner.
    const adminKey = await apiKeyWithRole(grace.token, workspaceId, "admin");
    const memberKey = await apiKeyWithRole(grace.token, workspaceId, "member");
    const keyOfHerKey = await apiKeyWithRole(adminKey.secret, workspaceId, "admin");
    expect((await createApiKey(grace.token, workspaceId, { role: "owner" })).status).toBe(403);
    const listed = await members(owner.token, workspaceId);
    expect(listed.map((m) => [m.identity_id, m.role])).toEqual([
      [grace.identity_id, "admin"],
      [owner.identity_id, "owner"],
    ]);
    expect(listed[1]).toMatchObject({ email: owner.email, invited_by: null });

    // Demoted to member: her admin keys (also the one her key made) stop working at once, the member key does not.
    const demoted = await setRole(owner.token, workspaceId, grace.identity_id, "member");
    expect(demoted.status, demoted.text).toBe(200);
    await expectConformant("PATCH", MEMBER, demoted);
    expect(successOf(demoted)?.role).toBe("member");
    for (const secret of [adminKey.secret, keyOfHerKey.secret])
      expect((await call("GET", `/v1/${workspaceId}/api-keys`, { token: secret })).status).toBe(401);
    expect((await call("GET", `/v1/${workspaceId}/api-keys`, { token: memberKey.secret })).status).toBe(200);
    expect((await createApiKey(grace.token, workspaceId, { role: "admin" })).status).toBe(403);
    const live = await env.DB.prepare(
      "select role from api_keys where workspace_id = ? and created_by_entity_id = ? and revoked_at is null",
    )
      .bind(workspaceId, grace.identity_id)
      .all<{ role: string }>();
    expect(live.results.map((k) => k.role)).toEqual(["member"]);
    // Their KV records are gone too, as after an archive.
    expect(await call("GET", "/v1/auth/me", { token: adminKey.secret }).then((r) => r.status)).toBe(401);

    // Removed: every key she is accountable for is revoked, and her token is a non-member's.
    const removed = await remove(owner.token, workspaceId, grace.identity_id);
    expect(removed.status, removed.text).toBe(204);
    await expectConformant("DELETE", MEMBER, removed);
    expect((await call("GET", "/v1/auth/me", { token: memberKey.secret })).status).toBe(401);
    expect(await workspaceIdsOf(grace)).not.toContain(workspaceId);
    const asStranger = await call<ErrorBody>("GET", `/v1/workspaces/${workspaceId}`, { token: grace.token });
    expect(asStranger.status).toBe(403);
    expect(asStranger.body.detail).toBe("You are not a member of this workspace.");
    expect((await members(owner.token, workspaceId)).map((m) => m.identity_id)).toEqual([owner.identity_id]);

    const events = await trail(owner.token, workspaceId);
    const memberEvents = events.filter((e) => e.action.startsWith("member.") || e.action.startsWith("invitation."));
    expect(memberEvents.map((e) => e.action)).toEqual(["invitation.created", "member.joined", "member.role_changed", "member.removed"]);
    expect(memberEvents.map((e) => e.actor_entity_id)).toEqual([
      owner.identity_id,
      grace.identity_id,
      owner.identity_id,
      owner.identity_id,
    ]);
    expect(memberEvents[2]!.metadata).toEqual({
      changes: { role: { old: "admin", new: "member" } },
      request_id: expect.stringMatching(/^req_/),
    });
    const revocations = events.filter((e) => e.action === "api_key.deleted").map((e) => [e.metadata?.key_id, e.metadata?.reason]);
    expect(revocations).toEqual(
      expect.arrayContaining([
        [adminKey.keyId, "member_role_changed"],
        [keyOfHerKey.keyId, "member_role_changed"],
        [memberKey.keyId, "member_removed"],
      ]),
    );
    expect(revocations).toHaveLength(3);
  });
});

describe("who may change whom", () => {
  it("refuses granting above one's own role, and an admin touching an owner", async () => {
    const { owner, workspaceId } = await ownedWorkspace();
    const admin = await joinedMember(owner.token, workspaceId, "admin");
    const coOwner = await joinedMember(owner.token, workspaceId, "owner");
    const viewer = await joinedMember(admin.token, workspaceId, "viewer");

    const cases = [
      ["promote to owner", await setRole(admin.token, workspaceId, viewer.identity_id, "owner")],
      ["demote an owner", await setRole(admin.token, workspaceId, coOwner.identity_id, "viewer")],
      ["remove an owner", await remove(admin.token, workspaceId, coOwner.identity_id)],
      ["promote itself", await setRole(admin.token, workspaceId, admin.identity_id, "owner")],
      ["invite an owner", await invite(admin.token, workspaceId, { email: "boss@example.com", role: "owner" })],
    ] as const;
    for (const [what, res] of cases) {
      expect(res.status, `${what}: ${res.text}`).toBe(403);
      expect(errorOf(res)?.detail, what).toMatch(/exceeds your role 'admin'/);
    }
    // An admin manages up to admin, itself included.
    expect((await setRole(admin.token, workspaceId, viewer.identity_id, "admin")).status).toBe(200);
    expect((await setRole(admin.token, workspaceId, viewer.identity_id, "viewer")).status).toBe(200);
    expect((await remove(admin.token, workspaceId, viewer.identity_id)).status).toBe(204);
    // A member cannot manage anyone; an unknown member is 404.
    const member = await joinedMember(owner.token, workspaceId, "member");
    const refused = await setRole(member.token, workspaceId, admin.identity_id, "viewer");
    expect(refused.body).toMatchObject({ error_code: "forbidden", detail: "Missing the Member.manage permission." });
    expect((await setRole(owner.token, workspaceId, crypto.randomUUID(), "viewer")).status).toBe(404);
    expect((await remove(owner.token, workspaceId, crypto.randomUUID())).status).toBe(404);
  });

  it("lets any member leave, and records the same role again as nothing", async () => {
    const { owner, workspaceId } = await ownedWorkspace();
    const viewer = await joinedMember(owner.token, workspaceId, "viewer");
    const before = (await trail(owner.token, workspaceId)).length;
    expect(successOf(await setRole(owner.token, workspaceId, viewer.identity_id, "viewer"))?.role).toBe("viewer");
    expect((await trail(owner.token, workspaceId)).length).toBe(before);

    const left = await remove(viewer.token, workspaceId, viewer.identity_id);
    expect(left.status, left.text).toBe(204);
    expect(await workspaceIdsOf(viewer)).not.toContain(workspaceId);
    const [last] = (await trail(owner.token, workspaceId)).slice(-1);
    expect(last).toMatchObject({
      action: "member.left",
      actor_entity_id: viewer.identity_id,
      resource_id: viewer.identity_id,
      metadata: { role: "viewer" },
    });
  });

  it("never removes or demotes the last owner; ownership moves by promoting another, then leaving", async () => {
    const { owner, workspaceId } = await ownedWorkspace();
    const attempts = [
      ["PATCH", await setRole(owner.token, workspaceId, owner.identity_id, "admin")],
      ["DELETE", await remove(owner.token, workspaceId, owner.identity_id)],
    ] as const;
    for (const [method, res] of attempts) {
      expect(res.status, res.text).toBe(409);
      expect(errorOf(res)?.error_code).toBe("last_owner");
      await expectConformant(method, MEMBER, res);
    }
    const heir = await joinedMember(owner.token, workspaceId, "admin");
    expect((await setRole(owner.token, workspaceId, heir.identity_id, "owner")).status).toBe(200);
    expect((await remove(owner.token, workspaceId, owner.identity_id)).status).toBe(204);
    expect(await members(heir.token, workspaceId)).toEqual([expect.objectContaining({ identity_id: heir.identity_id, role: "owner" })]);
    expect((await remove(heir.token, workspaceId, heir.identity_id)).body.error_code).toBe("last_owner");
  });
});

describe("concurrent changes", () => {
  it.each([1, 2, 3, 4, 5])("two owners demoting or removing each other at once leave one owner (round %i)", async (round) => {
    const { owner: a, workspaceId } = await ownedWorkspace();
    const b = await joinedMember(a.token, workspaceId, "owner");
    const storage = jitteryStorage(6);
    const [first, second] =
      round % 2 === 0
        ? await Promise.all([
            setRole(a.token, workspaceId, b.identity_id, "admin", storage),
            setRole(b.token, workspaceId, a.identity_id, "admin", storage),
          ])
        : await Promise.all([remove(a.token, workspaceId, b.identity_id, storage), remove(b.token, workspaceId, a.identity_id, storage)]);
    expect(await ownerCount(workspaceId)).toBe(1);
    const statuses = [first.status, second.status].sort();
    expect(statuses).toEqual(round % 2 === 0 ? [200, 409] : [204, 409]);
    expect(errorOf([first, second].find((r) => r.status === 409) ?? first)?.error_code).toBe("last_owner");
  });

  it.each([1, 2, 3, 4, 5, 6])("a key create racing its creator's demotion never leaves a key above the new role (round %i)", async () => {
    const { owner, workspaceId } = await ownedWorkspace();
    const admin = await joinedMember(owner.token, workspaceId, "admin");
    const storage = jitteryStorage(6);
    const [created, demoted] = await Promise.all([
      createApiKey(admin.token, workspaceId, { role: "admin" }, { env: storage }),
      setRole(owner.token, workspaceId, admin.identity_id, "viewer", storage),
    ]);
    expect(demoted.status, demoted.text).toBe(200);
    // Made before the demotion (then revoked by it), revoked while being made (409), or refused by the database (403).
    expect([201, 403, 409]).toContain(created.status);
    const above = await env.DB.prepare(
      "select count(*) as n from api_keys where workspace_id = ? and created_by_entity_id = ? and revoked_at is null and role <> 'viewer'",
    )
      .bind(workspaceId, admin.identity_id)
      .first<number>("n");
    expect(above).toBe(0);
    if (created.status === 201)
      expect((await call("GET", `/v1/${workspaceId}/api-keys`, { token: created.body.api_key })).status).toBe(401);
  });

  it("refuses a key create whose insert runs just after its creator's demotion (403), leaving nothing", async () => {
    const { owner, workspaceId } = await ownedWorkspace();
    const admin = await joinedMember(owner.token, workspaceId, "admin");
    let demotion: Promise<{ status: number }> | undefined;
    // The create was authorised as an admin; the demotion commits right before its insert runs.
    const DB = interceptD1(async (sql, proceed) => {
      if (demotion === undefined && sql.startsWith('insert into "api_keys"')) {
        demotion = setRole(owner.token, workspaceId, admin.identity_id, "member");
        await demotion;
      }
      return proceed();
    });
    const created = await createApiKey<ErrorBody>(admin.token, workspaceId, { role: "admin", name: "late" }, { env: { DB } });
    expect((await demotion)?.status).toBe(200);
    expect(created.status, created.text).toBe(403);
    expect(created.body.detail).toMatch(/exceeds the role of the person who would hold it/);
    await expectConformant("POST", "/v1/{workspace_id}/api-keys", created);
    expect(await keysNamed(workspaceId, "late")).toBe(0);
  });
});

describe("the database refuses a key above its accountable person's role (drizzle/0010)", () => {
  const pairs = MEMBERSHIP_ROLES.flatMap((memberRole) => MEMBERSHIP_ROLES.map((keyRole) => ({ memberRole, keyRole })));

  const insertKey = (workspaceId: string, role: string, accountable: string) =>
    env.DB.prepare(
      "insert into api_keys (id, key_id, workspace_id, role, permissions, key_hash, created_by_entity_id, created_by_credential_id, " +
        "accountable_entity_id, expires_at, created_at, updated_at) values (?, ?, ?, ?, '[]', ?, ?, ?, ?, ?, ?, ?)",
    )
      .bind(
        crypto.randomUUID(),
        `key_${crypto.randomUUID()}`,
        workspaceId,
        role,
        crypto.randomUUID(),
        accountable,
        crypto.randomUUID(),
        accountable,
        "2099-01-01T00:00:00.000Z",
        "2026-01-01T00:00:00.000Z",
        "2026-01-01T00:00:00.000Z",
      )
      .run();

  // What the person's role must allow: creating keys to be given one, rotating them to be handed one.
  const may = (role: MembershipRole, permission: Permission, keyRole: MembershipRole) =>
    ROLES[role].permissions.includes(permission) && !roleOutranks(keyRole, role);

  it.each(pairs)("a $memberRole's $keyRole key, inserted or handed over by a rotation", async ({ memberRole, keyRole }) => {
    const { owner, workspaceId } = await ownedWorkspace();
    const person = await joinedMember(owner.token, workspaceId, memberRole);
    const insert = insertKey(workspaceId, keyRole, person.identity_id);
    if (!may(memberRole, "ApiKey.create", keyRole)) await expect(insert).rejects.toThrow(/accountable_role_exceeded/);
    else expect((await insert).meta.changes).toBe(1);
    // The owner's key of that role, handed to the person (as a rotation by them does).
    expect((await insertKey(workspaceId, keyRole, owner.identity_id)).meta.changes).toBe(1);
    const handOver = env.DB.prepare(
      "update api_keys set accountable_entity_id = ? where rowid = (select max(rowid) from api_keys where workspace_id = ?)",
    )
      .bind(person.identity_id, workspaceId)
      .run();
    if (!may(memberRole, "ApiKey.rotate", keyRole)) await expect(handOver).rejects.toThrow(/accountable_role_exceeded/);
    else expect((await handOver).meta.changes).toBe(1);
  });
});
