import { integer, text } from "drizzle-orm/sqlite-core";

/**
 * The columns of an audit event, wherever it is kept: the D1 outbox (src/storage/d1/schema.ts) and the
 * workspace's audit store (src/storage/audit-store/schema.ts). One definition, so a row moves from one to
 * the other unchanged, `seq` included: D1 assigns it (AUTOINCREMENT, never reused, commit order), and the
 * store orders by (timestamp, seq) exactly as the outbox would.
 */
export const auditEventColumns = () => ({
  seq: integer("seq").primaryKey({ autoIncrement: true }),
  id: text("id").notNull(),
  /** null: the region's operator log (identity writes on the admin surface). */
  workspaceId: text("workspace_id"),
  service: text("service").notNull(),
  action: text("action").notNull(),
  actorEntityId: text("actor_entity_id"),
  actorCredentialId: text("actor_credential_id"),
  resourceType: text("resource_type").notNull(),
  resourceId: text("resource_id"),
  resourceName: text("resource_name"),
  metadata: text("metadata", { mode: "json" }).$type<Record<string, unknown>>(),
  ipAddress: text("ip_address"),
  userAgent: text("user_agent"),
  phiAccessed: integer("phi_accessed", { mode: "boolean" }).notNull().default(false),
  timestamp: text("timestamp").notNull(),
});
