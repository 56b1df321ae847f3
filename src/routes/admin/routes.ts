import { createRoute } from "@hono/zod-openapi";
import { requireAdmin } from "../../auth/authenticate";
import { errorResponses } from "../../core/errors";
import { successResponse, WorkspacePathSchema } from "../../http/openapi";
import { createJsonBodyRoute } from "../../http/router";
import {
  CheckpointListResponseSchema,
  CheckpointsQuerySchema,
  ConsistencyQuerySchema,
  ConsistencyResponseSchema,
  EventProofResponseSchema,
  OperatorAuditEventsListResponseSchema,
  OperatorAuditQuerySchema,
  OperatorEventProofPathSchema,
} from "../audit/schemas";
import {
  CreateIdentityRequestSchema,
  CreateIdentityResponseSchema,
  EnableIdentityResponseSchema,
  IdentityIdParamsSchema,
  IdentityListQuerySchema,
  IdentityListResponseSchema,
  ReleasedSlugResponseSchema,
} from "./schemas";

const tags = ["Admin"];
const security = [{ AdminToken: [] }];
/**
 * What requireAdmin answers on every admin route: 401 for a missing or wrong token, 429 once the client's
 * address is over its failed-authentication limit, 503 while ADMIN_TOKEN is unset or too short.
 */
const ADMIN_ERRORS = ["validation_error", "unauthorized", "rate_limited", "service_unavailable", "internal_error"] as const;

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
    ...errorResponses(...ADMIN_ERRORS),
  },
});

export const listIdentities = createRoute({
  method: "get",
  path: "/admin/identities",
  operationId: "admin-list-identities",
  tags,
  summary: "List identities",
  description:
    "Every identity of the deployment (or those with `email`), in id order, each with how it signs in (personal tokens, or which " +
    "identity provider) and whether it is revoked. Identities live in the global key store: one created in the last minute or so " +
    "may not be listed yet.",
  security,
  middleware: [requireAdmin] as const,
  request: { query: IdentityListQuerySchema },
  responses: {
    200: successResponse(IdentityListResponseSchema),
    ...errorResponses(...ADMIN_ERRORS),
  },
});

export const enableIdentity = createRoute({
  method: "post",
  path: "/admin/identities/{identity_id}/enable",
  operationId: "admin-enable-identity",
  tags,
  summary: "Enable a revoked identity",
  description:
    "Lets a revoked identity sign in again (`identity.enabled` in the operator log): its identity provider's tokens work again. The " +
    "personal tokens revocation deleted stay revoked, so a personal-token identity gets a new token, shown only in this response. " +
    "The API keys and invitations the revocation took stay revoked in every region. An identity that is not revoked is left as it " +
    "is (200, `token` null).",
  security,
  middleware: [requireAdmin] as const,
  request: { params: IdentityIdParamsSchema },
  responses: {
    200: successResponse(EnableIdentityResponseSchema),
    ...errorResponses("not_found", ...ADMIN_ERRORS),
  },
});

export const revokeIdentity = createRoute({
  method: "delete",
  path: "/admin/identities/{identity_id}",
  operationId: "admin-revoke-identity",
  tags,
  summary: "Disable an identity: revoke its tokens, and the API keys and invitations it handed out",
  description:
    "Its tokens (personal tokens, and its identity provider's) get 401 from the next request served where KV has seen the change (at " +
    "once in this location, up to about 60 s elsewhere). Every API key it holds (`accountable_entity_id`) and every pending invitation " +
    "it issued is revoked in every region: in this region's database at once, and refused everywhere from the same moment as its " +
    "tokens; other regions record the revocations in their hourly run. Repeating the call is harmless (204); " +
    "`admin-enable-identity` lets the identity sign in again, and restores none of its keys or invitations.",
  security,
  middleware: [requireAdmin] as const,
  request: { params: IdentityIdParamsSchema },
  responses: {
    204: { description: "Revoked." },
    ...errorResponses("not_found", ...ADMIN_ERRORS),
  },
});

