/**
 * Accountability follows the secret (docs/guides/api-keys-and-roles.md, "Who answers for a key"): whoever
 * receives a key's secret, by create or rotate, answers for it; what it does is recorded as theirs; and it
 * goes when they leave, are removed or demoted below it. What a person invited goes the same way.
 */
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import worker from "../../../src";
import { ROLES, roleOutranks } from "../../../src/auth/roles";
import { MEMBERSHIP_ROLES } from "../../../src/core/domain";
import { sha256Hex } from "../../../src/security/secret";
import { kvKeys } from "../../../src/storage/kv";
import type { CreatedApiKey, InvitationPage } from "../../harness/bodies";
import { call, type ErrorBody, sleep } from "../../harness/call";
import { expectConformant } from "../../harness/conformance";
import { answerInvitation, apiKeyWithRole, invite, joinedMember, mintIdentity, ownedWorkspace } from "../../harness/seed";
import { interceptD1, storedEvents } from "../../harness/storage";

const ROTATE = "/v1/{workspace_id}/api-keys/{key_id}/rotate";

const rotate = (token: string, workspaceId: string, keyId: string) =>
  call<CreatedApiKey>("POST", `/v1/${workspaceId}/api-keys/${keyId}/rotate`, { token, body: { duration_days: 7 } });
const setRole = (token: string, workspaceId: string, identityId: string, role: string) =>
  call("PATCH", `/v1/${workspaceId}/members/${identityId}`, { token, body: { role } });
const remove = (token: string, workspaceId: string, identityId: string) =>
  call("DELETE", `/v1/${workspaceId}/members/${identityId}`, { token });
const listed = async (token: string, workspaceId: string, keyId: string) => {
  const res = await call<{ items: Record<string, unknown>[] }>("GET", `/v1/${workspaceId}/api-keys?limit=100`, { token });
  expect(res.status, res.text).toBe(200);
  return res.body.items.find((item) => item.key_id === keyId);
};

