import type { App } from "../env";
import { createRoute, z } from "@hono/zod-openapi";
import { errorResponses } from "../errors";
import { successResponse, Timestamp, Uuid } from "../openapi";
import { SCOPES } from "./principal";

/** Upstream's `AuthInfoResponse`, for workspace API keys. */
export const AuthInfoResponseSchema = z
  .object({
    workspace_id: Uuid,
    key_id: z.string(),
    name: z.string().nullable(),
    expires_at: Timestamp,
    expires_in_seconds: z.number().int(),
  })
  .openapi("AuthInfoResponse");

/** Not upstream: what an identity's personal access token answers (identities have no expiry). */
export const IdentityAuthInfoResponseSchema = z
  .object({
    principal_type: z.literal("identity"),
    identity_id: Uuid,
    email: z.string(),
    display_name: z.string().nullable(),
    scopes: z.array(z.enum(SCOPES)),
  })
  .openapi("IdentityAuthInfoResponse");

export const getAuthInfoRoute = createRoute({
  method: "get",
  path: "/v1/auth/me",
  operationId: "get-auth-info",
  tags: ["Auth"],
  summary: "Get auth info",
  description:
    "Describe the bearer token of this request. A workspace API key gets upstream's `AuthInfoResponse` (including its expiry); an identity token gets `IdentityAuthInfoResponse`.",
  responses: {
    200: successResponse(z.union([AuthInfoResponseSchema, IdentityAuthInfoResponseSchema])),
    ...errorResponses("unauthorized", "service_unavailable", "internal_error"),
  },
});

export function registerAuthRoutes(app: App) {
  app.openapi(getAuthInfoRoute, (c) => {
    const principal = c.var.principal;
    if (principal.type === "identity") {
      const { identity_id, email, display_name, scopes } = principal;
      return c.json(IdentityAuthInfoResponseSchema.parse({ principal_type: "identity", identity_id, email, display_name, scopes }), 200);
    }
    const expiresInSeconds = Math.max(0, Math.floor((Date.parse(principal.expires_at) - Date.now()) / 1000));
    return c.json(
      AuthInfoResponseSchema.parse({
        workspace_id: principal.workspace_id,
        key_id: principal.key_id,
        name: principal.name,
        expires_at: principal.expires_at,
        expires_in_seconds: expiresInSeconds,
      }),
      200,
    );
  });
}
