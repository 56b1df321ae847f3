import { and, count, desc, eq, isNull, lt, ne, sql } from "drizzle-orm";
import type { SQLiteUpdateSetSource } from "drizzle-orm/sqlite-core";
import type { Db } from "../env";
import { apiKeys, type Environment, memberships, type WorkspaceRow, workspaces } from "../db/schema";
import type { UpdateWorkspaceRequest } from "./schemas";

/** D1-only reads and updates of workspaces (no KV involved; see service.ts for those that are). */

/** The identity's non-archived workspaces in this region, newest membership first (keyset on memberships.seq). */
export function listIdentityWorkspaces(db: Db, identityId: string, limit: number, after: number) {
  return db
    .select({ seq: memberships.seq, workspace: workspaces })
    .from(memberships)
    .innerJoin(workspaces, eq(workspaces.id, memberships.workspaceId))
    .where(and(eq(memberships.identityId, identityId), isNull(workspaces.archivedAt), after > 0 ? lt(memberships.seq, after) : undefined))
    .orderBy(desc(memberships.seq))
    .limit(limit + 1)
    .all();
}

/** Writes `changes` (and a new `updated_at`) to the workspace's row and returns the row as stored. */
async function saveChanges(db: Db, current: WorkspaceRow, changes: SQLiteUpdateSetSource<typeof workspaces>): Promise<WorkspaceRow> {
  const [updated] = await db
    .update(workspaces)
    .set({ ...changes, updatedAt: new Date().toISOString() })
    .where(eq(workspaces.id, current.id))
    .returning();
  return updated ?? current;
}

/** Applies only the fields sent; `updated_at` moves only when something changed. */
export async function updateWorkspace(db: Db, current: WorkspaceRow, body: UpdateWorkspaceRequest): Promise<WorkspaceRow> {
  const changes: Partial<WorkspaceRow> = {};
  if (body.name != null && body.name !== current.name) changes.name = body.name;
  if (body.connector_type !== undefined && body.connector_type !== current.connectorType) changes.connectorType = body.connector_type;
  return Object.keys(changes).length === 0 ? current : saveChanges(db, current, changes);
}

/** Idempotent: `provisioned_at` is set by the first call and never again (coalesce also under a race). */
export async function provisionWorkspace(db: Db, current: WorkspaceRow): Promise<WorkspaceRow> {
  if (current.provisionedAt) return current;
  return saveChanges(db, current, { provisionedAt: sql`coalesce(${workspaces.provisionedAt}, ${new Date().toISOString()})` });
}

export async function setEnvironment(db: Db, current: WorkspaceRow, target: Environment): Promise<WorkspaceRow> {
  return current.environment === target ? current : saveChanges(db, current, { environment: target });
}

export async function setAllowlist(db: Db, current: WorkspaceRow, column: "testCallerNumbers" | "testCredentialIds", values: string[]): Promise<WorkspaceRow> {
  return saveChanges(db, current, { [column]: values });
}

/** Concrete reasons to think twice before converting; computing them changes nothing. */
export async function environmentWarnings(db: Db, workspace: WorkspaceRow, target: Environment): Promise<string[]> {
  const current = workspace.environment;
  if (current === "development") {
    return ["Development workspaces cannot be converted: create a staging or production workspace instead."];
  }
  if (current === target) return [`The workspace is already in ${target}: converting changes nothing.`];

  const warnings: string[] = [];
  const [stale] = await db
    .select({ n: count() })
    .from(apiKeys)
    .where(and(eq(apiKeys.workspaceId, workspace.id), isNull(apiKeys.revokedAt), ne(apiKeys.environment, target)));
  if (stale && stale.n > 0) {
    warnings.push(`${stale.n} active API key(s) were created while the workspace was ${current}; rotate or delete them after converting to ${target}.`);
  }
  if (target === "production") {
    if (workspace.testCallerNumbers.length > 0) {
      warnings.push(`${workspace.testCallerNumbers.length} test caller number(s) are set: calls from them will be excluded from billing, scores and analytics in production.`);
    }
    if (workspace.testCredentialIds.length > 0) {
      warnings.push(`${workspace.testCredentialIds.length} test credential id(s) are set: their text turns will be excluded from billing, scores and analytics in production.`);
    }
  } else {
    warnings.push("Converting production to staging: production integrations and traffic will be treated as staging.");
  }
  return warnings;
}
