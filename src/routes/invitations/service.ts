import { and, count, desc, eq, gt, isNull, lt, lte, type SQL, sql } from "drizzle-orm";
import { hasMemberWithEmail, insertMembershipIf, type NewMembership, stillEntitled } from "../../auth/memberships";
import type { MembershipRole } from "../../core/domain";
import type { Db, Storage } from "../../core/env";
import { ApiError, internalError } from "../../core/errors";
import type { Creator, IdentityPrincipal } from "../../core/principal";
import { isAbortedBy, isUniqueViolationOf } from "../../core/storage-errors";
import { daysAfter } from "../../core/time";
import type { AuditAction } from "../../storage/audit-events/actions";
import { type AuditActor, auditEvent, changeWithEventPerRow, insertEvent, insertEventIfChanged } from "../../storage/audit-events/record";
import { type InvitationRow, invitations, type MembershipRow, workspaces } from "../../storage/d1/schema";
import { invitationRevokedByMarker } from "../../storage/identities";
import { keysetPage } from "../../storage/pagination";
import type { RevocationReason } from "../api-keys/service";
import { statusOf } from "./schemas";

/**
 * Invitations: a pending row per (workspace, email) until it is accepted, declined, revoked or replaced
 * after expiring. Accepting is one D1 batch: the invitation closes only if still pending and unexpired,
 * the membership is inserted only if it did (the UNIQUE index refuses a second membership), and the event
 * only if the membership was. No email is sent: the invitee finds it under GET /v1/me/invitations.
 */

export const invitationNotFound = () => new ApiError("not_found", "Invitation not found.");
const alreadyMember = () => new ApiError("already_member", "This identity is already a member of the workspace.");

function invitationEvent(actor: AuditActor, row: InvitationRow, action: AuditAction, metadata?: Record<string, unknown>, at?: string) {
  return auditEvent(
    actor,
    { workspaceId: row.workspaceId, action, resourceType: "invitation", resourceId: row.id, resourceName: row.email, metadata },
    at,
  );
}

type NewInvitation = { workspaceId: string; email: string; role: MembershipRole; expiresInDays: number; inviter: Creator };

/** 409 if someone with the email is a member, or a pending unexpired invitation exists; an expired one is replaced. */
export async function createInvitation(storage: Storage, input: NewInvitation, actor: AuditActor): Promise<InvitationRow> {
  const { db } = storage;
  const email = input.email.toLowerCase();
  if (await hasMemberWithEmail(storage, input.workspaceId, email)) {
    throw new ApiError("already_member", "Someone with this email is already a member of the workspace.");
  }
  const now = new Date().toISOString();
  const row: InvitationRow = {
    seq: 0,
    id: crypto.randomUUID(),
    workspaceId: input.workspaceId,
    email,
    role: input.role,
    state: "pending",
    invitedByEntityId: input.inviter.createdByEntityId,
    invitedByCredentialId: input.inviter.createdByCredentialId,
    acceptedByIdentityId: null,
    expiresAt: daysAfter(Date.parse(now), input.expiresInDays),
    createdAt: now,
    updatedAt: now,
  };
  const { seq: _, ...values } = row;
  const sameEmail = and(eq(invitations.workspaceId, row.workspaceId), eq(invitations.email, email), eq(invitations.state, "pending"));
  try {
    const [, [inserted]] = await db.batch([
      db
        .update(invitations)
        .set({ state: "expired", updatedAt: now })
        .where(and(sameEmail, lte(invitations.expiresAt, now))),
      db.insert(invitations).values(values).returning({ seq: invitations.seq }),
      insertEvent(db, invitationEvent(actor, row, "invitation.created", { email, role: row.role, expires_at: row.expiresAt }, now)),
    ]);
    if (!inserted) throw internalError(new Error("insert returned no row"));
    return { ...row, seq: inserted.seq };
  } catch (err) {
    // The inviter was removed or demoted after the request was authorised (drizzle/0010's trigger).
    if (isAbortedBy(err, "inviter_not_entitled")) {
      throw new ApiError("forbidden", "You may no longer invite anyone with this role to this workspace.");
    }
    if (isUniqueViolationOf(err, "invitations.email")) {
      throw new ApiError("invitation_pending", "This email has a pending invitation to this workspace; revoke it to send another.");
    }
    throw err;
  }
}

