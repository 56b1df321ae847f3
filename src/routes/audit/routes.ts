import { createRoute } from "@hono/zod-openapi";
import { errorResponses, WORKSPACE_ROUTE_ERRORS } from "../../core/errors";
import { DEFAULT_SYNC_EXPORT_EVENTS } from "../../core/holdings";
import { successResponse, WorkspacePathSchema } from "../../http/openapi";
import { createJsonBodyRoute } from "../../http/router";
import { MAX_EXPORT_EVENTS } from "../../storage/audit-export-job";
import { EXPORT_RETENTION_DAYS, EXPORTS_PER_WORKSPACE } from "../../storage/audit-exports";
import {
  AuditEventsListResponseSchema,
  AuditExportListItemSchema,
  AuditExportListResponseSchema,
  AuditExportRequestSchema,
  AuditExportResponseSchema,
  AuditSummaryResponseSchema,
  CheckpointListResponseSchema,
  CheckpointsQuerySchema,
  ConsistencyQuerySchema,
  ConsistencyResponseSchema,
  DateRangeQuerySchema,
  DownloadPathSchema,
  DownloadQuerySchema,
  EntityPathSchema,
  EventProofPathSchema,
  EventProofResponseSchema,
  ExportPathSchema,
  ListAuditEventsQuerySchema,
  ListAuditExportsQuerySchema,
  PageQuerySchema,
  PhiAccessQuerySchema,
} from "./schemas";
import { DOWNLOAD_URL_TTL_SECONDS } from "./service";

const tags = ["Audit"];
const errors = errorResponses(...WORKSPACE_ROUTE_ERRORS, "rate_limited");
const path = "/v1/{workspace_id}/audit";
const VIEW = "Requires `Audit.view` (owner and admin by default; an API key only if its own list holds it).";

export const listAuditEvents = createRoute({
  method: "get",
  path,
  operationId: "list-audit-events",
  tags,
  summary: "List audit events",
  description:
    `Every control-plane write of this workspace, newest first, with filters and limit/offset pagination; \`total\` counts ` +
    `all matches. ${VIEW}`,
  request: { params: WorkspacePathSchema, query: ListAuditEventsQuerySchema },
  responses: { 200: successResponse(AuditEventsListResponseSchema), ...errors },
});

export const getAuditSummary = createRoute({
  method: "get",
  path: `${path}/summary`,
  operationId: "get-audit-summary",
  tags,
  summary: "Get audit summary",
  description: `Counts over the workspace's events in the date range. ${VIEW}`,
  request: { params: WorkspacePathSchema, query: DateRangeQuerySchema },
  responses: { 200: successResponse(AuditSummaryResponseSchema), ...errors },
});

export const getEntityAccessLog = createRoute({
  method: "get",
  path: `${path}/entity/{entity_id}/access-log`,
  operationId: "get-entity-access-log",
  tags,
  summary: "Get entity access log",
  description:
    `The events whose resource is the entity, or whose actor is (a person, or a credential: an identity token or API key), ` +
    `newest first. 404 if the entity is not the workspace, one of its API keys or members, nor named by its trail. ${VIEW}`,
  request: { params: EntityPathSchema, query: PageQuerySchema },
  responses: { 200: successResponse(AuditEventsListResponseSchema), ...errors },
});

export const getPhiAccessReport = createRoute({
  method: "get",
  path: `${path}/phi-access`,
  operationId: "get-phi-access-report",
  tags,
  summary: "Get PHI access report",
  description:
    `The PHI-access events (\`phi_accessed: true\`). The control plane reads no patient data, so this is always an empty, ` +
    `well-formed page here. ${VIEW}`,
  request: { params: WorkspacePathSchema, query: PhiAccessQuerySchema },
  responses: { 200: successResponse(AuditEventsListResponseSchema), ...errors },
});

const SYNC = DEFAULT_SYNC_EXPORT_EVENTS.toLocaleString("en-US");

