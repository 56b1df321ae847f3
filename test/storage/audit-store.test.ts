/**
 * The audit store (docs/guides/audit.md, "Where events are kept"): events leave the D1 outbox for their
 * workspace's Durable Object right after the write; every Audit API read answers from the object plus what
 * the outbox still holds, exactly as one table would; and under faults (object unreachable, a crash between
 * the object's write and the outbox's delete, two sweeps at once, an undone write) every event is readable
 * exactly once and no write fails because the store is down.
 */

import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { asc, eq } from "drizzle-orm";
import { describe, expect, it, vi } from "vitest";
import { runScheduled } from "../../src/jobs/scheduled";
import { toAuditEventResponse } from "../../src/routes/audit/schemas";
import { type AuditActor, auditEvent, insertEvent } from "../../src/storage/audit-events/record";
import { type AuditStoreClient, auditStoreOf, forwardScope, retractEvent, yearOf } from "../../src/storage/audit-store/outbox";
import type { AuditEventRow, EventFilters } from "../../src/storage/audit-store/queries";
import { dbFor } from "../../src/storage/d1/client";
import { auditEvents } from "../../src/storage/d1/schema";
import type { AuditEventPage, AuditExport, CreatedApiKey } from "../harness/bodies";
import { call, type ErrorBody } from "../harness/call";
import { createApiKey, ownedWorkspace } from "../harness/seed";
import { faultyAuditStore, interceptD1, outboxRows, storedEvents, testStorage } from "../harness/storage";

const db = dbFor(env.DB);

/** Runs SQL inside one store's own SQLite, as an operator's fault or a corrupt row would leave it. */
const runInStore = (store: AuditStoreClient, statement: string) =>
  runInDurableObject(store as unknown as DurableObjectStub, (_instance, state) => {
    state.storage.sql.exec(statement);
  });
const people = [crypto.randomUUID(), crypto.randomUUID(), crypto.randomUUID()];
const resources = [crypto.randomUUID(), crypto.randomUUID()];
const ACTIONS = ["workspace.updated", "api_key.created", "api_key.rotated", "member.role_changed"] as const;

/** Inserts `count` varied events into the outbox, `minutes` apart from `start`, as a write's batch would. */
async function seedOutbox(workspaceId: string, count: number, start: number, minutes: number, tag: string) {
  for (let i = 0; i < count; i++) {
    const actor: AuditActor = { entityId: people[i % 3]!, credentialId: people[(i + 1) % 3]!, ipAddress: null, userAgent: null };
    const action = ACTIONS[i % ACTIONS.length]!;
    const event = auditEvent(
      actor,
      {
        workspaceId,
        action,
        resourceType: action.startsWith("api_key") ? "api_key" : action.startsWith("member") ? "member" : "workspace",
        resourceId: resources[i % 2]!,
        resourceName: `${tag}${i}`,
        metadata: { i },
      },
      // Every third event shares its millisecond with the one before: the tie-break on seq decides.
      new Date(start + Math.floor(i / 3) * 3 * minutes * 60_000 + (i % 3 === 2 ? 0 : (i % 3) * minutes * 60_000)).toISOString(),
    );
    await insertEvent(db, { ...event, phiAccessed: i % 5 === 0 });
  }
}

/**
 * A workspace whose trail is spread: part in its stores (two years: the events run over New Year's Eve),
 * the rest (interleaved in time) still in the outbox; and a reference store holding all of it in one table.
 */
async function spreadTrail() {
  const { owner, workspaceId } = await ownedWorkspace();
  const storage = testStorage();
  await seedOutbox(workspaceId, 24, Date.UTC(2025, 11, 31, 22), 10, "a");
  await forwardScope(storage, workspaceId);
  await seedOutbox(workspaceId, 21, Date.UTC(2025, 11, 31, 22, 5), 10, "b");
  // Read from the two years' stores themselves: a read of the trail would forward the outbox.
  const stored: AuditEventRow[] = [];
  for (const year of [2025, 2026]) stored.push(...(await auditStoreOf(storage, workspaceId, year).page({}, 1000, 0)).reverse());
  expect(new Set(stored.map((e) => yearOf(e.timestamp)))).toEqual(new Set([2025, 2026]));
  const pending = await db.select().from(auditEvents).where(eq(auditEvents.workspaceId, workspaceId)).orderBy(asc(auditEvents.seq));
  expect(stored.length).toBeGreaterThan(20);
  expect(pending.length).toBe(21);
  const reference = env.AUDIT_STORE.get(env.AUDIT_STORE.idFromName(`reference-${crypto.randomUUID()}`)) as unknown as AuditStoreClient;
  await reference.append([...stored, ...pending] as AuditEventRow[], "localhost/audit/reference/2026");
  return { token: owner.token, workspaceId, reference, total: stored.length + pending.length };
}

