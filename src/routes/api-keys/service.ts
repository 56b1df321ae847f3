import { and, count, desc, eq, inArray, isNotNull, isNull, lt, type SQL, sql } from "drizzle-orm";
import { workspaceNotFound } from "../../auth/authorize";
import type { Environment, MembershipRole, Region } from "../../core/domain";
import type { Db, Storage } from "../../core/env";
import { ApiError, UNAUTHORIZED_DETAIL } from "../../core/errors";
import { bestEffort } from "../../core/logger";
import { type ApiKeyPrincipal, type Creator, creatorOf, type Principal } from "../../core/principal";
import { isAbortedBy } from "../../core/storage-errors";
import { daysAfter } from "../../core/time";
import { SECRET_PREFIXES } from "../../core/token-format";
import { generateSecret, randomBase62, sha256Hex } from "../../security/secret";
import type { AuditAction } from "../../storage/audit-events/actions";
import {
  type AuditActor,
  auditEvent,
  changedFields,
  changeWithEventPerRow,
  deleteEvent,
  eventRecorded,
  insertEventIfChanged,
} from "../../storage/audit-events/record";
import { retractEvent } from "../../storage/audit-store/outbox";
import { compiledSelect } from "../../storage/d1/compiled";
import { rowsWhere } from "../../storage/d1/conditional-insert";
import { type ApiKeyRow, apiKeys, workspaces } from "../../storage/d1/schema";
import { type BatchAnswer, NO_BATCH_ANSWER } from "../../storage/idempotency-records";
import { kvDelete, kvKeys, kvPutJson, kvPutMarker } from "../../storage/kv";

/**
 * API key storage across D1 (source of truth, listing) and KV (verification), written in an order that
 * never leaves a usable key that D1 does not list, nor a listed key that does not work. Every
 * step that fails after an earlier one committed undoes that step and lets the 503 reach the client.
 */

const kvKeyOf = (hash: string) => kvKeys.principal(SECRET_PREFIXES.api_key, hash);

function principalRecord(row: ApiKeyRow, region: Region): ApiKeyPrincipal {
  return {
    type: "api_key",
    id: row.id,
    key_id: row.keyId,
    workspace_id: row.workspaceId,
    region,
    role: row.role,
    permissions: row.permissions,
    name: row.name,
    expires_at: row.expiresAt,
    created_by_entity_id: row.createdByEntityId,
    accountable_entity_id: row.accountableEntityId,
    secret_issued_at: row.secretIssuedAt,
  };
}

/** KV drops the record at expiry (to the second); the middleware checks `expires_at` as well. */
async function putVerification(storage: Storage, hash: string, row: ApiKeyRow) {
  await kvPutJson(storage.kv, kvKeyOf(hash), principalRecord(row, storage.region), {
    expiration: Math.ceil(Date.parse(row.expiresAt) / 1000),
  });
}

/** A key with its secret, as create and rotate return it (the only moment the secret exists). */
export type IssuedKey = { row: ApiKeyRow; secret: string };

/**
 * The API key making the request, and the hash of the secret it presented (null: a person's own token).
 * A write that hands out a secret commits only while it still stands, so a key deleted or rotated away
 * while its request ran hands out nothing, however long the request's own work took.
 */
export type ActingKey = { id: string; hash: string } | null;

function actingKeyStands(acting: ActingKey): SQL {
  if (acting === null) return sql`1`;
  return sql`exists (select 1 from ${apiKeys} "acting"
    where "acting"."id" = ${acting.id} and "acting"."key_hash" = ${acting.hash} and "acting"."revoked_at" is null)`;
}

/** The acting key no longer stands: the request is refused as its next one would be. */
const actingKeyRevoked = () => new ApiError("unauthorized", UNAUTHORIZED_DETAIL);

type NewKey = {
  workspaceId: string;
  environment: Environment;
  name: string | null;
  role: MembershipRole;
  permissions: string[];
  durationDays: number;
  creator: Creator;
  actingKey: ActingKey;
};

const keyNotFound = () => new ApiError("not_found", "API key not found.");

/** The accountable person's role went below the key's after the request was authorised (drizzle/0010's triggers). */
const accountableRoleExceeded = (action: "create" | "rotate", role: string) =>
  new ApiError("forbidden", `Cannot ${action} a key with role '${role}': it exceeds the role of the person who would hold it.`);