describe("the person who rotates a key answers for it", () => {
  it("an admin who rotates the owner's key holds it: its actions are the admin's, and it goes when the admin is removed", async () => {
    const { owner, workspaceId } = await ownedWorkspace();
    const admin = await joinedMember(owner.token, workspaceId, "admin");
    const ownersKey = await apiKeyWithRole(owner.token, workspaceId, "admin", { name: "owner's deploy key" });
    expect(ownersKey.body.accountable_entity_id).toBe(owner.identity_id);

    const rotated = await rotate(admin.token, workspaceId, ownersKey.keyId);
    expect(rotated.status, rotated.text).toBe(200);
    await expectConformant("POST", ROTATE, rotated);
    expect(rotated.body).toMatchObject({ created_by_entity_id: owner.identity_id, accountable_entity_id: admin.identity_id });
    expect(await listed(owner.token, workspaceId, ownersKey.keyId)).toMatchObject({
      created_by_entity_id: owner.identity_id,
      accountable_entity_id: admin.identity_id,
    });
    const rotation = (await storedEvents(workspaceId, { action: "api_key.rotated" })).at(-1);
    expect(rotation?.metadata).toMatchObject({
      changes: { accountable_entity_id: { old: owner.identity_id, new: admin.identity_id } },
    });

    // What the rotated key does is recorded with the admin, who holds it, as the actor.
    const secret = rotated.body.api_key;
    expect((await call("PATCH", `/v1/workspaces/${workspaceId}`, { token: secret, body: { name: "Renamed" } })).status).toBe(200);
    const update = (await storedEvents(workspaceId, { action: "workspace.updated" })).at(-1);
    expect(update?.actorEntityId).toBe(admin.identity_id);

    expect((await remove(owner.token, workspaceId, admin.identity_id)).status).toBe(204);
    expect((await call("GET", `/v1/${workspaceId}/members`, { token: secret })).status).toBe(401);
    expect((await call("GET", "/v1/auth/me", { token: secret })).status).toBe(401);
    expect(await listed(owner.token, workspaceId, ownersKey.keyId)).toBeUndefined();
    const revoked = (await storedEvents(workspaceId, { action: "api_key.deleted" })).at(-1);
    expect(revoked).toMatchObject({ resourceName: "owner's deploy key", metadata: { reason: "member_removed" } });
  });

  it("an admin demoted to viewer loses the admin key they rotated, and the key can no longer re-promote them", async () => {
    const { owner, workspaceId } = await ownedWorkspace();
    const admin = await joinedMember(owner.token, workspaceId, "admin");
    const ownersKey = await apiKeyWithRole(owner.token, workspaceId, "admin");
    const rotated = await rotate(admin.token, workspaceId, ownersKey.keyId);
    expect(rotated.status, rotated.text).toBe(200);

    expect((await setRole(owner.token, workspaceId, admin.identity_id, "viewer")).status).toBe(200);
    const repromote = await setRole(rotated.body.api_key, workspaceId, admin.identity_id, "admin");
    expect(repromote.status, repromote.text).toBe(401);
    const reinvite = await invite(rotated.body.api_key, workspaceId, { email: `friend-${crypto.randomUUID()}@example.com` });
    expect(reinvite.status).toBe(401);
    const deleted = (await storedEvents(workspaceId, { action: "api_key.deleted" })).at(-1);
    expect(deleted?.metadata).toMatchObject({ reason: "member_role_changed" });
  });

  it("a key rotated by a key belongs to the person behind the rotating key", async () => {
    const { owner, workspaceId } = await ownedWorkspace();
    const admin = await joinedMember(owner.token, workspaceId, "admin");
    const adminsKey = await apiKeyWithRole(admin.token, workspaceId, "admin");
    const ownersKey = await apiKeyWithRole(owner.token, workspaceId, "member");
    const rotated = await rotate(adminsKey.secret, workspaceId, ownersKey.keyId);
    expect(rotated.status, rotated.text).toBe(200);
    expect(rotated.body.accountable_entity_id).toBe(admin.identity_id);
    expect((await remove(owner.token, workspaceId, admin.identity_id)).status).toBe(204);
    for (const secret of [adminsKey.secret, rotated.body.api_key])
      expect((await call("GET", "/v1/auth/me", { token: secret })).status).toBe(401);
  });

  it("the owner rotating back takes the key back: it survives the admin's removal", async () => {
    const { owner, workspaceId } = await ownedWorkspace();
    const admin = await joinedMember(owner.token, workspaceId, "admin");
    const key = await apiKeyWithRole(owner.token, workspaceId, "admin");
    expect((await rotate(admin.token, workspaceId, key.keyId)).status).toBe(200);
    const back = await rotate(owner.token, workspaceId, key.keyId);
    expect(back.body.accountable_entity_id).toBe(owner.identity_id);
    expect((await remove(owner.token, workspaceId, admin.identity_id)).status).toBe(204);
    expect((await call("GET", "/v1/auth/me", { token: back.body.api_key })).status).toBe(200);
  });
});

describe("a request whose body trickles in", () => {
  /** Sends the request with one byte of its body, runs `meanwhile`, then sends the rest: the answer. */
  async function trickled(path: string, token: string, body: unknown, meanwhile: () => Promise<void>) {
    const bytes = new TextEncoder().encode(JSON.stringify(body));
    const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>();
    const writer = writable.getWriter();
    const headers = { authorization: `Bearer ${token}`, "content-type": "application/json", "content-length": String(bytes.length) };
    const ctx = createExecutionContext();
    const answer = worker.fetch(new Request(`http://localhost${path}`, { method: "POST", headers, body: readable }), env, ctx);
    await writer.write(bytes.subarray(0, 1));
    await sleep(50);
    await meanwhile();
    await writer.write(bytes.subarray(1));
    await writer.close();
    const res = await answer;
    await waitOnExecutionContext(ctx);
    return { status: res.status, text: await res.text() };
  }

  it("is refused when its key was deleted before the body finished: authentication waits for the whole body", async () => {
    const { owner, workspaceId } = await ownedWorkspace();
    const leaked = await apiKeyWithRole(owner.token, workspaceId, "admin");
    const res = await trickled(`/v1/${workspaceId}/api-keys`, leaked.secret, { duration_days: 90, role: "admin" }, async () => {
      expect((await call("DELETE", `/v1/${workspaceId}/api-keys/${leaked.keyId}`, { token: owner.token })).status).toBe(204);
    });
    expect(res.status, res.text).toBe(401);
    expect(res.text).not.toContain("wsk_");
  });

  it("is refused when its person was disabled before the body finished", async () => {
    const { owner, workspaceId } = await ownedWorkspace();
    const admin = await joinedMember(owner.token, workspaceId, "admin");
    const res = await trickled(`/v1/${workspaceId}/invitations`, admin.token, { email: "friend@example.com", role: "admin" }, async () => {
      expect((await call("DELETE", `/admin/identities/${admin.identity_id}`, { token: env.ADMIN_TOKEN })).status).toBe(204);
    });
    expect(res.status, res.text).toBe(401);
  });
});