const wire = (rows: AuditEventRow[]) => rows.map(toAuditEventResponse);
/** An exported line without its `proof`: the event as list-audit-events shows it. */
const withoutProof = (line: unknown) => {
  const { proof: _proof, ...event } = line as { proof?: unknown };
  return event;
};

describe("right after a write", () => {
  it("moves the write's event from the outbox to the workspace's store", async () => {
    const { owner, workspaceId } = await ownedWorkspace();
    const key = await createApiKey(owner.token, workspaceId, { role: "viewer" });
    expect(key.status).toBe(201);
    expect(await outboxRows(workspaceId)).toBe(0);
    expect((await storedEvents(workspaceId)).map((e) => e.action)).toEqual(["workspace.created", "api_key.created"]);
  });
});

describe("every Audit API read over outbox + store equals the same query over one table", () => {
  const filters: [string, string, EventFilters][] = [
    ["everything", "", {}],
    ["a page deep in the list", "&limit=7&offset=9", {}],
    ["by action", "&action=api_key.rotated", { action: "api_key.rotated" }],
    ["by service", "&service=platform", { service: "platform" }],
    ["by actor", `&actor_entity_id=${people[1]}`, { actor_entity_id: people[1] }],
    ["by resource type", "&resource_type=member", { resource_type: "member" }],
    ["by resource", `&resource_id=${resources[0]}`, { resource_id: resources[0] }],
    [
      "by date range, across the new year",
      "&date_from=2025-12-31T23:30:00Z&date_to=2026-01-01T02:00:00%2B01:00",
      { date_from: "2025-12-31T23:30:00Z", date_to: "2026-01-01T02:00:00+01:00" },
    ],
    ["a page that starts in one year and ends in the other", "&limit=10&offset=12", {}],
  ];

  it.each(filters)("list-audit-events %s", async (_name, query, filter) => {
    const { token, workspaceId, reference } = await spreadTrail();
    const match = /limit=(\d+)&offset=(\d+)/.exec(query);
    const [limit, offset] = match ? [Number(match[1]), Number(match[2])] : [100, 0];
    const res = await call<AuditEventPage>("GET", `/v1/${workspaceId}/audit?limit=${limit}&offset=${offset}${match ? "" : query}`, {
      token,
    });
    expect(res.status, res.text).toBe(200);
    const expected = await reference.list(filter, limit, offset);
    expect(res.body.total).toBe(expected.total);
    expect(res.body.events).toEqual(wire(expected.rows));
    expect(res.body.events.length).toBeGreaterThan(0);
  });

  it("get-audit-summary, whole trail and a range", async () => {
    const { token, workspaceId, reference, total } = await spreadTrail();
    const summaryOf = async (filters: EventFilters) => {
      const { actors, services, ...counts } = await reference.summaryParts(filters);
      return { ...counts, unique_actors: actors.length, services_with_events: services.length };
    };
    const res = await call("GET", `/v1/${workspaceId}/audit/summary`, { token });
    expect(res.body).toEqual(await summaryOf({}));
    expect(res.body).toMatchObject({ total_events: total, unique_actors: 4, phi_access_events: 10 });
    const ranged = await call("GET", `/v1/${workspaceId}/audit/summary?date_from=2026-01-01T00:30:00Z`, { token });
    expect(ranged.body).toEqual(await summaryOf({ date_from: "2026-01-01T00:30:00Z" }));
  });

  it("get-entity-access-log, for an entity named only in the outbox's part too", async () => {
    const { token, workspaceId, reference } = await spreadTrail();
    for (const entity of [people[2]!, resources[1]!]) {
      const res = await call<AuditEventPage>("GET", `/v1/${workspaceId}/audit/entity/${entity}/access-log?limit=50`, { token });
      expect(res.status, res.text).toBe(200);
      const expected = await reference.list({ involving: entity }, 50, 0);
      expect(res.body.events).toEqual(wire(expected.rows));
      expect(res.body.total).toBe(expected.total);
    }
  });

  it("get-phi-access-report", async () => {
    const { token, workspaceId, reference } = await spreadTrail();
    const res = await call<AuditEventPage>("GET", `/v1/${workspaceId}/audit/phi-access?limit=50&entity_id=${resources[0]}`, { token });
    expect(res.status, res.text).toBe(200);
    const expected = await reference.list({ phi_only: true, resource_id: resources[0] }, 50, 0);
    expect(res.body.events).toEqual(wire(expected.rows));
    expect(res.body.total).toBeGreaterThan(0);
  });

  it("create-audit-export (the NDJSON file, oldest first)", async () => {
    const { token, workspaceId, reference } = await spreadTrail();
    const range = { date_from: "2025-12-31T00:00:00Z", date_to: "2026-01-02T00:00:00Z" };
    const created = await call<AuditExport>("POST", `/v1/${workspaceId}/audit/export`, { token, body: range });
    expect(created.status, created.text).toBe(200);
    const object = await env.AUDIT_EXPORTS.get(created.body.s3_key);
    const lines = (await object!.text())
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as unknown);
    expect(lines.slice(0, -1).map(withoutProof)).toEqual(wire((await reference.page(range, 1000, 0)).reverse()));
    expect(created.body.row_count).toBe(45);
  });
});

