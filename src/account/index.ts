import { createRoute } from "@hono/zod-openapi";
import { type App, storageOf } from "../env";
import { ApiError, errorResponses } from "../errors";
import { jsonRequestBody, successResponse } from "../openapi";
import { jsonBody } from "../validation";
import { CreateWorkspaceRequestSchema, toWorkspaceResponse, WorkspaceResponseSchema } from "../workspaces/schemas";
import { createWorkspace } from "../workspaces/service";

export const createMyWorkspaceRoute = createRoute({
  method: "post",
  path: "/v1/me/workspaces",
  operationId: "create-my-workspace",
  tags: ["Account"],
  summary: "Create a workspace under the authenticated identity",
  description:
    "Create a new workspace in this deployment's region and attach the authenticated identity as its `owner`. Needs an identity token with the `workspaces:write` scope; workspace API keys are refused.",
  middleware: [jsonBody] as const,
  request: { body: jsonRequestBody(CreateWorkspaceRequestSchema) },
  responses: {
    201: successResponse(WorkspaceResponseSchema),
    ...errorResponses(
      "slug_taken",
      "insufficient_scope",
      "unsupported_principal_type",
      "validation_error",
      "unauthorized",
      "payload_too_large",
      "unsupported_media_type",
      "service_unavailable",
      "internal_error",
    ),
  },
});

export function registerAccountRoutes(app: App) {
  app.openapi(createMyWorkspaceRoute, async (c) => {
    const principal = c.var.principal;
    if (principal.type !== "identity") {
      throw new ApiError("unsupported_principal_type", "Unsupported principal type: workspaces are created by identities, not API keys.");
    }
    if (!principal.scopes.includes("workspaces:write")) {
      throw new ApiError("insufficient_scope", "Missing the workspaces:write scope.");
    }
    const row = await createWorkspace(storageOf(c), principal.identity_id, c.req.valid("json"));
    c.var.logger.info("workspace created", { workspace_id: row.id, identity_id: principal.identity_id });
    return c.json(toWorkspaceResponse(row), 201);
  });
}
