import { and, asc, eq, gte, lte, sql } from "drizzle-orm";
import type { Storage } from "../../core/env";
import { ApiError } from "../../core/errors";
import { compiledSelect } from "../d1/compiled";
import { auditStoreYears } from "../d1/schema";
import { type Checked, type InclusionProof, isIntegrityFailure } from "./log";
import type { CheckpointView, ConsistencyAnswer, EventProof, PruneRequest } from "./object";
import { type AuditStoreClient, auditStoreOf, forwardScope, logOrigin, pendingQuery, scopeName, storeCall, yearOf } from "./outbox";
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

/** What a store's own checks found, as the API answers it (500 `audit_integrity_failure`), logged first. */
function checked<T>(storage: Storage, scope: AuditScope, year: number, result: Checked<T>): T {
  if (!isIntegrityFailure(result)) return result;
  storage.logger.error("audit log integrity check failed", { scope: scopeName(scope), year, integrity: result.integrity });
  throw new ApiError(
    "audit_integrity_failure",
    `The audit log of ${year} failed its own integrity check; it gives no proof until an operator has restored it.`,
  );
}

/** One year's part of an export: its log's checkpoint, signed as the export is made, and its events with their proofs. */
export type ProvenYear = { checkpoint: CheckpointView; pages: AsyncGenerator<ProvenEvent[]> };
export type ProvenEvent = { row: AuditEventRow; proof: InclusionProof };
/** A year of the trail an export reads, and the checkpoint (signed when the export began) its proofs lead to. */
export type SignedYear = { year: number; checkpoint: CheckpointView };

/**
 * The years the filter's range reaches, oldest first, each with a checkpoint of its log signed now (years
 * whose log is empty are left out): what an export proves its events against, fixed when it begins.
 */
export async function signedYears(storage: Storage, scope: AuditScope, filters: EventFilters): Promise<SignedYear[]> {
  const years: SignedYear[] = [];
  for (const { year, store } of await yearStores(storage, scope, filters)) {
    const checkpoint = checked(storage, scope, year, await storeCall(store.checkpoint(logOrigin(storage, scope, year))));
    if (checkpoint) years.push({ year, checkpoint });
  }
  return years;
}

/**
 * Up to `limit` of the year's events the filter selects, oldest first, after `after` (keyset on timestamp
 * and seq), each with its proof against the year's checkpoint: fewer than `limit` when the year has no more.
 */
export async function provenPage(
  storage: Storage,
  scope: AuditScope,
  { year, checkpoint }: SignedYear,
  filters: EventFilters,
  after: EventCursor | null,
  limit: number,
): Promise<ProvenEvent[]> {
  const store = auditStoreOf(storage, scope, year);
  return checked(storage, scope, year, await storeCall(store.provenEventsAfter(filters, after, limit, checkpoint.size)));
}

/** Where the page after `page` begins. */
const cursorAfter = (page: ProvenEvent[]): EventCursor => {
  const last = page[page.length - 1]!.row;
  return { timestamp: last.timestamp, seq: last.seq };
};

/**
 * The filter's events, oldest first, year after year: for each year with events, a checkpoint signed now
 * and the year's events it covers, `pageRows` at a time, each with its proof.
 */
export async function* provenTrail(
  storage: Storage,
  scope: AuditScope,
  filters: EventFilters,
  pageRows: number,
): AsyncGenerator<ProvenYear> {
  for (const signed of await signedYears(storage, scope, filters)) {
    async function* pages() {
      let after: EventCursor | null = null;
      for (;;) {
        const page = await provenPage(storage, scope, signed, filters, after, pageRows);
        if (page.length > 0) yield page;
        if (page.length < pageRows) break;
        after = cursorAfter(page);
      }
    }
    yield { checkpoint: signed.checkpoint, pages: pages() };
  }
}

/** The latest checkpoint of each of the scope's logs (signed now where the log grew), newest year first. */
export async function latestCheckpoints(storage: Storage, scope: AuditScope): Promise<CheckpointView[]> {
  const years = (await yearStores(storage, scope)).reverse();
  const views = await storeCall(Promise.all(years.map(({ year, store }) => store.checkpoint(logOrigin(storage, scope, year)))));
  return views.flatMap((view, i) => {
    const checkpoint = checked(storage, scope, years[i]!.year, view);
    return checkpoint ? [checkpoint] : [];
  });
}

/** The scope's store of one year, if the directory has it (the outbox forwarded first, as for every read). */
async function storeOfYear(storage: Storage, scope: AuditScope, year: number): Promise<AuditStoreClient | undefined> {
  const years = await yearStores(storage, scope, { date_from: `${year}-01-01T00:00:00Z`, date_to: `${year}-12-31T23:59:59.999Z` });
  return years.find((entry) => entry.year === year)?.store;
}

/** One year's kept checkpoints, newest first; none for a year the scope has no store of. */
export async function checkpointHistory(storage: Storage, scope: AuditScope, year: number, limit: number, offset: number) {
  const store = await storeOfYear(storage, scope, year);
  if (!store) return { checkpoints: [], total: 0 };
  return storeCall(store.checkpointHistory(limit, offset));
}

/** The event's inclusion proof, from whichever of the scope's stores holds it; null if none does. */
export async function eventProof(storage: Storage, scope: AuditScope, eventId: string): Promise<EventProof | null> {
  const years = await yearStores(storage, scope);
  const proofs = await storeCall(Promise.all(years.map(({ year, store }) => store.proof(eventId, logOrigin(storage, scope, year)))));
  for (const [i, proof] of proofs.entries()) {
    const found = checked(storage, scope, years[i]!.year, proof);
    if (found) return found;
  }
  return null;
}

/** A consistency proof of one year's log; null for a year the scope has no store of. */
export async function logConsistency(
  storage: Storage,
  scope: AuditScope,
  year: number,
  from: number,
  to: number | null,
): Promise<ConsistencyAnswer | null> {
  const store = await storeOfYear(storage, scope, year);
  if (!store) return null;
  return checked(storage, scope, year, await storeCall(store.consistency(from, to, logOrigin(storage, scope, year))));
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
