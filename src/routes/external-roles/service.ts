import { and, eq, inArray, isNull, ne, type SQL, sql } from "drizzle-orm";
import type { Db, Storage } from "../../core/env";
import { ApiError, internalError, validationError } from "../../core/errors";
import { isUniqueViolationOf } from "../../core/storage-errors";
import type { AuditAction } from "../../storage/audit-events/actions";
import {
  type AuditActor,
  auditEvent,
  changedFields,
  changeWithEventPerRow,
  eventRecorded,
  insertEvent,
  insertEventIfChanged,
} from "../../storage/audit-events/record";
import { rowsWhere } from "../../storage/d1/conditional-insert";
import {
  type ExternalRoleAssignmentRow,
  type ExternalRoleRow,
  externalRoleAssignments,
  externalRoles,
  memberships,
  roleGrants,
} from "../../storage/d1/schema";
import { type SortedListQuery, sortedPage } from "../../storage/sorted-pagination";
import type { UpsertAssignmentRequest } from "./schemas";

/**
 * External roles and their assignments to members. The control plane stores and serves them for the data
 * plane (docs/guides/rbac.md). Every write is one D1 batch with its
 * audit event; the references (an assignment's roles and member, a grant's role) are re-checked inside
 * the write itself, so a concurrent delete cannot leave one dangling.
 */

const roleNotFound = () => new ApiError("not_found", "External role not found.");
const assignmentNotFound = () => new ApiError("not_found", "External role assignment not found.");

function roleEvent(actor: AuditActor, role: ExternalRoleRow, action: AuditAction, metadata?: Record<string, unknown>, at?: string) {
  return auditEvent(
    actor,
    { workspaceId: role.workspaceId, action, resourceType: "external_role", resourceId: role.id, resourceName: role.name, metadata },
    at,
  );
}

/** An assignment's name in the audit trail, `source:subject key`; ASSIGNMENT_NAME is the same in SQL, for per-row events. */
const assignmentName = (row: ExternalRoleAssignmentRow) => `${row.source}:${row.externalSubjectKey}`;
const ASSIGNMENT_NAME = sql`${externalRoleAssignments.source} || ':' || ${externalRoleAssignments.externalSubjectKey}`;

function assignmentEvent(
  actor: AuditActor,
  row: ExternalRoleAssignmentRow,
  action: AuditAction,
  metadata?: Record<string, unknown>,
  at?: string,
) {
  return auditEvent(
    actor,
    {
      workspaceId: row.workspaceId,
      action,
      resourceType: "external_role_assignment",
      resourceId: row.id,
      resourceName: assignmentName(row),
      metadata,
    },
    at,
  );
}

/** The workspace's external roles that are not deleted. */
export const liveRoles = (workspaceId: string) => and(eq(externalRoles.workspaceId, workspaceId), isNull(externalRoles.deletedAt));

export function listExternalRoles({ db }: Storage, workspaceId: string, query: SortedListQuery) {
  return sortedPage(
    db,
    externalRoles,
    { name: externalRoles.name, created_at: externalRoles.createdAt },
    liveRoles(workspaceId),
    query,
    "name",
  );
}

export async function findExternalRole({ db }: Storage, workspaceId: string, roleId: string): Promise<ExternalRoleRow> {
  const row = await db
    .select()
    .from(externalRoles)
    .where(and(liveRoles(workspaceId), eq(externalRoles.id, roleId)))
    .get();
  if (!row) throw roleNotFound();
  return row;
}

type NewRole = { name: string; external_name: string; description?: string | null };

