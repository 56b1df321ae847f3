import { authorize } from "../../auth/authorize";
import type { AppContext, AppRouteHandler } from "../../core/env";
import { ApiError } from "../../core/errors";
import { syncExportMaxEvents } from "../../core/holdings";
import { auditVerifiers } from "../../security/audit-keys";
import { requiredServerSecret } from "../../security/server-secret";
import { verifyObjectKey } from "../../security/signed-url";
import { auditActorOf } from "../../storage/audit-events/record";
import type { AuditExportRow } from "../../storage/d1/schema";
import { batchAnswer } from "../../storage/idempotency-records";
import type * as routes from "./routes";
import type { AuditExportListItem, AuditExportResponse } from "./schemas";
import * as service from "./service";

const NOT_CONFIGURED = "Audit export is not configured in this deployment.";

/** The export bucket and the link-signing secret, or 503 (upstream's "Audit export not configured"). */
function exportConfig(c: AppContext): { bucket: R2Bucket; secret: string; base: string } {
  const bucket = c.env.AUDIT_EXPORTS as R2Bucket | undefined;
  // The cause is what onError logs with the 503: which of the two is missing.
  if (!bucket)
    throw new ApiError("service_unavailable", NOT_CONFIGURED, { cause: new Error("the AUDIT_EXPORTS bucket binding is missing") });
  const secret = requiredServerSecret(c.env.AUDIT_EXPORT_SIGNING_KEY, "AUDIT_EXPORT_SIGNING_KEY", NOT_CONFIGURED);
  // The link goes back to the caller who asked for it; PUBLIC_URL, where set, names the deployment.
  return { bucket, secret, base: c.env.PUBLIC_URL || new URL(c.req.url).origin };
}

/** An export as list-audit-exports and get-audit-export show it: the link only once it is done. */
async function exportItem(row: AuditExportRow, base: string, secret: string): Promise<AuditExportListItem> {
  return {
    key: row.objectKey,
    size: row.size,
    last_modified: row.finishedAt,
    download_url: row.status === "done" ? await service.downloadUrl(base, secret, row.objectKey) : null,
    export_id: row.id,
    status: row.status,
    row_count: row.rowCount,
    events_written: row.eventsWritten,
    progress: service.progressOf(row),
    failure: row.failure,
    created_at: row.createdAt,
  };
}

export const listAuditEvents: AppRouteHandler<typeof routes.listAuditEvents> = async (c) => {
  const { workspace_id } = c.req.valid("param");
  await authorize(c, workspace_id, "Audit.view");
  const { limit, offset, ...filters } = c.req.valid("query");
  return c.json(await service.listEvents(c.get("storage"), workspace_id, filters, limit, offset), 200);
};

export const getAuditSummary: AppRouteHandler<typeof routes.getAuditSummary> = async (c) => {
  const { workspace_id } = c.req.valid("param");
  await authorize(c, workspace_id, "Audit.view");
  return c.json(await service.summarize(c.get("storage"), workspace_id, c.req.valid("query")), 200);
};

export const getEntityAccessLog: AppRouteHandler<typeof routes.getEntityAccessLog> = async (c) => {
  const { workspace_id, entity_id } = c.req.valid("param");
  await authorize(c, workspace_id, "Audit.view");
  const entityId = entity_id.toLowerCase();
  if (!(await service.isKnownEntity(c.get("storage"), workspace_id, entityId))) throw new ApiError("not_found", "Entity not found.");
  const { limit, offset, ...range } = c.req.valid("query");
  return c.json(await service.listEvents(c.get("storage"), workspace_id, { ...range, involving: entityId }, limit, offset), 200);
};

export const getPhiAccessReport: AppRouteHandler<typeof routes.getPhiAccessReport> = async (c) => {
  const { workspace_id } = c.req.valid("param");
  await authorize(c, workspace_id, "Audit.view");
  const { limit, offset, entity_id, ...range } = c.req.valid("query");
  return c.json(
    await service.listEvents(c.get("storage"), workspace_id, { ...range, phi_only: true, resource_id: entity_id }, limit, offset),
    200,
  );
};

export const createAuditExport: AppRouteHandler<typeof routes.createAuditExport> = async (c) => {
  const { workspace_id } = c.req.valid("param");
  await authorize(c, workspace_id, "Audit.export");
  const { bucket, secret, base } = exportConfig(c);
  await service.requireAuditSigner(c.env);
  const target = {
    bucket,
    workflow: c.env.AUDIT_EXPORT_WORKFLOW as Workflow | undefined,
    syncMaxEvents: syncExportMaxEvents(c.env.AUDIT_EXPORT_SYNC_MAX_EVENTS),
    afterAnswer: (work: Promise<unknown>) => c.executionCtx.waitUntil(work),
  };
  // Built once: the answer an Idempotency-Key keeps (in the export's own batch) is the answer sent.
  let response: Promise<AuditExportResponse> | undefined;
  const responseOf = (row: AuditExportRow) => (response ??= exportResponse(row, base, secret));
  const row = await service.createExport(
    c.get("storage"),
    target,
    workspace_id,
    c.req.valid("json"),
    auditActorOf(c),
    batchAnswer(c.get("idempotency"), 200, responseOf),
  );
  return c.json(await responseOf(row), 200);
};