describe("under faults", () => {
  it("never fails a write when the store is down: the events wait in the outbox, reads answer 503, then every event once", async () => {
    const { owner, workspaceId } = await ownedWorkspace();
    const down = faultyAuditStore();
    const key = await createApiKey<CreatedApiKey>(owner.token, workspaceId, { role: "viewer" }, { env: { AUDIT_STORE: down.binding } });
    expect(key.status, key.text).toBe(201);
    const rotated = await call("POST", `/v1/${workspaceId}/api-keys/${key.body.key_id}/rotate`, {
      token: owner.token,
      body: { duration_days: 30 },
      env: { AUDIT_STORE: down.binding },
    });
    expect(rotated.status, rotated.text).toBe(200);
    expect(down.calls.append).toBeGreaterThanOrEqual(2);
    expect(await outboxRows(workspaceId)).toBe(2);

    const read = await call<ErrorBody>("GET", `/v1/${workspaceId}/audit`, { token: owner.token, env: { AUDIT_STORE: down.binding } });
    expect(read.status).toBe(503);
    expect(read.headers.get("retry-after")).not.toBeNull();
    expect(read.body.error_code).toBe("service_unavailable");

    const recovered = await call<AuditEventPage>("GET", `/v1/${workspaceId}/audit`, { token: owner.token });
    expect(recovered.body.events.map((e) => e.action).reverse()).toEqual(["workspace.created", "api_key.created", "api_key.rotated"]);
    expect(await outboxRows(workspaceId)).toBe(0);
  });

  it("stores each event once when the process dies after the store kept rows but before D1 deleted them", async () => {
    const { owner, workspaceId } = await ownedWorkspace();
    // The outbox's delete (in its batch with the directory's years) fails, as a crash right after the
    // store's answer would leave things.
    const crashing = interceptD1(async (sql, proceed) => {
      if (sql.includes('delete from "audit_events"')) throw new Error("D1_ERROR: Network connection lost.");
      return proceed();
    });
    for (const name of ["one", "two", "three"]) {
      const res = await createApiKey(owner.token, workspaceId, { role: "viewer", name }, { env: { DB: crashing } });
      expect(res.status, res.text).toBe(201);
    }
    expect(await outboxRows(workspaceId)).toBe(3);
    const thisYear = auditStoreOf(testStorage(), workspaceId, new Date().getUTCFullYear());
    expect(await thisYear.count({})).toBe(4);

    const trail = await call<AuditEventPage>("GET", `/v1/${workspaceId}/audit`, { token: owner.token });
    expect(trail.body.total).toBe(4);
    expect(new Set(trail.body.events.map((e) => e.id)).size).toBe(4);
    expect(await outboxRows(workspaceId)).toBe(0);
  });

  it("stores each event once when two sweeps run at the same moment", async () => {
    const workspaces = await Promise.all([ownedWorkspace(), ownedWorkspace(), ownedWorkspace()]);
    for (const [i, { workspaceId }] of workspaces.entries()) await seedOutbox(workspaceId, 30 + i, Date.UTC(2026, 5, 1), 1, "s");
    const runs = await Promise.all([runScheduled(env), runScheduled(env)]);
    expect(runs.every((run) => run?.forwardFailures === 0)).toBe(true);
    for (const [i, { workspaceId }] of workspaces.entries()) {
      expect(await outboxRows(workspaceId)).toBe(0);
      const events = await storedEvents(workspaceId);
      expect(events.length).toBe(31 + i);
      expect(new Set(events.map((e) => e.id)).size).toBe(events.length);
    }
  });

  it("keeps an undone write's event out of the store, even when a late forward brings it again", async () => {
    const { workspaceId } = await ownedWorkspace();
    await seedOutbox(workspaceId, 2, Date.UTC(2026, 5, 2), 1, "u");
    const [row] = await db.select().from(auditEvents).where(eq(auditEvents.workspaceId, workspaceId)).orderBy(asc(auditEvents.seq));
    const storage = testStorage();
    await forwardScope(storage, workspaceId);
    await retractEvent(storage, workspaceId, row!);
    await auditStoreOf(storage, workspaceId, yearOf(row!.timestamp)).append([row!], "localhost/audit/test/2026");
    const events = await storedEvents(workspaceId);
    expect(events.map((e) => e.id)).not.toContain(row!.id);
    // The workspace's creation (leaf 0), the other seeded event, and the log's own entry for the withdrawn
    // one, which names its leaf (1: it stays in the tree) and that leaf's hash.
    expect(events).toHaveLength(3);
    expect(events[2]).toMatchObject({ action: "audit.event_retracted", resourceType: "audit_event", resourceId: row!.id });
    expect(events[2]!.metadata).toMatchObject({ leaf_index: 1, leaf_hash: expect.stringMatching(/^[A-Za-z0-9+/]{43}=$/) });
  });

  it("moves only what the store acknowledged: a failing append leaves the outbox as it was", async () => {
    const { workspaceId } = await ownedWorkspace();
    await seedOutbox(workspaceId, 3, Date.UTC(2026, 5, 3), 1, "f");
    const down = faultyAuditStore(["append"]);
    await expect(forwardScope(testStorage({ AUDIT_STORE: down.binding }), workspaceId)).rejects.toMatchObject({
      code: "service_unavailable",
    });
    expect(await outboxRows(workspaceId)).toBe(3);
  });
});