/** The workspace's open invitations (pending, and unanswered ones past expiry), newest first, with the total. */
export function listInvitations({ db }: Storage, workspaceId: string, limit: number, after: number) {
  return keysetPage(db, invitations, and(eq(invitations.workspaceId, workspaceId), eq(invitations.state, "pending")), limit, after);
}

export async function findInvitation({ db }: Storage, workspaceId: string, invitationId: string) {
  return db
    .select()
    .from(invitations)
    .where(and(eq(invitations.workspaceId, workspaceId), eq(invitations.id, invitationId)))
    .get();
}

/**
 * Statements for a caller's batch: the pending invitations `which` selects revoked, where `onlyIf` holds,
 * and one `invitation.revoked` event per invitation (`metadata.reason`): what a person invited does not
 * outlive their right to invite it (their removal, a demotion below its role, their being disabled).
 */
export function revokeInvitationsStatements(
  db: Db,
  which: SQL,
  revocation: { at: string; actor: AuditActor; reason: RevocationReason; onlyIf?: SQL },
) {
  const { at, actor, reason, onlyIf } = revocation;
  const template = auditEvent(
    actor,
    { workspaceId: null, action: "invitation.revoked", resourceType: "invitation", resourceId: null, resourceName: null },
    at,
  );
  return changeWithEventPerRow(
    db,
    {
      event: template,
      perRow: {
        workspaceId: sql`${invitations.workspaceId}`,
        resourceId: sql`${invitations.id}`,
        resourceName: sql`${invitations.email}`,
        metadata: sql`json_object('reason', ${reason}, 'role', ${invitations.role})`,
      },
      from: sql`${invitations}`,
      rows: and(which, eq(invitations.state, "pending"), onlyIf) as SQL,
    },
    (revoking) => db.update(invitations).set({ state: "revoked", updatedAt: at }).where(revoking),
  );
}

/** Revokes a pending (or expired, unanswered) invitation; anything else is 404. */
export async function revokeInvitation({ db }: Storage, row: InvitationRow, actor: AuditActor): Promise<void> {
  const now = new Date().toISOString();
  const [revoked] = await db.batch([
    db
      .update(invitations)
      .set({ state: "revoked", updatedAt: now })
      .where(and(eq(invitations.id, row.id), eq(invitations.state, "pending")))
      .returning({ id: invitations.id }),
    insertEventIfChanged(db, invitationEvent(actor, row, "invitation.revoked", undefined, now)),
  ]);
  if (revoked.length === 0) throw invitationNotFound();
}

// --- the invitee's side ------------------------------------------------------------------------------

/**
 * An email is proof of owning it only when verified: an identity provider's, when its token said
 * `email_verified: true` (or its configuration vouches for its emails); a personal-token identity's, as the
 * operator who minted it did. Any other email matches no invitation.
 */
const addressedTo = (identity: IdentityPrincipal) =>
  identity.issuer !== undefined && identity.email_verified !== true ? sql`0` : eq(invitations.email, identity.email.toLowerCase());
const liveWorkspace = isNull(workspaces.archivedAt);
/** The person who issued the invitation could still issue it: a member who may manage members, with a role at least the invitation's. */
const inviterEntitled = stillEntitled(invitations.workspaceId, invitations.invitedByEntityId, invitations.role, "Member.manage");

/** The identity's pending, unexpired invitations in this region, to live workspaces, newest first. */
export async function myInvitations({ db }: Storage, identity: IdentityPrincipal, limit: number, after: number) {
  const now = new Date().toISOString();
  const mine = and(addressedTo(identity), eq(invitations.state, "pending"), gt(invitations.expiresAt, now), liveWorkspace, inviterEntitled);
  const [rows, [total]] = await db.batch([
    db
      .select({ invitation: invitations, workspaceName: workspaces.name, workspaceSlug: workspaces.slug })
      .from(invitations)
      .innerJoin(workspaces, eq(workspaces.id, invitations.workspaceId))
      .where(and(mine, after > 0 ? lt(invitations.seq, after) : undefined))
      .orderBy(desc(invitations.seq))
      .limit(limit + 1),
    db.select({ n: count() }).from(invitations).innerJoin(workspaces, eq(workspaces.id, invitations.workspaceId)).where(mine),
  ]);
  return { rows: rows.map((row) => ({ ...row, seq: row.invitation.seq })), total: total?.n ?? 0 };
}

