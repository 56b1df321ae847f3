// The benchmark's seeder (bench/setup.mjs runs it beside the project and the baseline; never deploy it):
// `POST / {"workspaceId", "first", "count", "origin"}` puts events `first`..`first + count - 1` of the workspace
// straight into its audit store of 2026 through the store's own `append`, as a forward does, event i at second i
// of 2026 (a large store is seeded a slice a request, each well within a request's time). The rows
// are made here, inside workerd, so that they do not also cross Miniflare's proxy from Node. Answers how many
// the store took and the id of event `mark`, if the slice holds it (the proof scenarios ask for its proof).

/** Rows per append call (a few MB a call). */
const CHUNK = 5000;

export default {
  async fetch(request, env) {
    const { workspaceId, first = 0, count, origin, mark = -1 } = await request.json();
    const store = env.AUDIT_STORE.get(env.AUDIT_STORE.idFromName(`${workspaceId}:2026`));
    const start = Date.UTC(2026, 0, 1);
    let stored = 0;
    let marked = null;
    for (let from = first; from < first + count; from += CHUNK) {
      const rows = [];
      for (let i = from; i < Math.min(first + count, from + CHUNK); i++) {
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
      if (mark >= from && mark < from + rows.length) marked = rows[mark - from].id;
    }
    return Response.json({ stored, marked });
  },
};
