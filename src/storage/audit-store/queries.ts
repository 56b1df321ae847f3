import { and, asc, count, countDistinct, desc, eq, gt, gte, inArray, lt, lte, or, type SQL, sql } from "drizzle-orm";
import type { DrizzleSqliteDODatabase } from "drizzle-orm/durable-sqlite";
import { auditEvents } from "./schema";

/**
 * The Audit API's reads, over one audit store's database (synchronous: an object's SQLite answers in
 * process, so a page and its total are read with nothing in between). Filters use the query's (and the
 * export request's) own names; dates are ISO-8601 instants, compared after normalising to UTC.
 */
export type EventFilters = {
  service?: string | null;
  action?: string | null;
  actor_entity_id?: string | null;
  resource_type?: string | null;
  resource_id?: string | null;
  /** Events whose resource or actor (person or credential) is this entity. */
  involving?: string | null;
  phi_only?: boolean;
  date_from?: string | null;
  date_to?: string | null;
};

/** A workspace's trail, or (null) the region's operator log. */
export type AuditScope = string | null;

export type AuditEventRow = typeof auditEvents.$inferSelect;
type StoreDb = DrizzleSqliteDODatabase;

const instant = (value: string) => new Date(value).toISOString();

/** No condition on the workspace: every event of a store is its scope's (src/storage/audit-store/outbox.ts). */
function eventsWhere(f: EventFilters): SQL | undefined {
  const e = auditEvents;
  return and(
    f.service != null ? eq(e.service, f.service) : undefined,
    f.action != null ? eq(e.action, f.action) : undefined,
    f.actor_entity_id != null ? eq(e.actorEntityId, f.actor_entity_id.toLowerCase()) : undefined,
    f.resource_type != null ? eq(e.resourceType, f.resource_type) : undefined,
    f.resource_id != null ? eq(e.resourceId, f.resource_id.toLowerCase()) : undefined,
    f.involving != null
      ? or(eq(e.resourceId, f.involving), eq(e.actorEntityId, f.involving), eq(e.actorCredentialId, f.involving))
      : undefined,
    f.phi_only ? eq(e.phiAccessed, true) : undefined,
    f.date_from != null ? gte(e.timestamp, instant(f.date_from)) : undefined,
    f.date_to != null ? lte(e.timestamp, instant(f.date_to)) : undefined,
  );
}

const newestFirst = [desc(auditEvents.timestamp), desc(auditEvents.seq)];

export type EventsPage = { rows: AuditEventRow[]; total: number };

/**
 * A page of events, newest first, and the total over all pages. The page's rows are picked by their seq
 * alone first: that subquery reads only the filter's index, so a deep offset skips index entries, not rows.
 */
export function listEvents(db: StoreDb, filters: EventFilters, limit: number, offset: number): EventsPage {
  const where = eventsWhere(filters);
  const pageSeqs = db
    .select({ seq: auditEvents.seq })
    .from(auditEvents)
    .where(where)
    .orderBy(...newestFirst)
    .limit(limit)
    .offset(offset);
  const rows = db
    .select()
    .from(auditEvents)
    .where(inArray(auditEvents.seq, pageSeqs))
    .orderBy(...newestFirst)
    .all();
  return { rows, total: countEvents(db, filters) };
}

export function countEvents(db: StoreDb, filters: EventFilters): number {
  return db.select({ total: count() }).from(auditEvents).where(eventsWhere(filters)).get()?.total ?? 0;
}

export type AuditSummary = { total_events: number; phi_access_events: number; unique_actors: number; services_with_events: number };

export function summarize(db: StoreDb, filters: EventFilters): AuditSummary {
  const row = db
    .select({
      total_events: count(),
      phi_access_events: sql<number>`coalesce(sum(${auditEvents.phiAccessed}), 0)`,
      unique_actors: countDistinct(auditEvents.actorEntityId),
      services_with_events: countDistinct(auditEvents.service),
    })
    .from(auditEvents)
    .where(eventsWhere(filters))
    .get();
  return row ?? { total_events: 0, phi_access_events: 0, unique_actors: 0, services_with_events: 0 };
}

/** Whether any event names the entity (as resource, person or credential). */
export function involves(db: StoreDb, entityId: string): boolean {
  return (
    db
      .select({ seq: auditEvents.seq })
      .from(auditEvents)
      .where(eventsWhere({ involving: entityId }))
      .limit(1)
      .get() !== undefined
  );
}

/** Where an oldest-first walk stopped: the last row's (timestamp, seq). */
export type EventCursor = { timestamp: string; seq: number };

/** The filter's events after `after`, oldest first (keyset on timestamp and seq): an export's pages. */
export function eventsAfter(db: StoreDb, filters: EventFilters, after: EventCursor | null, limit: number) {
  return db
    .select()
    .from(auditEvents)
    .where(
      and(
        eventsWhere(filters),
        after
          ? or(gt(auditEvents.timestamp, after.timestamp), and(eq(auditEvents.timestamp, after.timestamp), gt(auditEvents.seq, after.seq)))
          : undefined,
      ),
    )
    .orderBy(asc(auditEvents.timestamp), asc(auditEvents.seq))
    .limit(limit)
    .all();
}

/** Deletes at most `limit` of the oldest events older than `cutoff`; returns how many. */
export function deleteOlderThan(db: StoreDb, cutoff: string, limit: number): number {
  const oldest = db
    .select({ seq: auditEvents.seq })
    .from(auditEvents)
    .where(lt(auditEvents.timestamp, cutoff))
    .orderBy(asc(auditEvents.timestamp))
    .limit(limit);
  return db.delete(auditEvents).where(inArray(auditEvents.seq, oldest)).returning({ seq: auditEvents.seq }).all().length;
}
