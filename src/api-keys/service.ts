import { and, count, desc, eq, inArray, isNull, lt, or, sql } from "drizzle-orm";
import type { ApiKeyPrincipal, Principal } from "../auth/principal";
import { generateSecret, randomBase62, SECRET_PREFIXES, sha256Hex } from "../auth/secret";
import { type ApiKeyRow, apiKeys, type Environment, type MembershipRole } from "../db/schema";
import type { Db, Storage } from "../env";
import { internalError } from "../errors";
import { kvDelete, kvKeys, kvPutJson } from "../kv";
import type { Logger } from "../logger";
import type { Region } from "../regions";

/**
 * API key storage across D1 (source of truth, listing) and KV (verification), written in an order that
 * never leaves a usable key that D1 does not list, nor a listed key that does not work (DESIGN §5). Every
 * step that fails after an earlier one committed undoes that step and lets the 503 reach the client.
 */

const DAY_MS = 86_400_000;
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
  };
}

/** KV drops the record at expiry (to the second); the middleware checks `expires_at` as well. */
async function putVerification(deps: Storage, hash: string, row: ApiKeyRow) {
  await kvPutJson(deps.kv, kvKeyOf(hash), principalRecord(row, deps.region), { expiration: Math.ceil(Date.parse(row.expiresAt) / 1000) });
}

async function bestEffort(logger: Logger, what: string, step: () => Promise<unknown>) {
  await step().catch((err: unknown) => logger.error(`could not ${what}`, { cause: String(err) }));
}

/** Who made it: the accountable person, and the credential (identity token or key) that was used. */
export function creatorOf(principal: Principal) {
  return principal.type === "identity"
    ? { createdByEntityId: principal.identity_id, createdByCredentialId: principal.credential_id }
    : { createdByEntityId: principal.created_by_entity_id, createdByCredentialId: principal.id };
}

type NewKey = { workspaceId: string; environment: Environment; name: string | null; role: MembershipRole; permissions: string[]; durationDays: number; principal: Principal };

export async function createApiKey(deps: Storage, input: NewKey): Promise<{ row: ApiKeyRow; secret: string }> {
  const secret = generateSecret(SECRET_PREFIXES.api_key);
  const now = new Date();
  const [row] = await deps.db
    .insert(apiKeys)
    .values({
      id: crypto.randomUUID(),
      keyId: `key_${randomBase62(16)}`,
      workspaceId: input.workspaceId,
      name: input.name,
      role: input.role,
      permissions: input.permissions,
      keyHash: await sha256Hex(secret),
      environment: input.environment,
      ...creatorOf(input.principal),
      expiresAt: new Date(now.getTime() + input.durationDays * DAY_MS).toISOString(),
      createdAt: now.toISOString(),
      updatedAt: now.toISOString(),
    })
    .returning();
  if (!row) throw internalError(new Error("insert returned no row"));
  try {
    await putVerification(deps, row.keyHash, row);
  } catch (err) {
    await bestEffort(deps.logger, "undo key create", () => deps.db.delete(apiKeys).where(eq(apiKeys.id, row.id)));
    throw err;
  }
  return { row, secret };
}

/** The key, revoked or not; callers decide what a revoked one means. */
export function findApiKey(deps: Pick<Storage, "db">, workspaceId: string, keyId: string) {
  return deps.db
    .select()
    .from(apiKeys)
    .where(and(eq(apiKeys.workspaceId, workspaceId), eq(apiKeys.keyId, keyId)))
    .get();
}

type ListOptions = { workspaceId: string; limit: number; after: number; createdBy?: { column: "entity" | "credential"; id: string | null } };

export async function listApiKeys(deps: Pick<Storage, "db">, options: ListOptions) {
  const creator = options.createdBy
    ? eq(options.createdBy.column === "entity" ? apiKeys.createdByEntityId : apiKeys.createdByCredentialId, options.createdBy.id ?? "")
    : undefined;
  const scope = and(eq(apiKeys.workspaceId, options.workspaceId), isNull(apiKeys.revokedAt), creator);
  const [rows, [count]] = await deps.db.batch([
    deps.db
      .select()
      .from(apiKeys)
      .where(and(scope, options.after > 0 ? lt(apiKeys.seq, options.after) : undefined))
      .orderBy(desc(apiKeys.seq))
      .limit(options.limit + 1),
    deps.db.select({ total: sql<number>`count(*)` }).from(apiKeys).where(scope),
  ]);
  return { rows, total: count?.total ?? 0 };
}

/**
 * Marks the row revoked, then deletes the KV record; if KV fails the mark is undone (the key stays
 * usable and listed) and the caller gets 503. Returns false if the key was revoked concurrently.
 */
export async function revokeApiKey(deps: Storage, row: ApiKeyRow): Promise<boolean> {
  const now = new Date().toISOString();
  const marked = await deps.db
    .update(apiKeys)
    .set({ revokedAt: now, updatedAt: now })
    .where(and(eq(apiKeys.id, row.id), isNull(apiKeys.revokedAt)))
    .returning({ id: apiKeys.id });
  if (marked.length === 0) return false;
  try {
    await kvDelete(deps.kv, kvKeyOf(row.keyHash));
  } catch (err) {
    await bestEffort(deps.logger, "undo key revoke", () =>
      deps.db.update(apiKeys).set({ revokedAt: null, updatedAt: row.updatedAt }).where(eq(apiKeys.id, row.id)),
    );
    throw err;
  }
  return true;
}