/** The audit event of a write to this key; `key_id` always in the metadata, as that is how clients name keys. */
function keyEvent(actor: AuditActor, row: ApiKeyRow, action: AuditAction, metadata: Record<string, unknown>, at: string) {
  return auditEvent(
    actor,
    {
      workspaceId: row.workspaceId,
      action,
      resourceType: "api_key",
      resourceId: row.id,
      resourceName: row.name ?? row.keyId,
      metadata: { key_id: row.keyId, ...metadata },
    },
    at,
  );
}

/**
 * Insert the key with its `api_key.created` event in one batch (refused by a trigger once the workspace is
 * archived: 404), then publish to KV (if that fails, both rows are removed), then read the row back: an
 * archive (or a delete) that committed between the insert and the publish has revoked the key, possibly
 * purging before the record existed, so the record is taken back and the caller told. The secret is
 * returned only for a key that was still live after its record was published.
 */
export async function createApiKey(
  storage: Storage,
  input: NewKey,
  actor: AuditActor,
  answer: BatchAnswer<IssuedKey> = NO_BATCH_ANSWER,
): Promise<IssuedKey> {
  const { db, kv, logger } = storage;
  const secret = generateSecret(SECRET_PREFIXES.api_key);
  const now = new Date().toISOString();
  const row: ApiKeyRow = {
    seq: 0,
    id: crypto.randomUUID(),
    keyId: `key_${randomBase62(16)}`,
    workspaceId: input.workspaceId,
    name: input.name,
    role: input.role,
    permissions: input.permissions,
    keyHash: await sha256Hex(secret),
    environment: input.environment,
    ...input.creator,
    // Whoever receives the secret is accountable for it: the creating person (behind a key, that key's).
    accountableEntityId: input.creator.createdByEntityId,
    secretIssuedAt: now,
    expiresAt: daysAfter(Date.parse(now), input.durationDays),
    lastUsedAt: null,
    revokedAt: null,
    recordPurgedAt: null,
    createdAt: now,
    updatedAt: now,
  };
  const { seq: _, ...values } = row;
  const event = keyEvent(actor, row, "api_key.created", { role: row.role, permissions: row.permissions, expires_at: row.expiresAt }, now);
  const [[inserted]] = await db
    .batch([
      db
        .insert(apiKeys)
        .select(rowsWhere(apiKeys, values, actingKeyStands(input.actingKey)))
        .returning(),
      insertEventIfChanged(db, event),
      ...(await answer.store(db, { row, secret }, eventRecorded(event.id))),
    ])
    .catch((err: unknown) => {
      if (isAbortedBy(err, "workspace_archived")) throw workspaceNotFound();
      if (isAbortedBy(err, "accountable_role_exceeded")) throw accountableRoleExceeded("create", input.role);
      throw err;
    });
  if (!inserted) throw actingKeyRevoked();
  try {
    await putVerification(storage, inserted.keyHash, inserted);
  } catch (err) {
    await bestEffort(logger, "undo key create", async () => {
      await db.batch([deleteEvent(db, event.id), db.delete(apiKeys).where(eq(apiKeys.id, inserted.id)), ...answer.retract(db)]);
      await retractEvent(storage, input.workspaceId, event);
    });
    throw err;
  }

  const settled = await db
    .select({ revokedAt: apiKeys.revokedAt, archivedAt: workspaces.archivedAt })
    .from(apiKeys)
    .innerJoin(workspaces, eq(workspaces.id, apiKeys.workspaceId))
    .where(eq(apiKeys.id, inserted.id))
    .get();
  if (settled?.revokedAt) {
    await bestEffort(logger, "take back a revoked key's record", () => kvDelete(kv, kvKeyOf(inserted.keyHash)));
    if (settled.archivedAt) throw workspaceNotFound();
    throw new ApiError("conflict", "The key was revoked by a concurrent request before its creation completed.");
  }
  return { row: inserted, secret };
}

/** The key, revoked or not. */
function findApiKey({ db }: Storage, workspaceId: string, keyId: string) {
  return db
    .select()
    .from(apiKeys)
    .where(and(eq(apiKeys.workspaceId, workspaceId), eq(apiKeys.keyId, keyId)))
    .get();
}

/**
 * The key, if it is live; 404 otherwise. A revoked key's KV record may have outlived a failed delete, so
 * it is deleted again here (idempotent) before the 404.
 */
export async function activeApiKey(storage: Storage, workspaceId: string, keyId: string): Promise<ApiKeyRow> {
  const row = await findApiKey(storage, workspaceId, keyId);
  if (!row) throw keyNotFound();
  if (row.revokedAt) {
    await bestEffort(storage.logger, "purge revoked key", () => kvDelete(storage.kv, kvKeyOf(row.keyHash)));
    throw keyNotFound();
  }
  return row;
}