/** The create's answer: a row it just recorded is done (written within the request) or pending (its workflow's). */
async function exportResponse(row: AuditExportRow, base: string, secret: string): Promise<AuditExportResponse> {
  const download_url = await service.downloadUrl(base, secret, row.objectKey);
  const status = row.status === "done" ? "done" : "pending";
  return { export_id: row.id, s3_key: row.objectKey, row_count: row.rowCount, download_url, created_at: row.createdAt, status };
}

export const listAuditExports: AppRouteHandler<typeof routes.listAuditExports> = async (c) => {
  const { workspace_id } = c.req.valid("param");
  await authorize(c, workspace_id, "Audit.export");
  const { secret, base } = exportConfig(c);
  const rows = await service.listExports(c.get("storage"), workspace_id, c.req.valid("query").limit);
  return c.json({ exports: await Promise.all(rows.map((row) => exportItem(row, base, secret))) }, 200);
};

export const getAuditExport: AppRouteHandler<typeof routes.getAuditExport> = async (c) => {
  const { workspace_id, export_id } = c.req.valid("param");
  await authorize(c, workspace_id, "Audit.export");
  const { secret, base } = exportConfig(c);
  return c.json(await exportItem(await service.getExport(c.get("storage"), workspace_id, export_id), base, secret), 200);
};

export const downloadAuditExport: AppRouteHandler<typeof routes.downloadAuditExport> = async (c) => {
  const { workspace_id, file } = c.req.valid("param");
  const { expires, signature } = c.req.valid("query");
  const { bucket, secret } = exportConfig(c);
  const exportId = file.slice(0, -".ndjson".length);
  if (!(await verifyObjectKey(secret, service.exportObjectKey(workspace_id, exportId), expires, signature))) {
    throw new ApiError("forbidden", "The download link is invalid or has expired; list the exports for a fresh one.");
  }
  const object = await service.readExport(bucket, workspace_id, exportId);
  if (!object) throw await service.missingExport(c.get("storage"), workspace_id, exportId);
  const headers = {
    "content-type": "application/x-ndjson",
    "content-length": String(object.size),
    "content-disposition": `attachment; filename="${file}"`,
    "cache-control": "private, no-store",
  };
  // zod-openapi types only JSON responses; this one streams the object as it is.
  return c.body(object.body, 200, headers) as never;
};

// --- the verifiable log -------------------------------------------------------------------------------------

export const listAuditCheckpoints: AppRouteHandler<typeof routes.listAuditCheckpoints> = async (c) => {
  const { workspace_id } = c.req.valid("param");
  await authorize(c, workspace_id, "Audit.view");
  await service.requireAuditSigner(c.env);
  const { year, limit, offset } = c.req.valid("query");
  return c.json(await service.listCheckpoints(c.get("storage"), workspace_id, year ?? null, limit, offset), 200);
};

export const getAuditEventProof: AppRouteHandler<typeof routes.getAuditEventProof> = async (c) => {
  const { workspace_id, event_id } = c.req.valid("param");
  await authorize(c, workspace_id, "Audit.view");
  await service.requireAuditSigner(c.env);
  return c.json(await service.eventProof(c.get("storage"), workspace_id, event_id), 200);
};

export const getAuditConsistencyProof: AppRouteHandler<typeof routes.getAuditConsistencyProof> = async (c) => {
  const { workspace_id } = c.req.valid("param");
  await authorize(c, workspace_id, "Audit.view");
  await service.requireAuditSigner(c.env);
  const { year, from, to } = c.req.valid("query");
  return c.json(await service.consistencyProof(c.get("storage"), workspace_id, year, from, to ?? null), 200);
};

export const getAuditKeys: AppRouteHandler<typeof routes.getAuditKeys> = async (c) => {
  const keys = await auditVerifiers(c.env);
  if (keys.length === 0) {
    throw new ApiError("service_unavailable", service.LOG_NOT_CONFIGURED, {
      cause: new Error("no AUDIT_SIGNING_KEY nor retired verifier key"),
    });
  }
  // zod-openapi types only JSON responses; this one is text, a key a line.
  return c.text(`${keys.map((key) => key.text).join("\n")}\n`, 200, { "cache-control": "public, max-age=300" }) as never;
};