export const releaseWorkspaceSlug = createRoute({
  method: "post",
  path: "/admin/workspaces/{workspace_id}/release-slug",
  operationId: "admin-release-workspace-slug",
  tags,
  summary: "Give an archived workspace's slug back to the global namespace",
  description:
    "An archived workspace keeps its slug (no region can create a workspace with it) until this call, which an operator may make " +
    "once `SLUG_RELEASE_GRACE_DAYS` (30 unless configured) have passed since the archive; sent to the workspace's own region. " +
    "Recorded in the operator audit log (`workspace.slug_released`). The workspace stays archived and its owner still reads it, slug " +
    "included; it no longer counts towards its creator's workspace limit. 409 `conflict` for a workspace that is not archived, or " +
    "whose grace period has not passed (the detail says when it does). Repeating the call answers the same. 503 when the global " +
    "slug registry cannot be reached: the release is recorded in this region, and repeating the call finishes it.",
  security,
  middleware: [requireAdmin] as const,
  request: { params: WorkspacePathSchema },
  responses: {
    200: successResponse(ReleasedSlugResponseSchema),
    ...errorResponses("not_found", "conflict", ...ADMIN_ERRORS),
  },
});

export const listOperatorAudit = createRoute({
  method: "get",
  path: "/admin/audit",
  operationId: "admin-list-audit-events",
  tags,
  summary: "List the operator audit log",
  description:
    "The events of writes made on the admin surface (`identity.created`, `identity.revoked`, `identity.enabled`, " +
    "`workspace.slug_released`), and of identities created by their first identity-provider token (`identity.created`), in this " +
    "region, newest first, with limit/offset pagination. They belong to no workspace; the operator token has no actor ids (both null).",
  security,
  middleware: [requireAdmin] as const,
  request: { query: OperatorAuditQuerySchema },
  responses: {
    200: successResponse(OperatorAuditEventsListResponseSchema),
    ...errorResponses(...ADMIN_ERRORS),
  },
});

// --- the operator log's proofs: as the workspace routes (docs/guides/audit.md, "Proving the trail") ---------

const OPERATOR_LOG =
  'One log per year of the operator log, named `<host>/audit/operator-log/<year>` (docs/guides/audit.md, "Proving the trail"). ' +
  "Not upstream (additive).";
const operatorLogErrors = errorResponses(...ADMIN_ERRORS, "audit_integrity_failure");

export const listOperatorAuditCheckpoints = createRoute({
  method: "get",
  path: "/admin/audit/checkpoints",
  operationId: "admin-list-audit-checkpoints",
  tags,
  summary: "List signed checkpoints of the operator audit log",
  description:
    "As list-audit-checkpoints, for the operator log: without `year`, the latest signed checkpoint of each year's log, newest year " +
    `first; with \`year\`, that log's every kept checkpoint, newest first. 503 if checkpoint signing is not configured. ${OPERATOR_LOG}`,
  security,
  middleware: [requireAdmin] as const,
  request: { query: CheckpointsQuerySchema },
  responses: { 200: successResponse(CheckpointListResponseSchema), ...operatorLogErrors },
});

export const getOperatorAuditEventProof = createRoute({
  method: "get",
  path: "/admin/audit/{event_id}/proof",
  operationId: "admin-get-audit-event-proof",
  tags,
  summary: "Get an operator audit event's inclusion proof",
  description:
    "As get-audit-event-proof, for an event of the operator log: an RFC 9162 inclusion proof against the signed checkpoint " +
    "`checkpoint` of size `size`. 404 if the operator log holds no such event. 503 if checkpoint signing is not configured. " +
    OPERATOR_LOG,
  security,
  middleware: [requireAdmin] as const,
  request: { params: OperatorEventProofPathSchema },
  responses: { 200: successResponse(EventProofResponseSchema), ...errorResponses("not_found"), ...operatorLogErrors },
});

export const getOperatorAuditConsistencyProof = createRoute({
  method: "get",
  path: "/admin/audit/consistency",
  operationId: "admin-get-audit-consistency-proof",
  tags,
  summary: "Get a consistency proof between two sizes of a year's operator audit log",
  description:
    "As get-audit-consistency-proof, for the operator log. 404 if it has no log of that year; 422 if `to` is past the log's size, " +
    "`from` is past `to`, or a retention prune took the nodes `from` needs. 503 if checkpoint signing is not configured. " +
    OPERATOR_LOG,
  security,
  middleware: [requireAdmin] as const,
  request: { query: ConsistencyQuerySchema },
  responses: { 200: successResponse(ConsistencyResponseSchema), ...errorResponses("not_found"), ...operatorLogErrors },
});