/** A listed key: its response's columns, and its seq (the page's keyset). */
const listedKeyFields = {
  seq: apiKeys.seq,
  id: apiKeys.id,
  workspaceId: apiKeys.workspaceId,
  createdByEntityId: apiKeys.createdByEntityId,
  createdByCredentialId: apiKeys.createdByCredentialId,
  accountableEntityId: apiKeys.accountableEntityId,
  keyId: apiKeys.keyId,
  name: apiKeys.name,
  role: apiKeys.role,
  permissions: apiKeys.permissions,
  expiresAt: apiKeys.expiresAt,
  lastUsedAt: apiKeys.lastUsedAt,
  createdAt: apiKeys.createdAt,
  updatedAt: apiKeys.updatedAt,
};

/**
 * The workspace's live keys; with `mineOnly` 1, only those made by `entity` (an identity's: that person's,
 * with any credential) or by `credential` (a key's: the ones it made).
 */
const liveKeys = and(
  eq(apiKeys.workspaceId, sql.placeholder("workspaceId")),
  isNull(apiKeys.revokedAt),
  sql`(${sql.placeholder("mineOnly")} = 0 or ${apiKeys.createdByEntityId} = ${sql.placeholder("entity")}
    or ${apiKeys.createdByCredentialId} = ${sql.placeholder("credential")})`,
);
const listedKeysQuery = compiledSelect(listedKeyFields, (select) =>
  select
    .from(apiKeys)
    .where(and(liveKeys, lt(apiKeys.seq, sql.placeholder("before"))))
    .orderBy(desc(apiKeys.seq))
    .limit(sql.placeholder("limit")),
);
const liveKeyCount = { n: sql<number>`count(*)`.as("n") };
const liveKeyCountQuery = compiledSelect(liveKeyCount, (select) => select.from(apiKeys).where(liveKeys));

type ListOptions = { workspaceId: string; limit: number; after: number; mineOnlyFor?: Principal };

/**
 * A page of the workspace's live keys, newest first (`limit + 1` rows, for `page()`), and the total over
 * all pages, in one D1 batch (one round trip, one snapshot).
 */
export async function listApiKeys({ d1 }: Storage, { workspaceId, limit, after, mineOnlyFor }: ListOptions) {
  const creator = mineOnlyFor && creatorOf(mineOnlyFor);
  const scope = {
    workspaceId,
    mineOnly: mineOnlyFor ? 1 : 0,
    entity: mineOnlyFor?.type === "identity" ? creator?.createdByEntityId : null,
    credential: mineOnlyFor?.type === "api_key" ? creator?.createdByCredentialId : null,
  };
  const [rows, total] = await d1.batch([
    // The first page (after = 0) starts below every seq.
    listedKeysQuery.statement(d1, { ...scope, before: after > 0 ? after : Number.MAX_SAFE_INTEGER, limit: limit + 1 }),
    liveKeyCountQuery.statement(d1, scope),
  ]);
  return { rows: listedKeysQuery.rows(rows!), total: liveKeyCountQuery.rows(total!)[0]?.n ?? 0 };
}

/** Attempts at revoking a key that keeps being rotated underneath, before answering 409. */
const REVOKE_ATTEMPTS = 3;

/**
 * Revokes the key whatever rotations run meanwhile: the revocation marker goes to KV first (from then on
 * every secret of the key is refused, and a KV failure changes nothing: 503), then D1 marks the row, on
 * condition that it still holds the hash that was read; if a rotation committed in between, the fresh row
 * is revoked instead. Then the current secret's record is deleted; if that fails the key is revoked all the
 * same (the marker refuses it, and the record is purged when presented). 404 if revoked concurrently.
 */
