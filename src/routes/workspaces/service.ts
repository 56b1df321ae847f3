import { and, count, eq, isNull, ne, type SQL, sql } from "drizzle-orm";
import type { SQLiteUpdateSetSource } from "drizzle-orm/sqlite-core";
import { deleteWorkspaceMemberships, insertMembershipIf } from "../../auth/memberships";
import type { Environment } from "../../core/domain";
import type { Storage } from "../../core/env";
import { ApiError, internalError, validationError } from "../../core/errors";
import { bestEffort } from "../../core/logger";
import type { IdentityPrincipal } from "../../core/principal";
import { isUniqueViolationOf } from "../../core/storage-errors";
import { daysAfter } from "../../core/time";
import type { AuditAction } from "../../storage/audit-events/actions";
import {
  type AuditActor,
  auditEvent,
  changedFields,
  deleteEvent,
  insertEventIf,
  insertEventIfChanged,
} from "../../storage/audit-events/record";
import { retractEvent } from "../../storage/audit-store/outbox";
import { rowsWhere } from "../../storage/d1/conditional-insert";
import { apiKeys, type WorkspaceRow, workspaces } from "../../storage/d1/schema";
import { type BatchAnswer, NO_BATCH_ANSWER } from "../../storage/idempotency-records";
import { kvDelete, kvKeys, kvPutJson, kvPutMarker } from "../../storage/kv";
import { confirmSlug, dropSlugHold, releaseSlug, reserveSlug, type SlugNamespace, slugTaken } from "../../storage/slug-registry";
import { purgeRevokedKeyRecords, revokeKeysStatements } from "../api-keys/service";
import type { ConvertEnvironmentRequest, CreateWorkspaceRequest, UpdateWorkspaceRequest } from "./schemas";

/** The audit event of a write to this workspace. */
function workspaceEvent(actor: AuditActor, workspace: WorkspaceRow, action: AuditAction, metadata?: Record<string, unknown>, at?: string) {
  return auditEvent(
    actor,
    { workspaceId: workspace.id, action, resourceType: "workspace", resourceId: workspace.id, resourceName: workspace.name, metadata },
    at,
  );
}

/**
 * The workspaces an identity created in this region that still hold their slug, archived ones included:
 * what WORKSPACES_PER_IDENTITY bounds (the slug is what a workspace claims in the global namespace, until an
 * operator releases it). Counted on `workspaces_created_by_idx`, up to `limit` entries (all a comparison with it needs).
 */
const slugsHeldBy = (identityId: string, limit: number) =>
  sql`(select count(*) from (select 1 from ${workspaces}
    where ${and(eq(workspaces.createdByIdentityId, identityId), isNull(workspaces.slugReleasedAt))} limit ${limit}))`;

const quotaExceeded = (limit: number) =>
  new ApiError(
    "quota_exceeded",
    `This identity holds ${limit} workspaces it created in this region, the most it may; an archived one counts until an operator ` +
      `releases its slug.`,
  );

/**
 * The slug is reserved in the global registry first (src/storage/slug-registry.ts: 409 if another region or
 * workspace holds it, 503 with nothing written if the registry cannot answer). Then workspace, owner
 * membership and the `workspace.created` event are one D1 batch (one transaction); within the region the
 * UNIQUE index still decides a race, not a read before the write. Then the region directory entry goes to
 * KV and the reservation is confirmed. If any step after the reservation fails, what was written is removed
 * again and the reservation released, so nothing half-made remains and the slug is free.
 * The owner may hold at most `limit` workspaces (slugsHeldBy): the insert is conditional on the count when
 * it runs, inside the batch, so concurrent creates cannot pass the limit together, and no read is added to
 * a create within it; the membership, the event and the stored answer follow only a row that was inserted.
 * A create refused so (403) releases its reservation like any other that fails.
 * Every column is written explicitly, so the row returned is the row stored with only `seq` read back
 * (RETURNING every column made drizzle build and map them all, a measurable share of this route's CPU).
 */
