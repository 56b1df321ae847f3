import { type SQL, sql } from "drizzle-orm";
import type { Bindings, Storage } from "../../core/env";
import { ApiError, validationError } from "../../core/errors";
import { bestEffort } from "../../core/logger";
import { auditSigner } from "../../security/audit-keys";
import { signObjectKey } from "../../security/signed-url";
import { type AuditActor, auditEvent, eventRecorded, insertEventIfChanged } from "../../storage/audit-events/record";
import { checkpointsLine, eventLine, MIN_PART_BYTES, ObjectWriter, r2 } from "../../storage/audit-export-file";
import { type ExportJob, MAX_EXPORT_EVENTS } from "../../storage/audit-export-job";
import {
  EXPORT_RETENTION_DAYS,
  EXPORTS_PER_WORKSPACE,
  expiresAt,
  expiryCutoff,
  heldExports,
  insertExportIfRoom,
  listUnexpiredExports,
  recordExportFailed,
  unexpiredExport,
  unfinishedExport,
  unfinishedExportsBefore,
} from "../../storage/audit-exports";
import type { AuditScope, EventFilters } from "../../storage/audit-store/queries";
import {
  checkpointHistory,
  countTrail,
  latestCheckpoints,
  listTrail,
  logConsistency,
  eventProof as proofOfEvent,
  provenTrail,
  summarizeTrail,
  trailInvolves,
} from "../../storage/audit-store/trail";
import { type AuditExportRow, apiKeys, memberships } from "../../storage/d1/schema";
import { type BatchAnswer, NO_BATCH_ANSWER } from "../../storage/idempotency-records";
import { type AuditEventResponse, type AuditExportRequest, type OperatorAuditEvent, toAuditEventResponse } from "./schemas";

type EventsPage<Event> = { events: Event[]; total: number; limit: number; offset: number; has_more: boolean; next_offset: number | null };

/** A page of events, newest first, and the total over all pages (read by the store in one step, so they agree). */
export function listEvents(
  storage: Storage,
  scope: string,
  filters: EventFilters,
  limit: number,
  offset: number,
): Promise<EventsPage<AuditEventResponse>>;
export function listEvents(
  storage: Storage,
  scope: null,
  filters: EventFilters,
  limit: number,
  offset: number,
): Promise<EventsPage<OperatorAuditEvent>>;
export async function listEvents(
  storage: Storage,
  scope: AuditScope,
  filters: EventFilters,
  limit: number,
  offset: number,
): Promise<EventsPage<AuditEventResponse | OperatorAuditEvent>> {
  const { rows, total } = await listTrail(storage, scope, filters, limit, offset);
  const hasMore = offset + rows.length < total;
  return {
    events: rows.map(toAuditEventResponse),
    total,
    limit,
    offset,
    has_more: hasMore,
    next_offset: hasMore ? offset + rows.length : null,
  };
}

export async function summarize(storage: Storage, workspaceId: string, filters: EventFilters) {
  return summarizeTrail(storage, workspaceId, filters);
}

/** The workspace itself, one of its API keys, one of its members, or anything its trail names. */
export async function isKnownEntity(storage: Storage, workspaceId: string, entityId: string): Promise<boolean> {
  if (entityId === workspaceId) return true;
  const exists = (query: SQL) => sql`exists(${query})`;
  const row = await storage.db
    .select({
      known: sql<number>`${exists(sql`select 1 from ${apiKeys}
          where ${apiKeys.workspaceId} = ${workspaceId} and ${apiKeys.id} = ${entityId}`)}
        or ${exists(sql`select 1 from ${memberships}
          where ${memberships.workspaceId} = ${workspaceId} and ${memberships.identityId} = ${entityId}`)}`,
    })
    .from(sql`(select 1)`)
    .get();
  if (row?.known) return true;
  return trailInvolves(storage, workspaceId, entityId);
}

// --- exports -----------------------------------------------------------------------------------------

/** How long a download link stays valid. */
export const DOWNLOAD_URL_TTL_SECONDS = 3600;
/** R2 multipart parts of an export written within its request: every part but the last has this size. */
export const EXPORT_PART_BYTES = MIN_PART_BYTES;
/** Events per store call while exporting (about 0.5 MB). */
const EXPORT_PAGE_ROWS = 1000;