describe("a D1 restore (or a rebuild of the outbox table) that hands out old seqs again", () => {
  /** What a Time Travel restore, or a migration that rebuilds the table, does to the outbox's AUTOINCREMENT. */
  const resetOutboxSequence = async () => {
    await forwardPendingEverywhere();
    await env.DB.exec("UPDATE sqlite_sequence SET seq = 0 WHERE name = 'audit_events';");
  };
  const forwardPendingEverywhere = async () => {
    const run = await runScheduled(env);
    expect(run?.forwardFailures).toBe(0);
  };

  it("keeps every event exactly once: the events written after the reset are not taken for repeats", async () => {
    const { owner, workspaceId } = await ownedWorkspace();
    for (const name of ["before-1", "before-2"]) expect((await createApiKey(owner.token, workspaceId, { name })).status).toBe(201);
    const before = await storedEvents(workspaceId);
    expect(before.length).toBe(3);

    await resetOutboxSequence();
    for (const name of ["after-1", "after-2", "after-3"]) expect((await createApiKey(owner.token, workspaceId, { name })).status).toBe(201);
    // The new events were numbered from 1 again in D1: the seqs the first ones had in the outbox.
    const trail = await call<AuditEventPage>("GET", `/v1/${workspaceId}/audit?limit=100`, { token: owner.token });
    expect(trail.status, trail.text).toBe(200);
    expect(trail.body.total).toBe(6);
    const names = trail.body.events.map((e) => e.resource_name).reverse();
    expect(names).toEqual([expect.any(String), "before-1", "before-2", "after-1", "after-2", "after-3"]);
    expect(new Set(trail.body.events.map((e) => e.id)).size).toBe(6);
    expect(await outboxRows(workspaceId)).toBe(0);
  });

  it("brings back nothing twice: outbox rows restored after they were forwarded are repeats, known by their id", async () => {
    const { workspaceId } = await ownedWorkspace();
    await seedOutbox(workspaceId, 4, Date.UTC(2026, 7, 1), 1, "r");
    const restored = await db.select().from(auditEvents).where(eq(auditEvents.workspaceId, workspaceId));
    await forwardScope(testStorage(), workspaceId);
    // The restore puts back the outbox as it was before the forward, with other seqs (as a rebuild would).
    for (const { seq: _, ...row } of restored) await insertEvent(db, row);
    await forwardScope(testStorage(), workspaceId);
    const events = await storedEvents(workspaceId);
    expect(events.length).toBe(5);
    expect(new Set(events.map((e) => e.id)).size).toBe(5);
  });

  it("fails loudly on a conflict other than a repeated id: 503, the rows stay in the outbox, an error is logged", async () => {
    const { workspaceId } = await ownedWorkspace();
    await seedOutbox(workspaceId, 2, Date.UTC(2026, 7, 2), 1, "c");
    const store = auditStoreOf(testStorage(), workspaceId, 2026);
    // A store that cannot take the rows (here: a constraint of its own that they break, as a corrupt row would).
    await runInStore(store, "CREATE TRIGGER refuse BEFORE INSERT ON audit_events BEGIN SELECT RAISE(ABORT, 'refused'); END;");
    const errors = vi.spyOn(console, "error").mockImplementation(() => {});
    await expect(forwardScope(testStorage(), workspaceId)).rejects.toMatchObject({ code: "service_unavailable" });
    expect(await outboxRows(workspaceId)).toBe(2);
    const logged = errors.mock.calls.map(([line]) => JSON.parse(String(line)));
    errors.mockRestore();
    expect(logged).toContainEqual(
      expect.objectContaining({ level: "error", message: "audit store did not take events; they stay in the outbox" }),
    );
    await runInStore(store, "DROP TRIGGER refuse;");
    expect(await forwardScope(testStorage(), workspaceId)).toBe(2);
  });
});

