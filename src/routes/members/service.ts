import { and, eq, inArray, notInArray, or, type SQL, sql } from "drizzle-orm";
import { changeRoleStatement, findMembership, isSoleOwner, membersPage, removeMemberStatement, rolesWith } from "../../auth/memberships";
import { ROLES, roleOutranks, rolesAbove } from "../../auth/roles";
import type { MembershipRole } from "../../core/domain";
import type { Storage } from "../../core/env";
import { ApiError } from "../../core/errors";
import { bestEffort } from "../../core/logger";
import { IdentityProfileSchema } from "../../core/principal";
import type { AuditAction } from "../../storage/audit-events/actions";
import { type AuditActor, auditEvent, eventRecorded, insertEventIfChanged } from "../../storage/audit-events/record";
import { apiKeys, invitations, type MembershipRow } from "../../storage/d1/schema";
import { KV_BULK_GET_MAX, kvGetManyJson, kvKeys } from "../../storage/kv";
import { page } from "../../storage/pagination";
import { purgeRevokedKeyRecords, revokeKeysStatements } from "../api-keys/service";
import { revokeAssignmentsStatements } from "../external-roles/service";
import { revokeInvitationsStatements } from "../invitations/service";
import { type MemberResponse, toMemberResponse } from "./schemas";

/**
 * Role changes and removals. Each is one D1 batch: the membership write (which never takes away the last
 * owner, see memberships.ts), its audit event, the revocation of the API keys the member is accountable
 * for (holds the secret of) that the change puts above their role or permissions, and of the pending
 * invitations they issued that the change puts above their role (all of both on removal), one
 * `api_key.deleted` or `invitation.revoked` event each. Then the revoked keys' KV records are deleted, as
 * an archive does.
 */

export const memberNotFound = () => new ApiError("not_found", "Member not found.");

function memberEvent(actor: AuditActor, member: MembershipRow, action: AuditAction, metadata: Record<string, unknown>, at: string) {
  return auditEvent(
    actor,
    {
      workspaceId: member.workspaceId,
      action,
      resourceType: "member",
      resourceId: member.identityId,
      resourceName: member.email ?? member.identityId,
      metadata,
    },
    at,
  );
}

/**
 * The keys the member is accountable for; with `within`, only those a member of that role could not hold
 * (their role, or a permission, is above it).
 */
function keysOf(member: MembershipRow, within: MembershipRole | null): SQL {
  const theirs = and(eq(apiKeys.workspaceId, member.workspaceId), eq(apiKeys.accountableEntityId, member.identityId));
  if (within === null) return theirs as SQL;
  const above = rolesAbove(within);
  const beyondPermissions = sql`exists (select 1 from json_each(${apiKeys.permissions})
    where ${notInArray(sql`json_each.value`, [...ROLES[within].permissions])})`;
  return and(theirs, or(above.length > 0 ? inArray(apiKeys.role, above) : undefined, beyondPermissions)) as SQL;
}

/**
 * The pending invitations the member issued; with `within`, only those a member of that role could not
 * issue: all of them if it may not manage members, else those to a role above it.
 */
function invitationsOf(member: MembershipRow, within: MembershipRole | null): SQL {
  const theirs = and(eq(invitations.workspaceId, member.workspaceId), eq(invitations.invitedByEntityId, member.identityId));
  if (within === null || !rolesWith("Member.manage").includes(within)) return theirs as SQL;
  const above = rolesAbove(within);
  return and(theirs, above.length > 0 ? inArray(invitations.role, above) : sql`0`) as SQL;
}

/** The KV records of the keys a change revoked go as an archive's do; left over, they are refused by D1 and purged when presented. */
async function purgeKeyRecords(storage: Storage, workspaceId: string) {
  await bestEffort(storage.logger, "delete revoked keys' records", async () => {
    const left = await purgeRevokedKeyRecords(storage, eq(apiKeys.workspaceId, workspaceId));
    if (left > 0) storage.logger.warn("revoked keys' records left to purge", { workspace_id: workspaceId, left });
  });
}

