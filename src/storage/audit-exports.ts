/**
 * Audit exports as D1 records them (`audit_exports`: one row per NDJSON object in the region's R2 bucket):
 * how long one lives and how many unexpired ones a workspace may hold. An export created more than
 * EXPORT_RETENTION_DAYS ago is expired: from then on it is neither listed, signed nor served, whether or
 * not the hourly run has deleted it yet (docs/decisions/0034-export-expiry-and-cleanup.md).
 */
import { and, count, desc, eq, gte, min, sql } from "drizzle-orm";
import type { Db } from "../core/env";
import { daysAfter } from "../core/time";
import { rowsWhere } from "./d1/conditional-insert";
import { type AuditExportRow, auditExports } from "./d1/schema";

export const EXPORT_RETENTION_DAYS = 7;

/**
 * Unexpired exports one workspace may hold at once: what one workspace can make a region store and clean
 * up is bounded by it, not by the write rate limit (60 writes per 10 s would allow 21,600 an hour). An
 * export covers up to 366 days, so a hundred a week is far beyond what an auditor asks for.
 */
export const EXPORTS_PER_WORKSPACE = 100;

/** Exports created before this instant (ISO 8601, as `created_at` is stored) are expired at `nowMs`. */
export const expiryCutoff = (nowMs: number) => daysAfter(nowMs, -EXPORT_RETENTION_DAYS);

/** When an export created at `createdAt` expires. */
export const expiresAt = (createdAt: string) => daysAfter(Date.parse(createdAt), EXPORT_RETENTION_DAYS);

const unexpiredOf = (workspaceId: string, cutoff: string) =>
  and(eq(auditExports.workspaceId, workspaceId), gte(auditExports.createdAt, cutoff));

/** The workspace's unexpired exports, newest first. */
export function listUnexpiredExports(db: Db, workspaceId: string, limit: number, nowMs = Date.now()) {
  return db
    .select()
    .from(auditExports)
    .where(unexpiredOf(workspaceId, expiryCutoff(nowMs)))
    .orderBy(desc(auditExports.seq))
    .limit(limit);
}

/** How many unexpired exports the workspace holds, and when the oldest of them was created. */
export async function heldExports(db: Db, workspaceId: string, nowMs = Date.now()): Promise<{ held: number; oldest: string | null }> {
  const row = await db
    .select({ held: count(), oldest: min(auditExports.createdAt) })
    .from(auditExports)
    .where(unexpiredOf(workspaceId, expiryCutoff(nowMs)))
    .get();
  return { held: row?.held ?? 0, oldest: row?.oldest ?? null };
}

/**
 * The export's row, inserted only if its workspace holds fewer than EXPORTS_PER_WORKSPACE unexpired
 * exports when the statement runs (in its batch): two creates that both found room before writing their
 * objects cannot both take the last place. Returns the row it inserted; none when there was no room.
 */
export function insertExportIfRoom(db: Db, row: AuditExportRow) {
  const { seq: _, ...values } = row;
  const cutoff = expiryCutoff(Date.parse(row.createdAt));
  const held = sql`(select count(*) from ${auditExports} where ${unexpiredOf(row.workspaceId, cutoff)})`;
  return db
    .insert(auditExports)
    .select(rowsWhere(auditExports, values, sql`${held} < ${EXPORTS_PER_WORKSPACE}`))
    .returning();
}
