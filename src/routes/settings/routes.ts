import { createRoute } from "@hono/zod-openapi";
import { errorResponses, WORKSPACE_ROUTE_ERRORS } from "../../core/errors";
import { successResponse, WorkspacePathSchema } from "../../http/openapi";
import { createJsonBodyRoute } from "../../http/router";
import { RetentionPolicyRequestSchema, RetentionPolicyResponseSchema } from "./schemas";

const path = "/v1/{workspace_id}/settings/retention";
const tags = ["Settings"];

export const getRetentionPolicy = createRoute({
  method: "get",
  path,
  operationId: "get-retention-policy",
  tags,
  summary: "Get retention policy",
  description:
    "The workspace's retention policy, with the default (2190 days, six years) for every field never set. Requires `Workspace.view` " +
    "(every role).",
  request: { params: WorkspacePathSchema },
  responses: { 200: successResponse(RetentionPolicyResponseSchema), ...errorResponses(...WORKSPACE_ROUTE_ERRORS, "rate_limited") },
});

export const updateRetentionPolicy = createJsonBodyRoute({
  method: "put",
  path,
  operationId: "update-retention-policy",
  tags,
  summary: "Update retention policy",
  description:
    "Partial update: only the fields sent change. The scheduled job deletes audit events older than `audit_log_days` (hourly, in " +
    "bounded batches), never while `legal_hold` is true; a hold is in force once this answers 200 (a 503 means it is recorded but " +
    "not yet in force everywhere: repeat the request). Each change is an audit event " +
    "(`workspace.retention_policy_updated`) with every changed field's old and new value. Requires `Workspace.update` (owner, admin).",
  request: { params: WorkspacePathSchema },
  body: RetentionPolicyRequestSchema,
  responses: {
    200: successResponse(RetentionPolicyResponseSchema),
    ...errorResponses(...WORKSPACE_ROUTE_ERRORS, "conflict", "rate_limited"),
  },
});
