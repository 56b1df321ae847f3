import { DurableObject } from "cloudflare:workers";
import { eq } from "drizzle-orm";
import { type DrizzleSqliteDODatabase, drizzle } from "drizzle-orm/durable-sqlite";
import { migrate } from "drizzle-orm/durable-sqlite/migrator";
import type { Bindings } from "../../core/env";
import migrations from "./migrations";
import {
  type AuditEventRow,
  countEvents,
  deleteOlderThan,
  type EventCursor,
  type EventFilters,
  type EventsPage,
  eventsAfter,
  involves,
  listEvents,
  pageOfEvents,
  type SummaryParts,
  summaryParts,
} from "./queries";
import { auditEvents, retractedEvents } from "./schema";

/**
 * The legal hold as the store last heard of it, with the policy's `version` (a counter in D1, one more on
 * every change: no machine's clock orders holds). Stores from before it hold an ISO timestamp there.
 */
type HoldState = { held: boolean; version: number | string };
const HOLD_KEY = "legal_hold";

export type PruneRequest = { cutoff: string; legalHold: boolean; policyVersion: number; limit: number };
/** What a prune deleted, whether a legal hold stopped it, and how many events the store still holds. */
export type PruneResult = { deleted: number; held: boolean; remaining: number };

/**
 * One year of a workspace's audit trail (or of the region's operator log): a SQLite-backed Durable Object
 * named `<workspace id>:<year>` (src/storage/audit-store/trail.ts), created in the workspace's region
 * (docs/guides/audit.md, "Where events are kept"). Events arrive from the D1 outbox (`append`, idempotent
 * by event id; the store numbers them itself) and are read by the Audit API's queries.
 * Each method runs alone (an object handles one event at a time, and SQLite here answers synchronously),
 * so a page and its count, or an append's rows, are one consistent step.
 */
export class AuditStore extends DurableObject<Bindings> {
  readonly #db: DrizzleSqliteDODatabase;

  constructor(ctx: DurableObjectState, env: Bindings) {
    super(ctx, env);
    this.#db = drizzle(ctx.storage);
    void ctx.blockConcurrencyWhile(() => migrate(this.#db, migrations));
  }

  /**
   * Stores the rows not stored yet, in the order given, and never one whose write was undone. A repeat is
   * known by its event id alone (rows a concurrent forwarder or a retry sent change nothing). Each row gets
   * the store's own next seq: the outbox's seq is D1's, which a restore or a table rebuild in D1 may hand out
   * again, and a store keyed by it dropped new events as repeats of old ones. Any other failure throws and
   * stores none of the rows (the forward answers 503 and the rows stay in the outbox). Returns how many were
   * new, and the database's size after.
   */
  append(rows: AuditEventRow[]): { stored: number; bytes: number } {
    const stored = this.ctx.storage.transactionSync(() => {
      let added = 0;
      for (const { seq: _outboxSeq, ...event } of rows) {
        if (this.#db.select().from(retractedEvents).where(eq(retractedEvents.id, event.id)).get()) continue;
        const inserted = this.#db
          .insert(auditEvents)
          .values(event)
          .onConflictDoNothing({ target: auditEvents.id })
          .returning({ seq: auditEvents.seq })
          .all();
        added += inserted.length;
      }
      return added;
    });
    return { stored, bytes: this.ctx.storage.sql.databaseSize };
  }

  /** Removes events whose write was undone, and keeps them out for good (a late forward of one is ignored). */
  retract(ids: string[]): void {
    this.ctx.storage.transactionSync(() => {
      for (const id of ids) {
        this.#db.insert(retractedEvents).values({ id }).onConflictDoNothing().run();
        this.#db.delete(auditEvents).where(eq(auditEvents.id, id)).run();
      }
    });
  }

  list(filters: EventFilters, limit: number, offset: number): EventsPage {
    return listEvents(this.#db, filters, limit, offset);
  }

  count(filters: EventFilters): number {
    return countEvents(this.#db, filters);
  }

  page(filters: EventFilters, limit: number, offset: number): AuditEventRow[] {
    return pageOfEvents(this.#db, filters, limit, offset);
  }

  summaryParts(filters: EventFilters): SummaryParts {
    return summaryParts(this.#db, filters);
  }

  involves(entityId: string): boolean {
    return involves(this.#db, entityId);
  }

  eventsAfter(filters: EventFilters, after: EventCursor | null, limit: number): AuditEventRow[] {
    return eventsAfter(this.#db, filters, after, limit);
  }

  /** Records a policy change's legal hold (see #adoptHold), so a prune already under way cannot pass it. */
  async setLegalHold(held: boolean, version: number): Promise<void> {
    await this.#adoptHold({ held, version });
  }

  /**
   * Deletes up to `limit` events older than `cutoff`, unless the workspace is under legal hold: as the
   * prune's reading of the policy says, or as the store was told. Returns how many it deleted.
   */
  async prune({ cutoff, legalHold, policyVersion, limit }: PruneRequest): Promise<PruneResult> {
    const held = await this.#adoptHold({ held: legalHold, version: policyVersion });
    const deleted = held ? 0 : deleteOlderThan(this.#db, cutoff, limit);
    return { deleted, held, remaining: countEvents(this.#db, {}) };
  }

  /** What the store holds: its events and the bytes of its database (for capacity figures and operators). */
  stats(): { events: number; bytes: number } {
    return { events: countEvents(this.#db, {}), bytes: this.ctx.storage.sql.databaseSize };
  }

  /**
   * Whether the workspace is held, given what a prune or a policy change offers. Monotone where it matters:
   * "held" from either side stops deletion (an offered hold is kept unless the store knows a newer version);
   * only a lift needs ordering, and it is taken only from a version newer than the one the store knows.
   */
  async #adoptHold(offered: { held: boolean; version: number }): Promise<boolean> {
    const known = await this.ctx.storage.get<HoldState>(HOLD_KEY);
    // A version from before the counter (a timestamp) ranks as 0: no lift read from an older policy passes it.
    const knownVersion = typeof known?.version === "number" ? known.version : 0;
    const newer = known === undefined || offered.version > knownVersion;
    if (offered.held) {
      if (newer || (offered.version === knownVersion && !known?.held)) await this.ctx.storage.put(HOLD_KEY, offered);
      return true;
    }
    if (newer) await this.ctx.storage.put(HOLD_KEY, offered);
    return newer ? false : (known?.held ?? false);
  }
}
