import { type SQL, sql } from "drizzle-orm";
import type { Bindings, Storage } from "../../core/env";
import { ApiError, unavailableOnFailure, validationError } from "../../core/errors";
import { bestEffort } from "../../core/logger";
import { DAY_MS } from "../../core/time";
import { auditSigner } from "../../security/audit-keys";
import { signObjectKey } from "../../security/signed-url";
import { listedEvent } from "../../storage/audit-events/listed";
import { type AuditActor, auditEvent, eventRecorded, insertEventIfChanged } from "../../storage/audit-events/record";
import {
  EXPORT_RETENTION_DAYS,
  EXPORTS_PER_WORKSPACE,
  expiresAt,
  expiryCutoff,
  heldExports,
  insertExportIfRoom,
  listUnexpiredExports,
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

/** The widest range one export may cover, and the most events it may hold (both stated in the spec). */
export const EXPORT_MAX_DAYS = 366;
export const EXPORT_MAX_EVENTS = 100_000;
/** How long a download link stays valid. */
export const DOWNLOAD_URL_TTL_SECONDS = 3600;
/** R2 multipart parts: every part but the last must have this same size (at least 5 MiB). */
export const EXPORT_PART_BYTES = 5 * 1024 * 1024;
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
  const from = Date.parse(request.date_from);
  const to = Date.parse(request.date_to);
  if (from > to) {
    throw validationError([
      { loc: ["body", "date_to"], msg: "date_to must not be before date_from", type: "value_error", input: request.date_to },
    ]);
  }
  if (to - from > EXPORT_MAX_DAYS * DAY_MS) {
    throw validationError([
      {
        loc: ["body", "date_to"],
        msg: `An export covers at most ${EXPORT_MAX_DAYS} days; split the range`,
        type: "value_error",
        input: request.date_to,
        ctx: { max_days: EXPORT_MAX_DAYS },
      },
    ]);
  }
}

/** An R2 call whose failure is a 503 (retry), never a 500 carrying R2's text. */
const r2 = <T>(call: Promise<T>) => unavailableOnFailure(() => call, "Export storage is temporarily unavailable; retry shortly.");

/**
 * Writes NDJSON to R2 without holding the export in memory: bytes fill one fixed-size buffer; each full
 * buffer becomes a multipart part. An export that fits one buffer is a single put.
 */
const NDJSON = { contentType: "application/x-ndjson" };

class ObjectWriter {
  #buffer = new Uint8Array(EXPORT_PART_BYTES);
  #filled = 0;
  #upload: R2MultipartUpload | undefined;
  #parts: R2UploadedPart[] = [];
  size = 0;

  constructor(
    private readonly bucket: R2Bucket,
    private readonly key: string,
  ) {}