describe("a key deleted, or a person demoted, while their request runs", () => {
  /** A D1 binding that runs `first` (once) just before the first statement matching `pattern`. */
  function withFirst(pattern: RegExp, first: () => Promise<unknown>) {
    let ran: Promise<unknown> | undefined;
    return interceptD1(async (statement, proceed) => {
      if (ran === undefined && pattern.test(statement)) {
        ran = first();
        await ran;
      }
      return proceed();
    });
  }

  it("a rotation by a key deleted before the rotation commits hands out nothing (401)", async () => {
    const { owner, workspaceId } = await ownedWorkspace();
    const leaked = await apiKeyWithRole(owner.token, workspaceId, "admin");
    const target = await apiKeyWithRole(owner.token, workspaceId, "admin");
    const deleteLeaked = () => call("DELETE", `/v1/${workspaceId}/api-keys/${leaked.keyId}`, { token: owner.token });
    const res = await call<ErrorBody>("POST", `/v1/${workspaceId}/api-keys/${target.keyId}/rotate`, {
      token: leaked.secret,
      body: { duration_days: 90 },
      env: { DB: withFirst(/^update "api_keys" set "key_hash"/, deleteLeaked) },
    });
    expect(res.status, res.text).toBe(401);
    expect(res.text).not.toContain("wsk_");
    expect((await call("GET", "/v1/auth/me", { token: target.secret })).status).toBe(200);
    expect(await storedEvents(workspaceId, { action: "api_key.rotated" })).toEqual([]);
  });

  it("a create by a key rotated away before the create commits makes no key (401)", async () => {
    const { owner, workspaceId } = await ownedWorkspace();
    const leaked = await apiKeyWithRole(owner.token, workspaceId, "admin");
    const rotateLeaked = () => rotate(owner.token, workspaceId, leaked.keyId);
    const res = await call<ErrorBody>("POST", `/v1/${workspaceId}/api-keys`, {
      token: leaked.secret,
      body: { duration_days: 90, role: "admin", name: "late" },
      env: { DB: withFirst(/^insert into "api_keys"/, rotateLeaked) },
    });
    expect(res.status, res.text).toBe(401);
    const late = await env.DB.prepare("select count(*) as n from api_keys where workspace_id = ? and name = 'late'")
      .bind(workspaceId)
      .first<number>("n");
    expect(late).toBe(0);
    const names = (await storedEvents(workspaceId, { action: "api_key.created" })).map((e) => e.resourceName);
    expect(names).not.toContain("late");
  });

  it("a rotation by an admin demoted to member (who may not rotate) before it commits is refused by the database (403)", async () => {
    const { owner, workspaceId } = await ownedWorkspace();
    const admin = await joinedMember(owner.token, workspaceId, "admin");
    const target = await apiKeyWithRole(owner.token, workspaceId, "member");
    const demote = () => setRole(owner.token, workspaceId, admin.identity_id, "member");
    const res = await call<ErrorBody>("POST", `/v1/${workspaceId}/api-keys/${target.keyId}/rotate`, {
      token: admin.token,
      body: { duration_days: 90 },
      env: { DB: withFirst(/^update "api_keys" set "key_hash"/, demote) },
    });
    expect(res.status, res.text).toBe(403);
    expect((await call("GET", "/v1/auth/me", { token: target.secret })).status).toBe(200);
  });
});

