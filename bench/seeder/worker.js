// The benchmark's seeder (bench/setup.mjs runs it beside the project and the baseline; never deploy it):
// `POST / {"workspaceId", "count", "origin"}` puts `count` events of the workspace straight into its audit store of
// 2026 through the store's own `append`, as a forward does, one a second from the start of 2026. The rows
// are made here, inside workerd, so that they do not also cross Miniflare's proxy from Node. Answers how many
// the store took and the id of the middle one (the proof scenarios ask for its proof).

/** Rows per append call (a few MB a call). */
const CHUNK = 5000;

export default {
  async fetch(request, env) {
    const { workspaceId, count, origin } = await request.json();
    const store = env.AUDIT_STORE.get(env.AUDIT_STORE.idFromName(`${workspaceId}:2026`));
    const start = Date.UTC(2026, 0, 1);
    let stored = 0;
    let middle = null;
    for (let from = 0; from < count; from += CHUNK) {
      const rows = [];
      for (let i = from; i < Math.min(count, from + CHUNK); i++) {
        rows.push({
          // far below any seq D1 gives the outbox (the workspace's own creation event comes from there)
          seq: -1 - i,
          id: crypto.randomUUID(),
          workspaceId,
          service: "platform",
          action: "workspace.updated",
          actorEntityId: null,
          actorCredentialId: null,
          resourceType: "workspace",
          resourceId: workspaceId,
          resourceName: "x".repeat(16),
          metadata: null,
          ipAddress: null,
          userAgent: null,
          phiAccessed: false,
          timestamp: new Date(start + i * 1000).toISOString(),
        });
      }
      stored += (await store.append(rows, origin)).stored;
      if (middle === null && from + CHUNK > count / 2) middle = rows[Math.floor(count / 2) - from].id;
    }
    return Response.json({ stored, middle });
  },
};