/** Every export of a workspace lives under its prefix: `audit-exports/<workspace_id>/<export_id>.ndjson`. */
export const exportObjectKey = (workspaceId: string, exportId: string) => `audit-exports/${workspaceId}/${exportId}.ndjson`;

/** `<base>/downloads/<object key>?expires=…&signature=…`, valid for DOWNLOAD_URL_TTL_SECONDS. */
export async function downloadUrl(base: string, secret: string, objectKey: string, nowMs = Date.now()): Promise<string> {
  const expires = Math.floor(nowMs / 1000) + DOWNLOAD_URL_TTL_SECONDS;
  const signature = await signObjectKey(secret, objectKey, expires);
  return `${base.replace(/\/$/, "")}/downloads/${objectKey}?expires=${expires}&signature=${signature}`;
}

function checkExportRange(request: AuditExportRequest) {
  if (Date.parse(request.date_from) > Date.parse(request.date_to)) {
    throw validationError([
      { loc: ["body", "date_to"], msg: "date_to must not be before date_from", type: "value_error", input: request.date_to },
    ]);
  }
}

/**
 * The 403 for a workspace that holds EXPORTS_PER_WORKSPACE unexpired exports: the limit, and when room
 * frees (the oldest finished expires; `oldest` is null if none has finished, or it expired meanwhile).
 */
function exportQuotaExceeded(oldest: string | null): ApiError {
  const frees = oldest ? `room frees at ${expiresAt(oldest)}, when the oldest expires` : "room frees as the oldest expire";
  return new ApiError(
    "quota_exceeded",
    `This workspace holds ${EXPORTS_PER_WORKSPACE} unexpired audit exports, the most it may hold; ${frees} (an export ` +
      `expires ${EXPORT_RETENTION_DAYS} days after it finished).`,
  );
}

/** The 409 for a second long export while one is written: which, and how far it is. */
function exportInProgress(running: AuditExportRow): ApiError {
  return new ApiError(
    "export_in_progress",
    `Audit export ${running.id} of this workspace is still being written (${progressOf(running)}% done); a workspace writes ` +
      "one export too large for one request at a time. Create this one once list-audit-exports shows it done or failed.",
  );
}

/** How far an export is, 0 to 100: 100 only once done (a running one may hold a few more events than were counted). */
export function progressOf(row: AuditExportRow): number {
  if (row.status === "done") return 100;
  if (row.rowCount === 0) return 0;
  return Math.min(99, Math.floor((row.eventsWritten * 100) / row.rowCount));
}

/**
 * Where exports go: the region's bucket, its workflow (for those too large for one request) and that size,
 * and how to run work after the answer (the request's waitUntil): the workflow's start is not waited for.
 */
export type ExportTarget = {
  bucket: R2Bucket;
  workflow: Workflow | undefined;
  syncMaxEvents: number;
  afterAnswer: (work: Promise<unknown>) => void;
};

/**
 * Creates an export of the matching events, oldest first, each with its proof. Up to `syncMaxEvents` it is
 * written within this request and returned done; beyond, its row is recorded pending and its workflow
 * started (src/jobs/audit-export-workflow.ts), and it is returned as it will be. Either way the row, its
 * `audit.export_created` event and the stored answer are one D1 batch. Room is counted first, before any
 * work; the batch's conditional insert counts again, against creates that ran meanwhile.
 */
export async function createExport(
  storage: Storage,
  target: ExportTarget,
  workspaceId: string,
  request: AuditExportRequest,
  actor: AuditActor,
  answer: BatchAnswer<AuditExportRow> = NO_BATCH_ANSWER,
): Promise<AuditExportRow> {
  checkExportRange(request);
  const room = await heldExports(storage.db, workspaceId);
  if (room.held >= EXPORTS_PER_WORKSPACE) throw exportQuotaExceeded(room.oldest);
  const rowCount = await countTrail(storage, workspaceId, request);
  if (rowCount <= target.syncMaxEvents) return writeExport(storage, target.bucket, workspaceId, request, actor, answer);
  if (rowCount > MAX_EXPORT_EVENTS) {
    throw validationError([
      {
        loc: ["body"],
        msg: `The range holds ${rowCount} events; an export holds at most ${MAX_EXPORT_EVENTS}: narrow date_from..date_to`,
        type: "value_error",
        ctx: { max_events: MAX_EXPORT_EVENTS },
      },
    ]);
  }
  const running = await unfinishedExport(storage.db, workspaceId);
  if (running) throw exportInProgress(running);
  const { workflow, afterAnswer, syncMaxEvents } = target;
  if (!workflow) {
    const cause = new Error("the AUDIT_EXPORT_WORKFLOW binding is missing");
    throw new ApiError("service_unavailable", `Audit exports of more than ${syncMaxEvents} events are not configured in this deployment.`, {
      cause,
    });
  }
  const row = await recordPendingExport(storage, workspaceId, request, rowCount, actor, answer);
  const start = () => workflow.create({ id: row.id, params: jobOf(row) });
  afterAnswer(bestEffort(storage.logger, "start an audit export's workflow", start, { workspace_id: workspaceId, export_id: row.id }));
  return row;
}

