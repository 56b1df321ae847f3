import { and, eq, isNull } from "drizzle-orm";
import { purgeRevokedKeyRecords, revokeAllKeysStatement } from "../api-keys/service";
import { memberships, type WorkspaceRow, workspaces } from "../db/schema";
import type { Storage } from "../env";
import { ApiError, internalError } from "../errors";
import { kvDelete, kvKeys, kvPutJson, kvPutMarker } from "../kv";
import { bestEffort } from "../logger";
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
    await bestEffort(
      logger,
      "undo workspace create",
      () => db.batch([db.delete(memberships).where(eq(memberships.workspaceId, row.id)), db.delete(workspaces).where(eq(workspaces.id, row.id))]),
      { workspace_id: row.id },
    );
    throw err;
  }
  const created = inserted[0];
  if (!created) throw internalError(new Error("insert returned no row"));
  return created;
}

/**
 * Archive. The workspace's revocation marker goes to KV first: from then on every key of the workspace is
 * refused at authentication, including one a concurrent create inserted just before the archive commits
 * (a KV failure here changes nothing: 503). Then one D1 batch archives the workspace and revokes every key
 * still active; on a repeat it finds any key a past race left active. Then the KV records of the revoked
 * keys are deleted, at most PURGE_BUDGET per request (503 while some remain; a repeat resumes). The row
 * stays, so the slug stays reserved.
 */
export async function archiveWorkspace(deps: Storage, workspace: WorkspaceRow): Promise<WorkspaceRow> {
  const { db, kv, logger } = deps;
  const marker = kvKeys.archivedWorkspace(workspace.id);
  await kvPutMarker(kv, marker);
  const now = new Date().toISOString();
  let rows: WorkspaceRow[];
  try {
    [rows] = await db.batch([
      db
        .update(workspaces)
        .set({ archivedAt: now, updatedAt: now })
        .where(and(eq(workspaces.id, workspace.id), isNull(workspaces.archivedAt)))
        .returning(),
      revokeAllKeysStatement(db, workspace.id, now),
    ]);
  } catch (err) {
    if (!workspace.archivedAt) await bestEffort(logger, "undo the archive marker", () => kvDelete(kv, marker), { workspace_id: workspace.id });
    throw err;
  }
  const archived = rows[0] ?? (await db.select().from(workspaces).where(eq(workspaces.id, workspace.id)).get()) ?? workspace;
  const left = await purgeRevokedKeyRecords({ db, kv }, workspace.id);
  if (left > 0) {
    throw new ApiError("service_unavailable", `The workspace is archived and its API keys are refused; the records of ${left} key(s) are still to be deleted. Repeat the request to finish.`);
  }
  return archived;
}