export async function createWorkspace(
  storage: Storage,
  slugs: SlugNamespace,
  owner: IdentityPrincipal,
  input: CreateWorkspaceRequest,
  limit: number,
  actor: AuditActor,
  answer: BatchAnswer<WorkspaceRow> = NO_BATCH_ANSWER,
): Promise<WorkspaceRow> {
  const { db, kv, region, logger } = storage;
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
    slugReleasedAt: null,
    createdByIdentityId: owner.identity_id,
    createdAt: now,
    updatedAt: now,
    testCallerNumbers: [],
    testCredentialIds: [],
  };
  const event = workspaceEvent(
    actor,
    { ...row, seq: 0 },
    "workspace.created",
    { slug: row.slug, environment: row.environment, region },
    now,
  );
  const ids = { workspace_id: row.id };
  const release = () => bestEffort(logger, "release the slug reservation", () => releaseSlug(slugs, row.slug, row.id), ids);

  await reserveSlug(slugs, row.slug, row.id, region);
  const created = sql`exists (select 1 from ${workspaces} where ${workspaces.id} = ${row.id})`;
  let inserted: { seq: number }[];
  try {
    [inserted] = await db.batch([
      db
        .insert(workspaces)
        .select(rowsWhere(workspaces, row, sql`${slugsHeldBy(owner.identity_id, limit)} < ${limit}`))
        .returning({ seq: workspaces.seq }),
      insertMembershipIf(
        db,
        {
          workspaceId: row.id,
          identityId: owner.identity_id,
          role: "owner",
          at: now,
          email: owner.email,
          displayName: owner.display_name,
          invitedBy: null,
        },
        created,
      ),
      insertEventIf(db, event, created),
      ...(await answer.store(db, { ...row, seq: 0 }, created)),
    ]);
  } catch (err) {
    await release();
    // A row from before the registry existed can still hold the slug in this region.
    if (isUniqueViolationOf(err, "workspaces.slug")) throw slugTaken();
    throw err;
  }
  // The owner holds `limit` workspaces already (or concurrent creates of theirs took the last room).
  if (inserted.length === 0) {
    await release();
    throw quotaExceeded(limit);
  }

  let inDirectory = false;
  try {
    await kvPutJson(kv, kvKeys.workspaceRegion(row.id), { region });
    inDirectory = true;
    await confirmSlug(slugs, row.slug, row.id, region);
  } catch (err) {
    await bestEffort(
      logger,
      "undo workspace create",
      async () => {
        await db.batch([
          deleteEvent(db, event.id),
          deleteWorkspaceMemberships(db, row.id),
          db.delete(workspaces).where(eq(workspaces.id, row.id)),
          ...answer.retract(db),
        ]);
        await retractEvent(storage, row.id, event);
      },
      ids,
    );
    if (inDirectory) await bestEffort(logger, "remove the region directory entry", () => kvDelete(kv, kvKeys.workspaceRegion(row.id)), ids);
    await release();
    throw err;
  }
  const seq = inserted[0]?.seq;
  if (seq === undefined) throw internalError(new Error("insert returned no row"));
  return { ...row, seq };
}

const slugMismatch = (field: string, input: string) =>
  validationError([{ loc: ["body", field], msg: "Workspace slug confirmation did not match.", type: "value_error", input }]);

/** The row as stored now: what a conditional write that changed nothing (another request won) returns. */
async function storedRow({ db }: Storage, current: WorkspaceRow): Promise<WorkspaceRow> {
  return (await db.select().from(workspaces).where(eq(workspaces.id, current.id)).get()) ?? current;
}

type Change = { changes: SQLiteUpdateSetSource<typeof workspaces>; action: AuditAction; metadata?: Record<string, unknown>; onlyIf?: SQL };

/**
 * Writes `changes` (and a new `updated_at`) to the workspace's row with its audit event, in one batch, and
 * returns the row as stored; with `onlyIf`, only where that holds (then undefined if it did not, and no event).
 */
async function saveChanges({ db }: Storage, current: WorkspaceRow, actor: AuditActor, change: Change): Promise<WorkspaceRow | undefined> {
  const now = new Date().toISOString();
  const [[updated]] = await db.batch([
    db
      .update(workspaces)
      .set({ ...change.changes, updatedAt: now })
      .where(and(eq(workspaces.id, current.id), change.onlyIf))
      .returning(),
    insertEventIfChanged(db, workspaceEvent(actor, current, change.action, change.metadata, now)),
  ]);
  return updated;
}

/** `{ changes: { field: { old, new } } }` under the wire names, for the event's metadata. */
const changesOf = (before: Record<string, unknown>, after: Record<string, unknown>) => ({ changes: changedFields(before, after) });

