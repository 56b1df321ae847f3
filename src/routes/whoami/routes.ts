import { createRoute } from "@hono/zod-openapi";
import { errorResponses } from "../../core/errors";
import { successResponse } from "../../http/openapi";
import { AuthInfoResponseSchema, IdentityResponseSchema } from "./schemas";

const errors = errorResponses("unauthorized", "unsupported_principal_type", "service_unavailable", "internal_error");

export const getAuthInfo = createRoute({
  method: "get",
  path: "/v1/auth/me",
  operationId: "get-auth-info",
  tags: ["Auth"],
  summary: "Get auth info",
  description:
    "Describe the workspace API key of this request, including its expiry. An identity token gets 403 `unsupported_principal_type`: " +
    "its own description is `GET /v1/me`.",
  responses: { 200: successResponse(AuthInfoResponseSchema), ...errors },
});

export const getMyIdentity = createRoute({
  method: "get",
  path: "/v1/me",
  operationId: "get-my-identity",
  tags: ["Auth"],
  summary: "Get my identity",
  description:
    "Not upstream. Describe the identity (the person) whose token made this request: id, email, display name, scopes, and this token. " +
    "Needs no scope. A workspace API key gets 403 `unsupported_principal_type`: its own description is `GET /v1/auth/me`.",
  responses: { 200: successResponse(IdentityResponseSchema), ...errors },
});