/** A revoked row whose KV record may have outlived a failed undo: delete it again (idempotent). */
export async function purgeRevokedVerification(deps: Storage, row: ApiKeyRow) {
  await bestEffort(deps.logger, "purge revoked key", () => kvDelete(deps.kv, kvKeyOf(row.keyHash)));
}

/**
 * New secret, same key. The new KV record goes first (so the new secret works the moment the client has
 * it), then D1 switches the hash (conditionally, so concurrent rotations cannot both win), then the old
 * record is deleted. A failure at any step undoes the earlier ones. Returns null if the key changed
 * underneath (rotated or revoked concurrently).
 */
export async function rotateApiKey(deps: Storage, row: ApiKeyRow, durationDays: number): Promise<{ row: ApiKeyRow; secret: string } | null> {
  const secret = generateSecret(SECRET_PREFIXES.api_key);
  const newHash = await sha256Hex(secret);
  const now = new Date();
  const next: ApiKeyRow = {
    ...row,
    keyHash: newHash,
    expiresAt: new Date(now.getTime() + durationDays * DAY_MS).toISOString(),
    updatedAt: now.toISOString(),
  };
  await putVerification(deps, newHash, next);
  const undoNewRecord = () => bestEffort(deps.logger, "delete the new key record", () => kvDelete(deps.kv, kvKeyOf(newHash)));

  let updated: ApiKeyRow | undefined;
  try {
    [updated] = await deps.db
      .update(apiKeys)
      .set({ keyHash: next.keyHash, expiresAt: next.expiresAt, updatedAt: next.updatedAt })
      .where(and(eq(apiKeys.id, row.id), eq(apiKeys.keyHash, row.keyHash), isNull(apiKeys.revokedAt)))
      .returning();
  } catch (err) {
    await undoNewRecord();
    throw err;
  }
  if (!updated) {
    await undoNewRecord();
    return null;
  }

  try {
    await kvDelete(deps.kv, kvKeyOf(row.keyHash));
  } catch (err) {
    await bestEffort(deps.logger, "undo key rotation", () =>
      deps.db
        .update(apiKeys)
        .set({ keyHash: row.keyHash, expiresAt: row.expiresAt, updatedAt: row.updatedAt })
        .where(and(eq(apiKeys.id, row.id), eq(apiKeys.keyHash, newHash))),
    );
    await undoNewRecord();
    throw err;
  }
  return { row: updated, secret };
}

const LAST_USED_RESOLUTION_MS = 60_000;
const recentlyTouched = new Map<string, number>();

/**
 * Records `last_used_at` at most once a minute per key: an in-isolate memo skips the query, and the
 * conditional UPDATE keeps the column monotonic across isolates. Runs in `waitUntil`, off the response.
 */
export async function recordKeyUse(db: Db, keyRowId: string, at = Date.now()): Promise<void> {
  const last = recentlyTouched.get(keyRowId);
  if (last !== undefined && at - last < LAST_USED_RESOLUTION_MS) return;
  if (recentlyTouched.size > 10_000) recentlyTouched.clear();
  recentlyTouched.set(keyRowId, at);
  const now = new Date(at).toISOString();
  const staleBefore = new Date(at - LAST_USED_RESOLUTION_MS).toISOString();
  await db
    .update(apiKeys)
    .set({ lastUsedAt: now })
    .where(and(eq(apiKeys.id, keyRowId), or(isNull(apiKeys.lastUsedAt), lt(apiKeys.lastUsedAt, staleBefore))));
}

/** The statement that revokes every live key of a workspace, for a caller's batch (archive). */
export function revokeAllKeysStatement(db: Db, workspaceId: string, at: string) {
  return db
    .update(apiKeys)
    .set({ revokedAt: at, updatedAt: at })
    .where(and(eq(apiKeys.workspaceId, workspaceId), isNull(apiKeys.revokedAt)));
}

/** Keys per round: the ids go into one `IN (...)`, and D1 binds at most 100 parameters. */
const PURGE_CHUNK = 90;
/** KV deletes per request, below the Workers limit of 1,000 KV operations per invocation. */
export const PURGE_BUDGET = 900;

/**
 * Deletes the KV records of the workspace's keys revoked at `revokedAt` (by one archive), in parallel
 * rounds, and marks each round done in D1, so a repeat resumes where a failure (or the per-request budget)
 * stopped. Returns how many keys still have a record to delete (0 when finished).
 */
export async function purgeRevokedKeyRecords(deps: Pick<Storage, "db" | "kv">, workspaceId: string, revokedAt: string): Promise<number> {
  const pending = and(eq(apiKeys.workspaceId, workspaceId), eq(apiKeys.revokedAt, revokedAt), isNull(apiKeys.recordPurgedAt));
  let deleted = 0;
  while (deleted < PURGE_BUDGET) {
    const round = await deps.db
      .select({ id: apiKeys.id, keyHash: apiKeys.keyHash })
      .from(apiKeys)
      .where(pending)
      .limit(Math.min(PURGE_CHUNK, PURGE_BUDGET - deleted))
      .all();
    if (round.length === 0) return 0;
    await Promise.all(round.map(({ keyHash }) => kvDelete(deps.kv, kvKeyOf(keyHash))));
    await deps.db
      .update(apiKeys)
      .set({ recordPurgedAt: new Date().toISOString() })
      .where(inArray(apiKeys.id, round.map((k) => k.id)));
    deleted += round.length;
  }
  const [left] = await deps.db.select({ n: count() }).from(apiKeys).where(pending);
  return left?.n ?? 0;
}
