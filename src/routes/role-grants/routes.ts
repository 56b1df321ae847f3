import { createRoute } from "@hono/zod-openapi";
import { errorResponses, WORKSPACE_ROUTE_ERRORS } from "../../core/errors";
import { successResponse, WorkspacePathSchema } from "../../http/openapi";
import { createJsonBodyRoute } from "../../http/router";
import {
  CreateRoleGrantRequestSchema,
  GrantParamsSchema,
  ListRoleGrantsQuerySchema,
  RoleGrantItemSchema,
  RoleGrantsListSchema,
} from "./schemas";

const tags = ["Role Grants"];
const common = WORKSPACE_ROUTE_ERRORS;
const path = "/v1/{workspace_id}/role-grants";

export const listRoleGrants = createRoute({
  method: "get",
  path,
  operationId: "list-role-grants",
  tags,
  summary: "List Role Grants",
  description: "The workspace's grants, newest first unless `sort_by` says otherwise; `status` filters. Requires `RoleGrant.view`.",
  request: { params: WorkspacePathSchema, query: ListRoleGrantsQuerySchema },
  responses: { 200: successResponse(RoleGrantsListSchema), ...errorResponses(...common) },
});

export const createRoleGrant = createJsonBodyRoute({
  method: "post",
  path,
  operationId: "create-role-grant",
  tags,
  summary: "Create Role Grant",
  description:
    "Grants an external role `access` to a resource. `role_id` must be an external role of the workspace (422). 409 `already_exists` " +
    "if the same role, resource and access is already granted (active). Unknown fields are 422. Requires `RoleGrant.manage`.",
  request: { params: WorkspacePathSchema },
  body: CreateRoleGrantRequestSchema,
  responses: { 201: successResponse(RoleGrantItemSchema), ...errorResponses(...common, "already_exists") },
});

export const getRoleGrant = createRoute({
  method: "get",
  path: `${path}/{grant_id}`,
  operationId: "get-role-grant",
  tags,
  summary: "Get Role Grant",
  description: "Any grant of the workspace, active or superseded. Requires `RoleGrant.view`.",
  request: { params: GrantParamsSchema },
  responses: { 200: successResponse(RoleGrantItemSchema), ...errorResponses(...common) },
});

export const supersedeRoleGrant = createRoute({
  method: "delete",
  path: `${path}/{grant_id}`,
  operationId: "supersede-role-grant",
  tags,
  summary: "Supersede Role Grant",
  description:
    "Supersede an active grant (immutable history) — never a physical delete: the grant stays readable with `status` `superseded` and " +
    "`changed_by` the caller. 404 for an unknown or already superseded grant. Requires `RoleGrant.manage`.",
  request: { params: GrantParamsSchema },
  responses: { 204: { description: "Successful Response" }, ...errorResponses(...common) },
});