describe("a key with no person behind it (older data)", () => {
  it("only reads: no key, invitation or role change of its would answer to anyone", async () => {
    const { owner, workspaceId } = await ownedWorkspace();
    const orphan = await apiKeyWithRole(owner.token, workspaceId, "admin");
    await env.DB.prepare("update api_keys set created_by_entity_id = null, accountable_entity_id = null where key_id = ?")
      .bind(orphan.keyId)
      .run();
    const record = kvKeys.principal("wsk", await sha256Hex(orphan.secret));
    const principal = await env.KV.get<Record<string, unknown>>(record, "json");
    await env.KV.put(record, JSON.stringify({ ...principal, created_by_entity_id: null, accountable_entity_id: null }));
    const target = await apiKeyWithRole(owner.token, workspaceId, "viewer");

    const created = await call<ErrorBody>("POST", `/v1/${workspaceId}/api-keys`, {
      token: orphan.secret,
      body: { duration_days: 1, role: "viewer" },
    });
    expect(created.status, created.text).toBe(403);
    expect(created.body.detail).toContain("no accountable person");
    expect((await rotate(orphan.secret, workspaceId, target.keyId)).status).toBe(403);
    const invited = await invite(orphan.secret, workspaceId, { email: `x-${crypto.randomUUID()}@example.com`, role: "admin" });
    expect(invited.status, invited.text).toBe(403);
    const viewer = await joinedMember(owner.token, workspaceId, "viewer");
    expect((await setRole(orphan.secret, workspaceId, viewer.identity_id, "admin")).status).toBe(403);
    // It still works for everything else its permissions allow.
    expect((await call("GET", `/v1/${workspaceId}/api-keys`, { token: orphan.secret })).status).toBe(200);
  });
});

describe("roles' permissions are nested", () => {
  // The database's role-ceiling triggers compare roles only; that covers permissions because of this.
  it("every role holds every permission of every role below it", () => {
    for (const higher of MEMBERSHIP_ROLES)
      for (const lower of MEMBERSHIP_ROLES)
        if (roleOutranks(higher, lower))
          expect(ROLES[higher].permissions, `${higher} over ${lower}`).toEqual(expect.arrayContaining([...ROLES[lower].permissions]));
  });
});

