import { and, asc, count, countDistinct, desc, eq, gt, gte, inArray, isNull, lt, lte, or, type SQL, sql } from "drizzle-orm";
import type { Storage } from "../../core/env";
import { ApiError, validationError } from "../../core/errors";
import { bestEffort } from "../../core/logger";
import { DAY_MS, daysAfter } from "../../core/time";
import { signObjectKey } from "../../security/signed-url";
import { type AuditActor, auditEvent, insertEvent } from "../../storage/audit-events/record";
import { type AuditEventRow, type AuditExportRow, apiKeys, auditEvents, auditExports, memberships } from "../../storage/d1/schema";
import { type BatchAnswer, NO_BATCH_ANSWER } from "../../storage/idempotency-records";
import { type AuditEventResponse, type AuditExportRequest, type OperatorAuditEvent, toAuditEventResponse } from "./schemas";

/**
 * Which events a read covers, under the query's (and the export request's) own names, so a handler passes
 * what it validated as it is. Dates are ISO-8601 instants, compared after normalising to UTC.
 */
export type EventFilters = {
  service?: string | null;
  action?: string | null;
  actor_entity_id?: string | null;
  resource_type?: string | null;
  resource_id?: string | null;
  /** Events whose resource or actor (person or credential) is this entity. */
  involving?: string | null;
  phi_only?: boolean;
  date_from?: string | null;
  date_to?: string | null;
};

/** A workspace's trail, or (null) the operator log. */
type Scope = string | null;

const instant = (value: string) => new Date(value).toISOString();

function eventsWhere(scope: Scope, f: EventFilters): SQL | undefined {
  const e = auditEvents;
  return and(
    scope === null ? isNull(e.workspaceId) : eq(e.workspaceId, scope),
    f.service != null ? eq(e.service, f.service) : undefined,
    f.action != null ? eq(e.action, f.action) : undefined,
    f.actor_entity_id != null ? eq(e.actorEntityId, f.actor_entity_id.toLowerCase()) : undefined,
    f.resource_type != null ? eq(e.resourceType, f.resource_type) : undefined,
    f.resource_id != null ? eq(e.resourceId, f.resource_id.toLowerCase()) : undefined,
    f.involving != null
      ? or(eq(e.resourceId, f.involving), eq(e.actorEntityId, f.involving), eq(e.actorCredentialId, f.involving))
      : undefined,
    f.phi_only ? eq(e.phiAccessed, true) : undefined,
    f.date_from != null ? gte(e.timestamp, instant(f.date_from)) : undefined,
    f.date_to != null ? lte(e.timestamp, instant(f.date_to)) : undefined,
  );
}

const newestFirst = [desc(auditEvents.timestamp), desc(auditEvents.seq)];

/**
 * A page of events, newest first, and the total over all pages, read in one batch (so they agree). The
 * page's rows are picked by their seq alone first: that subquery reads only the filter's index, so a deep
 * offset skips index entries, not rows.
 */
