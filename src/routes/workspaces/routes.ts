import { createRoute, type z } from "@hono/zod-openapi";
import { errorResponses, WORKSPACE_ROUTE_ERRORS } from "../../core/errors";
import { successResponse, WorkspacePathSchema } from "../../http/openapi";
import { createJsonBodyRoute } from "../../http/router";
import { PaginationQuerySchema } from "../../storage/pagination";
import {
  ArchiveWorkspaceRequestSchema,
  ConvertEnvironmentRequestSchema,
  CreateWorkspaceRequestSchema,
  EnvironmentCheckQuerySchema,
  EnvironmentCheckResponseSchema,
  PaginatedWorkspacesSchema,
  ProvisionResponseSchema,
  TestCallerNumbersRequestSchema,
  TestCallerNumbersResponseSchema,
  TestCredentialIdsRequestSchema,
  TestCredentialIdsResponseSchema,
  UpdateWorkspaceRequestSchema,
  WorkspaceResponseSchema,
} from "./schemas";

const tags = ["Workspaces"];
const common = WORKSPACE_ROUTE_ERRORS;
const path = "/v1/workspaces/{workspace_id}";

export const createMyWorkspace = createJsonBodyRoute({
  method: "post",
  path: "/v1/me/workspaces",
  operationId: "create-my-workspace",
  tags: ["Account"],
  summary: "Create a workspace under the authenticated identity",
  description:
    "Create a new workspace in this deployment's region and attach the authenticated identity as its `owner`. Needs an identity token " +
    "with the `workspaces:write` scope; workspace API keys are refused. An identity may hold a limited number of workspaces it created " +
    "in this region (`WORKSPACES_PER_IDENTITY`, 100 unless the operator set another; archived ones count until an operator releases " +
    "their slug): past it, 403 `quota_exceeded`.",
  body: CreateWorkspaceRequestSchema,
  responses: {
    201: successResponse(WorkspaceResponseSchema),
    ...errorResponses(
      "slug_taken",
      "insufficient_scope",
      "unsupported_principal_type",
      "quota_exceeded",
      "validation_error",
      "unauthorized",
      "service_unavailable",
      "internal_error",
    ),
  },
});

export const listWorkspaces = createRoute({
  method: "get",
  path: "/v1/workspaces",
  operationId: "list-workspaces",
  tags,
  summary: "List workspaces",
  description:
    "The workspaces the caller can see in this region, archived ones left out: an identity's memberships (newest first), or an API " +
    "key's own workspace. `total` is filled for API keys and null for identities (counting would read every membership on every " +
    "page).",
  request: { query: PaginationQuerySchema },
  responses: { 200: successResponse(PaginatedWorkspacesSchema), ...errorResponses(...common) },
});

export const getWorkspace = createRoute({
  method: "get",
  path,
  operationId: "get-workspace",
  tags,
  summary: "Get a workspace",
  description:
    "Retrieve a workspace by ID. Requires `Workspace.view`. An archived workspace is visible to its owner only (404 for everyone else).",
  request: { params: WorkspacePathSchema },
  responses: { 200: successResponse(WorkspaceResponseSchema), ...errorResponses(...common) },
});

export const updateWorkspace = createJsonBodyRoute({
  method: "patch",
  path,
  operationId: "update-workspace",
  tags,
  summary: "Update a workspace",
  description:
    "Update `name` and `connector_type` (only the fields sent; `null` clears `connector_type`). `region` is immutable (422). " +
    "`environment` may only repeat the current value: use convert-environment to change it. Requires `Workspace.update`.",
  request: { params: WorkspacePathSchema },
  body: UpdateWorkspaceRequestSchema,
  responses: { 200: successResponse(WorkspaceResponseSchema), ...errorResponses(...common) },
});

