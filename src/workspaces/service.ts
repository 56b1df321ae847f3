import { and, eq, isNull } from "drizzle-orm";
import { purgeRevokedKeyRecords, revokeAllKeysStatement } from "../api-keys/service";
import { memberships, type WorkspaceRow, workspaces } from "../db/schema";
import type { Storage } from "../env";
import { ApiError, internalError } from "../errors";
import { kvKeys, kvPutJson } from "../kv";
import { isUniqueViolationOf } from "../storage-errors";
import type { CreateWorkspaceRequest } from "./schemas";


/**
 * Workspace and owner membership are one D1 batch (one transaction). The slug race is decided by the
 * UNIQUE index, not by a read before the write. The region directory entry is written to KV after the
 * commit; if that fails the rows are removed again and the caller gets 503, so nothing half-made remains.
 */
export async function createWorkspace(deps: Storage, identityId: string, input: CreateWorkspaceRequest): Promise<WorkspaceRow> {
  const { db, kv, region, logger } = deps;
  const now = new Date().toISOString();
  const row = {
    id: crypto.randomUUID(),
    slug: input.slug,
    name: input.name,
    environment: input.environment,
    backendOrgId: input.backend_org_id ?? null,
    region,
    connectorType: null,
    provisionedAt: null,
    archivedAt: null,
    createdByIdentityId: identityId,
    createdAt: now,
    updatedAt: now,
  };

  let inserted: WorkspaceRow[];
  try {
    [inserted] = await db.batch([
      db.insert(workspaces).values(row).returning(),
      db.insert(memberships).values({ workspaceId: row.id, identityId, role: "owner", createdAt: now }),
    ]);
  } catch (err) {
    if (isUniqueViolationOf(err, "workspaces.slug")) throw new ApiError("slug_taken", "Workspace slug already taken.");
    throw err;
  }

  try {
    await kvPutJson(kv, kvKeys.workspaceRegion(row.id), { region });
  } catch (err) {
    await db
      .batch([db.delete(memberships).where(eq(memberships.workspaceId, row.id)), db.delete(workspaces).where(eq(workspaces.id, row.id))])
      .catch((undoError: unknown) => logger.error("could not undo workspace create", { workspace_id: row.id, cause: String(undoError) }));
    throw err;
  }
  const created = inserted[0];
  if (!created) throw internalError(new Error("insert returned no row"));
  return created;
}

/**
 * Archive: the workspace and the revocation of all its keys are one D1 batch (same timestamp); then the
 * KV records of the keys it revoked are deleted, at most PURGE_BUDGET per request (503 while some remain). If KV fails the caller gets 503 and a repeated archive (allowed, idempotent)
 * finishes the deletions. The row stays, so the slug stays reserved.
 */
export async function archiveWorkspace(deps: Storage, workspace: WorkspaceRow): Promise<WorkspaceRow> {
  const { db, kv } = deps;
  let archived = workspace;
  if (!workspace.archivedAt) {
    const now = new Date().toISOString();
    const [rows] = await db.batch([
      db
        .update(workspaces)
        .set({ archivedAt: now, updatedAt: now })
        .where(and(eq(workspaces.id, workspace.id), isNull(workspaces.archivedAt)))
        .returning(),
      revokeAllKeysStatement(db, workspace.id, now),
    ]);
    archived = rows[0] ?? (await db.select().from(workspaces).where(eq(workspaces.id, workspace.id)).get()) ?? workspace;
  }
  const left = archived.archivedAt ? await purgeRevokedKeyRecords({ db, kv }, workspace.id, archived.archivedAt) : 0;
  if (left > 0) {
    throw new ApiError("service_unavailable", `The workspace is archived; ${left} API key(s) are still being revoked. Repeat the request to continue.`);
  }
  return archived;
}
