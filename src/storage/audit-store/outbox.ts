import { and, asc, between, desc, eq, isNull, max, sql } from "drizzle-orm";
import type { Region } from "../../core/domain";
import type { Storage } from "../../core/env";
import { unavailableOnFailure } from "../../core/errors";
import { compiledSelect } from "../d1/compiled";
import { auditEvents, auditStoreYears } from "../d1/schema";
import type { AuditStore } from "./object";
import type { AuditEventRow, AuditScope } from "./queries";

/**
 * The way from the D1 outbox to the audit stores (docs/guides/audit.md, "Where events are kept"). Every
 * audited write puts its event in the outbox in its own batch; the rows are then forwarded to their
 * scope's store of their year (right after the write, before any read of the trail, and by the scheduled
 * sweep) and deleted from D1 only once the store has them. A store call that fails leaves the rows where they were, so a failure
 * anywhere between the two is repaired by the next forward, and the store's unique event id makes a
 * repeat harmless: every event is stored exactly once. The outbox's seq orders the queue in D1 only; a
 * store numbers its events itself, so a D1 restore or table rebuild that hands out old seqs again loses
 * nothing (docs/guides/audit.md, "What a restore does").
 */

/** Where each region's stores are created: the Durable Objects location nearest the region. */
const LOCATION: Record<Region, DurableObjectLocationHint> = {
  "us-east-1": "enam",
  "eu-central-1": "weur",
  "ap-southeast-2": "oc",
  "ca-central-1": "enam",
};

/** The operator log's scope name: no workspace id (a uuid) can be it. */
const OPERATOR_LOG = "operator-log";

/** How the directory (`audit_store_years`) and the objects' names say a scope. */
export const scopeName = (scope: AuditScope) => scope ?? OPERATOR_LOG;

/**
 * The origin line of a store's log, which its checkpoints begin with: `<host of PUBLIC_URL>/audit/<workspace id
 * or operator-log>/<year>`. The store keeps the one its first append gave it.
 */
export const logOrigin = ({ auditLogHost }: Storage, scope: AuditScope, year: number) =>
  `${auditLogHost}/audit/${scopeName(scope)}/${year}`;

/** The calendar year (UTC) of an event: which of its scope's stores keeps it. */
export const yearOf = (timestamp: string) => Number(timestamp.slice(0, 4));

/** Rows per forward: one D1 read, one store call, one D1 delete. */
const FORWARD_CHUNK = 500;
/** A store's size past which every forward logs a warning: 80% of a Durable Object's 10 GB. */
const STORE_WARNING_BYTES = 8 * 1000 ** 3;

type StoreMethods = Pick<
  AuditStore,
  | "append"
  | "retract"
  | "list"
  | "page"
  | "count"
  | "summaryParts"
  | "involves"
  | "setLegalHold"
  | "prune"
  | "stats"
  | "checkpoint"
  | "checkpointHistory"
  | "proof"
  | "consistency"
  | "provenEventsAfter"
>;

/**
 * A store's methods as its stub calls them. RPC's own result types give up on `metadata`'s `unknown`
 * values (they may not be serialisable, as far as the types know); the rows are plain JSON, sent as they are.
 */
export type AuditStoreClient = {
  [M in keyof StoreMethods]: (...args: Parameters<StoreMethods[M]>) => Promise<Awaited<ReturnType<StoreMethods[M]>>>;
};

/** The store of one year of a scope's trail: the Durable Object named `<workspace id>:<year>`. */
export function auditStoreOf({ auditStore, region }: Storage, scope: AuditScope, year: number): AuditStoreClient {
  const id = auditStore.idFromName(`${scopeName(scope)}:${year}`);
  return auditStore.get(id, { locationHint: LOCATION[region] }) as unknown as AuditStoreClient;
}

const inScope = (scope: AuditScope) => (scope === null ? isNull(auditEvents.workspaceId) : eq(auditEvents.workspaceId, scope));

/**
 * One outbox row of the scope (`scope`: a workspace id, or null for the operator log), if it has any:
 * whether a forward has work (for a caller's D1 batch). `IS` matches null as `=` matches the rest, and
 * SQLite answers it from the scope's index as it would `=`.
 */
