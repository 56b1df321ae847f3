import { z } from "@hono/zod-openapi";
import { EXPORT_STATUSES } from "../../core/domain";
import { Timestamp, Uuid, WorkspacePathSchema } from "../../http/openapi";
import { AUDIT_ACTIONS } from "../../storage/audit-events/actions";
import { listedEvent } from "../../storage/audit-events/listed";
import type { AuditEventRow } from "../../storage/audit-store/queries";

/**
 * Upstream's Audit API shapes. Query parameters that upstream types `T | null` are nullable here too (a
 * query string never carries null: absent means "no filter"). Date bounds are inclusive, need a time zone
 * (`Z` or an offset), and compare as instants.
 */

const DateBound = (description: string) => Timestamp.nullable().optional().openapi({ description });
const limitOf = (max: number, description: string) =>
  z.coerce.number().int().min(1).max(max).default(50).openapi({ type: "integer", minimum: 1, maximum: max, default: 50, description });
const OffsetSchema = z.coerce
  .number()
  .int()
  .min(0)
  .max(Number.MAX_SAFE_INTEGER)
  .default(0)
  .openapi({ type: "integer", minimum: 0, default: 0, description: "Page offset" });
const PhiOnlySchema = z.stringbool().default(false).openapi({
  type: "boolean",
  default: false,
  description: "Only PHI access events (the control plane reads no patient data, so none are recorded here).",
});
const uuidQuery = (description: string) => Uuid.nullable().optional().openapi({ description });

export const DateRangeQuerySchema = z.object({
  date_from: DateBound("Start of date range (inclusive)"),
  date_to: DateBound("End of date range (inclusive)"),
});
export const PageQuerySchema = DateRangeQuerySchema.extend({ limit: limitOf(100, "Page size"), offset: OffsetSchema });

const ACTION_LIST = Object.keys(AUDIT_ACTIONS).join(", ");

export const ListAuditEventsQuerySchema = PageQuerySchema.extend({
  service: z.string().max(64).nullable().optional().openapi({ description: "Filter by service name (every event here is `platform`)" }),
  action: z
    .string()
    .max(128)
    .nullable()
    .optional()
    .openapi({ description: `Filter by action type: ${ACTION_LIST}` }),
  actor_entity_id: uuidQuery("Filter by actor entity"),
  resource_type: z.string().max(64).nullable().optional().openapi({
    description:
      "Filter by resource type: workspace, api_key, audit_export, member, invitation, external_role, external_role_assignment, role_grant",
  }),
  resource_id: uuidQuery("Filter by specific resource"),
  phi_only: PhiOnlySchema,
});

export const PhiAccessQuerySchema = PageQuerySchema.extend({ entity_id: uuidQuery("Filter by patient entity") });

export const EntityPathSchema = WorkspacePathSchema.extend({
  entity_id: Uuid.openapi({ param: { name: "entity_id", in: "path" } }),
});

const auditEventFields = {
  id: Uuid,
  workspace_id: Uuid,
  timestamp: z.string().openapi({ description: "ISO-8601 timestamp of the event (UTC)" }),
  service: z.string(),
  action: z.string().openapi({ description: `One of: ${ACTION_LIST}` }),
  actor_entity_id: Uuid.nullable().openapi({
    description: "The accountable person (for an API key, the person holding it: `accountable_entity_id`); null for the operator token",
  }),
  actor_credential_id: Uuid.nullable().openapi({ description: "The identity token or API key used; null for the operator token" }),
  resource_type: z.string(),
  resource_id: z.string().nullable(),
  resource_name: z.string().nullable(),
  metadata: z.record(z.string(), z.unknown()).nullable(),
  ip_address: z.string().nullable().openapi({ description: "CF-Connecting-IP of the request" }),
  user_agent: z.string().nullable(),
  phi_accessed: z.boolean(),
};
const AuditEventResponseSchema = z.object(auditEventFields).openapi("AuditEventResponse");
export type AuditEventResponse = z.infer<typeof AuditEventResponseSchema>;

const pageFields = {
  total: z.number().int(),
  limit: z.number().int(),
  offset: z.number().int(),
  has_more: z.boolean(),
  // Not upstream (additive): an offset auto-pager follows it until it is null.
  next_offset: z.number().int().nullable().openapi({
    description: "The `offset` of the next page; null on the last page. Not upstream: added so offset auto-pagers know where to go on.",
  }),
};
export const AuditEventsListResponseSchema = z
  .object({ events: z.array(AuditEventResponseSchema), ...pageFields })
  .openapi("AuditEventsListResponse");