type EventsPage<Event> = { events: Event[]; total: number; limit: number; offset: number; has_more: boolean; next_offset: number | null };

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
  { db }: Storage,
  scope: Scope,
  filters: EventFilters,
  limit: number,
  offset: number,
): Promise<EventsPage<AuditEventResponse | OperatorAuditEvent>> {
  const where = eventsWhere(scope, filters);
  const pageSeqs = db
    .select({ seq: auditEvents.seq })
    .from(auditEvents)
    .where(where)
    .orderBy(...newestFirst)
    .limit(limit)
    .offset(offset);
  const [rows, [counted]] = await db.batch([
    db
      .select()
      .from(auditEvents)
      .where(inArray(auditEvents.seq, pageSeqs))
      .orderBy(...newestFirst),
    db.select({ total: count() }).from(auditEvents).where(where),
  ]);
  const total = counted?.total ?? 0;
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

export async function summarize({ db }: Storage, workspaceId: string, filters: EventFilters) {
  const row = await db
    .select({
      total_events: count(),
      phi_access_events: sql<number>`coalesce(sum(${auditEvents.phiAccessed}), 0)`,
      unique_actors: countDistinct(auditEvents.actorEntityId),
      services_with_events: countDistinct(auditEvents.service),
    })
    .from(auditEvents)
    .where(eventsWhere(workspaceId, filters))
    .get();
  return row ?? { total_events: 0, phi_access_events: 0, unique_actors: 0, services_with_events: 0 };
}

/** The workspace itself, one of its API keys, one of its members, or anything its trail names. */
export async function isKnownEntity({ db }: Storage, workspaceId: string, entityId: string): Promise<boolean> {
  if (entityId === workspaceId) return true;
  const exists = (query: SQL) => sql`exists(${query})`;
  const row = await db
    .select({
      known: sql<number>`${exists(sql`select 1 from ${apiKeys}
          where ${apiKeys.workspaceId} = ${workspaceId} and ${apiKeys.id} = ${entityId}`)}
        or ${exists(sql`select 1 from ${memberships}
          where ${memberships.workspaceId} = ${workspaceId} and ${memberships.identityId} = ${entityId}`)}
        or ${exists(
          db
            .select({ one: sql`1` })
            .from(auditEvents)
            .where(eventsWhere(workspaceId, { involving: entityId }))
            .getSQL(),
        )}`,
    })
    .from(sql`(select 1)`)
    .get();
  return Boolean(row?.known);
}

// --- exports -----------------------------------------------------------------------------------------

/** The widest range one export may cover, and the most events it may hold (both stated in the spec). */
export const EXPORT_MAX_DAYS = 366;
export const EXPORT_MAX_EVENTS = 100_000;
/** How long a download link stays valid. */
export const DOWNLOAD_URL_TTL_SECONDS = 3600;
/** Export objects older than this are deleted by retention. */
const EXPORT_RETENTION_DAYS = 7;
/** R2 multipart parts: every part but the last must have this same size (at least 5 MiB). */
export const EXPORT_PART_BYTES = 5 * 1024 * 1024;
const EXPORT_PAGE_ROWS = 500;

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
async function r2<T>(call: Promise<T>): Promise<T> {
  try {
    return await call;
  } catch (err) {
    throw new ApiError("service_unavailable", "Export storage is temporarily unavailable; retry shortly.", { cause: err });
  }
}

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

/** The filter's events, oldest first, a page at a time (keyset on timestamp and seq). */
async function* eventPages({ db }: Storage, workspaceId: string, filters: EventFilters): AsyncGenerator<AuditEventRow[]> {
  let after: { timestamp: string; seq: number } | undefined;
  for (;;) {
    const rows = await db
      .select()
      .from(auditEvents)
      .where(
        and(
          eventsWhere(workspaceId, filters),
          after
            ? or(
                gt(auditEvents.timestamp, after.timestamp),
                and(eq(auditEvents.timestamp, after.timestamp), gt(auditEvents.seq, after.seq)),
              )
            : undefined,
        ),
      )
      .orderBy(asc(auditEvents.timestamp), asc(auditEvents.seq))
      .limit(EXPORT_PAGE_ROWS);
    if (rows.length > 0) yield rows;
    if (rows.length < EXPORT_PAGE_ROWS) return;
    const last = rows[rows.length - 1] as AuditEventRow;
    after = { timestamp: last.timestamp, seq: last.seq };
  }
}

/**
 * Writes the matching events (oldest first, one JSON object per line, the list's shape) to R2 under the
 * workspace's prefix, then records the export and its `audit.export_created` event in one D1 batch. If that
 * batch fails the object is deleted again, so no object exists that the list does not show.
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
  const [counted] = await storage.db.select({ n: count() }).from(auditEvents).where(eventsWhere(workspaceId, request));
  const rowCount = counted?.n ?? 0;
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
  try {
    for await (const rows of eventPages(storage, workspaceId, request)) {
      if (written + rows.length > EXPORT_MAX_EVENTS) rows.length = EXPORT_MAX_EVENTS - written; // events added since the count
      await writer.write(encoder.encode(rows.map((row) => `${JSON.stringify(toAuditEventResponse(row))}\n`).join("")));
      written += rows.length;
      if (written >= EXPORT_MAX_EVENTS) break;
    }
    await writer.finish();
  } catch (err) {
    await bestEffort(storage.logger, "abort an audit export upload", () => writer.abort(), { workspace_id: workspaceId });
    throw err;
  }

  const now = new Date().toISOString();
  const row: AuditExportRow = { seq: 0, id, workspaceId, objectKey, rowCount: written, size: writer.size, createdAt: now };
  const { seq: _, ...values } = row;
  const event = auditEvent(
    actor,
    {
      workspaceId,
      action: "audit.export_created",
      resourceType: "audit_export",
      resourceId: id,
      resourceName: objectKey,
      metadata: {
        date_from: instant(request.date_from),
        date_to: instant(request.date_to),
        action: request.action ?? null,
        service: request.service ?? null,
        phi_only: request.phi_only,
        row_count: written,
      },
    },
    now,
  );
  try {
    await storage.db.batch([
      storage.db.insert(auditExports).values(values),
      insertEvent(storage.db, event),
      ...(await answer.store(storage.db, row)),
    ]);
  } catch (err) {
    await bestEffort(storage.logger, "delete an unrecorded audit export", () => bucket.delete(objectKey), { workspace_id: workspaceId });
    throw err;
  }
  return row;
}

/** The export's object, streamed; null once retention (or anything else) has deleted it. */
export function readExport(bucket: R2Bucket, workspaceId: string, exportId: string): Promise<R2ObjectBody | null> {
  return r2(bucket.get(exportObjectKey(workspaceId, exportId)));
}

/** The workspace's exports, newest first (those retention has not deleted yet). */
export function listExports({ db }: Storage, workspaceId: string, limit: number) {
  return db.select().from(auditExports).where(eq(auditExports.workspaceId, workspaceId)).orderBy(desc(auditExports.seq)).limit(limit);
}

// --- retention ----------------------------------------------------------------------------------------

/** Per scheduled run: at most EVENT_ROUNDS × EVENT_BATCH events and EXPORT_BATCH exports. */
const EVENT_BATCH = 1000;
const EVENT_ROUNDS = 20;
/** Export ids go into one `IN (…)`: below D1's 100 bound parameters. */
const EXPORT_BATCH = 90;

/**
 * Deletes events older than `retentionDays` and export objects (with their rows) older than
 * EXPORT_RETENTION_DAYS, in bounded batches, so one run stays well inside a scheduled invocation's
 * limits; what is left goes with the next run. Returns what it deleted.
 */
export async function applyRetention({ db }: Storage, bucket: R2Bucket, retentionDays: number, nowMs = Date.now()) {
  const eventCutoff = daysAfter(nowMs, -retentionDays);
  let events = 0;
  for (let round = 0; round < EVENT_ROUNDS; round++) {
    const oldest = db
      .select({ seq: auditEvents.seq })
      .from(auditEvents)
      .where(lt(auditEvents.timestamp, eventCutoff))
      .orderBy(asc(auditEvents.timestamp))
      .limit(EVENT_BATCH);
    const deleted = await db.delete(auditEvents).where(inArray(auditEvents.seq, oldest)).returning({ seq: auditEvents.seq });
    events += deleted.length;
    if (deleted.length < EVENT_BATCH) break;
  }

  const exportCutoff = daysAfter(nowMs, -EXPORT_RETENTION_DAYS);
  const expired = await db
    .select({ id: auditExports.id, objectKey: auditExports.objectKey })
    .from(auditExports)
    .where(lt(auditExports.createdAt, exportCutoff))
    .limit(EXPORT_BATCH);
  if (expired.length > 0) {
    // Objects first, rows last: if either step fails the rows remain and the next run repeats both.
    await bucket.delete(expired.map((e) => e.objectKey));
    await db.delete(auditExports).where(
      inArray(
        auditExports.id,
        expired.map((e) => e.id),
      ),
    );
  }
  return { events, exports: expired.length };
}
