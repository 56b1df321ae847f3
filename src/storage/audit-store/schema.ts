import { customType, index, integer, primaryKey, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";
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

/**
 * Bytes as Durable Object SQLite keeps a BLOB (an ArrayBuffer each way); drizzle's own blob modes want
 * Node's Buffer, which this Worker does not load.
 */
const bytes = customType<{ data: Uint8Array; driverData: ArrayBuffer }>({
  dataType: () => "blob",
  toDriver: (value) => value.slice().buffer,
  fromDriver: (value) => new Uint8Array(value),
});

/**
 * The store's verifiable log (docs/guides/audit.md, "Proving the trail"): its Merkle tree as tiles
 * (src/security/transparency/tiled-tree.ts). Tile `(level, idx)` holds up to 16 concatenated 32-byte hashes
 * of the tree's level `4 * level`. Leaf i is the event of seq i + 1: the store numbers its events itself,
 * in append order, and every appended event is a leaf.
 */
export const treeTiles = sqliteTable(
  "tree_tiles",
  {
    level: integer("level").notNull(),
    idx: integer("idx").notNull(),
    hashes: bytes("hashes").notNull(),
  },
  (t) => [primaryKey({ columns: [t.level, t.idx] })],
);

/** Every signed checkpoint of the log, kept: the note as signed (C2SP tlog-checkpoint in a signed-note). */
export const checkpoints = sqliteTable("checkpoints", {
  size: integer("size").primaryKey(),
  note: text("note").notNull(),
  signedAt: text("signed_at").notNull(),
});

/**
 * The log's one row: its origin (the checkpoint's first line, fixed at its first append), its size (leaves),
 * and how many leaves' events are gone by design: pruned by retention, or retracted (the write undone, an
 * `audit.event_retracted` entry of its own recording it). Events held + pruned + retracted = size, always:
 * the store checks it before every proof it gives.
 */
export const logState = sqliteTable("log_state", {
  id: integer("id").primaryKey(),
  origin: text("origin"),
  size: integer("size").notNull(),
  pruned: integer("pruned").notNull(),
  retracted: integer("retracted").notNull(),
});