export async function revokeApiKey(storage: Storage, row: ApiKeyRow, actor: AuditActor): Promise<void> {
  const { db, kv, logger } = storage;
  const marker = kvKeys.revokedKey(row.id);
  const dropMarker = () => bestEffort(logger, "undo the revocation marker", () => kvDelete(kv, marker));
  await kvPutMarker(kv, marker);

  let current = row;
  for (let attempt = 1; ; attempt++) {
    const now = new Date().toISOString();
    let marked: unknown[];
    try {
      [marked] = await db.batch([
        db
          .update(apiKeys)
          .set({ revokedAt: now, recordPurgedAt: now, updatedAt: now })
          .where(and(eq(apiKeys.id, current.id), eq(apiKeys.keyHash, current.keyHash), isNull(apiKeys.revokedAt)))
          .returning({ id: apiKeys.id }),
        insertEventIfChanged(db, keyEvent(actor, current, "api_key.deleted", {}, now)),
      ]);
    } catch (err) {
      await dropMarker();
      throw err;
    }
    if (marked.length > 0) break;
    const fresh = await findApiKey(storage, current.workspaceId, current.keyId);
    if (!fresh || fresh.revokedAt) throw keyNotFound(); // revoked concurrently: the marker stays
    if (attempt === REVOKE_ATTEMPTS) {
      await dropMarker();
      throw new ApiError("conflict", "The key kept being rotated while it was being deleted; retry the delete.");
    }
    current = fresh;
  }

  try {
    await kvDelete(kv, kvKeyOf(current.keyHash));
  } catch (err) {
    logger.warn("could not delete a revoked key's record; its revocation marker refuses it", { key_id: current.keyId, cause: String(err) });
    await bestEffort(logger, "mark the record as still to purge", () =>
      db.update(apiKeys).set({ recordPurgedAt: null }).where(eq(apiKeys.id, current.id)),
    );
  }
}

/**
 * New secret, same key, and a new accountable person: whoever receives the secret (`holder`: the rotating
 * person, or the person accountable for the rotating key) answers for the key from now on. The new KV
 * record goes first (so the new secret works the moment the client has it), then D1 switches the hash
 * and the holder, on condition that the row still holds the hash that was read and is not revoked (and,
 * by a trigger, that the holder's role is not below the key's at that moment), then the old record is
 * deleted. A failure at any step undoes the earlier ones. A rotation that loses to a concurrent one
 * answers 409 (the key and the winner's secret stay valid); one that loses to a revocation answers 404.
 */
export async function rotateApiKey(
  storage: Storage,
  row: ApiKeyRow,
  rotation: { durationDays: number; holder: string | null; actingKey: ActingKey },
  actor: AuditActor,
  answer: BatchAnswer<IssuedKey> = NO_BATCH_ANSWER,
): Promise<IssuedKey> {
  const secret = generateSecret(SECRET_PREFIXES.api_key);
  const newHash = await sha256Hex(secret);
  const now = new Date();
  const next: ApiKeyRow = {
    ...row,
    keyHash: newHash,
    accountableEntityId: rotation.holder,
    secretIssuedAt: now.toISOString(),
    expiresAt: daysAfter(now.getTime(), rotation.durationDays),
    updatedAt: now.toISOString(),
  };
  await putVerification(storage, newHash, next);
  const undoNewRecord = () => bestEffort(storage.logger, "delete the new key record", () => kvDelete(storage.kv, kvKeyOf(newHash)));

  const { db } = storage;
  const changes = changedFields(
    { expires_at: row.expiresAt, accountable_entity_id: row.accountableEntityId },
    { expires_at: next.expiresAt, accountable_entity_id: next.accountableEntityId },
  );
  const event = keyEvent(actor, row, "api_key.rotated", { changes }, next.updatedAt);
  let updated: ApiKeyRow | undefined;
  try {
    [[updated]] = await db.batch([
      db
        .update(apiKeys)
        .set({
          keyHash: next.keyHash,
          accountableEntityId: next.accountableEntityId,
          secretIssuedAt: next.secretIssuedAt,
          expiresAt: next.expiresAt,
          updatedAt: next.updatedAt,
        })
        .where(
          and(eq(apiKeys.id, row.id), eq(apiKeys.keyHash, row.keyHash), isNull(apiKeys.revokedAt), actingKeyStands(rotation.actingKey)),
        )
        .returning(),
      insertEventIfChanged(db, event),
      // Stored only if this rotation won (its event was recorded just before).
      ...(await answer.store(db, { row: next, secret }, eventRecorded(event.id))),
    ]);
  } catch (err) {
    await undoNewRecord();
    if (isAbortedBy(err, "accountable_role_exceeded")) throw accountableRoleExceeded("rotate", row.role);
    throw err;
  }
  if (!updated) {
    await undoNewRecord();
    const acting = rotation.actingKey;
    if (acting !== null && acting.id !== row.id) {
      const { stands } = await db.get<{ stands: number }>(sql`select ${actingKeyStands(acting)} as "stands"`);
      if (!stands) throw actingKeyRevoked();
    }
    const fresh = await findApiKey(storage, row.workspaceId, row.keyId);
    if (!fresh || fresh.revokedAt) throw keyNotFound();
    throw new ApiError("conflict", "The key was rotated by a concurrent request; its newest secret is the one that request returned.");
  }

  try {
    await kvDelete(storage.kv, kvKeyOf(row.keyHash));
  } catch (err) {
    await bestEffort(storage.logger, "undo key rotation", async () => {
      await db.batch([
        db
          .update(apiKeys)
          .set({
            keyHash: row.keyHash,
            accountableEntityId: row.accountableEntityId,
            secretIssuedAt: row.secretIssuedAt,
            expiresAt: row.expiresAt,
            updatedAt: row.updatedAt,
          })
          .where(and(eq(apiKeys.id, row.id), eq(apiKeys.keyHash, newHash))),
        deleteEvent(db, event.id),
        ...answer.retract(db),
      ]);
      await retractEvent(storage, row.workspaceId, event);
    });
    await undoNewRecord();
    throw err;
  }
  return { row: updated, secret };
}