/**
 * The invitation addressed to this identity, for it to answer. Someone else's, an unknown one, one to an
 * archived workspace, one whose issuer may no longer grant it (removed, demoted, disabled), and one
 * already answered or revoked are all 404 (nothing tells an identity about
 * invitations that are not its own); an expired one is 410.
 */
export async function invitationToAnswer({ db, kv }: Storage, identity: IdentityPrincipal, invitationId: string): Promise<InvitationRow> {
  const found = await db
    .select({ invitation: invitations })
    .from(invitations)
    .innerJoin(workspaces, eq(workspaces.id, invitations.workspaceId))
    .where(and(eq(invitations.id, invitationId), addressedTo(identity), liveWorkspace, inviterEntitled))
    .get();
  if (!found) throw invitationNotFound();
  // Issued by, or addressed to, someone disabled since (in any region; this region's D1 may not have revoked it yet).
  const { invitedByEntityId: inviter, email, createdAt } = found.invitation;
  if (await invitationRevokedByMarker(kv, { inviter, email, createdAt })) throw invitationNotFound();
  assertAnswerable(found.invitation);
  return found.invitation;
}

function assertAnswerable(row: InvitationRow) {
  const status = statusOf(row);
  if (status === "expired") throw new ApiError("invitation_expired", "The invitation has expired; ask for a new one.");
  if (status !== "pending") throw invitationNotFound();
}

/** Why an answer that the batch did not record was not: what the invitation (or workspace) became meanwhile. */
function answerRefusal(storage: Storage, identity: IdentityPrincipal, row: InvitationRow): Promise<unknown> {
  return invitationToAnswer(storage, identity, row.id).then(
    () => new ApiError("conflict", "The invitation changed meanwhile; retry."),
    (refusal: unknown) => refusal,
  );
}

/** The invitation, closed as answered, only while it is pending, unexpired, its workspace live and its inviter entitled to its role. */
function closeInvitation(storage: Storage, row: InvitationRow, changes: Partial<InvitationRow>, now: string) {
  const { db } = storage;
  const workspaceLive = sql`exists (select 1 from ${workspaces}
    where ${workspaces.id} = ${row.workspaceId} and ${workspaces.archivedAt} is null)`;
  return db
    .update(invitations)
    .set({ ...changes, updatedAt: now })
    .where(
      and(eq(invitations.id, row.id), eq(invitations.state, "pending"), gt(invitations.expiresAt, now), workspaceLive, inviterEntitled),
    )
    .returning({ id: invitations.id });
}

/** Accepts: the identity joins with the invitation's role (409 if it is a member already: the UNIQUE index refuses the batch). */
export async function acceptInvitation(
  storage: Storage,
  identity: IdentityPrincipal,
  row: InvitationRow,
  actor: AuditActor,
): Promise<MembershipRow> {
  const { db } = storage;
  const now = new Date().toISOString();
  const membership: NewMembership = {
    workspaceId: row.workspaceId,
    identityId: identity.identity_id,
    role: row.role,
    at: now,
    email: identity.email,
    displayName: identity.display_name,
    invitedBy: row.invitedByEntityId,
  };
  const event = auditEvent(
    actor,
    {
      workspaceId: row.workspaceId,
      action: "member.joined",
      resourceType: "member",
      resourceId: identity.identity_id,
      resourceName: identity.email,
      metadata: { role: row.role, invitation_id: row.id },
    },
    now,
  );
  let closed: { id: string }[];
  try {
    [closed] = await db.batch([
      closeInvitation(storage, row, { state: "accepted", acceptedByIdentityId: identity.identity_id }, now),
      insertMembershipIf(db, membership, sql`changes() > 0`),
      insertEventIfChanged(db, event),
    ]);
  } catch (err) {
    if (isUniqueViolationOf(err, "memberships.identity_id")) throw alreadyMember();
    throw err;
  }
  if (closed.length === 0) throw await answerRefusal(storage, identity, row);
  const { at, ...joined } = membership;
  return { seq: 0, ...joined, createdAt: at };
}

export async function declineInvitation(
  storage: Storage,
  identity: IdentityPrincipal,
  row: InvitationRow,
  actor: AuditActor,
): Promise<void> {
  const now = new Date().toISOString();
  const [closed] = await storage.db.batch([
    closeInvitation(storage, row, { state: "declined" }, now),
    insertEventIfChanged(storage.db, invitationEvent(actor, row, "invitation.declined", undefined, now)),
  ]);
  if (closed.length === 0) throw await answerRefusal(storage, identity, row);
}