export const createAuditExport = createJsonBodyRoute({
  method: "post",
  path: `${path}/export`,
  operationId: "create-audit-export",
  tags,
  summary: "Create audit export",
  description:
    `Writes the matching events of any range, oldest first, as NDJSON (one \`AuditEventResponse\` per line, with its proof) to ` +
    `this region's export bucket under \`audit-exports/<workspace_id>/\`, and returns a signed \`download_url\` valid for ` +
    `${DOWNLOAD_URL_TTL_SECONDS / 60} minutes. Up to the deployment's AUDIT_EXPORT_SYNC_MAX_EVENTS events (${SYNC} by default) ` +
    "it is written within the request and answered `status: done`. A larger range, up to " +
    `${MAX_EXPORT_EVENTS.toLocaleString("en-US")} events (422 beyond), is written by a durable workflow: answered at once with ` +
    "`status: pending` and `row_count` as counted now; follow it with get-audit-export or list-audit-exports (`status`, " +
    "`progress`); its link answers 409 `export_in_progress` until it is done. A workspace writes one such export at a time (409 " +
    `\`export_in_progress\` for a second). An export expires ${EXPORT_RETENTION_DAYS} days after it finished; a workspace holds at ` +
    `most ${EXPORTS_PER_WORKSPACE} unexpired exports (403 \`quota_exceeded\` beyond, until the oldest expires). 503 if exports ` +
    "are not configured. Requires `Audit.export`.",
  request: { params: WorkspacePathSchema },
  body: AuditExportRequestSchema,
  responses: {
    200: successResponse(AuditExportResponseSchema),
    ...errorResponses(...WORKSPACE_ROUTE_ERRORS, "rate_limited", "quota_exceeded", "export_in_progress"),
  },
});

export const listAuditExports = createRoute({
  method: "get",
  path: `${path}/exports`,
  operationId: "list-audit-exports",
  tags,
  summary: "List audit exports",
  description:
    `The workspace's unexpired exports (those being written, and those that finished in the last ${EXPORT_RETENTION_DAYS} days; ` +
    `at most ${EXPORTS_PER_WORKSPACE}), newest first, each with its \`status\` and \`progress\` and, once done, a fresh signed ` +
    "`download_url`. 503 if exports are not configured. Requires `Audit.export`.",
  request: { params: WorkspacePathSchema, query: ListAuditExportsQuerySchema },
  responses: { 200: successResponse(AuditExportListResponseSchema), ...errors },
});

export const getAuditExport = createRoute({
  method: "get",
  path: `${path}/exports/{export_id}`,
  operationId: "get-audit-export",
  tags,
  summary: "Get an audit export",
  description:
    "One export as list-audit-exports shows it: where it stands (`pending`, `running` with `events_written` and `progress`, " +
    "`done` with a fresh `download_url`, or `failed` with its `failure`). 404 once it has expired. 503 if exports are not " +
    "configured. Requires `Audit.export`. Not upstream (additive).",
  request: { params: ExportPathSchema },
  responses: { 200: successResponse(AuditExportListItemSchema), ...errors },
});

export const downloadAuditExport = createRoute({
  method: "get",
  path: "/downloads/audit-exports/{workspace_id}/{file}",
  operationId: "download-audit-export",
  tags,
  summary: "Download an audit export",
  description:
    "The export's NDJSON (`application/x-ndjson`), through the signed link from create-audit-export or list-audit-exports. Needs no " +
    "bearer token: the link is the credential. 403 if the link was altered or has expired; 409 `export_in_progress` while the " +
    `export is still being written; 404 if it failed, or once it has expired (${EXPORT_RETENTION_DAYS} days after it finished, ` +
    "even through a link still within its hour) or was deleted. Not part of the upstream API (upstream returns presigned S3 links).",
  security: [],
  request: { params: DownloadPathSchema, query: DownloadQuerySchema },
  responses: {
    200: {
      description:
        "The export: one JSON event per line, as list-audit-events shows it plus `proof: {log, index, size, hashes}`, then a last " +
        'line `{"checkpoints": [...]}`, the signed checkpoints the proofs lead to (docs/guides/audit.md, "Proving the trail").',
      content: { "application/x-ndjson": { schema: { type: "string" as const } } },
    },
    ...errorResponses("validation_error", "forbidden", "not_found", "export_in_progress", "service_unavailable", "internal_error"),
  },
});

