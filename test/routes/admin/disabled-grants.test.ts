/**
 * Disabling a person (DELETE /admin/identities/{id}) takes everything they handed out with them, in every
 * region: the API keys they hold and the invitations they issued; re-enabling restores none of it
 * (docs/guides/members.md, "Threat model").
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { runScheduled } from "../../../src/jobs/scheduled";
import type { EnabledIdentity } from "../../harness/bodies";
import { call, type TestEnv } from "../../harness/call";
import { providerToken } from "../../harness/issuer";
import { answerInvitation, apiKeyWithRole, createWorkspace, invite, joinedMember, mintIdentity, ownedWorkspace } from "../../harness/seed";
import { interceptKV, storedEvents } from "../../harness/storage";

const ADMIN = { token: env.ADMIN_TOKEN };
const disable = (identityId: string) => call("DELETE", `/admin/identities/${identityId}`, ADMIN);
const enable = (identityId: string) => call<EnabledIdentity>("POST", `/admin/identities/${identityId}/enable`, ADMIN);
const EU: Partial<TestEnv> = { REGION: "eu-central-1", DB: env.DB_EU };

const status = async (token: string, options: { env?: Partial<TestEnv> } = {}) =>
  (await call("GET", "/v1/auth/me", { token, ...options })).status;

async function keyRow(db: D1Database, keyId: string) {
  return db.prepare("select revoked_at from api_keys where key_id = ?").bind(keyId).first<{ revoked_at: string | null }>();
}

describe("disabling a person", () => {
  it("revokes every key they hold, in every workspace, and every invitation they issued, each with its event", async () => {
    const { owner, workspaceId } = await ownedWorkspace();
    const { owner: otherOwner, workspaceId: otherWorkspace } = await ownedWorkspace();
    const admin = await joinedMember(owner.token, workspaceId, "admin");
    await joinedMemberAs(otherOwner.token, otherWorkspace, admin);
    const own = await apiKeyWithRole(admin.token, workspaceId, "admin");
    const madeByKey = await apiKeyWithRole(own.secret, workspaceId, "viewer");
    const elsewhere = await apiKeyWithRole(admin.token, otherWorkspace, "member");
    const ownersKey = await apiKeyWithRole(owner.token, workspaceId, "member");
    const invitee = await mintIdentity();
    const invitation = await invite(admin.token, workspaceId, { email: invitee.email });
    expect(invitation.status).toBe(201);

    expect((await disable(admin.identity_id)).status).toBe(204);
    for (const key of [own, madeByKey, elsewhere]) {
      expect(await status(key.secret)).toBe(401);
      expect((await keyRow(env.DB, key.keyId))?.revoked_at).not.toBeNull();
    }
    expect(await status(ownersKey.secret)).toBe(200);
    expect((await answerInvitation(invitee.token, invitation.body.id, "accept")).status).toBe(404);

    const keyEvents = await storedEvents(workspaceId, { action: "api_key.deleted" });
    expect(keyEvents.map((e) => [e.metadata?.reason, e.actorEntityId])).toEqual([
      ["identity_disabled", null],
      ["identity_disabled", null],
    ]);
    expect((await storedEvents(otherWorkspace, { action: "api_key.deleted" })).map((e) => e.metadata?.reason)).toEqual([
      "identity_disabled",
    ]);
    const invitationEvents = await storedEvents(workspaceId, { action: "invitation.revoked" });
    expect(invitationEvents.map((e) => [e.resourceId, e.metadata?.reason])).toEqual([[invitation.body.id, "identity_disabled"]]);
  });

  it("revokes the invitations to their email too, whoever signs in with it, here and at acceptance elsewhere", async () => {
    const { owner, workspaceId } = await ownedWorkspace();
    const person = await mintIdentity();
    const invitation = await invite(owner.token, workspaceId, { email: person.email.toUpperCase(), role: "admin" });
    expect(invitation.status).toBe(201);
    expect((await disable(person.identity_id)).status).toBe(204);
    const sameEmail = await providerToken({ claims: { email: person.email, email_verified: true } });
    expect((await answerInvitation(sameEmail, invitation.body.id, "accept")).status).toBe(404);
    const revoked = await storedEvents(workspaceId, { action: "invitation.revoked" });
    expect(revoked.map((e) => [e.resourceId, e.metadata?.reason])).toEqual([[invitation.body.id, "identity_disabled"]]);

    // Another region's invitation to the address, before its scheduled run: refused at acceptance by the marker.
    const euOwner = await mintIdentity();
    const euWorkspace = await createWorkspace(euOwner.token, {}, { env: EU });
    const euInvitation = await call<{ id: string }>("POST", `/v1/${euWorkspace.body.id}/invitations`, {
      token: euOwner.token,
      body: { email: person.email, role: "member" },
      env: EU,
    });
    expect(euInvitation.status, euInvitation.text).toBe(201);
    const accepted = await call("POST", `/v1/me/invitations/${euInvitation.body.id}/accept`, { token: sameEmail, env: EU });
    expect(accepted.status, accepted.text).toBe(404);
  });

  it("keeps refusing invitations to a disabled person's email when another person with that email is re-enabled", async () => {
    const email = `shared-${crypto.randomUUID()}@example.com`;
    const [first, second] = [await mintIdentity({ email }), await mintIdentity({ email })];
    expect((await disable(first.identity_id)).status).toBe(204);
    expect((await disable(second.identity_id)).status).toBe(204);
    expect((await enable(second.identity_id)).status).toBe(200);
    const { owner, workspaceId } = await ownedWorkspace();
    const invitation = await invite(owner.token, workspaceId, { email, role: "admin" });
    expect(invitation.status).toBe(201);
    const sameEmail = await providerToken({ claims: { email, email_verified: true } });
    expect((await answerInvitation(sameEmail, invitation.body.id, "accept")).status).toBe(404);
  });

  it("restores nothing when they are enabled again; what they hand out afterwards works", async () => {
    const subject = crypto.randomUUID();
    const token = await providerToken({ subject });
    const created = await createWorkspace(token);
    expect(created.status, created.text).toBe(201);
    const workspaceId = created.body.id;
    const before = await apiKeyWithRole(token, workspaceId, "admin");
    const invitee = await mintIdentity();
    const invitation = await invite(token, workspaceId, { email: invitee.email });
    const me = await call<{ identity_id: string }>("GET", "/v1/me", { token });

    expect((await disable(me.body.identity_id)).status).toBe(204);
    expect(await status(before.secret)).toBe(401);
    expect((await enable(me.body.identity_id)).status).toBe(200);
    expect(await status(before.secret)).toBe(401);
    expect((await answerInvitation(invitee.token, invitation.body.id, "accept")).status).toBe(404);

    const after = await apiKeyWithRole(token, workspaceId, "admin");
    expect(await status(after.secret)).toBe(200);
  });

  it("refuses their keys in another region at once, and that region's scheduled run revokes them there", async () => {
    const person = await mintIdentity();
    const created = await createWorkspace(person.token, {}, { env: EU });
    expect(created.status, created.text).toBe(201);
    const key = await call<{ api_key: string; key_id: string }>("POST", `/v1/${created.body.id}/api-keys`, {
      token: person.token,
      body: { duration_days: 7, role: "admin" },
      env: EU,
    });
    expect(key.status, key.text).toBe(201);
    expect(await status(key.body.api_key, { env: EU })).toBe(200);

    // Disabled through this (us-east-1) deployment: the EU database has not heard of it.
    expect((await disable(person.identity_id)).status).toBe(204);
    expect((await keyRow(env.DB_EU, key.body.key_id))?.revoked_at).toBeNull();
    expect(await status(key.body.api_key, { env: EU })).toBe(401);

    const run = await runScheduled({ ...env, ...EU } as typeof env);
    expect(run?.grantRevocations).toBeGreaterThanOrEqual(1);
    expect((await keyRow(env.DB_EU, key.body.key_id))?.revoked_at).not.toBeNull();
    expect((await enable(person.identity_id)).status).toBe(200);
    expect(await status(key.body.api_key, { env: EU })).toBe(401);
  });

  it("also takes what they handed out where the news had not arrived yet (KV's propagation window)", async () => {
    const subject = crypto.randomUUID();
    const token = await providerToken({ subject });
    const created = await createWorkspace(token);
    const workspaceId = created.body.id;
    const me = await call<{ identity_id: string }>("GET", "/v1/me", { token });
    expect((await disable(me.body.identity_id)).status).toBe(204);
    expect((await call("GET", "/v1/me", { token })).status).toBe(401);

    // A location that has not seen the markers yet still lets the person in, and they make a key there.
    const staleValue = (name: string, value: unknown) => {
      if (name.startsWith("revoked-identity:") || name.startsWith("revoked-before:")) return null;
      if (name.startsWith("identity:") && typeof value === "string") return JSON.stringify({ ...JSON.parse(value), revoked_at: null });
      return value;
    };
    const stale = interceptKV(async (method, key, proceed) => {
      const result = await proceed();
      if (method !== "get") return result;
      if (typeof key === "string") return staleValue(key, result);
      if (result instanceof Map) for (const [name, value] of result) result.set(name, staleValue(name, value));
      return result;
    });
    const late = await call<{ api_key: string; key_id: string }>("POST", `/v1/${workspaceId}/api-keys`, {
      token,
      body: { duration_days: 7, role: "admin" },
      env: { KV: stale },
    });
    expect(late.status, late.text).toBe(201);

    // Everywhere else (and here, once the markers arrive) the key is refused, and stays refused after re-enabling.
    expect(await status(late.body.api_key)).toBe(401);
    const run = await runScheduled(env);
    expect(run?.grantRevocations).toBeGreaterThanOrEqual(1);
    expect((await keyRow(env.DB, late.body.key_id))?.revoked_at).not.toBeNull();
    expect((await enable(me.body.identity_id)).status).toBe(200);
    expect(await status(late.body.api_key)).toBe(401);
  });
});

/** Adds an existing identity to another workspace through an invitation it accepts. */
async function joinedMemberAs(inviterToken: string, workspaceId: string, identity: { email: string; token: string }) {
  const invitation = await invite(inviterToken, workspaceId, { email: identity.email, role: "admin" });
  expect(invitation.status, invitation.text).toBe(201);
  expect((await answerInvitation(identity.token, invitation.body.id, "accept")).status).toBe(200);
}
