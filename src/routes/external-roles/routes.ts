import { createRoute } from "@hono/zod-openapi";
import { errorResponses, WORKSPACE_ROUTE_ERRORS } from "../../core/errors";
import { successResponse, WorkspacePathSchema } from "../../http/openapi";
import { createJsonBodyRoute } from "../../http/router";
import {
  AssignmentParamsSchema,
  AssignmentsListSchema,
  CreateExternalRoleRequestSchema,
  ExternalRoleAssignmentItemSchema,
  ExternalRoleItemSchema,
  ExternalRolesListSchema,
  ListAssignmentsQuerySchema,
  ListExternalRolesQuerySchema,
  RoleParamsSchema,
  UpsertAssignmentRequestSchema,
} from "./schemas";

const common = WORKSPACE_ROUTE_ERRORS;
const roles = { tags: ["External Roles"], path: "/v1/{workspace_id}/external-roles" } as const;
const assignments = { tags: ["External Role Assignments"], path: "/v1/{workspace_id}/external-role-assignments" } as const;
const noContent = { description: "Successful Response" };

export const listExternalRoles = createRoute({
  method: "get",
  path: roles.path,
  operationId: "list-external-roles",
  tags: [...roles.tags],
  summary: "List External Roles",
  description:
    "The workspace's external roles (deleted ones left out), by `name` unless `sort_by` says otherwise. Requires `ExternalRole.view`.",
  request: { params: WorkspacePathSchema, query: ListExternalRolesQuerySchema },
  responses: { 200: successResponse(ExternalRolesListSchema), ...errorResponses(...common) },
});

export const createExternalRole = createJsonBodyRoute({
  method: "post",
  path: roles.path,
  operationId: "create-external-role",
  tags: [...roles.tags],
  summary: "Create External Role",
  description: "Requires `ExternalRole.manage`. Unknown fields are 422. A name a live role of the workspace has is 409 `already_exists`.",
  request: { params: WorkspacePathSchema },
  body: CreateExternalRoleRequestSchema,
  responses: { 201: successResponse(ExternalRoleItemSchema), ...errorResponses(...common, "already_exists") },
});

export const getExternalRole = createRoute({
  method: "get",
  path: `${roles.path}/{role_id}`,
  operationId: "get-external-role",
  tags: [...roles.tags],
  summary: "Get External Role",
  description: "Requires `ExternalRole.view`. A deleted role is 404.",
  request: { params: RoleParamsSchema },
  responses: { 200: successResponse(ExternalRoleItemSchema), ...errorResponses(...common) },
});

export const deleteExternalRole = createRoute({
  method: "delete",
  path: `${roles.path}/{role_id}`,
  operationId: "delete-external-role",
  tags: [...roles.tags],
  summary: "Delete External Role",
  description:
    "Requires `ExternalRole.manage`. In the same transaction, every active grant of the role is superseded and its name is taken out " +
    "of every assignment (each recorded in the audit trail). Its name may then be used again. 404 once deleted.",
  request: { params: RoleParamsSchema },
  responses: { 204: noContent, ...errorResponses(...common) },
});

export const listAssignments = createRoute({
  method: "get",
  path: assignments.path,
  operationId: "list-external-role-assignments",
  tags: [...assignments.tags],
  summary: "List External Role Assignments",
  description: "The workspace's assignments, newest first unless `sort_by` says otherwise. Requires `ExternalRole.view`.",
  request: { params: WorkspacePathSchema, query: ListAssignmentsQuerySchema },
  responses: { 200: successResponse(AssignmentsListSchema), ...errorResponses(...common) },
});

export const upsertAssignment = createJsonBodyRoute({
  method: "put",
  path: assignments.path,
  operationId: "upsert-external-role-assignment",
  tags: [...assignments.tags],
  summary: "Upsert External Role Assignment",
  description:
    "Creates or replaces the assignment of (`source`, `external_subject_key`). Every name in `roles` must be an external role of the " +
    "workspace and `entity_id` a member identity (422 naming what is not). An upsert that changes nothing writes nothing " +
    "(`updated_at` stays); one that does sets `status` to `active` and, with `roles_verified`, `last_verified_at`. Requires " +
    "`ExternalRole.manage`.",
  request: { params: WorkspacePathSchema },
  body: UpsertAssignmentRequestSchema,
  responses: { 200: successResponse(ExternalRoleAssignmentItemSchema), ...errorResponses(...common, "conflict") },
});

export const getAssignment = createRoute({
  method: "get",
  path: `${assignments.path}/{assignment_id}`,
  operationId: "get-external-role-assignment",
  tags: [...assignments.tags],
  summary: "Get External Role Assignment",
  description: "Requires `ExternalRole.view`.",
  request: { params: AssignmentParamsSchema },
  responses: { 200: successResponse(ExternalRoleAssignmentItemSchema), ...errorResponses(...common) },
});

export const deleteAssignment = createRoute({
  method: "delete",
  path: `${assignments.path}/{assignment_id}`,
  operationId: "delete-external-role-assignment",
  tags: [...assignments.tags],
  summary: "Delete External Role Assignment",
  description: "Deletes the assignment (the audit trail keeps its history). Requires `ExternalRole.manage`.",
  request: { params: AssignmentParamsSchema },
  responses: { 204: noContent, ...errorResponses(...common) },
});
