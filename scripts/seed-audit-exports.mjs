// Many audit exports at once: their rows straight into D1 (one INSERT ... SELECT over a JSON list of ids)
// and their objects into R2, for the tests of the exports' cleanup and the benchmark's measurement of it,
// instead of as many API calls. `db` and `bucket` are bindings: env.DB and env.AUDIT_EXPORTS in workerd,
// Miniflare's getD1Database and getR2Bucket in Node.

/** Objects written at once: enough to keep Miniflare's R2 busy, few enough for its proxy from Node. */
const PARALLEL_PUTS = 50;

/**
 * `count` done exports of `workspaceId` (an existing workspace) created (and finished) at `createdAt` (ISO 8601, UTC), each an
 * object of one line under the workspace's prefix and its row. Returns their object keys.
 */
export async function seedAuditExports(db, bucket, { workspaceId, count, createdAt }) {
  const ids = Array.from({ length: count }, () => crypto.randomUUID());
  const keys = ids.map((id) => `audit-exports/${workspaceId}/${id}.ndjson`);
  // One bound list rather than a statement per row (D1 binds at most 100 values a statement).
  await db
    .prepare(
      `INSERT INTO audit_exports (id, workspace_id, object_key, row_count, size, created_at, status, events_written, finished_at)
       SELECT value, ?1, 'audit-exports/' || ?1 || '/' || value || '.ndjson', 1, 3, ?3, 'done', 1, ?3 FROM json_each(?2)`,
    )
    .bind(workspaceId, JSON.stringify(ids), createdAt)
    .run();
  for (let at = 0; at < keys.length; at += PARALLEL_PUTS) {
    await Promise.all(keys.slice(at, at + PARALLEL_PUTS).map((key) => bucket.put(key, "{}\n")));
  }
  return keys;
}
