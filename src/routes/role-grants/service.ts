import { and, eq, sql } from "drizzle-orm";
import type { Storage } from "../../core/env";
import { ApiError, validationError } from "../../core/errors";
import { isUniqueViolationOf } from "../../core/storage-errors";
import { type AuditActor, auditEvent, insertEventIfChanged } from "../../storage/audit-events/record";
import { rowsWhere } from "../../storage/d1/conditional-insert";
import { externalRoles, type RoleGrantRow, roleGrants } from "../../storage/d1/schema";
import { type SortedListQuery, sortedPage } from "../../storage/sorted-pagination";
import { liveRoles } from "../external-roles/service";

/**
 * Role grants: what an external role may reach. Never deleted: DELETE supersedes (status and
 * `changed_by`), so the history stays. A grant is inserted only while its role is a live external role of
 * the workspace (checked by the insert itself, so it cannot race the role's deletion).
 */

const grantNotFound = () => new ApiError("not_found", "Role grant not found.");

function grantEvent(
  actor: AuditActor,
  row: RoleGrantRow,
  action: "role_grant.created" | "role_grant.superseded",
  metadata: Record<string, unknown> | undefined,
  at: string,
) {
  return auditEvent(
    actor,
    { workspaceId: row.workspaceId, action, resourceType: "role_grant", resourceId: row.id, resourceName: row.resourceKey, metadata },
    at,
  );
}

export function listRoleGrants({ db }: Storage, workspaceId: string, query: SortedListQuery & { status?: RoleGrantRow["status"] | null }) {
  const scope = and(eq(roleGrants.workspaceId, workspaceId), query.status ? eq(roleGrants.status, query.status) : undefined);
  return sortedPage(
    db,
    roleGrants,
    { created_at: roleGrants.createdAt, resource_key: roleGrants.resourceKey },
    scope,
    query,
    "-created_at",
  );
}

export async function findRoleGrant({ db }: Storage, workspaceId: string, grantId: string): Promise<RoleGrantRow> {
  const row = await db
    .select()
    .from(roleGrants)
    .where(and(eq(roleGrants.workspaceId, workspaceId), eq(roleGrants.id, grantId)))
    .get();
  if (!row) throw grantNotFound();
  return row;
}

type NewGrant = Pick<RoleGrantRow, "roleId" | "resourceType" | "resourceKey" | "access" | "paramBinding">;

const unknownRole = (roleId: string) =>
  validationError([{ loc: ["body", "role_id"], msg: "Not an external role of this workspace", type: "value_error", input: roleId }]);

/** 422 for a role that is not a live external role here; 409 `already_exists` for an active grant of the same role, resource and access. */
export async function createRoleGrant({ db }: Storage, workspaceId: string, input: NewGrant, actor: AuditActor): Promise<RoleGrantRow> {
  const at = new Date().toISOString();
  const row: RoleGrantRow = {
    seq: 0,
    id: crypto.randomUUID(),
    workspaceId,
    ...input,
    status: "active",
    changedBy: actor.entityId,
    createdAt: at,
    updatedAt: at,
  };
  const { seq: _, ...values } = row;
  const roleIsLive = sql`exists (select 1 from ${externalRoles} where ${and(liveRoles(workspaceId), eq(externalRoles.id, input.roleId))})`;
  const metadata = {
    role_id: row.roleId,
    resource_type: row.resourceType,
    resource_key: row.resourceKey,
    access: row.access,
    param_binding: row.paramBinding,
  };
  try {
    const [[inserted]] = await db.batch([
      db
        .insert(roleGrants)
        .select(rowsWhere(roleGrants, values, roleIsLive))
        .returning(),
      insertEventIfChanged(db, grantEvent(actor, row, "role_grant.created", metadata, at)),
    ]);
    if (!inserted) throw unknownRole(input.roleId);
    return inserted;
  } catch (err) {
    if (isUniqueViolationOf(err, "role_grants.access")) {
      throw new ApiError("already_exists", "An active grant of this role, resource and access exists; supersede it first.");
    }
    throw err;
  }
}

/** Marks an active grant superseded by the caller; an already superseded one is 404. */
export async function supersedeRoleGrant({ db }: Storage, row: RoleGrantRow, actor: AuditActor): Promise<void> {
  const at = new Date().toISOString();
  const [changed] = await db.batch([
    db
      .update(roleGrants)
      .set({ status: "superseded", changedBy: actor.entityId, updatedAt: at })
      .where(and(eq(roleGrants.id, row.id), eq(roleGrants.status, "active")))
      .returning({ id: roleGrants.id }),
    insertEventIfChanged(db, grantEvent(actor, row, "role_grant.superseded", undefined, at)),
  ]);
  if (changed.length === 0) throw grantNotFound();
}
