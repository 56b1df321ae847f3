import { createRoute, z } from "@hono/zod-openapi";
import { SCOPES } from "../auth/principal";
import { requireAdmin } from "../auth/middleware";
import type { App } from "../env";
import { ApiError, errorResponses } from "../errors";
import { jsonRequestBody, successResponse, Timestamp, Uuid } from "../openapi";
import { jsonBody } from "../validation";
import { createIdentity, revokeIdentity } from "./service";

const CreateIdentityRequestSchema = z
  .object({
    email: z.email().max(320).openapi({ example: "ada@example.com" }),
    display_name: z.string().trim().min(1).max(256).nullable().optional().openapi({ example: "Ada Lovelace" }),
    scopes: z
      .array(z.enum(SCOPES))
      .max(SCOPES.length * 4)
      .optional()
      .openapi({ description: 'Defaults to `["workspaces:read", "workspaces:write"]`. Duplicates are dropped.' }),
  })
  .openapi("CreateIdentityRequest");

const CreateIdentityResponseSchema = z
  .object({
    identity_id: Uuid,
    email: z.string(),
    display_name: z.string().nullable(),
    scopes: z.array(z.enum(SCOPES)),
    token: z.string().openapi({ description: "The identity's personal access token (`pat_…`). Shown only in this response." }),
    created_at: Timestamp,
  })
  .openapi("CreateIdentityResponse");

const IdentityIdParamsSchema = z.object({
  identity_id: Uuid.openapi({ param: { name: "identity_id", in: "path" } }),
});

const security = [{ AdminToken: [] }];

export const createIdentityRoute = createRoute({
  method: "post",
  path: "/admin/identities",
  operationId: "admin-create-identity",
  tags: ["Admin"],
  summary: "Create an identity and its personal access token",
  security,
  middleware: [requireAdmin, jsonBody] as const,
  request: { body: jsonRequestBody(CreateIdentityRequestSchema) },
  responses: {
    201: successResponse(CreateIdentityResponseSchema, "The identity, with its token (shown only here)."),
    ...errorResponses("validation_error", "unauthorized", "payload_too_large", "unsupported_media_type", "service_unavailable", "internal_error"),
  },
});

export const revokeIdentityRoute = createRoute({
  method: "delete",
  path: "/admin/identities/{identity_id}",
  operationId: "admin-revoke-identity",
  tags: ["Admin"],
  summary: "Revoke every token of an identity",
  description:
    "Its tokens get 401 from the next request served where KV has seen the deletion (at once in this location, up to about 60 s elsewhere). Repeating the call is harmless (204).",
  security,
  middleware: [requireAdmin] as const,
  request: { params: IdentityIdParamsSchema },
  responses: {
    204: { description: "Revoked." },
    ...errorResponses("not_found", "validation_error", "unauthorized", "service_unavailable", "internal_error"),
  },
});

export function registerAdminRoutes(app: App) {
  app.openapi(createIdentityRoute, async (c) => {
    const { record, token } = await createIdentity(c.env.KV, c.var.logger, c.req.valid("json"));
    c.var.logger.info("identity created", { identity_id: record.identity_id });
    const { identity_id, email, display_name, scopes, created_at } = record;
    return c.json(CreateIdentityResponseSchema.parse({ identity_id, email, display_name, scopes, token, created_at }), 201);
  });

  app.openapi(revokeIdentityRoute, async (c) => {
    const { identity_id } = c.req.valid("param");
    if (!(await revokeIdentity(c.env.KV, identity_id))) throw new ApiError("not_found", "Identity not found.");
    c.var.logger.info("identity revoked", { identity_id });
    return c.body(null, 204);
  });
}
