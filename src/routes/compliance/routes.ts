import { createRoute } from "@hono/zod-openapi";
import { errorResponses, WORKSPACE_ROUTE_ERRORS } from "../../core/errors";
import { successResponse, WorkspacePathSchema } from "../../http/openapi";
import { AccessReviewResponseSchema } from "./schemas";

export const getAccessReview = createRoute({
  method: "get",
  path: "/v1/{workspace_id}/compliance/access-review",
  operationId: "get-access-review",
  tags: ["Compliance"],
  summary: "Get the access review",
  description:
    "Access review export for SOC2 attestation: every API key of the workspace (role, permissions, status active/expired/revoked, who " +
    "created it, created/last used/expiry dates) and every member identity with its role. Download, review, and attest. Requires " +
    "`Compliance.view` (owner, admin). Each call also counts against the workspace's write limit (it reads every credential): 429 " +
    "with `Retry-After` when called repeatedly.",
  request: { params: WorkspacePathSchema },
  responses: { 200: successResponse(AccessReviewResponseSchema), ...errorResponses(...WORKSPACE_ROUTE_ERRORS, "rate_limited") },
});
