import { createRoute } from "@hono/zod-openapi";
import { errorResponses } from "../../core/errors";
import { successResponse } from "../../http/openapi";
import { HealthSchema, ServiceIndexSchema } from "./schemas";

/**
 * What a person or a load balancer finds at the root: `GET /` says where the documents are, `GET /health`
 * answers without touching storage (so a storage outage does not take every instance out of rotation at
 * once), failing only when the deployment cannot serve at all (REGION unset or unknown).
 */

const tags = ["Service"];
const security: [] = [];

export const getServiceIndex = createRoute({
  method: "get",
  path: "/",
  operationId: "get-service-index",
  tags,
  summary: "Where things are",
  description: "Links to the OpenAPI document, the API reference, the health check and the API root. No token needed.",
  security,
  responses: { 200: successResponse(ServiceIndexSchema) },
});

export const getHealth = createRoute({
  method: "get",
  path: "/health",
  operationId: "get-health",
  tags,
  summary: "Health check",
  description:
    "For load balancers and uptime checks. Touches no storage, so it says whether this deployment can serve, not whether D1 and KV " +
    "answer right now. 503 only when its REGION is missing or unknown. No token needed.",
  security,
  responses: { 200: successResponse(HealthSchema), ...errorResponses("service_unavailable") },
});