/** 409 `already_exists` for a name a live role of the workspace has (the partial UNIQUE index decides a race). */
export async function createExternalRole(
  { db }: Storage,
  workspaceId: string,
  input: NewRole,
  actor: AuditActor,
): Promise<ExternalRoleRow> {
  const now = new Date().toISOString();
  const row: ExternalRoleRow = {
    seq: 0,
    id: crypto.randomUUID(),
    workspaceId,
    name: input.name,
    externalName: input.external_name,
    description: input.description ?? null,
    createdAt: now,
    updatedAt: now,
    deletedAt: null,
  };
  const { seq: _, ...values } = row;
  try {
    const [[inserted]] = await db.batch([
      db.insert(externalRoles).values(values).returning({ seq: externalRoles.seq }),
      insertEvent(db, roleEvent(actor, row, "external_role.created", { name: row.name, external_name: row.externalName }, now)),
    ]);
    if (!inserted) throw internalError(new Error("insert returned no row"));
    return { ...row, seq: inserted.seq };
  } catch (err) {
    if (isUniqueViolationOf(err, "external_roles.name"))
      throw new ApiError("already_exists", `An external role named '${input.name}' exists in this workspace.`);
    throw err;
  }
}

/**
 * Deletes the role (its row stays, with `deleted_at`, as the grants' history) and, in the same batch,
 * supersedes its active grants and takes its name out of every assignment, each with its own event.
 */
export async function deleteExternalRole({ db }: Storage, role: ExternalRoleRow, actor: AuditActor): Promise<void> {
  const at = new Date().toISOString();
  const event = roleEvent(actor, role, "external_role.deleted", undefined, at);
  const deleted = eventRecorded(event.id);
  const roleGrantsOf = and(eq(roleGrants.roleId, role.id), eq(roleGrants.workspaceId, role.workspaceId));
  const holding = sql`exists (select 1 from json_each(${externalRoleAssignments.roles}) where value = ${role.name})`;
  const assignmentsOf = eq(externalRoleAssignments.workspaceId, role.workspaceId);
  const template = (action: AuditAction, resourceType: "role_grant" | "external_role_assignment") =>
    auditEvent(actor, { workspaceId: role.workspaceId, action, resourceType, resourceId: null, resourceName: null }, at);
  const [removed] = await db.batch([
    db
      .update(externalRoles)
      .set({ deletedAt: at, updatedAt: at })
      .where(and(eq(externalRoles.id, role.id), isNull(externalRoles.deletedAt)))
      .returning({ id: externalRoles.id }),
    insertEventIfChanged(db, event),
    ...changeWithEventPerRow(
      db,
      {
        event: template("role_grant.superseded", "role_grant"),
        perRow: {
          resourceId: sql`${roleGrants.id}`,
          resourceName: sql`${roleGrants.resourceKey}`,
          metadata: sql`json_object('role_id', ${roleGrants.roleId}, 'reason', 'role_deleted')`,
        },
        from: sql`${roleGrants}`,
        rows: and(roleGrantsOf, eq(roleGrants.status, "active"), deleted) as SQL,
      },
      (superseding) => db.update(roleGrants).set({ status: "superseded", changedBy: actor.entityId, updatedAt: at }).where(superseding),
    ),
    ...changeWithEventPerRow(
      db,
      {
        event: template("external_role_assignment.updated", "external_role_assignment"),
        perRow: {
          resourceId: sql`${externalRoleAssignments.id}`,
          resourceName: ASSIGNMENT_NAME,
          metadata: sql`json_object('removed_role', ${role.name}, 'reason', 'role_deleted')`,
        },
        from: sql`${externalRoleAssignments}`,
        rows: and(assignmentsOf, holding, deleted) as SQL,
      },
      (unassigning) =>
        db
          .update(externalRoleAssignments)
          .set({
            roles: sql`(select json_group_array(value) from json_each(${externalRoleAssignments.roles}) where value <> ${role.name})`,
            updatedAt: at,
          })
          .where(unassigning),
    ),
  ]);
  if (removed.length === 0) throw roleNotFound();
}

// --- assignments -------------------------------------------------------------------------------------

export function listAssignments({ db }: Storage, workspaceId: string, query: SortedListQuery) {
  const t = externalRoleAssignments;
  const columns = { created_at: t.createdAt, updated_at: t.updatedAt, external_subject_key: t.externalSubjectKey };
  return sortedPage(db, t, columns, eq(t.workspaceId, workspaceId), query, "-created_at");
}

