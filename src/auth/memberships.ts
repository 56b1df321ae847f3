import { and, desc, eq, getTableColumns, inArray, isNull, lt, ne, or, type SQL, sql } from "drizzle-orm";
import type { SQLiteColumn } from "drizzle-orm/sqlite-core";
import { MEMBERSHIP_ROLES, type MembershipRole } from "../core/domain";
import type { Db, Storage } from "../core/env";
import { compiledSelect } from "../storage/d1/compiled";
import { rowsWhere } from "../storage/d1/conditional-insert";
import { memberships, workspaces } from "../storage/d1/schema";
import { keysetPage } from "../storage/pagination";
import { type Permission, ROLES } from "./roles";

/**
 * Who belongs to which workspace, with which role: every read and write of the `memberships` table is
 * here. What a role may do is in roles.ts and grants.ts; the members and invitations groups build on
 * these functions.
 */

export type NewMembership = {
  workspaceId: string;
  identityId: string;
  role: MembershipRole;
  at: string;
  email: string;
  displayName: string | null;
  invitedBy: string | null;
};

function membershipValues({ workspaceId, identityId, role, at, email, displayName, invitedBy }: NewMembership) {
  return { workspaceId, identityId, role, createdAt: at, email, displayName, invitedBy };
}

/** The insert, for a caller's batch (a workspace and its owner are created in one transaction). */
export function insertMembership(db: Db, membership: NewMembership) {
  return db.insert(memberships).values(membershipValues(membership));
}

/** The insert, only where `condition` holds when it runs (accepting an invitation: if the invitation was still open). */
export function insertMembershipIf(db: Db, membership: NewMembership, condition: SQL) {
  return db.insert(memberships).select(rowsWhere(memberships, membershipValues(membership), condition));
}

/** The delete of every membership of a workspace, for a caller's batch (undoing a create). */
export function deleteWorkspaceMemberships(db: Db, workspaceId: string) {
  return db.delete(memberships).where(eq(memberships.workspaceId, workspaceId));
}

/** The workspace's columns and the identity's role in it (null: not a member). */
const workspaceWithRoleFields = { ...getTableColumns(workspaces), role: memberships.role };
const workspaceWithRoleQuery = compiledSelect(workspaceWithRoleFields, (select) =>
  select
    .from(workspaces)
    .leftJoin(memberships, and(eq(memberships.workspaceId, workspaces.id), eq(memberships.identityId, sql.placeholder("identityId"))))
    .where(eq(workspaces.id, sql.placeholder("workspaceId"))),
);

/**
 * The workspace, with the identity's role in it (null: not a member); undefined if no such workspace here.
 * Read on the primary: it decides authorization, so it must see a removal or an archive at once.
 */
export async function workspaceWithRole({ primary }: Storage, workspaceId: string, identityId: string) {
  const [row] = await workspaceWithRoleQuery.all(primary.$client, { workspaceId, identityId });
  if (row === undefined) return undefined;
  const { role, ...workspace } = row;
  return { workspace, role };
}

/** A listed workspace: its response's columns, and the membership's seq (the page's keyset). */
const memberWorkspaceFields = {
  seq: memberships.seq,
  id: workspaces.id,
  slug: workspaces.slug,
  name: workspaces.name,
  environment: workspaces.environment,
  backendOrgId: workspaces.backendOrgId,
  region: workspaces.region,
  connectorType: workspaces.connectorType,
  provisionedAt: workspaces.provisionedAt,
  createdAt: workspaces.createdAt,
  updatedAt: workspaces.updatedAt,
};
const memberWorkspacesQuery = compiledSelect(memberWorkspaceFields, (select) =>
  select
    .from(memberships)
    .innerJoin(workspaces, eq(workspaces.id, memberships.workspaceId))
    .where(
      and(
        eq(memberships.identityId, sql.placeholder("identityId")),
        isNull(workspaces.archivedAt),
        lt(memberships.seq, sql.placeholder("before")),
      ),
    )
    .orderBy(desc(memberships.seq))
    .limit(sql.placeholder("limit")),
);

/** The identity's non-archived workspaces in this region, newest membership first (keyset on memberships.seq). */
export function memberWorkspacesPage({ d1 }: Storage, identityId: string, limit: number, after: number) {
  // The first page (after = 0) starts below every seq.
  return memberWorkspacesQuery.all(d1, { identityId, before: after > 0 ? after : Number.MAX_SAFE_INTEGER, limit: limit + 1 });
}

/** A page of the workspace's members, newest first, with the total over all pages. */
export function membersPage({ db }: Storage, workspaceId: string, limit: number, after: number) {
  return keysetPage(db, memberships, eq(memberships.workspaceId, workspaceId), limit, after);
}

export function findMembership({ db }: Storage, workspaceId: string, identityId: string) {
  return db
    .select()
    .from(memberships)
    .where(and(eq(memberships.workspaceId, workspaceId), eq(memberships.identityId, identityId)))
    .get();
}

