import { createRoute } from "@hono/zod-openapi";
import { requireAdmin } from "../../auth/authenticate";
import { errorResponses } from "../../core/errors";
import { successResponse } from "../../http/openapi";
import { createJsonBodyRoute } from "../../http/router";
import { OperatorAuditEventsListResponseSchema, OperatorAuditQuerySchema } from "../audit/schemas";
import { CreateIdentityRequestSchema, CreateIdentityResponseSchema, IdentityIdParamsSchema } from "./schemas";

const tags = ["Admin"];
const security = [{ AdminToken: [] }];

export const createIdentity = createJsonBodyRoute({
  method: "post",
  path: "/admin/identities",
  operationId: "admin-create-identity",
  tags,
  summary: "Create an identity and its personal access token",
  description:
    "Makes a person known to this deployment and returns their personal access token (`pat_…`), shown only in this response. Scopes " +
    "default to `workspaces:read` and `workspaces:write`. Each call makes a new identity, even for an email already known. " +
    "Recorded in the operator audit log (`identity.created`).",
  security,
  middleware: [requireAdmin],
  body: CreateIdentityRequestSchema,
  responses: {
    201: successResponse(CreateIdentityResponseSchema, "The identity, with its token (shown only here)."),
    ...errorResponses("validation_error", "unauthorized", "service_unavailable", "internal_error"),
  },
});

export const revokeIdentity = createRoute({
  method: "delete",
  path: "/admin/identities/{identity_id}",
  operationId: "admin-revoke-identity",
  tags,
  summary: "Revoke every token of an identity",
  description:
    "Its tokens get 401 from the next request served where KV has seen the deletion (at once in this location, up to about 60 s " +
    "elsewhere). Repeating the call is harmless (204).",
  security,
  middleware: [requireAdmin] as const,
  request: { params: IdentityIdParamsSchema },
  responses: {
    204: { description: "Revoked." },
    ...errorResponses("not_found", "validation_error", "unauthorized", "service_unavailable", "internal_error"),
  },
});

export const listOperatorAudit = createRoute({
  method: "get",
  path: "/admin/audit",
  operationId: "admin-list-audit-events",
  tags,
  summary: "List the operator audit log",
  description:
    "The events of writes made on the admin surface (`identity.created`, `identity.revoked`) in this region, newest first, with " +
    "limit/offset pagination. They belong to no workspace; the operator token has no actor ids (both null).",
  security,
  middleware: [requireAdmin] as const,
  request: { query: OperatorAuditQuerySchema },
  responses: {
    200: successResponse(OperatorAuditEventsListResponseSchema),
    ...errorResponses("validation_error", "unauthorized", "service_unavailable", "internal_error"),
  },
});
