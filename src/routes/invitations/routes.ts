import { createRoute } from "@hono/zod-openapi";
import { type ErrorCode, errorResponses, WORKSPACE_ROUTE_ERRORS } from "../../core/errors";
import { successResponse, WorkspacePathSchema } from "../../http/openapi";
import { createJsonBodyRoute } from "../../http/router";
import { PaginationQuerySchema } from "../../storage/pagination";
import { MemberResponseSchema } from "../members/schemas";
import {
  CreateInvitationRequestSchema,
  InvitationParamsSchema,
  InvitationResponseSchema,
  MyInvitationParamsSchema,
  PaginatedInvitationsSchema,
  PaginatedMyInvitationsSchema,
} from "./schemas";

const tags = ["Members"];
const common = WORKSPACE_ROUTE_ERRORS;
/** The invitee's routes: identities only, no workspace in the path. */
const mine: ErrorCode[] = [
  "validation_error",
  "unauthorized",
  "unsupported_principal_type",
  "insufficient_scope",
  "not_found",
  "service_unavailable",
  "internal_error",
];

export const createInvitation = createJsonBodyRoute({
  method: "post",
  path: "/v1/{workspace_id}/invitations",
  operationId: "create-invitation",
  tags,
  summary: "Invite someone to the workspace",
  description:
    "Invites the identity with `email` to join with `role`. Requires `Member.manage`; the role may not exceed the caller's (403). 409 " +
    "`already_member` if someone with that email is a member, 409 `invitation_pending` if an unexpired invitation for it is " +
    "pending (an expired one is replaced). No email is sent: the invitee sees it under `GET /v1/me/invitations`.",
  request: { params: WorkspacePathSchema },
  body: CreateInvitationRequestSchema,
  responses: { 201: successResponse(InvitationResponseSchema), ...errorResponses(...common, "already_member", "invitation_pending") },
});

export const listInvitations = createRoute({
  method: "get",
  path: "/v1/{workspace_id}/invitations",
  operationId: "list-invitations",
  tags,
  summary: "List open invitations",
  description:
    "The workspace's unanswered invitations, newest first, with keyset pagination: `pending` ones and those past their expiry " +
    "(`expired`). Accepted, declined and revoked ones are in the audit trail. Requires `Member.view`.",
  request: { params: WorkspacePathSchema, query: PaginationQuerySchema },
  responses: { 200: successResponse(PaginatedInvitationsSchema), ...errorResponses(...common) },
});

export const revokeInvitation = createRoute({
  method: "delete",
  path: "/v1/{workspace_id}/invitations/{invitation_id}",
  operationId: "revoke-invitation",
  tags,
  summary: "Revoke an invitation",
  description:
    "Revokes an unanswered invitation; it can no longer be accepted. Requires `Member.manage` and a role at least the invitation's. An " +
    "answered or already revoked invitation is 404.",
  request: { params: InvitationParamsSchema },
  responses: { 204: { description: "Successful Response" }, ...errorResponses(...common) },
});

export const listMyInvitations = createRoute({
  method: "get",
  path: "/v1/me/invitations",
  operationId: "list-my-invitations",
  tags,
  summary: "List my pending invitations",
  description:
    "The pending, unexpired invitations addressed to the calling identity's email (compared case-insensitively) in this region, newest " +
    "first. Identity tokens only, with `workspaces:read`.",
  request: { query: PaginationQuerySchema },
  responses: { 200: successResponse(PaginatedMyInvitationsSchema), ...errorResponses(...mine) },
});

export const acceptInvitation = createRoute({
  method: "post",
  path: "/v1/me/invitations/{invitation_id}/accept",
  operationId: "accept-invitation",
  tags,
  summary: "Accept an invitation",
  description:
    "The calling identity joins the workspace with the invitation's role. 404 for an invitation that is not addressed to it, was " +
    "revoked, declined or already accepted (by anyone); 410 once expired; 409 `already_member` if it is a member already. Identity " +
    "tokens only, with `workspaces:write`.",
  request: { params: MyInvitationParamsSchema },
  responses: { 200: successResponse(MemberResponseSchema), ...errorResponses(...mine, "already_member", "invitation_expired", "conflict") },
});

export const declineInvitation = createRoute({
  method: "post",
  path: "/v1/me/invitations/{invitation_id}/decline",
  operationId: "decline-invitation",
  tags,
  summary: "Decline an invitation",
  description:
    "Declines an invitation addressed to the calling identity; 404 and 410 as for accepting. Identity tokens only, with " +
    "`workspaces:write`.",
  request: { params: MyInvitationParamsSchema },
  responses: { 204: { description: "Successful Response" }, ...errorResponses(...mine, "invitation_expired", "conflict") },
});
