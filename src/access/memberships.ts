import { and, desc, eq, isNull, lt, sql } from "drizzle-orm";
import { preparedQuery } from "../db/client";
import { memberships, workspaces } from "../db/schema";
import type { MembershipRole } from "../domain";
import type { Db, Storage } from "../env";

/**
 * Who belongs to which workspace, with which role: every read and write of the `memberships` table is
 * here. What a role may do is in roles.ts; the members API builds on these functions.
 */

type NewMembership = { workspaceId: string; identityId: string; role: MembershipRole; at: string };

/** The insert, for a caller's batch (a workspace and its owner are created in one transaction). */
export function insertMembership(db: Db, membership: NewMembership) {
  const { workspaceId, identityId, role, at } = membership;
  return db.insert(memberships).values({ workspaceId, identityId, role, createdAt: at });
}

/** The delete of every membership of a workspace, for a caller's batch (undoing a create). */
export function deleteWorkspaceMemberships(db: Db, workspaceId: string) {
  return db.delete(memberships).where(eq(memberships.workspaceId, workspaceId));
}

const workspaceWithRoleQuery = preparedQuery((db) =>
  db
    .select({ workspace: workspaces, role: memberships.role })
    .from(workspaces)
    .leftJoin(memberships, and(eq(memberships.workspaceId, workspaces.id), eq(memberships.identityId, sql.placeholder("identityId"))))
    .where(eq(workspaces.id, sql.placeholder("workspaceId")))
    .prepare(),
);

/** The workspace, with the identity's role in it (null: not a member); undefined if no such workspace here. */
export function workspaceWithRole({ db }: Storage, workspaceId: string, identityId: string) {
  return workspaceWithRoleQuery(db).get({ workspaceId, identityId });
}

const memberWorkspacesQuery = preparedQuery((db) =>
  db
    .select({ seq: memberships.seq, workspace: workspaces })
    .from(memberships)
    .innerJoin(workspaces, eq(workspaces.id, memberships.workspaceId))
    .where(and(eq(memberships.identityId, sql.placeholder("identityId")), isNull(workspaces.archivedAt), lt(memberships.seq, sql.placeholder("before"))))
    .orderBy(desc(memberships.seq))
    .limit(sql.placeholder("limit"))
    .prepare(),
);

/** The identity's non-archived workspaces in this region, newest membership first (keyset on memberships.seq). */
export function memberWorkspacesPage({ db }: Storage, identityId: string, limit: number, after: number) {
  // The first page (after = 0) starts below every seq.
  return memberWorkspacesQuery(db).all({ identityId, before: after > 0 ? after : Number.MAX_SAFE_INTEGER, limit: limit + 1 });
}
