// The benchmark's seeder (bench/setup.mjs runs it beside the project and the baseline; never deploy it):
// `POST / {"workspaceId", "first", "count", "origin"}` puts events `first`..`first + count - 1` of the workspace
// straight into its audit store of 2026 through the store's own `append`, as a forward does, event i at second i
// of 2026 (a large store is seeded a slice a request, each well within a request's time). The rows
// are made here, inside workerd, so that they do not also cross Miniflare's proxy from Node. Answers how many
// the store took and the id of event `mark`, if the slice holds it (the proof scenarios ask for its proof).
// `perCall` (default 5000) rows go in each append call: 1 makes each event an append of its own, as an
// audited write's forward is (bench/store-cost.mjs). `POST /new-stores {"prefix", "count", "origin"}`
// appends one event to each of `count` stores not made before (a workspace's first event; store-cost.mjs).

/** Rows per append call by default (a few MB a call). */
const CHUNK = 5000;

const START = Date.UTC(2026, 0, 1);

/** Event `i` of the workspace, as the outbox forwards one. */
const eventRow = (workspaceId, i) => ({
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
  timestamp: new Date(START + i * 1000).toISOString(),
});

const storeOf = (env, workspaceId) => env.AUDIT_STORE.get(env.AUDIT_STORE.idFromName(`${workspaceId}:2026`));

export default {
  async fetch(request, env) {
    if (new URL(request.url).pathname === "/new-stores") {
      const { prefix, count, origin } = await request.json();
      let stored = 0;
      for (let i = 0; i < count; i++) {
        const workspaceId = `${prefix}-${i}`;
        stored += (await storeOf(env, workspaceId).append([eventRow(workspaceId, 0)], origin)).stored;
      }
      return Response.json({ stored });
    }
    const { workspaceId, first = 0, count, origin, mark = -1, perCall = CHUNK } = await request.json();
    const store = storeOf(env, workspaceId);
    let stored = 0;
    let marked = null;
    for (let from = first; from < first + count; from += perCall) {
      const rows = [];
      for (let i = from; i < Math.min(first + count, from + perCall); i++) rows.push(eventRow(workspaceId, i));
      stored += (await store.append(rows, origin)).stored;
      if (mark >= from && mark < from + rows.length) marked = rows[mark - from].id;
    }
    return Response.json({ stored, marked });
  },
};