/** The operator log's events: the same fields, with no workspace. */
const OperatorAuditEventSchema = z.object({ ...auditEventFields, workspace_id: z.null() }).openapi("OperatorAuditEvent");

export type OperatorAuditEvent = z.infer<typeof OperatorAuditEventSchema>;

/**
 * A stored event as the API shows it: a workspace's, or (no workspace) the operator log's. The one mapping
 * (src/storage/audit-events/listed.ts) is also what the audit log hashes, so lists, exports and leaves agree.
 */
export const toAuditEventResponse = (row: AuditEventRow) => listedEvent(row) as AuditEventResponse | OperatorAuditEvent;
export const OperatorAuditEventsListResponseSchema = z
  .object({ events: z.array(OperatorAuditEventSchema), ...pageFields })
  .openapi("OperatorAuditEventsListResponse");
export const OperatorAuditQuerySchema = PageQuerySchema.extend({
  action: ListAuditEventsQuerySchema.shape.action,
  resource_id: uuidQuery("Filter by the identity or workspace the event is about"),
});

export const AuditSummaryResponseSchema = z
  .object({
    total_events: z.number().int(),
    phi_access_events: z.number().int(),
    unique_actors: z.number().int().openapi({ description: "Distinct actor entities (the operator token counts as none)" }),
    services_with_events: z.number().int(),
  })
  .openapi("AuditSummaryResponse");

export const AuditExportRequestSchema = z
  .object({
    date_from: Timestamp,
    date_to: Timestamp,
    action: z.string().max(128).nullable().optional().openapi({ description: "Filter by action type." }),
    service: z.string().max(64).nullable().optional().openapi({ description: "Filter by service name." }),
    phi_only: z.boolean().default(false),
  })
  .openapi("AuditExportRequest");
export type AuditExportRequest = z.infer<typeof AuditExportRequestSchema>;

const ExportStatusSchema = z.enum(EXPORT_STATUSES).openapi({
  description:
    "`done`: the file is written and `download_url` works. An export too large for one request (more events than the " +
    "deployment's AUDIT_EXPORT_SYNC_MAX_EVENTS, 20,000 by default) is written by a workflow: `pending`, then `running`, " +
    "then `done` or `failed`. Not upstream (additive).",
});

export const AuditExportResponseSchema = z
  .object({
    export_id: z.string(),
    s3_key: z.string().openapi({ description: "The object's key in this region's export bucket (R2)" }),
    row_count: z
      .number()
      .int()
      .openapi({ description: "Events in the file; for a `pending` export, the events counted when it was asked for" }),
    download_url: z.string().openapi({
      description: "Signed link, valid for one hour; no bearer token needed. Answers 409 `export_in_progress` until the export is done.",
    }),
    created_at: z.string(),
    status: z.enum(["done", "pending"]).openapi({
      description:
        "`done`: written within the request, its link works now. `pending`: too large for one request (more events than the " +
        "deployment's AUDIT_EXPORT_SYNC_MAX_EVENTS, 20,000 by default), its workflow writes it; follow it with get-audit-export. " +
        "Not upstream (additive).",
    }),
  })
  .openapi("AuditExportResponse");
export type AuditExportResponse = z.infer<typeof AuditExportResponseSchema>;

export const ListAuditExportsQuerySchema = z.object({ limit: limitOf(200, "Max exports to return") });

export const AuditExportListItemSchema = z
  .object({
    key: z.string(),
    size: z.number().int().openapi({ description: "Bytes of the file; while it is written, bytes written so far" }),
    last_modified: z.string().nullable().openapi({ description: "When the export finished (done or failed); null before" }),
    download_url: z.string().nullable().openapi({ description: "Signed link, valid for one hour, once the export is done; null before" }),
    export_id: z.string().openapi({ description: "Not upstream (additive)." }),
    status: ExportStatusSchema,
    row_count: z.number().int().openapi({
      description: "Events in the file once done; before, the events counted when it was asked for. Not upstream (additive).",
    }),
    events_written: z.number().int().openapi({ description: "Events written so far. Not upstream (additive)." }),
    progress: z.number().int().min(0).max(100).openapi({
      description: "Percent done: events written of the events counted, 100 only once done. Not upstream (additive).",
    }),
    failure: z.string().nullable().openapi({ description: "Why a `failed` export stopped; null otherwise. Not upstream (additive)." }),
    created_at: z.string().openapi({ description: "When the export was asked for. Not upstream (additive)." }),
  })
  .openapi("AuditExportListItem");