export const provisionWorkspace = createRoute({
  method: "post",
  path: `${path}/provision`,
  operationId: "provision-workspace",
  tags,
  summary: "Provision workspace resources",
  description:
    "Mark the workspace as provisioned. Idempotent: `provisioned_at` is set by the first call only. Requires `Workspace.update`.",
  request: { params: WorkspacePathSchema },
  responses: { 200: successResponse(ProvisionResponseSchema), ...errorResponses(...common) },
});

export const archiveWorkspace = createJsonBodyRoute({
  method: "post",
  path: `${path}/archive`,
  operationId: "archive-workspace",
  tags,
  summary: "Archive a workspace",
  description:
    "Archive a workspace after slug confirmation (422 if it does not match). It leaves every listing, all its API keys are revoked " +
    "(401), and its slug stays reserved. Owners only (`Workspace.archive`). Repeating it returns the archived workspace.",
  request: { params: WorkspacePathSchema },
  body: ArchiveWorkspaceRequestSchema,
  responses: { 200: successResponse(WorkspaceResponseSchema), ...errorResponses(...common) },
});

export const checkEnvironmentConversion = createRoute({
  method: "get",
  path: `${path}/environment-check`,
  operationId: "check-environment-conversion",
  tags,
  summary: "Pre-check environment conversion",
  description: "List concrete warnings about converting to `target`. Changes nothing. Requires `Workspace.view`.",
  request: { params: WorkspacePathSchema, query: EnvironmentCheckQuerySchema },
  responses: { 200: successResponse(EnvironmentCheckResponseSchema), ...errorResponses(...common) },
});

export const convertEnvironment = createJsonBodyRoute({
  method: "post",
  path: `${path}/convert-environment`,
  operationId: "convert-workspace-environment",
  tags,
  summary: "Convert workspace environment",
  description:
    "Convert between staging and production after slug confirmation (422 if it does not match). Converting to the current environment " +
    "changes nothing; a development workspace cannot be converted (422). Requires `Workspace.convert`.",
  request: { params: WorkspacePathSchema },
  body: ConvertEnvironmentRequestSchema,
  responses: { 200: successResponse(WorkspaceResponseSchema), ...errorResponses(...common) },
});

/** The two test-traffic allowlists: the same read and replace operations, each on its own list. */
function allowlistRoutes<Req extends z.ZodType, Res extends z.ZodType>(list: {
  segment: string;
  title: string;
  contents: string;
  replaceRules: string;
  request: Req;
  response: Res;
}) {
  const listPath = `${path}/${list.segment}`;
  return {
    get: createRoute({
      method: "get",
      path: listPath,
      operationId: `get-${list.segment}`,
      tags,
      summary: `Get ${list.title}`,
      description: `${list.contents} Requires \`Workspace.view\`.`,
      request: { params: WorkspacePathSchema },
      responses: { 200: successResponse(list.response), ...errorResponses(...common) },
    }),
    update: createJsonBodyRoute({
      method: "put",
      path: listPath,
      operationId: `update-${list.segment}`,
      tags,
      summary: `Update ${list.title}`,
      description: `Replace the list: ${list.replaceRules} Requires \`Workspace.update\`.`,
      request: { params: WorkspacePathSchema },
      body: list.request,
      responses: { 200: successResponse(list.response), ...errorResponses(...common) },
    }),
  };
}

export const testCallerNumbers = allowlistRoutes({
  segment: "test-caller-numbers",
  title: "test caller numbers",
  contents: "Phone numbers configured as test callers.",
  replaceRules: "E.164 numbers, at most 100, duplicates dropped (first occurrence kept).",
  request: TestCallerNumbersRequestSchema,
  response: TestCallerNumbersResponseSchema,
});

export const testCredentialIds = allowlistRoutes({
  segment: "test-credential-ids",
  title: "test credential IDs",
  contents: "Credential ids configured as test principals.",
  replaceRules: "uuids, at most 100, lower-cased, duplicates dropped.",
  request: TestCredentialIdsRequestSchema,
  response: TestCredentialIdsResponseSchema,
});
