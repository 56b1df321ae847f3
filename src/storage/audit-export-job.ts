/**
 * The steps of an export too large for one request (docs/decisions/0041-exports-of-any-size.md), which
 * src/jobs/audit-export-workflow.ts runs as a Cloudflare Workflow: plan (sign each year's checkpoint, open
 * the multipart upload), then one part at a time, then complete. Each step takes what the steps before it
 * returned and returns what the next needs, and nothing else carries over: a step that fails or is killed
 * anywhere is run again from the same input and writes the same part again (R2 replaces a part uploaded
 * under the same number), so the file never has a line twice or misses one. Every part but the last has the
 * plan's size exactly, as R2 requires: a line that does not fit ends the part, and its rest (the tail) opens
 * the next one.
 */

import type { Storage } from "../core/env";
import { ApiError } from "../core/errors";
import { checkpointsLine, eventLine, MIN_PART_BYTES, NDJSON, r2 } from "./audit-export-file";
import { recordExportDone, recordExportFailed, recordExportProgress } from "./audit-exports";
import type { EventCursor, EventFilters } from "./audit-store/queries";
import { provenPage, type SignedYear, signedYears } from "./audit-store/trail";

/** What the workflow is started with: the export (its row is in D1 already), and what it selects. */
export type ExportJob = { workspaceId: string; exportId: string; objectKey: string; filters: EventFilters; rowCount: number };

/** Fixed when the export begins: the multipart upload, its part size, and the years with their signed checkpoints. */
export type ExportPlan = { uploadId: string; partBytes: number; years: SignedYear[] };

/** Where the next part begins. Plain JSON: a workflow keeps it as a step's result. */
export type ExportCursor = {
  /** The next part's number, from 1. */
  part: number;
  /** The plan's year being read (its index); past the last, the events are all written. */
  year: number;
  /** The last event written of that year. */
  after: EventCursor | null;
  /** Base64 of the bytes of a line the last part had no room for: the next part begins with them. */
  tail: string;
  /** Events and bytes in the parts uploaded so far. */
  written: number;
  bytes: number;
  /** The plan's years (indices) with an event in the file: their checkpoints make the last line. */
  covering: number[];
  /** Whether the last line has been written (into a part, or into the tail). */
  closed: boolean;
};

export const FIRST_CURSOR: ExportCursor = { part: 1, year: 0, after: null, tail: "", written: 0, bytes: 0, covering: [], closed: false };

/** The file is whole in its uploaded parts: the upload can be completed. */
export const isWritten = (cursor: ExportCursor) => cursor.closed && cursor.tail === "";

/**
 * Parts are planned at most PLANNED_PARTS, with room for lines longer than estimated up to MAX_PARTS: under
 * both R2's 10,000 parts of an upload and the 10,000 steps of a workflow instance (plan, complete and fail
 * are steps too), so running out says so in the export's failure rather than as an engine's error.
 */
const MAX_PARTS = 9_990;
const PLANNED_PARTS = 9_000;
/** A line's bytes as a planning figure: an event (about 500 bytes) with its proof (about 30 hashes of a large year's log). */
const PLANNED_LINE_BYTES = 2048;
const MIB = 1024 * 1024;
/** The largest part: a step holds one part in memory, and an isolate has 128 MB. */
export const MAX_PART_BYTES = 32 * MIB;
/** The most events one export may hold: PLANNED_PARTS of the largest part, at the planned line size. */
export const MAX_EXPORT_EVENTS = Math.floor((PLANNED_PARTS * MAX_PART_BYTES) / PLANNED_LINE_BYTES);
/** Events per store call: at most a page of this many, fewer when the part has less room left. */
const PAGE_ROWS = 1000;

/** The part size for an export of `rowCount` events: 5 MiB, or more (whole MiB) when it would need more than PLANNED_PARTS parts. */
export function partBytesFor(rowCount: number): number {
  const needed = Math.ceil((rowCount * PLANNED_LINE_BYTES) / PLANNED_PARTS / MIB) * MIB;
  return Math.min(MAX_PART_BYTES, Math.max(MIN_PART_BYTES, needed));
}

/** Why the export cannot go on, in words for its owner: recorded as its failure, and not retried. */
export class ExportFailure extends Error {}

/** The export's row no longer waits for its workflow (it failed meanwhile, or expired): the workflow stops. */
export class ExportAbandoned extends Error {
  constructor(exportId: string) {
    super(`audit export ${exportId} is no longer being written`);
  }
}

/**
 * The first step: signs a checkpoint of each year's log (every line's proof leads to one of them, however
 * long the export takes), opens the multipart upload and marks the export running. Run again, it opens
 * another upload (R2 aborts the unused one after 7 days) and signs again.
 */
export async function planExport(storage: Storage, bucket: R2Bucket, job: ExportJob): Promise<ExportPlan> {
  const years = await signedYears(storage, job.workspaceId, job.filters);
  const upload = await r2(bucket.createMultipartUpload(job.objectKey, { httpMetadata: NDJSON }));
  if ((await recordExportProgress(storage.db, job.exportId, { eventsWritten: 0, size: 0 })).length === 0) {
    await r2(upload.abort());
    throw new ExportAbandoned(job.exportId);
  }
  return { uploadId: upload.uploadId, partBytes: partBytesFor(job.rowCount), years };
}