/** Applies only the fields sent; `updated_at` moves (and an event is recorded) only when something changed. */
export async function updateWorkspace(
  storage: Storage,
  current: WorkspaceRow,
  body: UpdateWorkspaceRequest,
  actor: AuditActor,
): Promise<WorkspaceRow> {
  if (body.environment != null && body.environment !== current.environment) {
    throw validationError([
      {
        loc: ["body", "environment"],
        msg: "The environment changes only through POST /v1/workspaces/{workspace_id}/convert-environment",
        type: "value_error",
        input: body.environment,
      },
    ]);
  }
  const changes: Partial<WorkspaceRow> = {};
  if (body.name != null && body.name !== current.name) changes.name = body.name;
  if (body.connector_type !== undefined && body.connector_type !== current.connectorType) changes.connectorType = body.connector_type;
  if (Object.keys(changes).length === 0) return current;
  const after = { ...current, ...changes };
  const metadata = changesOf(
    { name: current.name, connector_type: current.connectorType },
    { name: after.name, connector_type: after.connectorType },
  );
  return (await saveChanges(storage, current, actor, { changes, action: "workspace.updated", metadata })) ?? current;
}

/** Idempotent: `provisioned_at` is set by the first call only, which alone records an event (also under a race). */
export async function provisionWorkspace(storage: Storage, current: WorkspaceRow, actor: AuditActor): Promise<WorkspaceRow> {
  if (current.provisionedAt) return current;
  const provisioned = await saveChanges(storage, current, actor, {
    changes: { provisionedAt: new Date().toISOString() },
    action: "workspace.provisioned",
    onlyIf: isNull(workspaces.provisionedAt),
  });
  return provisioned ?? (await storedRow(storage, current));
}

/** After slug confirmation; converting to the current environment changes nothing. */
export async function convertEnvironment(
  storage: Storage,
  current: WorkspaceRow,
  { target, confirm_slug }: ConvertEnvironmentRequest,
  actor: AuditActor,
): Promise<WorkspaceRow> {
  if (confirm_slug !== current.slug) throw slugMismatch("confirm_slug", confirm_slug);
  if (current.environment === "development") {
    throw validationError([
      {
        loc: ["body", "target"],
        msg: "A development workspace cannot be converted; create a staging or production workspace instead.",
        type: "value_error",
        input: target,
      },
    ]);
  }
  if (current.environment === target) return current;
  const converted = await saveChanges(storage, current, actor, {
    changes: { environment: target },
    action: "workspace.environment_converted",
    metadata: changesOf({ environment: current.environment }, { environment: target }),
  });
  storage.logger.info("workspace converted", { workspace_id: current.id, from: current.environment, to: target });
  return converted ?? current;
}

const ALLOWLISTS = {
  testCallerNumbers: { wire: "test_caller_numbers", action: "workspace.test_caller_numbers_updated" },
  testCredentialIds: { wire: "test_credential_ids", action: "workspace.test_credential_ids_updated" },
} as const;

/** Replaces a test allowlist; the same list again writes nothing. */
export async function setAllowlist(
  storage: Storage,
  current: WorkspaceRow,
  column: keyof typeof ALLOWLISTS,
  values: string[],
  actor: AuditActor,
): Promise<WorkspaceRow> {
  const { wire, action } = ALLOWLISTS[column];
  const metadata = changesOf({ [wire]: current[column] }, { [wire]: values });
  if (Object.keys(metadata.changes).length === 0) return current;
  return (await saveChanges(storage, current, actor, { changes: { [column]: values }, action, metadata })) ?? current;
}

/** Concrete reasons to think twice before converting; computing them changes nothing. */
export async function environmentWarnings({ db }: Storage, workspace: WorkspaceRow, target: Environment): Promise<string[]> {
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
    warnings.push(
      `${stale.n} active API key(s) were created while the workspace was ${current}; rotate or delete them after converting to ${target}.`,
    );
  }
  if (target === "production") {
    if (workspace.testCallerNumbers.length > 0) {
      warnings.push(
        `${workspace.testCallerNumbers.length} test caller number(s) are set: calls from them will be excluded from billing, scores ` +
          `and analytics in production.`,
      );
    }
    if (workspace.testCredentialIds.length > 0) {
      warnings.push(
        `${workspace.testCredentialIds.length} test credential id(s) are set: their text turns will be excluded from billing, scores ` +
          `and analytics in production.`,
      );
    }
  } else {
    warnings.push("Converting production to staging: production integrations and traffic will be treated as staging.");
  }
  return warnings;
}

/**
 * Archive, after slug confirmation. The workspace's revocation marker goes to KV first: from then on every
 * key of the workspace is refused at authentication, including one a concurrent create inserted just
 * before the archive commits (a KV failure here changes nothing: 503). Then one D1 batch archives the
 * workspace (recording `workspace.archived` only if this request archived it) and revokes every key still
 * active; on a repeat it finds any key a past race left active.
 * Then the KV records of the revoked keys are deleted, at most PURGE_BUDGET per request (503 while some
 * remain; a repeat resumes). The row stays, so the slug stays reserved.
 */