/** The export's `audit.export_created` event: its range, filters and events, and whether it is written within the request. */
function exportCreatedEvent(actor: AuditActor, row: AuditExportRow, request: AuditExportRequest) {
  return auditEvent(
    actor,
    {
      workspaceId: row.workspaceId,
      action: "audit.export_created",
      resourceType: "audit_export",
      resourceId: row.id,
      resourceName: row.objectKey,
      metadata: {
        date_from: new Date(request.date_from).toISOString(),
        date_to: new Date(request.date_to).toISOString(),
        action: request.action ?? null,
        service: request.service ?? null,
        phi_only: request.phi_only,
        row_count: row.rowCount,
        status: row.status,
      },
    },
    row.createdAt,
  );
}

/**
 * Records the export's row (the event and stored answer with it, in one batch); an answer that finds no
 * room, or another long export begun meanwhile, is the 403 or 409 it would have been. Returns the row.
 */
async function recordExport(
  storage: Storage,
  row: AuditExportRow,
  request: AuditExportRequest,
  actor: AuditActor,
  answer: BatchAnswer<AuditExportRow>,
) {
  const event = exportCreatedEvent(actor, row, request);
  // The event and the stored answer follow the row: a create that found no room records neither.
  const [[inserted]] = await storage.db.batch([
    insertExportIfRoom(storage.db, row),
    insertEventIfChanged(storage.db, event),
    ...(await answer.store(storage.db, row, eventRecorded(event.id))),
  ]);
  if (inserted) return inserted;
  const running = row.status === "done" ? undefined : await unfinishedExport(storage.db, row.workspaceId);
  throw running ? exportInProgress(running) : exportQuotaExceeded((await heldExports(storage.db, row.workspaceId)).oldest);
}

/**
 * Writes the export within the request: to R2 first, then its row. If the batch fails, or finds no room
 * left, the object is deleted again, so no object exists that the list does not show.
 */
async function writeExport(
  storage: Storage,
  bucket: R2Bucket,
  workspaceId: string,
  request: AuditExportRequest,
  actor: AuditActor,
  answer: BatchAnswer<AuditExportRow>,
): Promise<AuditExportRow> {
  const id = crypto.randomUUID();
  const objectKey = exportObjectKey(workspaceId, id);
  const writer = new ObjectWriter(bucket, objectKey, EXPORT_PART_BYTES);
  const encoder = new TextEncoder();
  let written = 0;
  const covering: string[] = [];
  try {
    for await (const { checkpoint, pages } of provenTrail(storage, workspaceId, request, EXPORT_PAGE_ROWS)) {
      let exported = 0;
      for await (const page of pages) {
        await writer.write(encoder.encode(page.map((event) => eventLine(event, checkpoint.log)).join("")));
        exported += page.length;
      }
      written += exported;
      if (exported > 0) covering.push(checkpoint.checkpoint);
    }
    await writer.write(encoder.encode(checkpointsLine(covering)));
    await writer.finish();
  } catch (err) {
    await bestEffort(storage.logger, "abort an audit export upload", () => writer.abort(), { workspace_id: workspaceId });
    throw err;
  }

  // After the object is written: R2's `uploaded` is then never later than the row's finished_at, which the
  // download's expiry check relies on (readExport).
  const now = new Date().toISOString();
  const row: AuditExportRow = {
    ...newExportRow(id, workspaceId, objectKey, written, now),
    size: writer.size,
    status: "done",
    eventsWritten: written,
    finishedAt: now,
  };
  try {
    return await recordExport(storage, row, request, actor, answer);
  } catch (err) {
    await bestEffort(storage.logger, "delete an unrecorded audit export", () => bucket.delete(objectKey), { workspace_id: workspaceId });
    throw err;
  }
}

