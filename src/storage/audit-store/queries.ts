import { and, asc, count, desc, eq, gt, gte, inArray, isNotNull, lt, lte, or, type SQL, sql } from "drizzle-orm";
import type { DrizzleSqliteDODatabase } from "drizzle-orm/durable-sqlite";
import { auditEvents, eventTotals } from "./schema";

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

/** A page of events, newest first, and the total over all pages. */
export function listEvents(db: StoreDb, filters: EventFilters, limit: number, offset: number): EventsPage {
  return { rows: pageOfEvents(db, filters, limit, offset), total: countEvents(db, filters) };
}

/**
 * A page of events, newest first. Its rows are picked by their seq alone first: that subquery reads only
 * the filter's index, so a deep offset skips index entries, not rows.
 */
export function pageOfEvents(db: StoreDb, filters: EventFilters, limit: number, offset: number): AuditEventRow[] {
  const where = eventsWhere(filters);
  const pageSeqs = db
    .select({ seq: auditEvents.seq })
    .from(auditEvents)
    .where(where)
    .orderBy(...newestFirst)
    .limit(limit)
    .offset(offset);
  return db
    .select()
    .from(auditEvents)
    .where(inArray(auditEvents.seq, pageSeqs))
    .orderBy(...newestFirst)
    .all();
}

/** The filter's events; with no filter, the store's own total (kept by triggers: one row, at any size). */
export function countEvents(db: StoreDb, filters: EventFilters): number {
  const where = eventsWhere(filters);
  if (where === undefined) return db.select({ events: eventTotals.events }).from(eventTotals).get()?.events ?? 0;
  return db.select({ total: count() }).from(auditEvents).where(where).get()?.total ?? 0;
}

/**
 * The parts of get-audit-summary one store gives: counts add up across a trail's yearly stores, distinct
 * people and services are merged (src/storage/audit-store/trail.ts).
 */
export type SummaryParts = { total_events: number; phi_access_events: number; actors: string[]; services: string[] };

export function summaryParts(db: StoreDb, filters: EventFilters): SummaryParts {
  const where = eventsWhere(filters);
  const totals = db
    .select({ total_events: count(), phi_access_events: sql<number>`coalesce(sum(${auditEvents.phiAccessed}), 0)` })
    .from(auditEvents)
    .where(where)
    .get();
  const actors = db
    .selectDistinct({ id: auditEvents.actorEntityId })
    .from(auditEvents)
    .where(and(where, isNotNull(auditEvents.actorEntityId)))
    .all();
  const services = db.selectDistinct({ name: auditEvents.service }).from(auditEvents).where(where).all();
  return {
    total_events: totals?.total_events ?? 0,
    phi_access_events: totals?.phi_access_events ?? 0,
    actors: actors.map((a) => a.id as string),
    services: services.map((s) => s.name),
  };
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

/**
 * The filter's events after `after`, oldest first (keyset on timestamp and seq): an export's pages. With
 * `maxSeq`, only events up to it (those a checkpoint of that many leaves covers). The cursor's timestamp
 * replaces `date_from` as the lower bound: SQLite starts its index range at one lower bound, and starting
 * at `date_from` it would walk every entry from there to the cursor, each page slower than the one before
 * (a million-event export's pages took 0.1 s each by its end).
 */
export function eventsAfter(db: StoreDb, filters: EventFilters, after: EventCursor | null, limit: number, maxSeq?: number) {
  const from = after && (filters.date_from == null || after.timestamp > instant(filters.date_from)) ? after.timestamp : filters.date_from;
  return db
    .select()
    .from(auditEvents)
    .where(
      and(
        eventsWhere({ ...filters, date_from: from }),
        after
          ? or(gt(auditEvents.timestamp, after.timestamp), and(eq(auditEvents.timestamp, after.timestamp), gt(auditEvents.seq, after.seq)))
          : undefined,
        maxSeq !== undefined ? lte(auditEvents.seq, maxSeq) : undefined,
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
