/**
 * Audit exports as D1 records them (`audit_exports`: one row per NDJSON object in the region's R2 bucket)
 * and how long one lives. An export created more than EXPORT_RETENTION_DAYS ago is expired: from then on
 * it is neither listed, signed nor served, whether or not the hourly run has deleted it yet
 * (docs/decisions/0034-export-expiry-and-cleanup.md).
 */
import { and, desc, eq, gte } from "drizzle-orm";
import type { Db } from "../core/env";
import { daysAfter } from "../core/time";
import { auditExports } from "./d1/schema";

export const EXPORT_RETENTION_DAYS = 7;

/** Exports created before this instant (ISO 8601, as `created_at` is stored) are expired at `nowMs`. */
export const expiryCutoff = (nowMs: number) => daysAfter(nowMs, -EXPORT_RETENTION_DAYS);

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