const newExportRow = (id: string, workspaceId: string, objectKey: string, rowCount: number, createdAt: string): AuditExportRow => ({
  seq: 0,
  id,
  workspaceId,
  objectKey,
  rowCount,
  size: 0,
  createdAt,
  status: "pending",
  eventsWritten: 0,
  finishedAt: null,
  failure: null,
  filters: null,
});

/** What an export's workflow is started with, from its row. */
const jobOf = (row: AuditExportRow): ExportJob => ({
  workspaceId: row.workspaceId,
  exportId: row.id,
  objectKey: row.objectKey,
  filters: (row.filters ?? {}) as EventFilters,
  rowCount: row.rowCount,
});

/**
 * Records the export pending; the caller then starts its workflow (instance id: the export's id) once the
 * answer is sent, so the answer does not wait on the engine. If the start fails, the export stays pending
 * and the hourly run starts it (startStalledExports).
 */
async function recordPendingExport(
  storage: Storage,
  workspaceId: string,
  request: AuditExportRequest,
  rowCount: number,
  actor: AuditActor,
  answer: BatchAnswer<AuditExportRow>,
): Promise<AuditExportRow> {
  const id = crypto.randomUUID();
  const filters: EventFilters = {
    date_from: new Date(request.date_from).toISOString(),
    date_to: new Date(request.date_to).toISOString(),
    action: request.action ?? null,
    service: request.service ?? null,
    phi_only: request.phi_only,
  };
  const row = { ...newExportRow(id, workspaceId, exportObjectKey(workspaceId, id), rowCount, new Date().toISOString()), filters };
  return recordExport(storage, row, request, actor, answer);
}

/** Unfinished exports the hourly run looks at, and how old one must be first (its workflow had time to start). */
const STALLED_EXPORTS_PER_RUN = 100;
const STALLED_AFTER_MS = 10 * 60 * 1000;
const ENDED_UNFINISHED = "The export's workflow ended without finishing it. Create a new export to try again.";
/** Workflow states from which an instance does not go on by itself (`paused` waits for an operator's resume). */
const ENDED = new Set<InstanceStatus["status"]>(["complete", "errored", "terminated", "unknown"]);

/**
 * The hourly run's check of exports still being written: one whose workflow never started (its start
 * failed after the row was recorded) is started; one whose workflow ended without finishing it is marked
 * failed. Returns how many it started and how many it marked failed; a failure is logged and left for the next run.
 */
export async function startStalledExports(storage: Storage, bucket: R2Bucket, workflow: Workflow | undefined, nowMs = Date.now()) {
  const result = { started: 0, failed: 0 };
  if (!workflow) return result;
  const before = new Date(nowMs - STALLED_AFTER_MS).toISOString();
  for (const row of await unfinishedExportsBefore(storage.db, before, STALLED_EXPORTS_PER_RUN)) {
    let status: InstanceStatus["status"] | null;
    try {
      status = (await (await workflow.get(row.id)).status()).status;
    } catch {
      status = null; // no such instance: its start was lost
    }
    await bestEffort(
      storage.logger,
      "resume an audit export",
      async () => {
        if (status === null) {
          await workflow.create({ id: row.id, params: jobOf(row) });
          result.started += 1;
        } else if (ENDED.has(status)) {
          await recordExportFailed(storage.db, row.id, ENDED_UNFINISHED, nowMs);
          result.failed += 1;
          // A failed export has no file, even one R2 completed before the workflow ended.
          await bucket.delete(row.objectKey);
        }
      },
      { workspace_id: row.workspaceId, export_id: row.id },
    );
  }
  return result;
}

/**
 * The export's object, streamed; null once it was deleted, and also once it has expired, which the hourly
 * run may not have deleted yet: a link signed before that, still within its hour, serves nothing.
 */
export async function readExport(
  bucket: R2Bucket,
  workspaceId: string,
  exportId: string,
  nowMs = Date.now(),
): Promise<R2ObjectBody | null> {
  // The object's own `uploaded`, which R2 checks itself (answering without the body when it is older), rather
  // than the D1 row: no query more on a route that otherwise makes none, and no byte of an expired export
  // read. Correct because the row is marked finished after the object is complete (writeExport,
  // completeExport): `uploaded` is never later than the row's finished_at, so an export is refused from the
  // moment it expires (or earlier by at most the time its completion took), never after.
  const object = await r2(bucket.get(exportObjectKey(workspaceId, exportId), { onlyIf: { uploadedAfter: new Date(expiryCutoff(nowMs)) } }));
  return object && "body" in object ? object : null;
}