/**
 * One part: the tail, then lines from the cursor on until the part is full (the line that overflows it
 * leaves its rest as the next tail) or the file ends; uploaded as part `cursor.part`, and the export's
 * progress recorded. Returns the uploaded part and where the next one begins.
 */
export async function writeExportPart(
  storage: Storage,
  bucket: R2Bucket,
  job: ExportJob,
  plan: ExportPlan,
  cursor: ExportCursor,
): Promise<{ part: R2UploadedPart; next: ExportCursor }> {
  if (cursor.part > MAX_PARTS) {
    throw new ExportFailure(`The export outgrew ${MAX_PARTS} parts of ${plan.partBytes} bytes; export a narrower range.`);
  }
  const buffer = new Uint8Array(plan.partBytes);
  const encoder = new TextEncoder();
  let filled = 0;
  const next: ExportCursor = { ...cursor, tail: "", covering: [...cursor.covering] };
  /** Copies the bytes in; false when only their start fitted (the rest becomes the tail). */
  const put = (bytes: Uint8Array): boolean => {
    const n = Math.min(bytes.length, buffer.length - filled);
    buffer.set(bytes.subarray(0, n), filled);
    filled += n;
    if (n === bytes.length) return true;
    next.tail = toBase64(bytes.subarray(n));
    return false;
  };

  let full = !put(fromBase64(cursor.tail));
  while (!full && !next.closed) {
    const signed = plan.years[next.year];
    if (!signed) {
      next.closed = true;
      full = !put(encoder.encode(checkpointsLine(next.covering.map((i) => plan.years[i]!.checkpoint.checkpoint))));
      break;
    }
    const limit = rowsToAsk(buffer.length - filled, next.written, cursor.bytes + filled);
    const page = await provenPage(storage, job.workspaceId, signed, job.filters, next.after, limit);
    for (const event of page) {
      full = !put(encoder.encode(eventLine(event, signed.checkpoint.log)));
      next.after = { timestamp: event.row.timestamp, seq: event.row.seq };
      next.written += 1;
      if (!next.covering.includes(next.year)) next.covering.push(next.year);
      if (full) break;
    }
    if (!full && page.length < limit) {
      next.year += 1;
      next.after = null;
    }
  }

  next.bytes = cursor.bytes + filled;
  next.part = cursor.part + 1;
  const upload = bucket.resumeMultipartUpload(job.objectKey, plan.uploadId);
  const uploaded = await r2(upload.uploadPart(cursor.part, filled === buffer.length ? buffer : buffer.subarray(0, filled)));
  const recorded = await recordExportProgress(storage.db, job.exportId, { eventsWritten: next.written, size: next.bytes });
  if (recorded.length === 0) throw new ExportAbandoned(job.exportId);
  return { part: { partNumber: uploaded.partNumber, etag: uploaded.etag }, next };
}

/**
 * Rows to ask the store for: enough to fill the room left at the average line so far (the first page
 * assumes 1 KiB lines), and one more, so a part rarely reads a page it mostly leaves for the next.
 */
function rowsToAsk(room: number, written: number, bytes: number): number {
  const average = written > 0 ? bytes / written : 1024;
  return Math.min(PAGE_ROWS, Math.max(16, Math.ceil(room / average) + 1));
}

/**
 * The last step: completes the upload and marks the export done. Run again after R2 completed it (the
 * step was killed before it returned), the upload is gone but the object is there, whole: that is done too.
 */
export async function completeExport(
  storage: Storage,
  bucket: R2Bucket,
  job: ExportJob,
  plan: ExportPlan,
  parts: R2UploadedPart[],
  cursor: ExportCursor,
): Promise<void> {
  try {
    await bucket.resumeMultipartUpload(job.objectKey, plan.uploadId).complete(parts);
  } catch (err) {
    const object = await r2(bucket.head(job.objectKey));
    if (object?.size !== cursor.bytes) {
      throw new ApiError("service_unavailable", "Export storage is temporarily unavailable; retry shortly.", { cause: err });
    }
  }
  await recordExportDone(storage.db, job.exportId, { rowCount: cursor.written, size: cursor.bytes });
}

/**
 * Marks the export failed (saying why), aborts its upload if it opened one (the parts go with it), and
 * deletes its object, which exists if R2 completed the upload before a later step failed: a failed export
 * has no file, whatever link to it is still within its hour.
 */
export async function failExport(storage: Storage, bucket: R2Bucket, job: ExportJob, uploadId: string | null, failure: string) {
  await recordExportFailed(storage.db, job.exportId, failure);
  if (uploadId) {
    // An upload R2 completed, or aborted on an earlier try of this step, is gone: nothing left to abort.
    await bucket
      .resumeMultipartUpload(job.objectKey, uploadId)
      .abort()
      .catch(() => undefined);
  }
  await r2(bucket.delete(job.objectKey));
}

function toBase64(bytes: Uint8Array): string {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary);
}

function fromBase64(text: string): Uint8Array {
  return Uint8Array.from(atob(text), (char) => char.charCodeAt(0));
}
