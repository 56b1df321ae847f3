import { createRoute } from "@hono/zod-openapi";
import { BODY_ERRORS, errorResponses, WORKSPACE_ROUTE_ERRORS } from "../errors";
import { jsonRequestBody, successResponse, WorkspacePathSchema } from "../openapi";
import { PaginationQuerySchema } from "../pagination";
import { jsonBody } from "../validation";
import {
  ArchiveWorkspaceRequestSchema,
  ConvertEnvironmentRequestSchema,
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
const withBody = [...WORKSPACE_ROUTE_ERRORS, ...BODY_ERRORS] as const;
const path = "/v1/workspaces/{workspace_id}";

export const listWorkspacesRoute = createRoute({
  method: "get",
  path: "/v1/workspaces",
  operationId: "list-workspaces",
  tags,
  summary: "List workspaces",
  description:
    "The workspaces the caller can see in this region, archived ones left out: an identity's memberships (newest first), or an API key's own workspace. `total` is filled for API keys and null for identities (counting would read every membership on every page).",
  request: { query: PaginationQuerySchema },
  responses: { 200: successResponse(PaginatedWorkspacesSchema), ...errorResponses(...common) },
});

export const getWorkspaceRoute = createRoute({
  method: "get",
  path,
  operationId: "get-workspace",
  tags,
  summary: "Get a workspace",
  description: "Retrieve a workspace by ID. Requires `Workspace.view`. An archived workspace is visible to its owner only (404 for everyone else).",
  request: { params: WorkspacePathSchema },
  responses: { 200: successResponse(WorkspaceResponseSchema), ...errorResponses(...common) },
});

export const updateWorkspaceRoute = createRoute({
  method: "patch",
  path,
  operationId: "update-workspace",
  tags,
  summary: "Update a workspace",
  description:
    "Update `name` and `connector_type` (only the fields sent; `null` clears `connector_type`). `region` is immutable (422). `environment` may only repeat the current value: use convert-environment to change it. Requires `Workspace.update`.",
  middleware: [jsonBody] as const,
  request: { params: WorkspacePathSchema, body: jsonRequestBody(UpdateWorkspaceRequestSchema) },
  responses: { 200: successResponse(WorkspaceResponseSchema), ...errorResponses(...withBody) },
});

export const provisionWorkspaceRoute = createRoute({
  method: "post",
  path: `${path}/provision`,
  operationId: "provision-workspace",
  tags,
  summary: "Provision workspace resources",
  description: "Mark the workspace as provisioned. Idempotent: `provisioned_at` is set by the first call only. Requires `Workspace.update`.",
  request: { params: WorkspacePathSchema },
  responses: { 200: successResponse(ProvisionResponseSchema), ...errorResponses(...common) },
});

export const archiveWorkspaceRoute = createRoute({
  method: "post",
  path: `${path}/archive`,
  operationId: "archive-workspace",
  tags,
  summary: "Archive a workspace",
  description:
    "Archive a workspace after slug confirmation (422 if it does not match). It leaves every listing, all its API keys are revoked (401), and its slug stays reserved. Owners only (`Workspace.archive`). Repeating it returns the archived workspace.",
  middleware: [jsonBody] as const,
  request: { params: WorkspacePathSchema, body: jsonRequestBody(ArchiveWorkspaceRequestSchema) },
  responses: { 200: successResponse(WorkspaceResponseSchema), ...errorResponses(...withBody) },
});

export const environmentCheckRoute = createRoute({
  method: "get",
  path: `${path}/environment-check`,
  operationId: "check-environment-conversion",
  tags,
  summary: "Pre-check environment conversion",
  description: "List concrete warnings about converting to `target`. Changes nothing. Requires `Workspace.view`.",
  request: { params: WorkspacePathSchema, query: EnvironmentCheckQuerySchema },
  responses: { 200: successResponse(EnvironmentCheckResponseSchema), ...errorResponses(...common) },
});

export const convertEnvironmentRoute = createRoute({
  method: "post",
  path: `${path}/convert-environment`,
  operationId: "convert-workspace-environment",
  tags,
  summary: "Convert workspace environment",
  description:
    "Convert between staging and production after slug confirmation (422 if it does not match). Converting to the current environment changes nothing; a development workspace cannot be converted (422). Requires `Workspace.convert`.",
  middleware: [jsonBody] as const,
  request: { params: WorkspacePathSchema, body: jsonRequestBody(ConvertEnvironmentRequestSchema) },
  responses: { 200: successResponse(WorkspaceResponseSchema), ...errorResponses(...withBody) },
});

export const getTestCallerNumbersRoute = createRoute({
  method: "get",
  path: `${path}/test-caller-numbers`,
  operationId: "get-test-caller-numbers",
  tags,
  summary: "Get test caller numbers",
  description: "Phone numbers configured as test callers. Requires `Workspace.view`.",
  request: { params: WorkspacePathSchema },
  responses: { 200: successResponse(TestCallerNumbersResponseSchema), ...errorResponses(...common) },
});

export const updateTestCallerNumbersRoute = createRoute({
  method: "put",
  path: `${path}/test-caller-numbers`,
  operationId: "update-test-caller-numbers",
  tags,
  summary: "Update test caller numbers",
  description: "Replace the list: E.164 numbers, at most 100, duplicates dropped (first occurrence kept). Requires `Workspace.update`.",
  middleware: [jsonBody] as const,
  request: { params: WorkspacePathSchema, body: jsonRequestBody(TestCallerNumbersRequestSchema) },
  responses: { 200: successResponse(TestCallerNumbersResponseSchema), ...errorResponses(...withBody) },
});

export const getTestCredentialIdsRoute = createRoute({
  method: "get",
  path: `${path}/test-credential-ids`,
  operationId: "get-test-credential-ids",
  tags,
  summary: "Get test credential IDs",
  description: "Credential ids configured as test principals. Requires `Workspace.view`.",
  request: { params: WorkspacePathSchema },
  responses: { 200: successResponse(TestCredentialIdsResponseSchema), ...errorResponses(...common) },
});

export const updateTestCredentialIdsRoute = createRoute({
  method: "put",
  path: `${path}/test-credential-ids`,
  operationId: "update-test-credential-ids",
  tags,
  summary: "Update test credential IDs",
  description: "Replace the list: uuids, at most 100, lower-cased, duplicates dropped. Requires `Workspace.update`.",
  middleware: [jsonBody] as const,
  request: { params: WorkspacePathSchema, body: jsonRequestBody(TestCredentialIdsRequestSchema) },
  responses: { 200: successResponse(TestCredentialIdsResponseSchema), ...errorResponses(...withBody) },
});
