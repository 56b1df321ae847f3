/**
 * Audit exports as D1 records them (`audit_exports`: one row per NDJSON object in the region's R2 bucket):
 * how long one lives, how many unexpired ones a workspace may hold, and their deletion once expired. An
 * export created more than EXPORT_RETENTION_DAYS ago is expired: from then on it is neither listed, signed
 * nor served, whether or not the hourly run has deleted it yet (docs/decisions/0034-export-expiry-and-cleanup.md).
 */
import { and, asc, between, count, desc, eq, gte, lt, min, sql } from "drizzle-orm";
import type { Db, Storage } from "../core/env";
import { daysAfter } from "../core/time";
import { rowsWhere } from "./d1/conditional-insert";
import { type AuditExportRow, auditExports } from "./d1/schema";

export const EXPORT_RETENTION_DAYS = 7;

/**
 * Unexpired exports one workspace may hold at once: what one workspace can make a region store and clean
 * up is bounded by it, not by the write rate limit alone (60 writes per 10 s would allow 21,600 an hour).
 * A constant rather than a Worker var: the cleanup's per-run budget below is sized against it (one run
 * clears a hundred workspaces' whole allowance), and a region that raised it could outgrow its cleanup
 * with nothing to show it. An export covers up to 366 days, so a hundred a week is far beyond what an
 * auditor asks for.
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

// --- cleanup ------------------------------------------------------------------------------------------

/** Exports per round: R2's bulk delete takes at most 1,000 keys a call. */
const CLEANUP_ROUND_SIZE = 1000;

/**
 * Rounds per run. A round is three subrequests (the D1 read, the R2 delete, the D1 delete), so a run
 * spends at most 30 of the 1,000 D1 queries an invocation may make on the paid plan (the tighter of that
 * and Workers' own subrequest limit), beside the hundreds the run's other steps take (retention alone
 * makes about three per workspace, for up to 200). 10,000 exports an hour is a hundred workspaces' whole
 * allowance of EXPORTS_PER_WORKSPACE in every hourly run; what exceeds it waits for the next run, unlisted
 * and unserved meanwhile.
 */
const CLEANUP_ROUNDS = 10;

/** The most expired exports one run deletes. */
export const EXPORTS_DELETED_PER_RUN = CLEANUP_ROUNDS * CLEANUP_ROUND_SIZE;

/**
 * Deletes expired exports, objects first and rows last, in rounds of CLEANUP_ROUND_SIZE until none is
 * left or CLEANUP_ROUNDS are spent. A failing step ends the run's cleanup with a warning: the rows whose
 * objects may be gone stay (expired, so shown to no one), and a later run deletes both again (R2 deletes
 * a missing key without complaint). Two runs at once delete the same rows, each once. Returns how many
 * rows this run deleted.
 */
export async function deleteExpiredExports({ db, logger }: Storage, bucket: R2Bucket, nowMs = Date.now()): Promise<number> {
  const cutoff = expiryCutoff(nowMs);
  let deleted = 0;
  try {
    for (let round = 0; round < CLEANUP_ROUNDS; round++) {
      const expired = await db
        .select({ seq: auditExports.seq, createdAt: auditExports.createdAt, objectKey: auditExports.objectKey })
        .from(auditExports)
        .where(lt(auditExports.createdAt, cutoff))
        .orderBy(asc(auditExports.createdAt), asc(auditExports.seq))
        .limit(CLEANUP_ROUND_SIZE);
      if (expired.length === 0) break;
      await bucket.delete(expired.map((e) => e.objectKey));
      deleted += (await db.delete(auditExports).where(theRowsRead(expired))).meta.changes;
      if (expired.length < CLEANUP_ROUND_SIZE) break;
    }
  } catch (err) {
    logger.warn("expired audit exports left for the next run", { deleted, cause: String(err) });
  }
  return deleted;
}

/**
 * Exactly the rows a round read, whatever ran meanwhile, in four bound values (D1 binds at most 100 a
 * statement, so not their 1,000 ids): every expired row up to the round's last in (created_at, seq) order,
 * the order it read them in; no row can join them later, since a new export is created now, not a week
 * ago. The seq range they span lets SQLite walk the primary key over the round's rows rather than the
 * created_at index over every expired row left.
 */
function theRowsRead(rows: { seq: number; createdAt: string }[]) {
  const seqs = rows.map((row) => row.seq);
  const last = rows[rows.length - 1] as (typeof rows)[number];
  return and(
    between(auditExports.seq, Math.min(...seqs), Math.max(...seqs)),
    sql`(${auditExports.createdAt}, ${auditExports.seq}) <= (${last.createdAt}, ${last.seq})`,
  );
}