/** The workspace's unexpired exports, newest first: at most EXPORTS_PER_WORKSPACE, so one page of the largest limit holds all. */
export function listExports({ db }: Storage, workspaceId: string, limit: number) {
  return listUnexpiredExports(db, workspaceId, limit);
}

/** One unexpired export of the workspace, or 404. */
export async function getExport({ d1 }: Storage, workspaceId: string, exportId: string): Promise<AuditExportRow> {
  const row = await unexpiredExport(d1, workspaceId, exportId.toLowerCase());
  if (!row) throw new ApiError("not_found", `Audit export not found: exports expire ${EXPORT_RETENTION_DAYS} days after they finished.`);
  return row;
}

/**
 * Why a download found no object: the export is still being written (409, how far), it failed (404, why),
 * or it is not there (404: expired, deleted, or never was).
 */
export async function missingExport({ d1 }: Storage, workspaceId: string, exportId: string): Promise<ApiError> {
  const row = await unexpiredExport(d1, workspaceId, exportId);
  if (row && (row.status === "pending" || row.status === "running")) {
    return new ApiError(
      "export_in_progress",
      `The export is still being written (${progressOf(row)}% done); list the exports for a fresh link once it is done.`,
    );
  }
  if (row?.status === "failed") return new ApiError("not_found", `The export failed and has no file: ${row.failure}`);
  return new ApiError("not_found", `Export not found: exports expire ${EXPORT_RETENTION_DAYS} days after they finished.`);
}

// --- the verifiable log -------------------------------------------------------------------------------------

/** The latest checkpoint of every year (one page: a trail has a handful of years), or one year's history. */
/** 503 unless AUDIT_SIGNING_KEY holds a well-formed signer key: no checkpoint, proof or export without one. */
export async function requireAuditSigner(env: Bindings): Promise<void> {
  if (await auditSigner(env)) return;
  throw new ApiError("service_unavailable", LOG_NOT_CONFIGURED, {
    cause: new Error("AUDIT_SIGNING_KEY is unset or not a note signer key (npm run audit:keygen)"),
  });
}

export const LOG_NOT_CONFIGURED = "Audit log signing is not configured in this deployment.";

/** A workspace's logs, or (scope null) the region's operator log: the latest checkpoint of each year, or one year's history. */
export async function listCheckpoints(storage: Storage, scope: AuditScope, year: number | null, limit: number, offset: number) {
  const { checkpoints, total } =
    year === null
      ? await latestCheckpoints(storage, scope).then((all) => ({ checkpoints: all.slice(offset, offset + limit), total: all.length }))
      : await checkpointHistory(storage, scope, year, limit, offset);
  const hasMore = offset + checkpoints.length < total;
  return { checkpoints, total, limit, offset, has_more: hasMore, next_offset: hasMore ? offset + checkpoints.length : null };
}

/** The event's inclusion proof from the scope's trail (a workspace's, or null: the operator log's), or 404. */
export async function eventProof(storage: Storage, scope: AuditScope, eventId: string) {
  const proof = await proofOfEvent(storage, scope, eventId.toLowerCase());
  if (!proof) throw new ApiError("not_found", "Audit event not found.");
  return proof;
}

/** A consistency proof of the year's log, or the error that says why there is none. */
export async function consistencyProof(storage: Storage, scope: AuditScope, year: number, from: number, to: number | null) {
  const answer = await logConsistency(storage, scope, year, from, to);
  if (answer === null || ("refused" in answer && answer.refused === "empty")) {
    throw new ApiError("not_found", `${scope === null ? "The operator log" : "This workspace"} has no audit log of ${year}.`);
  }
  if ("refused" in answer) {
    const [field, msg, input] =
      answer.refused === "beyond_size"
        ? ["to", `to is past the log's size (${answer.size})`, to]
        : answer.refused === "pruned"
          ? [
              "from",
              `A retention prune took the nodes a proof from ${from} needs; ask from a multiple of 16 or from the latest checkpoint`,
              from,
            ]
          : ["from", `from is past to (${to ?? "the latest checkpoint's size"})`, from];
    throw validationError([{ loc: ["query", field], msg, type: "value_error", input: String(input) }]);
  }
  return answer;
}
