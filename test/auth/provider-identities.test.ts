/**
 * People signed in through an identity provider: created on their first token (once, however many first
 * tokens race), disabled and enabled on the admin surface, matched to invitations only by a verified email,
 * and named in the audit trail by their issuer.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { providerCredentialId, providerIdentityId } from "../../src/auth/provider-identity";
import type {
  AuditEventPage,
  EnabledIdentity,
  IdentityList,
  MyIdentity,
  MyInvitationPage,
  OperatorAuditEventPage,
} from "../harness/bodies";
import { call } from "../harness/call";
import { expectConformant } from "../harness/conformance";
import { providerToken } from "../harness/issuer";
import { answerInvitation, createWorkspace, invite, ownedWorkspace } from "../harness/seed";

const ADMIN = { token: env.ADMIN_TOKEN };
const me = (token: string) => call<MyIdentity>("GET", "/v1/me", { token });

async function operatorEvents(identityId: string) {
  const res = await call<OperatorAuditEventPage>("GET", `/admin/audit?resource_id=${identityId}`, ADMIN);
  expect(res.status).toBe(200);
  return res.body.events;
}

describe("just-in-time identities", () => {
  it("makes exactly one identity of 20 concurrent first requests of the same subject", async () => {
    const subject = `race-${crypto.randomUUID()}`;
    const email = `${subject}@example.com`;
    const tokens = await Promise.all(Array.from({ length: 20 }, () => providerToken({ subject, claims: { email } })));
    const answers = await Promise.all(tokens.map((token) => me(token)));
    expect(answers.map((res) => res.status)).toEqual(Array(20).fill(200));
    const ids = new Set(answers.map((res) => res.body.identity_id));
    expect([...ids]).toEqual([await providerIdentityId("https://idp.test", subject)]);

    const listed = await call<IdentityList>("GET", `/admin/identities?email=${encodeURIComponent(email.toUpperCase())}`, ADMIN);
    expect(listed.status).toBe(200);
    await expectConformant("GET", "/admin/identities", listed);
    expect(listed.body.items).toEqual([
      {
        identity_id: [...ids][0],
        email,
        email_verified: true,
        display_name: "Grace Hopper",
        scopes: ["workspaces:read", "workspaces:write"],
        sign_in: "identity_provider",
        issuer: "https://idp.test",
        created_at: expect.any(String),
        revoked_at: null,
      },
    ]);
    const events = await operatorEvents([...ids][0]!);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      action: "identity.created",
      actor_entity_id: [...ids][0],
      actor_credential_id: await providerCredentialId("https://idp.test"),
      metadata: { credential_issuer: "https://idp.test" },
    });
  });

  it("keeps one identity per (issuer, subject): the same sub at another issuer is another person", async () => {
    const subject = `twin-${crypto.randomUUID()}`;
    const here = await me(await providerToken({ subject }));
    const there = await me(await providerToken({ subject, issuer: "https://readonly.test" }));
    expect(here.status).toBe(200);
    expect(there.status).toBe(200);
    expect(here.body.identity_id).not.toBe(there.body.identity_id);
  });

  it("follows the provider when the person's email or name changes", async () => {
    const subject = `renamed-${crypto.randomUUID()}`;
    const first = await me(await providerToken({ subject }));
    const renamed = await me(await providerToken({ subject, claims: { email: `new-${subject}@example.com`, name: "Grace B. Hopper" } }));
    expect(renamed.body).toMatchObject({
      identity_id: first.body.identity_id,
      email: `new-${subject}@example.com`,
      display_name: "Grace B. Hopper",
    });
    const byNewEmail = await call<IdentityList>("GET", `/admin/identities?email=new-${subject}@example.com`, ADMIN);
    expect(byNewEmail.body.items.map((item) => item.identity_id)).toEqual([first.body.identity_id]);
    const byOldEmail = await call<IdentityList>("GET", `/admin/identities?email=${subject}@example.com`, ADMIN);
    expect(byOldEmail.body.items).toEqual([]);
  });

  it("takes an email of at most 320 bytes: a longer one is no email; the person keeps theirs and can be disabled", async () => {
    const subject = `long-${crypto.randomUUID()}`;
    const first = await me(await providerToken({ subject }));
    // 252 characters, 492 bytes: it would name KV keys over KV's 512 bytes.
    const long = `${"ü".repeat(240)}@example.com`;
    const token = await providerToken({ subject, claims: { email: long } });
    const after = await me(token);
    expect(after.status).toBe(200);
    expect(after.body.email).toBe(first.body.email);
    expect((await call("DELETE", `/admin/identities/${first.body.identity_id}`, ADMIN)).status).toBe(204);
    expect((await me(token)).status).toBe(401);
    // A first token with only such an email signs no one in.
    expect((await me(await providerToken({ claims: { email: long } }))).status).toBe(401);
  });
});

describe("disabling and enabling a provider's identity", () => {
  it("refuses its tokens at once after the admin revoke, and accepts them again after enable", async () => {
    const subject = `disabled-${crypto.randomUUID()}`;
    const token = await providerToken({ subject });
    const { body } = await me(token);
    expect((await call("DELETE", `/admin/identities/${body.identity_id}`, ADMIN)).status).toBe(204);
    expect((await me(token)).status).toBe(401);
    // A new token of the same person is refused too: it is the person that is disabled.
    expect((await me(await providerToken({ subject }))).status).toBe(401);

    // A profile update that read the record before the revocation and wrote it back after it (KV has no
    // conditional write) cannot enable the person: the revocation's marker still refuses them.
    const record = await env.KV.get<{ revoked_at: string | null }>(`identity:${body.identity_id}`, "json");
    await env.KV.put(`identity:${body.identity_id}`, JSON.stringify({ ...record, revoked_at: null, display_name: "Stale" }));
    expect((await me(token)).status).toBe(401);
    const listed = await call<IdentityList>("GET", `/admin/identities?email=${subject}@example.com`, ADMIN);
    expect(listed.body.items).toEqual([expect.objectContaining({ identity_id: body.identity_id, revoked_at: expect.any(String) })]);

    const enabled = await call<EnabledIdentity>("POST", `/admin/identities/${body.identity_id}/enable`, ADMIN);
    expect(enabled.status).toBe(200);
    await expectConformant("POST", "/admin/identities/{identity_id}/enable", enabled);
    expect(enabled.body).toMatchObject({ identity_id: body.identity_id, revoked_at: null, token: null, sign_in: "identity_provider" });
    expect((await me(token)).status).toBe(200);
    expect((await operatorEvents(body.identity_id)).map((e) => e.action)).toEqual([
      "identity.enabled",
      "identity.revoked",
      "identity.created",
    ]);
  });
});

describe("invitations and the audit trail", () => {
  it("lets a provider's identity accept an invitation to its verified email, and not one to an unverified email", async () => {
    const { owner, workspaceId } = await ownedWorkspace();
    const verified = `verified-${crypto.randomUUID()}@example.com`;
    const unverified = `unverified-${crypto.randomUUID()}@example.com`;
    const toVerified = await invite(owner.token, workspaceId, { email: verified.toUpperCase() });
    const toUnverified = await invite(owner.token, workspaceId, { email: unverified });
    expect([toVerified.status, toUnverified.status]).toEqual([201, 201]);

    const claimant = await providerToken({ claims: { email: unverified, email_verified: false } });
    const mine = await call<MyInvitationPage>("GET", "/v1/me/invitations", { token: claimant });
    expect(mine.status).toBe(200);
    expect(mine.body.items).toEqual([]);
    expect((await answerInvitation(claimant, toUnverified.body.id, "accept")).status).toBe(404);

    const invitee = await providerToken({ claims: { email: verified, email_verified: true } });
    expect((await answerInvitation(invitee, toVerified.body.id, "accept")).status).toBe(200);
  });

  it.each([
    ["absent", undefined],
    ["0", 0],
    ['"no"', "no"],
    ['"true" (a string)', "true"],
    ["1", 1],
  ])("takes no invitation with a token whose email_verified is %s", async (_, claim) => {
    const { owner, workspaceId } = await ownedWorkspace();
    const email = `claimant-${crypto.randomUUID()}@example.com`;
    const invitation = await invite(owner.token, workspaceId, { email, role: "admin" });
    expect(invitation.status, invitation.text).toBe(201);
    const claimant = await providerToken({ claims: { email, email_verified: claim } });
    expect((await call<MyInvitationPage>("GET", "/v1/me/invitations", { token: claimant })).body.items).toEqual([]);
    expect((await answerInvitation(claimant, invitation.body.id, "accept")).status).toBe(404);
    const members = await call<{ items: { email: string }[] }>("GET", `/v1/${workspaceId}/members`, { token: owner.token });
    expect(members.body.items.map((m) => m.email)).not.toContain(email);
  });

  it("trusts the emails of a provider configured with emails_verified (Cloudflare Access: no email_verified claim)", async () => {
    const { owner, workspaceId } = await ownedWorkspace();
    const email = `access-${crypto.randomUUID()}@example.com`;
    const invitation = await invite(owner.token, workspaceId, { email });
    const token = await providerToken({
      issuer: "https://team.cloudflareaccess.com",
      key: "ec",
      claims: { email, email_verified: undefined },
    });
    expect((await answerInvitation(token, invitation.body.id, "accept")).status).toBe(200);
  });

  it("records a provider identity's writes with the issuer's credential id and names the issuer", async () => {
    const token = await providerToken();
    const created = await createWorkspace(token);
    expect(created.status).toBe(201);
    const person = await me(token);
    const res = await call<AuditEventPage>("GET", `/v1/${created.body.id}/audit`, { token });
    expect(res.status).toBe(200);
    expect(res.body.events[0]).toMatchObject({
      action: "workspace.created",
      actor_entity_id: person.body.identity_id,
      actor_credential_id: person.body.credential_id,
      metadata: { credential_issuer: "https://idp.test" },
    });
  });

  it("holds a read-only provider's people to workspaces:read", async () => {
    const token = await providerToken({ issuer: "https://readonly.test" });
    expect((await createWorkspace(token)).status).toBe(403);
    expect((await call("GET", "/v1/workspaces", { token })).status).toBe(200);
  });
});
