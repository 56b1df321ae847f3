import { createRoute } from "@hono/zod-openapi";
import { errorResponses, WORKSPACE_ROUTE_ERRORS } from "../../core/errors";
import { successResponse, WorkspacePathSchema } from "../../http/openapi";
import { createJsonBodyRoute } from "../../http/router";
import {
  CreateApiKeyRequestSchema,
  CreateApiKeyResponseSchema,
  KeyParamsSchema,
  ListApiKeysQuerySchema,
  PaginatedApiKeysSchema,
  PermissionCatalogResponseSchema,
  RotateApiKeyRequestSchema,
} from "./schemas";

const tags = ["API Keys"];
const common = WORKSPACE_ROUTE_ERRORS;

export const createApiKey = createJsonBodyRoute({
  method: "post",
  path: "/v1/{workspace_id}/api-keys",
  operationId: "create-api-key",
  tags,
  summary: "Create an API key",
  description:
    "Create a new API key for a workspace. The response includes the plaintext `api_key`: store it securely, it cannot be retrieved " +
    "again. Requires `ApiKey.create`; the key's role may not exceed the caller's and its permissions must be ones the caller holds " +
    "(403). A create that races an archive of the workspace either finishes before it (and the archive revokes the key) or answers " +
    "404; it never returns a secret that works after the archive.",
  request: { params: WorkspacePathSchema },
  body: CreateApiKeyRequestSchema,
  responses: {
    201: successResponse(CreateApiKeyResponseSchema),
    ...errorResponses(...common, "conflict"),
  },
});

export const listApiKeys = createRoute({
  method: "get",
  path: "/v1/{workspace_id}/api-keys",
  operationId: "list-api-keys",
  tags,
  summary: "List API keys",
  description:
    "List the workspace's API keys, newest first, with keyset pagination. Revoked keys are left out; expired ones are listed (they can " +
    "be rotated). Requires `ApiKey.view`. `total` counts all pages.",
  request: { params: WorkspacePathSchema, query: ListApiKeysQuerySchema },
  responses: {
    200: successResponse(PaginatedApiKeysSchema),
    ...errorResponses(...common),
  },
});

export const getPermissionCatalog = createRoute({
  method: "get",
  path: "/v1/{workspace_id}/api-keys/permission-catalog",
  operationId: "get-api-key-permission-catalog",
  tags,
  summary: "Get the API-key role/permission catalog",
  description:
    "Return the authoritative role→permission model: each role's default permission set (what an API key of that role may carry) plus " +
    "the full permission universe. Requires `ApiKey.view`.",
  request: { params: WorkspacePathSchema },
  responses: {
    200: successResponse(PermissionCatalogResponseSchema),
    ...errorResponses(...common),
  },
});

export const deleteApiKey = createRoute({
  method: "delete",
  path: "/v1/{workspace_id}/api-keys/{key_id}",
  operationId: "delete-api-key",
  tags,
  summary: "Delete an API key",
  description:
    "Revoke an API key. It gets 401 from the next request, on every route (each checks the key's row in its region's database). A " +
    "rotation running at the same moment cannot keep it alive: whichever secret is current is revoked (409 only if the key keeps " +
    "being rotated). Deleting it again, or an unknown key, is 404. Requires `ApiKey.delete`, a role at least the key's and every " +
    "permission it carries (the caller could have created it); on an archived workspace, its owner may still delete a key.",
  request: { params: KeyParamsSchema },
  responses: {
    204: { description: "Successful Response" },
    ...errorResponses(...common, "conflict"),
  },
});

export const rotateApiKey = createJsonBodyRoute({
  method: "post",
  path: "/v1/{workspace_id}/api-keys/{key_id}/rotate",
  operationId: "rotate-api-key",
  tags,
  summary: "Rotate an API key",
  description:
    "Replace an API key secret in one step: same `key_id`, role and permissions, new secret and expiry. The old secret stops working " +
    "at the next request. Whoever rotates the key receives its secret and answers for it from then on (`accountable_entity_id`): " +
    "its actions are recorded as theirs, and their removal, demotion or disabling revokes it. Of concurrent rotations of one key one " +
    "wins; the others answer 409 `conflict` and the winner's secret is the valid one. A rotation that loses to a delete answers " +
    "404. Requires `ApiKey.rotate`, a role at least the key's and every permission it carries (the caller could have created it).",
  request: { params: KeyParamsSchema },
  body: RotateApiKeyRequestSchema,
  responses: {
    200: successResponse(CreateApiKeyResponseSchema),
    ...errorResponses(...common, "conflict"),
  },
});
