/**
 * A revocation that changes many rows records one event per row it changed, under its own actor and
 * reason: never a row another revocation changed in the same millisecond (issue 42.7). Two batches run here
 * with one timestamp, as an archive and a member's removal can.
 */
import { env } from "cloudflare:workers";
import { and, eq, type SQL } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { revokeKeysStatements } from "../../src/routes/api-keys/service";
import { revokeInvitationsStatements } from "../../src/routes/invitations/service";
import type { AuditActor } from "../../src/storage/audit-events/record";
import { dbFor } from "../../src/storage/d1/client";
import { apiKeys, auditEvents, invitations } from "../../src/storage/d1/schema";
import { addMember, apiKeyWithRole, invite, mintIdentity, ownedWorkspace } from "../harness/seed";

const db = dbFor(env.DB);
const actorNamed = (requestId: string): AuditActor => ({
  entityId: null,
  credentialId: null,
  ipAddress: null,
  userAgent: null,
  requestId,
});

/** Each resource's events of `action` in the outbox: its reasons and the requests that recorded them. */
async function eventsByResource(workspaceId: string, action: string) {
  const rows = await db
    .select({ resourceId: auditEvents.resourceId, metadata: auditEvents.metadata })
    .from(auditEvents)
    .where(and(eq(auditEvents.workspaceId, workspaceId), eq(auditEvents.action, action)));
  const byResource = new Map<string, { reason: unknown; request_id: unknown }[]>();
  for (const { resourceId, metadata } of rows) {
    const list = byResource.get(resourceId as string) ?? [];
    list.push({ reason: metadata?.reason, request_id: metadata?.request_id });
    byResource.set(resourceId as string, list);
  }
  return byResource;
}

describe("per-row revocation events", () => {
  it("two key revocations in the same millisecond each record exactly the keys they revoked", async () => {
    const { owner, workspaceId } = await ownedWorkspace();
    const member = await mintIdentity();
    await addMember(workspaceId, member, "admin");
    const memberKeys = [
      await apiKeyWithRole(member.token, workspaceId, "viewer"),
      await apiKeyWithRole(member.token, workspaceId, "member"),
    ];
    const ownerKey = await apiKeyWithRole(owner.token, workspaceId, "viewer");
    const idOf = async (keyId: string) =>
      (await db.select({ id: apiKeys.id }).from(apiKeys).where(eq(apiKeys.keyId, keyId)).get())?.id as string;

    const at = new Date().toISOString();
    const inWorkspace = eq(apiKeys.workspaceId, workspaceId);
    await db.batch([
      ...revokeKeysStatements(db, and(inWorkspace, eq(apiKeys.accountableEntityId, member.identity_id)) as SQL, {
        at,
        actor: actorNamed("removal"),
        reason: "member_removed",
      }),
    ]);
    await db.batch([...revokeKeysStatements(db, inWorkspace, { at, actor: actorNamed("archive"), reason: "workspace_archived" })]);

    const events = await eventsByResource(workspaceId, "api_key.deleted");
    for (const key of memberKeys) {
      expect(events.get(await idOf(key.keyId))).toEqual([{ reason: "member_removed", request_id: "removal" }]);
    }
    expect(events.get(await idOf(ownerKey.keyId))).toEqual([{ reason: "workspace_archived", request_id: "archive" }]);
  });

  it("two invitation revocations in the same millisecond each record exactly the invitations they revoked", async () => {
    const { owner, workspaceId } = await ownedWorkspace();
    const member = await mintIdentity();
    await addMember(workspaceId, member, "admin");
    const byMember = await invite(member.token, workspaceId, { email: `m-${crypto.randomUUID()}@example.com` });
    const byOwner = await invite(owner.token, workspaceId, { email: `o-${crypto.randomUUID()}@example.com` });
    expect([byMember.status, byOwner.status]).toEqual([201, 201]);

    const at = new Date().toISOString();
    const inWorkspace = eq(invitations.workspaceId, workspaceId);
    await db.batch([
      ...revokeInvitationsStatements(db, and(inWorkspace, eq(invitations.invitedByEntityId, member.identity_id)) as SQL, {
        at,
        actor: actorNamed("removal"),
        reason: "member_removed",
      }),
    ]);
    await db.batch([...revokeInvitationsStatements(db, inWorkspace, { at, actor: actorNamed("disable"), reason: "identity_disabled" })]);

    const events = await eventsByResource(workspaceId, "invitation.revoked");
    expect(events.get(byMember.body.id)).toEqual([{ reason: "member_removed", request_id: "removal" }]);
    expect(events.get(byOwner.body.id)).toEqual([{ reason: "identity_disabled", request_id: "disable" }]);
  });
});