  async write(bytes: Uint8Array) {
    let at = 0;
    while (at < bytes.length) {
      const n = Math.min(bytes.length - at, this.#buffer.length - this.#filled);
      this.#buffer.set(bytes.subarray(at, at + n), this.#filled);
      this.#filled += n;
      at += n;
      if (this.#filled === this.#buffer.length) await this.#flushPart();
    }
    this.size += bytes.length;
  }

  async #flushPart() {
    this.#upload ??= await r2(this.bucket.createMultipartUpload(this.key, { httpMetadata: NDJSON }));
    this.#parts.push(await r2(this.#upload.uploadPart(this.#parts.length + 1, this.#buffer.slice(0, this.#filled))));
    this.#filled = 0;
  }

  async finish() {
    if (!this.#upload) {
      await r2(this.bucket.put(this.key, this.#buffer.subarray(0, this.#filled), { httpMetadata: NDJSON }));
      return;
    }
    if (this.#filled > 0) await this.#flushPart();
    await r2(this.#upload.complete(this.#parts));
  }

  async abort() {
    await this.#upload?.abort();
  }
}

/**
 * The 403 for a workspace that holds EXPORTS_PER_WORKSPACE unexpired exports: the limit, and when room
 * frees (the oldest expires; `oldest` is null only if it expired between the count and this answer).
 */
function exportQuotaExceeded(oldest: string | null): ApiError {
  const frees = oldest ? `room frees at ${expiresAt(oldest)}, when the oldest expires` : "room frees as the oldest expire";
  return new ApiError(
    "quota_exceeded",
    `This workspace holds ${EXPORTS_PER_WORKSPACE} unexpired audit exports, the most it may hold; ${frees} (an export ` +
      `expires ${EXPORT_RETENTION_DAYS} days after its creation).`,
  );
}

/**
 * Writes the matching events (oldest first, one JSON object per line, the list's shape) to R2 under the
 * workspace's prefix, then records the export and its `audit.export_created` event in one D1 batch. If that
 * batch fails, or finds no room left, the object is deleted again, so no object exists that the list does
 * not show. Room is counted first, before any work; the batch's conditional insert counts again, against
 * creates that ran meanwhile.
 */
export async function createExport(
  storage: Storage,
  bucket: R2Bucket,
  workspaceId: string,
  request: AuditExportRequest,
  actor: AuditActor,
  answer: BatchAnswer<AuditExportRow> = NO_BATCH_ANSWER,
): Promise<AuditExportRow> {
  checkExportRange(request);
  const room = await heldExports(storage.db, workspaceId);
  if (room.held >= EXPORTS_PER_WORKSPACE) throw exportQuotaExceeded(room.oldest);
  const rowCount = await countTrail(storage, workspaceId, request);
  if (rowCount > EXPORT_MAX_EVENTS) {
    throw validationError([
      {
        loc: ["body"],
        msg: `The range holds ${rowCount} events; an export holds at most ${EXPORT_MAX_EVENTS}: narrow date_from..date_to`,
        type: "value_error",
        ctx: { max_events: EXPORT_MAX_EVENTS },
      },
    ]);
  }

  const id = crypto.randomUUID();
  const objectKey = exportObjectKey(workspaceId, id);
  const writer = new ObjectWriter(bucket, objectKey);
  const encoder = new TextEncoder();
  let written = 0;
  const covering: string[] = [];
  try {
    for await (const { checkpoint, pages } of provenTrail(storage, workspaceId, request, EXPORT_PAGE_ROWS)) {
      let exported = 0;
      for await (const page of pages) {
        if (written + page.length > EXPORT_MAX_EVENTS) page.length = EXPORT_MAX_EVENTS - written; // events added since the count
        const lines = page.map(
          ({ row, proof }) => `${JSON.stringify({ ...listedEvent(row), proof: { log: checkpoint.log, ...proof } })}\n`,
        );
        await writer.write(encoder.encode(lines.join("")));
        written += page.length;
        exported += page.length;
        if (written >= EXPORT_MAX_EVENTS) break;
      }
      if (exported > 0) covering.push(checkpoint.checkpoint);
      if (written >= EXPORT_MAX_EVENTS) break;
    }
    // The last line: the signed checkpoints every line's proof leads to (docs/guides/audit.md, "Proving the trail").
    await writer.write(encoder.encode(`${JSON.stringify({ checkpoints: covering })}\n`));
    await writer.finish();
  } catch (err) {
    await bestEffort(storage.logger, "abort an audit export upload", () => writer.abort(), { workspace_id: workspaceId });
    throw err;
  }

  // After the object is written: R2's `uploaded` is then never later than the row's created_at, which the
  // download's expiry check relies on (readExport).
  const now = new Date().toISOString();
  const row: AuditExportRow = { seq: 0, id, workspaceId, objectKey, rowCount: written, size: writer.size, createdAt: now };
  const event = auditEvent(
    actor,
    {
      workspaceId,
      action: "audit.export_created",
      resourceType: "audit_export",
      resourceId: id,
      resourceName: objectKey,
      metadata: {
        date_from: new Date(request.date_from).toISOString(),
        date_to: new Date(request.date_to).toISOString(),
        action: request.action ?? null,
        service: request.service ?? null,
        phi_only: request.phi_only,
        row_count: written,
      },
    },
    now,
  );
  const dropObject = () =>
    bestEffort(storage.logger, "delete an unrecorded audit export", () => bucket.delete(objectKey), { workspace_id: workspaceId });
  let inserted: AuditExportRow | undefined;
  try {
    // The event and the stored answer follow the row: a create that found no room records neither.
    [[inserted]] = await storage.db.batch([
      insertExportIfRoom(storage.db, row),
      insertEventIfChanged(storage.db, event),
      ...(await answer.store(storage.db, row, eventRecorded(event.id))),
    ]);
  } catch (err) {
    await dropObject();
    throw err;
  }
  if (!inserted) {
    await dropObject();
    throw exportQuotaExceeded((await heldExports(storage.db, workspaceId)).oldest);
  }
  return inserted;
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
  // read. Correct because the row is written after the object (createExport): `uploaded` is never later than
  // the row's created_at, so an export is refused from the moment it expires (or earlier by at most the time
  // its own writing took), never after.
  const object = await r2(bucket.get(exportObjectKey(workspaceId, exportId), { onlyIf: { uploadedAfter: new Date(expiryCutoff(nowMs)) } }));
  return object && "body" in object ? object : null;
}

/** The workspace's unexpired exports, newest first: at most EXPORTS_PER_WORKSPACE, so one page of the largest limit holds all. */
export function listExports({ db }: Storage, workspaceId: string, limit: number) {
  return listUnexpiredExports(db, workspaceId, limit);
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