/**
 * Why keys (and invitations) are revoked by something other than their own DELETE: the `reason` in each
 * one's `api_key.deleted` (or `invitation.revoked`) event.
 */
export type RevocationReason = "member_role_changed" | "member_removed" | "member_left" | "workspace_archived" | "identity_disabled";

/**
 * Statements for a caller's batch: one `api_key.deleted` event per key the revocation is about to change
 * (`metadata.reason`, and the request that revoked it), then the live keys `which` selects revoked, where
 * `onlyIf` holds; so a key created just before a demotion, removal or archive shows both its creation and
 * its revocation, and each revoked key exactly one revocation, this batch's (changeWithEventPerRow).
 */
export function revokeKeysStatements(
  db: Db,
  which: SQL,
  revocation: { at: string; actor: AuditActor; reason: RevocationReason; onlyIf?: SQL },
) {
  const { at, actor, reason, onlyIf } = revocation;
  const workspaceId = sql`${apiKeys.workspaceId}`;
  const template = auditEvent(
    actor,
    { workspaceId: null, action: "api_key.deleted", resourceType: "api_key", resourceId: null, resourceName: null },
    at,
  );
  return changeWithEventPerRow(
    db,
    {
      event: template,
      perRow: {
        workspaceId,
        resourceId: sql`${apiKeys.id}`,
        resourceName: sql`coalesce(${apiKeys.name}, ${apiKeys.keyId})`,
        metadata: sql`json_object('key_id', ${apiKeys.keyId}, 'reason', ${reason})`,
      },
      from: sql`${apiKeys}`,
      rows: and(which, isNull(apiKeys.revokedAt), onlyIf) as SQL,
    },
    (revoking) => db.update(apiKeys).set({ revokedAt: at, updatedAt: at, recordPurgedAt: null }).where(revoking),
  );
}

/** Keys per round: the ids go into one `IN (...)`, and D1 binds at most 100 parameters. */
const PURGE_CHUNK = 90;
/** KV deletes per request, below the Workers limit of 1,000 KV operations per invocation. */
export const PURGE_BUDGET = 900;

/**
 * Deletes the KV records of the revoked keys `which` selects whose record may remain (those an archive, a
 * member's removal or a disabled person revoked; a delete purges its own), in parallel rounds, and marks
 * each round done in D1, so a repeat resumes where a failure (or the per-request budget) stopped. Returns
 * how many keys still have a record to delete.
 */
export async function purgeRevokedKeyRecords(storage: Storage, which: SQL): Promise<number> {
  const pending = and(which, isNotNull(apiKeys.revokedAt), isNull(apiKeys.recordPurgedAt));
  let deleted = 0;
  while (deleted < PURGE_BUDGET) {
    const round = await storage.db
      .select({ id: apiKeys.id, keyHash: apiKeys.keyHash })
      .from(apiKeys)
      .where(pending)
      .limit(Math.min(PURGE_CHUNK, PURGE_BUDGET - deleted))
      .all();
    if (round.length === 0) return 0;
    await Promise.all(round.map(({ keyHash }) => kvDelete(storage.kv, kvKeyOf(keyHash))));
    await storage.db
      .update(apiKeys)
      .set({ recordPurgedAt: new Date().toISOString() })
      .where(
        inArray(
          apiKeys.id,
          round.map((k) => k.id),
        ),
      );
    deleted += round.length;
  }
  const [left] = await storage.db.select({ n: count() }).from(apiKeys).where(pending);
  return left?.n ?? 0;
}