const pendingFields = { seq: auditEvents.seq };
export const pendingQuery = compiledSelect(pendingFields, (select) =>
  select
    .from(auditEvents)
    .where(sql`${auditEvents.workspaceId} is ${sql.placeholder("scope")}`)
    .limit(1),
);

/** A store call whose failure is a 503 (retry): the events are safe in the outbox meanwhile. */
export const storeCall = <T>(call: Promise<T>) =>
  unavailableOnFailure(() => call, "The audit store is temporarily unavailable; retry shortly.");

/**
 * Moves every outbox row of the scope to its stores (the year of each row's timestamp), oldest first, a
 * chunk at a time: the chunk is stored, then, in one D1 batch, its years are entered in the directory and
 * its rows deleted by their seq range (a scope's rows in that range are exactly the chunk, as D1 assigns seq
 * in commit order). Returns how many rows it moved; throws (503) if a store cannot be reached.
 */
export async function forwardScope(storage: Storage, scope: AuditScope): Promise<number> {
  const { db } = storage;
  let moved = 0;
  for (;;) {
    const rows = await db.select().from(auditEvents).where(inScope(scope)).orderBy(asc(auditEvents.seq)).limit(FORWARD_CHUNK);
    if (rows.length === 0) return moved;
    const byYear = new Map<number, AuditEventRow[]>();
    for (const row of rows) {
      const year = yearOf(row.timestamp);
      const same = byYear.get(year);
      if (same) same.push(row);
      else byYear.set(year, [row]);
    }
    await Promise.all(
      [...byYear].map(async ([year, yearRows]) => {
        const { bytes } = await storeCall(auditStoreOf(storage, scope, year).append(yearRows, logOrigin(storage, scope, year))).catch(
          (err: unknown) => {
            storage.logger.error("audit store did not take events; they stay in the outbox", {
              scope: scopeName(scope),
              year,
              events: yearRows.length,
              cause: String(err instanceof Error && err.cause !== undefined ? err.cause : err),
            });
            throw err;
          },
        );
        if (bytes > STORE_WARNING_BYTES) storage.logger.warn("audit store nearly full", { scope: scopeName(scope), year, bytes });
      }),
    );
    await db.batch([
      db
        .insert(auditStoreYears)
        .values([...byYear.keys()].map((year) => ({ scope: scopeName(scope), year })))
        .onConflictDoNothing(),
      db.delete(auditEvents).where(and(inScope(scope), between(auditEvents.seq, rows[0]!.seq, rows[rows.length - 1]!.seq))),
    ]);
    moved += rows.length;
    if (rows.length < FORWARD_CHUNK) return moved;
  }
}

/**
 * Forwards the outbox of up to `maxScopes` scopes that have rows in it, those with the newest rows first
 * (after a write: its own). A scope whose store fails is logged and left for the next forward; the others
 * go on. Returns the rows moved and the number of scopes that failed.
 */
export async function forwardPending(storage: Storage, maxScopes: number): Promise<{ moved: number; failed: number }> {
  const scopes = await storage.db
    .select({ scope: auditEvents.workspaceId })
    .from(auditEvents)
    .groupBy(auditEvents.workspaceId)
    .orderBy(desc(max(auditEvents.seq)))
    .limit(maxScopes);
  let moved = 0;
  let failed = 0;
  for (const { scope } of scopes) {
    try {
      moved += await forwardScope(storage, scope);
    } catch (err) {
      failed++;
      storage.logger.warn("audit events left in the outbox", { scope: scope ?? "operator-log", cause: String(err) });
    }
  }
  return { moved, failed };
}

/**
 * After an undo batch deleted a write's event from the outbox: the event may already have been forwarded
 * (a concurrent forward or sweep), so the store removes it and refuses it from then on.
 */
export async function retractEvent(storage: Storage, scope: AuditScope, event: { id: string; timestamp: string }): Promise<void> {
  await storeCall(auditStoreOf(storage, scope, yearOf(event.timestamp)).retract([event.id]));
}
