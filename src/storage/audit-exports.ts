/**
 * Audit exports as D1 records them (`audit_exports`: one row per NDJSON object in the region's R2 bucket):
 * how long one lives, how many unexpired ones a workspace may hold, where a long one stands, and their
 * deletion once expired. An export that finished (done or failed) more than EXPORT_RETENTION_DAYS ago is
 * expired: from then on it is neither listed, signed nor served, whether or not the hourly run has deleted
 * it yet (docs/decisions/0034-export-expiry-and-cleanup.md). One still being written does not expire
 * (docs/decisions/0041-exports-of-any-size.md).
 */
import { and, asc, between, count, desc, eq, getTableColumns, gte, inArray, isNull, lt, min, or, sql } from "drizzle-orm";
import type { ExportStatus } from "../core/domain";
import type { D1Client, Db, Storage } from "../core/env";
import { daysAfter } from "../core/time";
import { compiledSelect } from "./d1/compiled";
import { rowsWhere } from "./d1/conditional-insert";
import { type AuditExportRow, auditExports } from "./d1/schema";

export const EXPORT_RETENTION_DAYS = 7;

/**
 * Unexpired exports one workspace may hold at once: what one workspace can make a region store and clean
 * up is bounded by it, not by the write rate limit alone (60 writes per 10 s would allow 21,600 an hour).
 * A constant rather than a Worker var: the cleanup's per-run budget below is sized against it (one run
 * clears a hundred workspaces' whole allowance), and a region that raised it could outgrow its cleanup
 * with nothing to show it. An export covers any range, so a hundred a week is far beyond what an auditor
 * asks for.
 */
export const EXPORTS_PER_WORKSPACE = 100;

/** The statuses of an export still being written: one at a time per workspace. */
const UNFINISHED: ExportStatus[] = ["pending", "running"];

/** Exports that finished before this instant (ISO 8601, as `finished_at` is stored) are expired at `nowMs`. */
export const expiryCutoff = (nowMs: number) => daysAfter(nowMs, -EXPORT_RETENTION_DAYS);

/** When an export that finished at `finishedAt` expires. */
export const expiresAt = (finishedAt: string) => daysAfter(Date.parse(finishedAt), EXPORT_RETENTION_DAYS);

const unexpiredOf = (workspaceId: string, cutoff: string) =>
  and(eq(auditExports.workspaceId, workspaceId), or(isNull(auditExports.finishedAt), gte(auditExports.finishedAt, cutoff)));

/** The workspace's unexpired exports, newest first. */
export function listUnexpiredExports(db: Db, workspaceId: string, limit: number, nowMs = Date.now()) {
  return db
    .select()
    .from(auditExports)
    .where(unexpiredOf(workspaceId, expiryCutoff(nowMs)))
    .orderBy(desc(auditExports.seq))
    .limit(limit);
}

/** get-audit-export's read (polled while an export is written): its SQL built once (storage/d1/compiled.ts). */
const unexpiredExportQuery = compiledSelect(getTableColumns(auditExports), (select) =>
  select
    .from(auditExports)
    .where(
      and(
        eq(auditExports.workspaceId, sql.placeholder("workspaceId")),
        or(isNull(auditExports.finishedAt), gte(auditExports.finishedAt, sql.placeholder("cutoff"))),
        eq(auditExports.id, sql.placeholder("exportId")),
      ),
    ),
);

/** One unexpired export of the workspace, or undefined. */
export async function unexpiredExport(client: D1Client, workspaceId: string, exportId: string, nowMs = Date.now()) {
  const [row] = await unexpiredExportQuery.all(client, { workspaceId, exportId, cutoff: expiryCutoff(nowMs) });
  return row;
}

/** The workspace's export still being written, if any (at most one: insertExportIfRoom). */
export function unfinishedExport(db: Db, workspaceId: string) {
  return db
    .select()
    .from(auditExports)
    .where(and(eq(auditExports.workspaceId, workspaceId), inArray(auditExports.status, UNFINISHED)))
    .get();
}

/**
 * How many unexpired exports the workspace holds, and when the oldest of them will expire (null if it has
 * not finished yet).
 */
export async function heldExports(db: Db, workspaceId: string, nowMs = Date.now()): Promise<{ held: number; oldest: string | null }> {
  const row = await db
    .select({ held: count(), oldest: min(auditExports.finishedAt) })
    .from(auditExports)
    .where(unexpiredOf(workspaceId, expiryCutoff(nowMs)))
    .get();
  return { held: row?.held ?? 0, oldest: row?.oldest ?? null };
}

