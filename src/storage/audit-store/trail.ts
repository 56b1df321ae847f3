import { and, asc, eq, gte, lte, sql } from "drizzle-orm";
import type { Storage } from "../../core/env";
import { compiledSelect } from "../d1/compiled";
import { auditStoreYears } from "../d1/schema";
import type { PruneRequest } from "./object";
import { type AuditStoreClient, auditStoreOf, forwardScope, pendingQuery, scopeName, storeCall, yearOf } from "./outbox";
import type { AuditEventRow, AuditScope, EventCursor, EventFilters, EventsPage } from "./queries";

/**
 * A scope's trail across its yearly stores (docs/guides/audit.md, "Where events are kept"): one Durable
 * Object per calendar year (UTC), so no workspace's trail meets one object's 10 GB however long it is
 * kept. The years a scope has are in D1's directory (`audit_store_years`, written by each forward). Years
 * partition the trail by timestamp, so newest-first is the years newest first, each newest first; most
 * reads touch one year, and then make exactly one store call. Every read (and prune) first moves what the
 * outbox still holds for the scope, so it sees every committed event.
 */

type YearStore = { year: number; store: AuditStoreClient };

/** The scope's years in D1's directory within [fromYear, toYear], oldest first. */
const yearFields = { year: auditStoreYears.year };
const directoryQuery = compiledSelect(yearFields, (select) =>
  select
    .from(auditStoreYears)
    .where(
      and(
        eq(auditStoreYears.scope, sql.placeholder("scope")),
        gte(auditStoreYears.year, sql.placeholder("fromYear")),
        lte(auditStoreYears.year, sql.placeholder("toYear")),
      ),
    )
    .orderBy(asc(auditStoreYears.year)),
);

/**
 * The scope's stores, oldest year first; with a date range, only the years it reaches. Whether the outbox
 * holds rows of the scope is asked in the same D1 batch as the directory: nearly always it holds none,
 * and then that is the only D1 round trip; otherwise they are forwarded and the directory read again.
 */
async function yearStores(storage: Storage, scope: AuditScope, range: Pick<EventFilters, "date_from" | "date_to"> = {}) {
  const { d1 } = storage;
  const years = {
    scope: scopeName(scope),
    fromYear: range.date_from != null ? yearOf(new Date(range.date_from).toISOString()) : 0,
    toYear: range.date_to != null ? yearOf(new Date(range.date_to).toISOString()) : Number.MAX_SAFE_INTEGER,
  };
  const [pending, directory] = await d1.batch([pendingQuery.statement(d1, { scope }), directoryQuery.statement(d1, years)]);
  let rows = directoryQuery.rows(directory!);
  if (pendingQuery.rows(pending!).length > 0) {
    await forwardScope(storage, scope);
    rows = await directoryQuery.all(d1, years);
  }
  return rows.map(({ year }): YearStore => ({ year, store: auditStoreOf(storage, scope, year) }));
}

/** A page of the trail, newest first, and the total over all pages. */
export async function listTrail(
  storage: Storage,
  scope: AuditScope,
  filters: EventFilters,
  limit: number,
  offset: number,
): Promise<EventsPage> {
  const years = (await yearStores(storage, scope, filters)).reverse();
  if (years.length === 0) return { rows: [], total: 0 };
  if (years.length === 1) return storeCall(years[0]!.store.list(filters, limit, offset));
  const counts = await storeCall(Promise.all(years.map(({ store }) => store.count(filters))));
  const rows: AuditEventRow[] = [];
  let skip = offset;
  for (const [i, { store }] of years.entries()) {
    if (rows.length >= limit) break;
    const count = counts[i]!;
    if (skip >= count) {
      skip -= count;
      continue;
    }
    rows.push(...(await storeCall(store.page(filters, limit - rows.length, skip))));
    skip = 0;
  }
  return { rows, total: counts.reduce((sum, n) => sum + n, 0) };
}

export async function countTrail(storage: Storage, scope: AuditScope, filters: EventFilters): Promise<number> {
  const years = await yearStores(storage, scope, filters);
  const counts = await storeCall(Promise.all(years.map(({ store }) => store.count(filters))));
  return counts.reduce((sum, n) => sum + n, 0);
}

export async function summarizeTrail(storage: Storage, scope: AuditScope, filters: EventFilters) {
  const years = await yearStores(storage, scope, filters);
  const parts = await storeCall(Promise.all(years.map(({ store }) => store.summaryParts(filters))));
  return {
    total_events: parts.reduce((sum, p) => sum + p.total_events, 0),
    phi_access_events: parts.reduce((sum, p) => sum + p.phi_access_events, 0),
    unique_actors: new Set(parts.flatMap((p) => p.actors)).size,
    services_with_events: new Set(parts.flatMap((p) => p.services)).size,
  };
}

/** Whether any event of the trail names the entity. */
export async function trailInvolves(storage: Storage, scope: AuditScope, entityId: string): Promise<boolean> {
  const years = await yearStores(storage, scope);
  return (await storeCall(Promise.all(years.map(({ store }) => store.involves(entityId))))).some(Boolean);
}

/** The filter's events, oldest first, `pageRows` at a time (keyset on timestamp and seq, year after year). */
export async function* trailPages(storage: Storage, scope: AuditScope, filters: EventFilters, pageRows: number) {
  for (const { store } of await yearStores(storage, scope, filters)) {
    let after: EventCursor | null = null;
    for (;;) {
      const rows: AuditEventRow[] = await storeCall(store.eventsAfter(filters, after, pageRows));
      if (rows.length > 0) yield rows;
      if (rows.length < pageRows) break;
      const last = rows[rows.length - 1]!;
      after = { timestamp: last.timestamp, seq: last.seq };
    }
  }
}

/**
 * Deletes up to `limit` events older than `cutoff`, oldest years first, unless under legal hold. A past
 * year left empty leaves the directory (its object holds nothing; a late forward would enter it again).
 */
export async function pruneTrail(storage: Storage, scope: AuditScope, request: PruneRequest): Promise<{ deleted: number; held: boolean }> {
  let deleted = 0;
  for (const { year, store } of await yearStores(storage, scope, { date_to: request.cutoff })) {
    const result = await store.prune({ ...request, limit: request.limit - deleted });
    if (result.held) return { deleted, held: true };
    deleted += result.deleted;
    if (result.remaining === 0 && year < yearOf(request.cutoff)) {
      await storage.db.delete(auditStoreYears).where(and(eq(auditStoreYears.scope, scopeName(scope)), eq(auditStoreYears.year, year)));
    }
    if (deleted >= request.limit) break;
  }
  return { deleted, held: false };
}

/**
 * Tells each of the scope's stores of a legal hold (placed or lifted), so no prune under way passes it:
 * those of the directory, and this year's even before the directory names it (a forward creates the store
 * before it enters the year). Throws if a store cannot be told.
 */
export async function setTrailHold(storage: Storage, scope: AuditScope, held: boolean, version: number): Promise<void> {
  const years = new Set((await yearStores(storage, scope)).map(({ year }) => year));
  years.add(new Date().getUTCFullYear());
  await storeCall(Promise.all([...years].map((year) => auditStoreOf(storage, scope, year).setLegalHold(held, version))));
}
