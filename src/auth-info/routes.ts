import { createRoute, z } from "@hono/zod-openapi";
import { errorResponses } from "../errors";
import { successResponse } from "../openapi";
import { AuthInfoResponseSchema, IdentityAuthInfoResponseSchema } from "./schemas";

export const getAuthInfo = createRoute({
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
