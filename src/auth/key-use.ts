import { and, eq, isNull, lt, or } from "drizzle-orm";
import type { Storage } from "../core/env";
import { apiKeys } from "../storage/d1/schema";

const LAST_USED_RESOLUTION_MS = 60_000;
const recentlyTouched = new Map<string, number>();

/**
 * Records `last_used_at` at most once a minute per key: an in-isolate memo skips the query, and the
 * conditional UPDATE keeps the column monotonic across isolates. The write (for `waitUntil`, off the
 * response), or null when the key's use was recorded within the minute: the caller then has nothing to
 * keep the request alive for.
 */
export function recordKeyUse(storage: Storage, keyRowId: string, at = Date.now()): Promise<void> | null {
  const last = recentlyTouched.get(keyRowId);
  if (last !== undefined && at - last < LAST_USED_RESOLUTION_MS) return null;
  if (recentlyTouched.size > 10_000) recentlyTouched.clear();
  recentlyTouched.set(keyRowId, at);
  return writeLastUsed(storage, keyRowId, at);
}

async function writeLastUsed(storage: Storage, keyRowId: string, at: number): Promise<void> {
  // Only now: reading `db` opens the request's D1 session (and its bookmark header), which a skipped
  // write must not cost.
  const { db } = storage;
  const now = new Date(at).toISOString();
  const staleBefore = new Date(at - LAST_USED_RESOLUTION_MS).toISOString();
  await db
    .update(apiKeys)
    .set({ lastUsedAt: now })
    .where(and(eq(apiKeys.id, keyRowId), or(isNull(apiKeys.lastUsedAt), lt(apiKeys.lastUsedAt, staleBefore))));
}
