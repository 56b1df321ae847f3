/**
 * Invitations (docs/guides/members.md): who sees and answers which invitation, expired, revoked,
 * declined, foreign and already-accepted ones, duplicates, existing members, and two identities racing to
 * accept one invitation.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { AuditEventPage, InvitationPage, MemberPage, MyInvitationPage } from "../../harness/bodies";
import { call, type ErrorBody, type ValidationErrorBody } from "../../harness/call";
import { expectConformant } from "../../harness/conformance";
import { addMember, answerInvitation, apiKeyWithRole, invite, type MintedIdentity, mintIdentity, ownedWorkspace } from "../../harness/seed";
import { jitteryStorage } from "../../harness/storage";

const ACCEPT = "/v1/me/invitations/{invitation_id}/accept";
const DECLINE = "/v1/me/invitations/{invitation_id}/decline";
const INVITATIONS = "/v1/{workspace_id}/invitations";

async function invited(role = "member") {
  const workspace = await ownedWorkspace();
  const invitee = await mintIdentity();
  const res = await invite(workspace.owner.token, workspace.workspaceId, { email: invitee.email, role });
  expect(res.status, res.text).toBe(201);
  return { ...workspace, invitee, invitationId: res.body.id as string };
}

const myInvitationIds = async (identity: MintedIdentity) => {
  const res = await call<MyInvitationPage>("GET", "/v1/me/invitations", { token: identity.token });
  expect(res.status, res.text).toBe(200);
  await expectConformant("GET", "/v1/me/invitations", res);
  return res.body.items.map((i) => i.id);
};

const expire = (invitationId: string) =>
  env.DB.prepare("update invitations set expires_at = ? where id = ?")
    .bind(new Date(Date.now() - 1000).toISOString(), invitationId)
    .run();

describe("creating invitations", () => {
  it("answers 201 with the invitation, lower-cases the email, and defaults to member for 7 days", async () => {
    const { owner, workspaceId } = await ownedWorkspace();
    const res = await invite(owner.token, workspaceId, { email: "Grace.Hopper@Example.COM", role: undefined });
    expect(res.status, res.text).toBe(201);
    await expectConformant("POST", INVITATIONS, res);
    expect(res.body).toMatchObject({
      workspace_id: workspaceId,
      email: "grace.hopper@example.com",
      role: "member",
      status: "pending",
      invited_by: owner.identity_id,
    });
    const days = (Date.parse(res.body.expires_at) - Date.parse(res.body.created_at)) / 86_400_000;
    expect(days).toBe(7);
    // The identity whose email matches in another case sees it.
    const grace = await mintIdentity({ email: "grace.hopper@example.com" });
    expect(await myInvitationIds(grace)).toEqual([res.body.id]);
  });

  it("refuses a second pending invitation for the email (409), and replaces an expired one", async () => {
    const { owner, workspaceId, invitee, invitationId } = await invited();
    const again = await invite<ErrorBody>(owner.token, workspaceId, { email: invitee.email.toUpperCase() });
    expect(again.status).toBe(409);
    expect(again.body.error_code).toBe("invitation_pending");
    await expectConformant("POST", INVITATIONS, again);

    await expire(invitationId);
    const listed = await call<InvitationPage>("GET", `/v1/${workspaceId}/invitations`, { token: owner.token });
    await expectConformant("GET", INVITATIONS, listed);
    expect(listed.body.items).toEqual([expect.objectContaining({ id: invitationId, status: "expired" })]);
    const fresh = await invite(owner.token, workspaceId, { email: invitee.email, role: "viewer" });
    expect(fresh.status, fresh.text).toBe(201);
    expect(
      (await call<InvitationPage>("GET", `/v1/${workspaceId}/invitations`, { token: owner.token })).body.items.map(
        (i: { id: string }) => i.id,
      ),
    ).toEqual([fresh.body.id]);
    expect(await myInvitationIds(invitee)).toEqual([fresh.body.id]);
  });

  it("answers 409 already_member for a member's email", async () => {
    const { owner, workspaceId } = await ownedWorkspace();
    const res = await invite<ErrorBody>(owner.token, workspaceId, { email: owner.email.toUpperCase() });
    expect(res.status).toBe(409);
    expect(res.body.error_code).toBe("already_member");
  });

  it("validates the body: email, role and expires_in_days 1..30", async () => {
    const { owner, workspaceId } = await ownedWorkspace();
    for (const [body, field] of [
      [{ email: "not-an-email" }, "email"],
      [{ email: "a@example.com", role: "superuser" }, "role"],
      [{ email: "a@example.com", expires_in_days: 0 }, "expires_in_days"],
      [{ email: "a@example.com", expires_in_days: 31 }, "expires_in_days"],
    ] as const) {
      const res = await invite<ValidationErrorBody>(owner.token, workspaceId, body);
      expect(res.status, JSON.stringify(body)).toBe(422);
      expect(res.body.detail[0]?.loc).toEqual(["body", field]);
    }
  });
});

describe("answering invitations", () => {
  it("lets only the addressee answer: another identity gets 404 and never sees it", async () => {
    const { invitee, invitationId } = await invited();
    const stranger = await mintIdentity();
    expect(await myInvitationIds(stranger)).toEqual([]);
    for (const answer of ["accept", "decline"] as const) {
      const res = await answerInvitation(stranger.token, invitationId, answer);
      expect(res.status).toBe(404);
      await expectConformant("POST", answer === "accept" ? ACCEPT : DECLINE, res);
    }
    expect(await myInvitationIds(invitee)).toEqual([invitationId]);
  });

  it("answers 410 once expired, for accept and decline, and leaves it out of the invitee's list", async () => {
    const { invitee, invitationId } = await invited();
    await expire(invitationId);
    for (const answer of ["accept", "decline"] as const) {
      const res = await answerInvitation<ErrorBody>(invitee.token, invitationId, answer);
      expect(res.status).toBe(410);
      expect(res.body.error_code).toBe("invitation_expired");
      await expectConformant("POST", answer === "accept" ? ACCEPT : DECLINE, res);
    }
    expect(await myInvitationIds(invitee)).toEqual([]);
  });

  it("answers 404 for a revoked invitation; revoking it again is 404 too", async () => {
    const { owner, workspaceId, invitee, invitationId } = await invited();
    const revoked = await call("DELETE", `/v1/${workspaceId}/invitations/${invitationId}`, { token: owner.token });
    expect(revoked.status).toBe(204);
    await expectConformant("DELETE", "/v1/{workspace_id}/invitations/{invitation_id}", revoked);
    expect((await answerInvitation(invitee.token, invitationId, "accept")).status).toBe(404);
    expect((await call("DELETE", `/v1/${workspaceId}/invitations/${invitationId}`, { token: owner.token })).status).toBe(404);
    expect(await myInvitationIds(invitee)).toEqual([]);
  });

  it("declines: the invitation closes, and the audit trail has it with the invitee as actor", async () => {
    const { owner, workspaceId, invitee, invitationId } = await invited();
    const declined = await answerInvitation(invitee.token, invitationId, "decline");
    expect(declined.status, declined.text).toBe(204);
    expect((await answerInvitation(invitee.token, invitationId, "accept")).status).toBe(404);
    const events = (await call<AuditEventPage>("GET", `/v1/${workspaceId}/audit?action=invitation.declined`, { token: owner.token })).body
      .events;
    expect(events).toEqual([
      expect.objectContaining({ resource_type: "invitation", resource_id: invitationId, actor_entity_id: invitee.identity_id }),
    ]);
  });

  it("answers 404 to a second identity with the same email once the first accepted", async () => {
    const { invitee, invitationId } = await invited();
    const twin = await mintIdentity({ email: invitee.email });
    expect((await answerInvitation(invitee.token, invitationId, "accept")).status).toBe(200);
    expect((await answerInvitation(twin.token, invitationId, "accept")).status).toBe(404);
    expect((await answerInvitation(invitee.token, invitationId, "accept")).status).toBe(404);
  });

  it("lets one of two identities racing to accept in, and the other gets 404", async () => {
    for (let round = 0; round < 4; round++) {
      const { owner, workspaceId, invitee, invitationId } = await invited();
      const twin = await mintIdentity({ email: invitee.email });
      const storage = jitteryStorage(6);
      const answers = await Promise.all(
        [invitee, twin].map((who) => answerInvitation(who.token, invitationId, "accept", { env: storage })),
      );
      expect(answers.map((a) => a.status).sort()).toEqual([200, 404]);
      const members = await call<MemberPage>("GET", `/v1/${workspaceId}/members`, { token: owner.token });
      expect(members.body.total).toBe(2);
    }
  });

  it("answers 409 already_member when the accepting identity is a member (a membership made before emails were stored)", async () => {
    const { owner, workspaceId, invitee, invitationId } = await invited();
    await env.DB.prepare("insert into memberships (workspace_id, identity_id, role, created_at) values (?, ?, 'viewer', ?)")
      .bind(workspaceId, invitee.identity_id, new Date().toISOString())
      .run();
    const res = await answerInvitation<ErrorBody>(invitee.token, invitationId, "accept");
    expect(res.status).toBe(409);
    expect(res.body.error_code).toBe("already_member");
    await expectConformant("POST", ACCEPT, res);
    // Such a membership lists the profile from the identity record.
    const members = await call<MemberPage>("GET", `/v1/${workspaceId}/members`, { token: owner.token });
    expect(members.body.items).toContainEqual(
      expect.objectContaining({ identity_id: invitee.identity_id, email: invitee.email, role: "viewer" }),
    );
  });

  it("answers 404 for an invitation to a workspace archived meanwhile, and lists it no more", async () => {
    const { owner, workspaceId, slug, invitee, invitationId } = await invited();
    expect((await call("POST", `/v1/workspaces/${workspaceId}/archive`, { token: owner.token, body: { slug } })).status).toBe(200);
    expect(await myInvitationIds(invitee)).toEqual([]);
    expect((await answerInvitation(invitee.token, invitationId, "accept")).status).toBe(404);
  });

  it("is for identities: an API key gets 403 unsupported_principal_type, a read-only token 403 insufficient_scope on answers", async () => {
    const { owner, workspaceId, invitationId } = await invited();
    const { secret } = await apiKeyWithRole(owner.token, workspaceId, "owner");
    const byKey = await call<ErrorBody>("GET", "/v1/me/invitations", { token: secret });
    expect(byKey.status).toBe(403);
    expect(byKey.body.error_code).toBe("unsupported_principal_type");
    expect((await answerInvitation<ErrorBody>(secret, invitationId, "accept")).body.error_code).toBe("unsupported_principal_type");

    const reader = await mintIdentity({ scopes: ["workspaces:read"] });
    const readerInvitation = await invite(owner.token, workspaceId, { email: reader.email });
    expect(await myInvitationIds(reader)).toEqual([readerInvitation.body.id]);
    const refused = await answerInvitation<ErrorBody>(reader.token, readerInvitation.body.id, "accept");
    expect(refused.status).toBe(403);
    expect(refused.body.error_code).toBe("insufficient_scope");
  });

  it("replays an accept sent again with its Idempotency-Key", async () => {
    const { invitee, invitationId } = await invited("viewer");
    const headers = { "Idempotency-Key": crypto.randomUUID() };
    const first = await answerInvitation(invitee.token, invitationId, "accept", { headers });
    const again = await answerInvitation(invitee.token, invitationId, "accept", { headers });
    expect(first.status).toBe(200);
    expect(again.status).toBe(200);
    expect(again.headers.get("Idempotent-Replayed")).toBe("true");
    expect(again.text).toBe(first.text);
  });
});

describe("who manages invitations", () => {
  it("an admin cannot revoke an owner invitation; a member cannot list them", async () => {
    const { owner, workspaceId } = await ownedWorkspace();
    const admin = await mintIdentity();
    const member = await mintIdentity();
    await addMember(workspaceId, admin, "admin");
    await addMember(workspaceId, member, "member");
    const forOwner = await invite(owner.token, workspaceId, { email: "heir@example.com", role: "owner" });
    const revoked = await call<ErrorBody>("DELETE", `/v1/${workspaceId}/invitations/${forOwner.body.id}`, { token: admin.token });
    expect(revoked.status).toBe(403);
    expect(revoked.body.detail).toMatch(/an invitation with role 'owner'/);
    expect((await call("GET", `/v1/${workspaceId}/invitations`, { token: member.token })).status).toBe(403);
  });
});
