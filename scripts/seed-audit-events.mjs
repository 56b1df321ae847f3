// Many audit events at once, straight into D1 (one INSERT ... SELECT over a recursive counter): the tests
// of large exports and retention, and the benchmark's 100,000-event workspace, use it instead of as many
// API writes. `db` is a D1 binding (env.DB in workerd, Miniflare's getD1Database in Node).

/**
 * `count` `workspace.updated` events of `workspaceId`, one a second from `from` (ISO-8601, UTC), each
 * with a `resource_name` of `nameLength` characters (to make exports large), actors cycling through
 * `actors` (uuids; none: null).
 */
export async function seedAuditEvents(db, { workspaceId, count, from, nameLength = 16, actors = [] }) {
  const actorList = JSON.stringify(actors);
  await db
    .prepare(
      `WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < ?2)
       INSERT INTO audit_events (id, workspace_id, service, action, actor_entity_id, actor_credential_id, resource_type, resource_id,
                                 resource_name, metadata, ip_address, user_agent, phi_accessed, timestamp)
       SELECT lower(hex(randomblob(4)) || '-' || hex(randomblob(2)) || '-4' || substr(hex(randomblob(2)), 2) || '-8'
                    || substr(hex(randomblob(2)), 2) || '-' || hex(randomblob(6))),
              ?1, 'platform', 'workspace.updated',
              CASE WHEN json_array_length(?5) > 0 THEN json_extract(?5, '$[' || (i % json_array_length(?5)) || ']') END,
              NULL, 'workspace', ?1, printf('%.*c', ?4, 'x'), NULL, NULL, NULL, 0,
              strftime('%Y-%m-%dT%H:%M:%fZ', ?3, '+' || i || ' seconds')
       FROM n`,
    )
    .bind(workspaceId, count, from, nameLength, actorList)
    .run();
}
