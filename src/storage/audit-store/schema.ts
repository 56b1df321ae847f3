import { index, integer, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";
import { auditEventColumns } from "../audit-events/columns";

/**
 * One year of a workspace's audit trail (or of the region's operator log), inside its Durable Object. Lists read newest
 * first by (timestamp, seq); each filter has an index that ends in timestamp, so a filtered page and its
 * count never scan other filters' rows. SQLite appends the rowid (seq) to every index, which makes
 * (…, timestamp) indexes serve the tie-break on seq too. Migrations: drizzle/audit-store/ (drizzle-kit),
 * embedded by scripts/audit-store-migrations.mjs.
 */
export const auditEvents = sqliteTable("audit_events", auditEventColumns(), (t) => [
  uniqueIndex("audit_events_id_unique").on(t.id),
  index("audit_events_time_idx").on(t.timestamp),
  index("audit_events_action_time_idx").on(t.action, t.timestamp),
  index("audit_events_actor_time_idx").on(t.actorEntityId, t.timestamp),
  index("audit_events_credential_time_idx").on(t.actorCredentialId, t.timestamp),
  index("audit_events_resource_type_time_idx").on(t.resourceType, t.timestamp),
  index("audit_events_resource_time_idx").on(t.resourceId, t.timestamp),
  index("audit_events_service_time_idx").on(t.service, t.timestamp),
  index("audit_events_phi_time_idx").on(t.phiAccessed, t.timestamp),
]);

/**
 * Events whose write was undone after the outbox row may already have been forwarded: never stored
 * (again). Kept as long as the store: a handful of ids, one per undone write.
 */
export const retractedEvents = sqliteTable("retracted_events", { id: text("id").primaryKey() });

/**
 * How many events the store holds: one row, kept by SQLite triggers on every insert and delete of
 * `audit_events` (migration 0002), so an unfiltered page's `total` is one row read at any size of the
 * trail instead of a count of every event (docs/performance.md).
 */
export const eventTotals = sqliteTable("event_totals", { id: integer("id").primaryKey(), events: integer("events").notNull() });