/**
 * The export's row, inserted only if its workspace holds fewer than EXPORTS_PER_WORKSPACE unexpired
 * exports when the statement runs (in its batch) and, for an export written by its workflow, none still
 * being written: two creates that both found room cannot both take the last place, nor start two long
 * exports at once. Returns the row it inserted; none when there was no room.
 */
export function insertExportIfRoom(db: Db, row: AuditExportRow) {
  const { seq: _, ...values } = row;
  const cutoff = expiryCutoff(Date.parse(row.createdAt));
  const held = sql`(select count(*) from ${auditExports} where ${unexpiredOf(row.workspaceId, cutoff)})`;
  const unfinished = sql`exists(select 1 from ${auditExports}
    where ${and(eq(auditExports.workspaceId, row.workspaceId), inArray(auditExports.status, UNFINISHED))})`;
  const room =
    row.status === "done" ? sql`${held} < ${EXPORTS_PER_WORKSPACE}` : sql`${held} < ${EXPORTS_PER_WORKSPACE} and not ${unfinished}`;
  return db
    .insert(auditExports)
    .select(rowsWhere(auditExports, values, room))
    .returning();
}

// --- a long export's progress (src/jobs/audit-export-workflow.ts) ------------------------------------------

const stillUnfinished = (exportId: string) => and(eq(auditExports.id, exportId), inArray(auditExports.status, UNFINISHED));

/** Records how far the export's workflow has written; none once the export has finished. */
export function recordExportProgress(db: Db, exportId: string, progress: { eventsWritten: number; size: number }) {
  return db
    .update(auditExports)
    .set({ status: "running", ...progress })
    .where(stillUnfinished(exportId))
    .returning({ id: auditExports.id });
}

/** Marks the export done: its object is complete, holding `rowCount` events in `size` bytes. */
export function recordExportDone(db: Db, exportId: string, done: { rowCount: number; size: number }, nowMs = Date.now()) {
  return db
    .update(auditExports)
    .set({
      status: "done",
      rowCount: done.rowCount,
      eventsWritten: done.rowCount,
      size: done.size,
      finishedAt: new Date(nowMs).toISOString(),
    })
    .where(stillUnfinished(exportId));
}

/** Marks the export failed, saying why; it then expires like a finished one. */
export function recordExportFailed(db: Db, exportId: string, failure: string, nowMs = Date.now()) {
  return db
    .update(auditExports)
    .set({ status: "failed", failure, finishedAt: new Date(nowMs).toISOString() })
    .where(stillUnfinished(exportId));
}

/**
 * Unfinished exports created before `before` (ISO 8601): the hourly run checks that their workflows run.
 * Pending ones first (a lost start waits behind no running export), then the oldest.
 */
export function unfinishedExportsBefore(db: Db, before: string, limit: number) {
  return db
    .select()
    .from(auditExports)
    .where(and(inArray(auditExports.status, UNFINISHED), lt(auditExports.createdAt, before)))
    .orderBy(sql`${auditExports.status} = 'pending' desc`, asc(auditExports.seq))
    .limit(limit);
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
        .select({ seq: auditExports.seq, finishedAt: auditExports.finishedAt, objectKey: auditExports.objectKey })
        .from(auditExports)
        .where(lt(auditExports.finishedAt, cutoff))
        .orderBy(asc(auditExports.finishedAt), asc(auditExports.seq))
        .limit(CLEANUP_ROUND_SIZE);
      if (expired.length === 0) break;
      await bucket.delete(expired.map((e) => e.objectKey));
      deleted += (await db.delete(auditExports).where(theRowsRead(expired as FinishedRow[]))).meta.changes;
      if (expired.length < CLEANUP_ROUND_SIZE) break;
    }
  } catch (err) {
    logger.warn("expired audit exports left for the next run", { deleted, cause: String(err) });
  }
  return deleted;
}

/**
 * Exactly the rows a round read, whatever ran meanwhile, in four bound values (D1 binds at most 100 a
 * statement, so not their 1,000 ids): every expired row up to the round's last in (finished_at, seq) order,
 * the order it read them in; no row can join them later, since an export finishes now, not a week ago. The
 * seq range they span lets SQLite walk the primary key over the round's rows rather than the finished_at
 * index over every expired row left.
 */
type FinishedRow = { seq: number; finishedAt: string };
function theRowsRead(rows: FinishedRow[]) {
  const seqs = rows.map((row) => row.seq);
  const last = rows[rows.length - 1] as (typeof rows)[number];
  return and(
    between(auditExports.seq, Math.min(...seqs), Math.max(...seqs)),
    sql`(${auditExports.finishedAt}, ${auditExports.seq}) <= (${last.finishedAt}, ${last.seq})`,
  );
}