describe("an invitation does not outlive its issuer's right to grant it", () => {
  async function pending(token: string, workspaceId: string) {
    const res = await call<InvitationPage>("GET", `/v1/${workspaceId}/invitations?limit=100`, { token });
    expect(res.status, res.text).toBe(200);
    return res.body.items.map((item) => item.id);
  }

  it("a second owner demoted to admin loses their owner invitation; their member invitation stays", async () => {
    const { owner, workspaceId } = await ownedWorkspace();
    const coOwner = await joinedMember(owner.token, workspaceId, "owner");
    const [asOwner, asMember] = [await mintIdentity(), await mintIdentity()];
    const ownerInvite = await invite(coOwner.token, workspaceId, { email: asOwner.email, role: "owner" });
    const memberInvite = await invite(coOwner.token, workspaceId, { email: asMember.email, role: "member" });
    expect([ownerInvite.status, memberInvite.status]).toEqual([201, 201]);

    expect((await setRole(owner.token, workspaceId, coOwner.identity_id, "admin")).status).toBe(200);
    expect(await pending(owner.token, workspaceId)).toEqual([memberInvite.body.id]);
    const refused = await answerInvitation<ErrorBody>(asOwner.token, ownerInvite.body.id, "accept");
    expect(refused.status, refused.text).toBe(404);
    const revoked = await storedEvents(workspaceId, { action: "invitation.revoked" });
    expect(revoked).toHaveLength(1);
    expect(revoked[0]).toMatchObject({
      resourceId: ownerInvite.body.id,
      actorEntityId: owner.identity_id,
      metadata: { reason: "member_role_changed", role: "owner" },
    });
    expect((await answerInvitation(asMember.token, memberInvite.body.id, "accept")).status).toBe(200);
  });

  it("an admin demoted to member, who may no longer invite anyone, loses every invitation they issued", async () => {
    const { owner, workspaceId } = await ownedWorkspace();
    const admin = await joinedMember(owner.token, workspaceId, "admin");
    const invitee = await mintIdentity();
    const invitation = await invite(admin.token, workspaceId, { email: invitee.email, role: "viewer" });
    expect(invitation.status).toBe(201);
    expect((await setRole(owner.token, workspaceId, admin.identity_id, "member")).status).toBe(200);
    expect(await pending(owner.token, workspaceId)).toEqual([]);
    expect((await answerInvitation(invitee.token, invitation.body.id, "accept")).status).toBe(404);
  });

  it("an invitation create that commits just after its issuer's removal is refused by the database (403)", async () => {
    const { owner, workspaceId } = await ownedWorkspace();
    const admin = await joinedMember(owner.token, workspaceId, "admin");
    let removal: Promise<{ status: number }> | undefined;
    const DB = interceptD1(async (statement, proceed) => {
      if (removal === undefined && statement.includes('insert into "invitations"')) {
        removal = remove(owner.token, workspaceId, admin.identity_id);
        await removal;
      }
      return proceed();
    });
    const created = await call<ErrorBody>("POST", `/v1/${workspaceId}/invitations`, {
      token: admin.token,
      body: { email: `late-${crypto.randomUUID()}@example.com`, role: "member" },
      env: { DB },
    });
    expect((await removal)?.status).toBe(204);
    expect(created.status, created.text).toBe(403);
    expect(await pending(owner.token, workspaceId)).toEqual([]);
  });

  it.each(MEMBERSHIP_ROLES.flatMap((inviter) => MEMBERSHIP_ROLES.map((role) => ({ inviter, role }))))(
    "the database takes a $role invitation from a $inviter only if that role may invite it",
    async ({ inviter, role }) => {
      const { owner, workspaceId } = await ownedWorkspace();
      const person = inviter === "owner" ? owner : await joinedMember(owner.token, workspaceId, inviter);
      const insert = env.DB.prepare(
        "insert into invitations (id, workspace_id, email, role, state, invited_by_entity_id, invited_by_credential_id, expires_at, " +
          "created_at, updated_at) values (?, ?, ?, ?, 'pending', ?, ?, '2099-01-01T00:00:00.000Z', ?, ?)",
      )
        .bind(
          crypto.randomUUID(),
          workspaceId,
          `${crypto.randomUUID()}@example.com`,
          role,
          person.identity_id,
          crypto.randomUUID(),
          "x",
          "x",
        )
        .run();
      const allowed = ROLES[inviter].permissions.includes("Member.manage") && !roleOutranks(role, inviter);
      if (allowed) expect((await insert).meta.changes).toBe(1);
      else await expect(insert).rejects.toThrow(/inviter_not_entitled/);
    },
  );

  it("every invitation of a removed admin is revoked, each with its event", async () => {
    const { owner, workspaceId } = await ownedWorkspace();
    const admin = await joinedMember(owner.token, workspaceId, "admin");
    const invitee = await mintIdentity();
    const invitation = await invite(admin.token, workspaceId, { email: invitee.email, role: "member" });
    const viaKey = await apiKeyWithRole(admin.token, workspaceId, "admin");
    const byKey = await invite(viaKey.secret, workspaceId, { email: `other-${crypto.randomUUID()}@example.com`, role: "viewer" });
    expect([invitation.status, byKey.status]).toEqual([201, 201]);
    expect((await remove(owner.token, workspaceId, admin.identity_id)).status).toBe(204);
    expect(await pending(owner.token, workspaceId)).toEqual([]);
    expect((await answerInvitation(invitee.token, invitation.body.id, "accept")).status).toBe(404);
    const revoked = await storedEvents(workspaceId, { action: "invitation.revoked" });
    expect(revoked.map((event) => event.metadata?.reason)).toEqual(["member_removed", "member_removed"]);
  });

  it("an invitation whose issuer left before these rules is refused at acceptance, and shown to nobody", async () => {
    const { owner, workspaceId } = await ownedWorkspace();
    const admin = await joinedMember(owner.token, workspaceId, "admin");
    const invitee = await mintIdentity();
    const invitation = await invite(admin.token, workspaceId, { email: invitee.email, role: "admin" });
    expect(invitation.status).toBe(201);
    // As a membership removed without the revocation (data from before it existed).
    await env.DB.prepare("delete from memberships where workspace_id = ? and identity_id = ?").bind(workspaceId, admin.identity_id).run();
    const mine = await call<InvitationPage>("GET", "/v1/me/invitations", { token: invitee.token });
    expect(mine.body.items).toEqual([]);
    expect((await answerInvitation(invitee.token, invitation.body.id, "accept")).status).toBe(404);
    const joined = await env.DB.prepare("select count(*) as n from memberships where workspace_id = ? and identity_id = ?")
      .bind(workspaceId, invitee.identity_id)
      .first<number>("n");
    expect(joined).toBe(0);
  });
});