/** Why a change that the batch did not make was not made: gone (404), changed meanwhile (409), or the last owner (409). */
async function refusal(storage: Storage, member: MembershipRow): Promise<ApiError> {
  const now = await findMembership(storage, member.workspaceId, member.identityId);
  if (!now) return memberNotFound();
  if (await isSoleOwner(storage, member.workspaceId, member.identityId)) {
    return new ApiError("last_owner", "This is the workspace's last owner: promote another member to owner first.");
  }
  return new ApiError("conflict", "The member's role was changed by a concurrent request; read it again and retry.");
}

/** What a member's response needs of an identity's record (one schema object: kv.ts parses each text once). */
const MemberProfileSchema = IdentityProfileSchema.pick({ email: true, display_name: true });

/**
 * Members as the API shows them. Memberships made before profiles were stored get theirs from the identity
 * records, in bulk KV reads of at most 100 keys.
 */
export async function memberResponses(storage: Storage, rows: MembershipRow[]): Promise<MemberResponse[]> {
  const missing = rows.filter((row) => row.email === null).map((row) => kvKeys.identity(row.identityId));
  const profiles = new Map<string, { email: string; display_name: string | null } | null>();
  for (let i = 0; i < missing.length; i += KV_BULK_GET_MAX) {
    const found = await kvGetManyJson(storage.kv, missing.slice(i, i + KV_BULK_GET_MAX), MemberProfileSchema);
    for (const [key, profile] of found) profiles.set(key, profile);
  }
  return rows.map((row) => toMemberResponse(row, profiles.get(kvKeys.identity(row.identityId)) ?? undefined));
}

/** A page of members, newest first, with the total. */
export async function listMembers(storage: Storage, workspaceId: string, limit: number, after: number) {
  const { rows, total } = await membersPage(storage, workspaceId, limit, after);
  const members = page(rows, limit, (row) => row, total);
  return { ...members, items: await memberResponses(storage, members.items) };
}

/** The new role; a demotion revokes, in the same batch, the member's keys and invitations above it. The same role changes nothing. */
export async function changeMemberRole(
  storage: Storage,
  member: MembershipRow,
  to: MembershipRole,
  actor: AuditActor,
): Promise<MembershipRow> {
  if (member.role === to) return member;
  const { db } = storage;
  const at = new Date().toISOString();
  const event = memberEvent(actor, member, "member.role_changed", { changes: { role: { old: member.role, new: to } } }, at);
  const demoted = roleOutranks(member.role, to);
  const revocation = { at, actor, reason: "member_role_changed", onlyIf: eventRecorded(event.id) } as const;
  const [[changed]] = await db.batch([
    changeRoleStatement(db, member.workspaceId, member.identityId, member.role, to),
    insertEventIfChanged(db, event),
    ...(demoted
      ? [
          ...revokeKeysStatements(db, keysOf(member, to), revocation),
          ...revokeInvitationsStatements(db, invitationsOf(member, to), revocation),
        ]
      : []),
  ]);
  if (!changed) throw await refusal(storage, member);
  if (demoted) await purgeKeyRecords(storage, member.workspaceId);
  return changed;
}

/**
 * Removal (by someone else, or leaving): every key the member is accountable for and every pending
 * invitation they issued is revoked, and every external role assignment naming it marked `revoked`, in the
 * same batch.
 */
export async function removeMember(storage: Storage, member: MembershipRow, actor: AuditActor, leaving: boolean): Promise<void> {
  const { db } = storage;
  const at = new Date().toISOString();
  const event = memberEvent(actor, member, leaving ? "member.left" : "member.removed", { role: member.role }, at);
  const reason = leaving ? "member_left" : "member_removed";
  const [removed] = await db.batch([
    removeMemberStatement(db, member.workspaceId, member.identityId),
    insertEventIfChanged(db, event),
    ...revokeKeysStatements(db, keysOf(member, null), { at, actor, reason, onlyIf: eventRecorded(event.id) }),
    ...revokeInvitationsStatements(db, invitationsOf(member, null), { at, actor, reason, onlyIf: eventRecorded(event.id) }),
    ...revokeAssignmentsStatements(db, {
      workspaceId: member.workspaceId,
      entityId: member.identityId,
      at,
      actor,
      reason,
      onlyIf: eventRecorded(event.id),
    }),
  ]);
  if (removed.length === 0) throw await refusal(storage, member);
  await purgeKeyRecords(storage, member.workspaceId);
}