describe("the store's own total (kept by SQLite triggers, read for an unfiltered page)", () => {
  it("equals a count of its events after appends, repeated appends, a retraction and a prune", async () => {
    const { workspaceId } = await ownedWorkspace();
    await seedOutbox(workspaceId, 12, Date.UTC(2026, 6, 1), 60, "t");
    const rows = await db.select().from(auditEvents).where(eq(auditEvents.workspaceId, workspaceId)).orderBy(asc(auditEvents.seq));
    const storage = testStorage();
    await forwardScope(storage, workspaceId);
    const store = auditStoreOf(storage, workspaceId, 2026);
    // the kept total (stats, an unfiltered list) beside a real count (every event here is service `platform`)
    const totals = async () => {
      const [kept, listed, counted] = [
        (await store.stats()).events,
        (await store.list({}, 1, 0)).total,
        await store.count({ service: "platform" }),
      ];
      expect(kept).toBe(counted);
      expect(listed).toBe(counted);
      return counted;
    };
    expect(await totals()).toBe(13); // the seeded 12 and the workspace's creation
    await store.append(rows.slice(0, 3) as AuditEventRow[], "localhost/audit/test/2026");
    expect(await totals()).toBe(13);
    await retractEvent(storage, workspaceId, rows[0]!);
    expect(await totals()).toBe(13); // the event gone, the log's entry saying so come (timestamped now)
    const cutoff = rows[5]!.timestamp;
    const older = rows.slice(1).filter((row) => row.timestamp < cutoff).length;
    expect(older).toBeGreaterThan(0);
    const pruned = await store.prune({ cutoff, legalHold: false, policyVersion: 0, limit: 100 });
    expect(pruned.deleted).toBe(older);
    expect(pruned.remaining).toBe(13 - older);
    expect(await totals()).toBe(13 - older);
  });
});