export async function findAssignment({ db }: Storage, workspaceId: string, assignmentId: string): Promise<ExternalRoleAssignmentRow> {
  const row = await db
    .select()
    .from(externalRoleAssignments)
    .where(and(eq(externalRoleAssignments.workspaceId, workspaceId), eq(externalRoleAssignments.id, assignmentId)))
    .get();
  if (!row) throw assignmentNotFound();
  return row;
}

/** 422 for each name that is not a live external role of the workspace, and for an entity that is not a member. */
async function assertReferences({ db }: Storage, workspaceId: string, roles: string[], entityId: string) {
  const known =
    roles.length === 0
      ? []
      : await db
          .select({ name: externalRoles.name })
          .from(externalRoles)
          .where(and(liveRoles(workspaceId), inArray(externalRoles.name, roles)));
  const names = new Set(known.map((r) => r.name));
  const items = roles.flatMap((name, index) =>
    names.has(name)
      ? []
      : [{ loc: ["body", "roles", index], msg: `Unknown external role '${name}' in this workspace`, type: "value_error", input: name }],
  );
  const member = await db
    .select({ seq: memberships.seq })
    .from(memberships)
    .where(and(eq(memberships.workspaceId, workspaceId), eq(memberships.identityId, entityId)))
    .get();
  if (!member)
    items.push({ loc: ["body", "entity_id"], msg: "Not a member identity of this workspace", type: "value_error", input: entityId });
  if (items.length > 0) throw validationError(items);
}

/** Holds, when the write runs, what assertReferences checked before it. */
function referencesHold(workspaceId: string, roles: string[], entityId: string): SQL {
  const member = sql`exists (select 1 from ${memberships}
    where ${memberships.workspaceId} = ${workspaceId} and ${memberships.identityId} = ${entityId})`;
  if (roles.length === 0) return member;
  const found = sql`(select count(*) from ${externalRoles} where ${and(liveRoles(workspaceId), inArray(externalRoles.name, roles))})`;
  return sql`${member} and ${found} = ${roles.length}`;
}

type AssignmentFields = Pick<
  ExternalRoleAssignmentRow,
  "externalSubjectId" | "entityId" | "displayName" | "roles" | "rolesVerified" | "provisionedVia" | "status"
>;

const WIRE_FIELDS: Record<keyof AssignmentFields, string> = {
  externalSubjectId: "external_subject_id",
  entityId: "entity_id",
  displayName: "display_name",
  roles: "roles",
  rolesVerified: "roles_verified",
  provisionedVia: "provisioned_via",
  status: "status",
};

const wire = (fields: AssignmentFields) =>
  Object.fromEntries(Object.entries(WIRE_FIELDS).map(([key, name]) => [name, fields[key as keyof AssignmentFields]]));

/** Attempts before a PUT that keeps losing to concurrent writes of the same assignment answers 409. */
const UPSERT_ATTEMPTS = 3;

/**
 * Creates or updates the assignment of (source, external_subject_key). An upsert that changes nothing
 * writes nothing (`updated_at` and `last_verified_at` stay); one that does sets `status` active and, with
 * `roles_verified`, `last_verified_at`.
 */
export async function upsertAssignment(
  storage: Storage,
  workspaceId: string,
  input: UpsertAssignmentRequest,
  actor: AuditActor,
): Promise<ExternalRoleAssignmentRow> {
  const roles = [...new Set(input.roles)];
  await assertReferences(storage, workspaceId, roles, input.entity_id);
  const fields: AssignmentFields = {
    externalSubjectId: input.external_subject_id ?? null,
    entityId: input.entity_id,
    displayName: input.display_name ?? null,
    roles,
    rolesVerified: input.roles_verified,
    provisionedVia: input.provisioned_via,
    status: "active",
  };
  for (let attempt = 1; attempt <= UPSERT_ATTEMPTS; attempt++) {
    const written = await writeAssignment(storage, workspaceId, input, fields, actor);
    if (written) return written;
    // The references changed (422 from here), or another write to the assignment won: read again.
    await assertReferences(storage, workspaceId, roles, input.entity_id);
  }
  throw new ApiError("conflict", "The assignment kept being changed by concurrent requests; retry.");
}