export type AuditExportListItem = z.infer<typeof AuditExportListItemSchema>;
export const AuditExportListResponseSchema = z.object({ exports: z.array(AuditExportListItemSchema) }).openapi("AuditExportListResponse");

export const ExportPathSchema = WorkspacePathSchema.extend({
  export_id: Uuid.openapi({ param: { name: "export_id", in: "path" } }),
});

export const DownloadPathSchema = z.object({
  workspace_id: Uuid.openapi({ param: { name: "workspace_id", in: "path" } }),
  file: z
    .string()
    .max(43)
    .regex(/^[0-9a-f-]{36}\.ndjson$/)
    .openapi({ param: { name: "file", in: "path" }, example: "0b6f2c1e-5d1a-4c4e-9f7a-1e2d3c4b5a69.ndjson" }),
});
export const DownloadQuerySchema = z.object({
  expires: z.coerce
    .number()
    .int()
    .min(0)
    .max(Number.MAX_SAFE_INTEGER)
    .openapi({ type: "integer", description: "Unix time the link expires" }),
  signature: z.string().max(128).openapi({ description: "Hex HMAC-SHA256 of the object key and expiry" }),
});

// --- the verifiable log (docs/guides/audit.md, "Proving the trail"; not upstream: additive) ------------------

const Year = z.coerce
  .number()
  .int()
  .min(2000)
  .max(9999)
  .openapi({ type: "integer", minimum: 2000, maximum: 9999, description: "The calendar year (UTC) of the log: one log per year" });
const TreeSize = (description: string) =>
  z.coerce.number().int().min(1).max(Number.MAX_SAFE_INTEGER).openapi({ type: "integer", minimum: 1, description });
const Base64Hash = z.string().openapi({ description: "A SHA-256 hash, base64 (as in the checkpoint body)" });
const LogOrigin = z.string().openapi({
  description: "The log's origin line: `<host>/audit/<workspace id>/<year>` (`<host>/audit/operator-log/<year>` for the operator log)",
  example: "us-east-1.platform-api.example/audit/5b0c2a8e-1f1e-4d5c-9a53-3b8e8f0d2c11/2026",
});
const SignedCheckpoint = z.string().openapi({
  description:
    "A C2SP tlog-checkpoint (origin, tree size, base64 root hash) signed as a C2SP signed-note with Ed25519; the keys are at " +
    "`/.well-known/audit-keys`",
});

export const CheckpointsQuerySchema = z.object({
  year: Year.optional().openapi({
    description: "One year's history of checkpoints, newest first; without it, the latest checkpoint of every year, newest year first",
  }),
  limit: limitOf(1000, "Page size (with `year`)"),
  offset: OffsetSchema,
});

const CheckpointSchema = z
  .object({
    log: LogOrigin,
    size: z.number().int().openapi({ description: "The tree size (number of leaves) the checkpoint covers" }),
    signed_at: z.string().openapi({ description: "When the region signed it (ISO-8601, UTC)" }),
    checkpoint: SignedCheckpoint,
  })
  .openapi("AuditCheckpoint");
export const CheckpointListResponseSchema = z
  .object({ checkpoints: z.array(CheckpointSchema), ...pageFields })
  .openapi("AuditCheckpointList");

const EventIdParam = Uuid.openapi({ param: { name: "event_id", in: "path" } });
export const EventProofPathSchema = WorkspacePathSchema.extend({ event_id: EventIdParam });
/** An operator-log event's proof (the admin routes): the event alone names it. */
export const OperatorEventProofPathSchema = z.object({ event_id: EventIdParam });
export const EventProofResponseSchema = z
  .object({
    log: LogOrigin,
    index: z.number().int().openapi({ description: "The event's leaf number in its log (from 0, in append order)" }),
    size: z.number().int().openapi({ description: "The size of the checkpoint the proof leads to" }),
    hashes: z.array(Base64Hash).openapi({ description: "The RFC 9162 inclusion proof (audit path), leaf level first" }),
    checkpoint: SignedCheckpoint,
  })
  .openapi("AuditEventProof");

export const ConsistencyQuerySchema = z.object({
  year: Year,
  from: TreeSize("The earlier tree size (a checkpoint you kept)"),
  to: TreeSize("The later tree size; without it, the latest checkpoint's (signed now if the log grew)").optional(),
});
export const ConsistencyResponseSchema = z
  .object({
    log: LogOrigin,
    from: z.number().int(),
    to: z.number().int(),
    hashes: z.array(Base64Hash).openapi({ description: "The RFC 9162 consistency proof from `from` to `to`" }),
  })
  .openapi("AuditConsistencyProof");
