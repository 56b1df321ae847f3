import { createRoute } from "@hono/zod-openapi";
import { errorResponses, WORKSPACE_ROUTE_ERRORS } from "../../core/errors";
import { successResponse, WorkspacePathSchema } from "../../http/openapi";
import { createJsonBodyRoute } from "../../http/router";
import { PaginationQuerySchema } from "../../storage/pagination";
import { MemberParamsSchema, MemberResponseSchema, PaginatedMembersSchema, UpdateMemberRequestSchema } from "./schemas";

const tags = ["Members"];
const common = WORKSPACE_ROUTE_ERRORS;

export const listMembers = createRoute({
  method: "get",
  path: "/v1/{workspace_id}/members",
  operationId: "list-members",
  tags,
  summary: "List members",
  description:
    "The workspace's members with their roles, newest first, with keyset pagination. Requires `Member.view`. `total` counts all pages.",
  request: { params: WorkspacePathSchema, query: PaginationQuerySchema },
  responses: { 200: successResponse(PaginatedMembersSchema), ...errorResponses(...common) },
});

export const updateMember = createJsonBodyRoute({
  method: "patch",
  path: "/v1/{workspace_id}/members/{identity_id}",
  operationId: "update-member",
  tags,
  summary: "Change a member's role",
  description:
    "Requires `Member.manage`. Nobody grants a role above their own, and an admin cannot change an owner (403). The last owner cannot " +
    "be demoted (409 `last_owner`): promote another member to owner first. A demotion revokes, in the same transaction, every API " +
    "key the member is accountable for whose role is above the new one. The same role again changes nothing.",
  request: { params: MemberParamsSchema },
  body: UpdateMemberRequestSchema,
  responses: { 200: successResponse(MemberResponseSchema), ...errorResponses(...common, "last_owner", "conflict") },
});

export const removeMember = createRoute({
  method: "delete",
  path: "/v1/{workspace_id}/members/{identity_id}",
  operationId: "remove-member",
  tags,
  summary: "Remove a member, or leave",
  description:
    "Removes the member and revokes, in the same transaction, every API key it is accountable for. Requires `Member.manage` (an admin " +
    "cannot remove an owner), except for an identity removing itself (leaving), which any member may do. The last owner cannot be " +
    "removed (409 `last_owner`): ownership moves by promoting another owner, then leaving. The removed identity's next request to " +
    "the workspace is refused as a non-member's (403), and the workspace leaves its list-workspaces at once.",
  request: { params: MemberParamsSchema },
  responses: { 204: { description: "Successful Response" }, ...errorResponses(...common, "last_owner", "conflict") },
});