async function writeAssignment(
  storage: Storage,
  workspaceId: string,
  input: UpsertAssignmentRequest,
  fields: AssignmentFields,
  actor: AuditActor,
) {
  const { db } = storage;
  const t = externalRoleAssignments;
  const existing = await db
    .select()
    .from(t)
    .where(and(eq(t.workspaceId, workspaceId), eq(t.source, input.source), eq(t.externalSubjectKey, input.external_subject_key)))
    .get();
  const at = new Date().toISOString();
  const verifiedAt = fields.rolesVerified ? at : (existing?.lastVerifiedAt ?? null);
  const guard = referencesHold(workspaceId, fields.roles, fields.entityId);
  if (existing) {
    const changes = changedFields(wire(existing), wire(fields));
    if (Object.keys(changes).length === 0) return existing;
    const [[updated]] = await db.batch([
      db
        .update(t)
        .set({ ...fields, lastVerifiedAt: verifiedAt, updatedAt: at })
        .where(and(eq(t.id, existing.id), eq(t.updatedAt, existing.updatedAt), guard))
        .returning(),
      insertEventIfChanged(db, assignmentEvent(actor, existing, "external_role_assignment.updated", { changes }, at)),
    ]);
    return updated;
  }
  const row: ExternalRoleAssignmentRow = {
    seq: 0,
    id: crypto.randomUUID(),
    workspaceId,
    source: input.source,
    externalSubjectKey: input.external_subject_key,
    ...fields,
    lastVerifiedAt: verifiedAt,
    createdAt: at,
    updatedAt: at,
  };
  const { seq: _, ...values } = row;
  try {
    const [[inserted]] = await db.batch([
      db
        .insert(t)
        .select(rowsWhere(t, values, guard))
        .returning(),
      insertEventIfChanged(
        db,
        assignmentEvent(
          actor,
          row,
          "external_role_assignment.created",
          { source: row.source, external_subject_key: row.externalSubjectKey, entity_id: row.entityId, roles: row.roles },
          at,
        ),
      ),
    ]);
    return inserted;
  } catch (err) {
    // Another request created it meanwhile: the next attempt updates it.
    if (isUniqueViolationOf(err, "external_role_assignments.external_subject_key")) return undefined;
    throw err;
  }
}

type AssignmentRevocation = { workspaceId: string; entityId: string; at: string; actor: AuditActor; reason: string; onlyIf: SQL };

/**
 * A member's assignments marked `revoked`, each with its event, where `onlyIf` holds: statements for the
 * batch that removes the member (an assignment ties a subject to a member identity, which it no longer is).
 */
export function revokeAssignmentsStatements(db: Db, { workspaceId, entityId, at, actor, reason, onlyIf }: AssignmentRevocation) {
  const t = externalRoleAssignments;
  const theirs = and(eq(t.workspaceId, workspaceId), eq(t.entityId, entityId));
  const template = auditEvent(
    actor,
    {
      workspaceId,
      action: "external_role_assignment.updated",
      resourceType: "external_role_assignment",
      resourceId: null,
      resourceName: null,
    },
    at,
  );
  return changeWithEventPerRow(
    db,
    {
      event: template,
      perRow: {
        resourceId: sql`${t.id}`,
        resourceName: ASSIGNMENT_NAME,
        metadata: sql`json_object('status', 'revoked', 'reason', ${reason})`,
      },
      from: sql`${t}`,
      rows: and(theirs, ne(t.status, "revoked"), onlyIf) as SQL,
    },
    (revoking) => db.update(t).set({ status: "revoked", updatedAt: at }).where(revoking),
  );
}

export async function deleteAssignment({ db }: Storage, row: ExternalRoleAssignmentRow, actor: AuditActor): Promise<void> {
  const [removed] = await db.batch([
    db.delete(externalRoleAssignments).where(eq(externalRoleAssignments.id, row.id)).returning({ id: externalRoleAssignments.id }),
    insertEventIfChanged(db, assignmentEvent(actor, row, "external_role_assignment.deleted")),
  ]);
  if (removed.length === 0) throw assignmentNotFound();
}