/** Whether someone who joined with this email (compared case-insensitively) is a member. */
export async function hasMemberWithEmail({ db }: Storage, workspaceId: string, email: string): Promise<boolean> {
  const row = await db
    .select({ seq: memberships.seq })
    .from(memberships)
    .where(and(eq(memberships.workspaceId, workspaceId), eq(sql`lower(${memberships.email})`, email.toLowerCase())))
    .get();
  return row !== undefined;
}

/** A role column's priority (ROLES), in SQL. */
function priorityOf(role: SQL | SQLiteColumn): SQL {
  const cases = MEMBERSHIP_ROLES.map((name) => sql`when ${name} then ${ROLES[name].priority}`);
  return sql`(case ${role} ${sql.join(cases, sql` `)} else 0 end)`;
}

/** The roles whose defaults hold `permission`. */
export const rolesWith = (permission: Permission) => MEMBERSHIP_ROLES.filter((role) => ROLES[role].permissions.includes(permission));

/**
 * True while the person `entity` names could still make a grant of `role` that needed `permission`: a
 * member of `workspace` whose role holds the permission and is at least `role`. What an invitation they
 * issued needs at the moment it is accepted. A null `entity` (no person) passes.
 */
export function stillEntitled(workspace: SQLiteColumn, entity: SQLiteColumn, role: SQLiteColumn, permission: Permission): SQL {
  const entitledRole = sql`"entitled"."role"`;
  return sql`(${entity} is null or exists (select 1 from ${memberships} "entitled"
    where "entitled"."workspace_id" = ${workspace} and "entitled"."identity_id" = ${entity}
      and ${inArray(entitledRole, rolesWith(permission))} and ${priorityOf(entitledRole)} >= ${priorityOf(role)}))`;
}

/**
 * True while the row the statement is changing is not an owner, or another owner remains. Evaluated by
 * the UPDATE or DELETE itself, so of concurrent requests that would each take away one of the last two
 * owners, whichever D1 runs second changes nothing.
 */
function anotherOwnerRemains(workspaceId: string): SQL {
  // Its own alias: inside the UPDATE or DELETE, "memberships" names the row being changed.
  const ownerCount = sql`(select count(*) from "memberships" "owners"
    where "owners"."workspace_id" = ${workspaceId} and "owners"."role" = 'owner')`;
  return or(ne(memberships.role, "owner"), sql`${ownerCount} > 1`) as SQL;
}

/**
 * The role change, for a caller's batch: only if the member still has `from` (a concurrent change makes
 * it change nothing) and, when it takes away an owner, another owner remains. Returns the changed row.
 */
export function changeRoleStatement(db: Db, workspaceId: string, identityId: string, from: MembershipRole, to: MembershipRole) {
  return db
    .update(memberships)
    .set({ role: to })
    .where(
      and(
        eq(memberships.workspaceId, workspaceId),
        eq(memberships.identityId, identityId),
        eq(memberships.role, from),
        to === "owner" ? undefined : anotherOwnerRemains(workspaceId),
      ),
    )
    .returning();
}

/** The removal, for a caller's batch: never of the last owner. Returns the removed row. */
export function removeMemberStatement(db: Db, workspaceId: string, identityId: string) {
  return db
    .delete(memberships)
    .where(and(eq(memberships.workspaceId, workspaceId), eq(memberships.identityId, identityId), anotherOwnerRemains(workspaceId)))
    .returning();
}

/** Whether the workspace has exactly one owner: the answer to a change that changed nothing. */
export async function isSoleOwner({ db }: Storage, workspaceId: string, identityId: string): Promise<boolean> {
  const rows = await db
    .select({ identityId: memberships.identityId })
    .from(memberships)
    .where(and(eq(memberships.workspaceId, workspaceId), eq(memberships.role, "owner")))
    .limit(2);
  return rows.length === 1 && rows[0]?.identityId === identityId;
}

/** At most this many workspaces are offered to a person signing in from a terminal (the rest by id). */
const SIGN_IN_WORKSPACES_MAX = 100;

const signInWorkspacesQuery = compiledSelect({ workspace_id: workspaces.id, role: memberships.role, name: workspaces.name }, (select) =>
  select
    .from(memberships)
    .innerJoin(workspaces, eq(workspaces.id, memberships.workspaceId))
    .where(and(eq(memberships.identityId, sql.placeholder("identityId")), isNull(workspaces.archivedAt)))
    .orderBy(desc(memberships.seq))
    .limit(SIGN_IN_WORKSPACES_MAX),
);

/** The identity's non-archived workspaces in this region with its role in each, newest membership first: read on the primary. */
export function signInWorkspaces({ primary }: Storage, identityId: string) {
  return signInWorkspacesQuery.all(primary.$client, { identityId });
}