// --- the verifiable log -------------------------------------------------------------------------------------

const LOG = 'One log per year of the workspace\'s trail (docs/guides/audit.md, "Proving the trail"). Not upstream (additive).';
const logErrors = errorResponses(...WORKSPACE_ROUTE_ERRORS, "rate_limited", "audit_integrity_failure");

export const listAuditCheckpoints = createRoute({
  method: "get",
  path: `${path}/checkpoints`,
  operationId: "list-audit-checkpoints",
  tags,
  summary: "List signed checkpoints of the audit log",
  description:
    "Without `year`: the latest signed checkpoint of each year's log, newest year first (a log that grew since its last checkpoint " +
    "is signed now). With `year`: that log's every kept checkpoint, newest first (a checkpoint is signed at least every 10 minutes " +
    `while the log changes, and whenever one is asked for). 503 if checkpoint signing is not configured. ${LOG} ${VIEW}`,
  request: { params: WorkspacePathSchema, query: CheckpointsQuerySchema },
  responses: { 200: successResponse(CheckpointListResponseSchema), ...logErrors },
});

export const getAuditEventProof = createRoute({
  method: "get",
  path: `${path}/{event_id}/proof`,
  operationId: "get-audit-event-proof",
  tags,
  summary: "Get an audit event's inclusion proof",
  description:
    "An RFC 9162 inclusion proof of the event (its leaf: the event as list-audit-events returns it, in RFC 8785 canonical JSON) " +
    "against the signed checkpoint `checkpoint` of size `size`, the latest (signed now if none covers the event yet). The store " +
    "checks the proof before it answers. 404 if the workspace's trail holds no such event. 503 if checkpoint signing is not " +
    `configured. ${LOG} ${VIEW}`,
  request: { params: EventProofPathSchema },
  responses: { 200: successResponse(EventProofResponseSchema), ...logErrors },
});

export const getAuditConsistencyProof = createRoute({
  method: "get",
  path: `${path}/consistency`,
  operationId: "get-audit-consistency-proof",
  tags,
  summary: "Get a consistency proof between two sizes of a year's audit log",
  description:
    "An RFC 9162 consistency proof that the log of `to` leaves extends the log of `from` (a checkpoint you kept): nothing it " +
    "held was changed, removed or reordered. 404 if the workspace has no log of that year; 422 if `to` is past the log's size, " +
    "`from` is past `to`, or a retention prune took the nodes `from` needs (a size that is a multiple of 16, or one of the latest " +
    `checkpoint's, always works). 503 if checkpoint signing is not configured. ${LOG} ${VIEW}`,
  request: { params: WorkspacePathSchema, query: ConsistencyQuerySchema },
  responses: { 200: successResponse(ConsistencyResponseSchema), ...logErrors },
});

export const getAuditKeys = createRoute({
  method: "get",
  path: "/.well-known/audit-keys",
  operationId: "get-audit-keys",
  tags,
  summary: "The region's audit-log verifier keys",
  description:
    "The verifier keys (C2SP signed-note format `<name>+<hex key id>+<base64 key>`, Ed25519) whose signatures this region's " +
    "checkpoints carry, one per line: the signing key's first, then the keys it replaced (kept after a rotation). Needs no " +
    "bearer token. 503 if no key is configured. Not upstream (additive).",
  security: [],
  responses: {
    200: { description: "One verifier key per line.", content: { "text/plain": { schema: { type: "string" as const } } } },
    ...errorResponses("service_unavailable", "internal_error"),
  },
});