export async function archiveWorkspace(
  storage: Storage,
  workspace: WorkspaceRow,
  confirmSlug: string,
  actor: AuditActor,
): Promise<WorkspaceRow> {
  if (confirmSlug !== workspace.slug) throw slugMismatch("slug", confirmSlug);
  const { db, kv, logger } = storage;
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
      insertEventIfChanged(db, workspaceEvent(actor, workspace, "workspace.archived", undefined, now)),
      ...revokeKeysStatements(db, eq(apiKeys.workspaceId, workspace.id), { at: now, actor, reason: "workspace_archived" }),
    ]);
  } catch (err) {
    if (!workspace.archivedAt)
      await bestEffort(logger, "undo the archive marker", () => kvDelete(kv, marker), { workspace_id: workspace.id });
    throw err;
  }
  // Nothing updated: a repeat (the row read by authorize is already the archived one), or a concurrent
  // archive that committed after that read (read it again for its archived_at).
  const archived = rows[0] ?? (workspace.archivedAt ? workspace : await storedRow(storage, workspace));
  const left = await purgeRevokedKeyRecords(storage, eq(apiKeys.workspaceId, workspace.id));
  if (left > 0) {
    throw new ApiError(
      "service_unavailable",
      `The workspace is archived and its API keys are refused; the records of ${left} key(s) are still to be deleted. Repeat the ` +
        `request to finish.`,
    );
  }
  logger.info("workspace archived", { workspace_id: workspace.id });
  return archived;
}

/** What the operator sees of a released slug (admin-release-workspace-slug). */
type ReleasedSlug = { workspaceId: string; slug: string; slugReleasedAt: string };

/**
 * Gives an archived workspace's slug back to the global namespace, `graceDays` after its archive (a person
 * who archived by mistake, or whose owner account was taken over, has that long to be heard before anyone
 * else can take the name). 404 for a workspace this region does not hold; 409 for a live one, or inside the
 * grace period (saying when it ends). The mark and its `workspace.slug_released` event (operator log) are
 * one batch, then the registry drops the workspace's hold: 503 if it cannot be reached, and a repeat,
 * which finds the mark, answers the same and finishes that step. The row keeps its slug as history, its
 * owner still reads it with it, and `updated_at` stays: nothing the owner sees changed. The mark frees
 * room under the owner's workspace limit (slugsHeldBy).
 */
export async function releaseArchivedSlug(
  storage: Storage,
  slugs: SlugNamespace,
  workspaceId: string,
  graceDays: number,
  actor: AuditActor,
): Promise<ReleasedSlug> {
  // A POST's session reads the primary too (regional-storage.ts): the decision sees the latest archive.
  const { db, logger } = storage;
  const workspace = await db.select().from(workspaces).where(eq(workspaces.id, workspaceId)).get();
  if (!workspace) {
    throw new ApiError("not_found", "No workspace with this id in this region (release it at its own region's admin surface).");
  }
  if (!workspace.archivedAt) {
    throw new ApiError("conflict", "The workspace is not archived: only an archived workspace's slug can be released.");
  }
  let releasedAt = workspace.slugReleasedAt;
  if (releasedAt === null) {
    const releasable = daysAfter(Date.parse(workspace.archivedAt), graceDays);
    if (Date.now() < Date.parse(releasable)) {
      throw new ApiError(
        "conflict",
        `The workspace was archived at ${workspace.archivedAt}; its slug can be released from ${releasable} (${graceDays} days later).`,
      );
    }
    const now = new Date().toISOString();
    const event = auditEvent(
      actor,
      {
        workspaceId: null,
        action: "workspace.slug_released",
        resourceType: "workspace",
        resourceId: workspace.id,
        resourceName: workspace.name,
        metadata: { slug: workspace.slug, archived_at: workspace.archivedAt },
      },
      now,
    );
    const [[marked]] = await db.batch([
      db
        .update(workspaces)
        .set({ slugReleasedAt: now })
        .where(and(eq(workspaces.id, workspace.id), isNull(workspaces.slugReleasedAt)))
        .returning({ slugReleasedAt: workspaces.slugReleasedAt }),
      insertEventIfChanged(db, event),
    ]);
    // Nothing marked: a concurrent release did it first; answer with its time.
    releasedAt = marked?.slugReleasedAt ?? (await storedRow(storage, workspace)).slugReleasedAt ?? now;
  }
  await dropSlugHold(slugs, workspace.slug, workspace.id);
  logger.info("workspace slug released", { workspace_id: workspace.id });
  return { workspaceId: workspace.id, slug: workspace.slug, slugReleasedAt: releasedAt };
}
