import { createRoute, z } from "@hono/zod-openapi";
import { isRegion } from "./domain";
import type { App } from "./env";
import { ApiError, errorResponses } from "./errors";
import { successResponse } from "./openapi";

/**
 * What a person or a load balancer finds at the root: `GET /` says where the documents are, `GET /health`
 * answers without touching storage (so a storage outage does not take every instance out of rotation at
 * once), failing only when the deployment cannot serve at all (REGION unset or unknown).
 */

const tags = ["Service"];
const security: [] = [];

const ServiceIndexSchema = z
  .object({
    name: z.string(),
    region: z.string(),
    links: z.object({ openapi: z.string(), docs: z.string(), health: z.string(), api: z.string() }),
  })
  .openapi("ServiceIndex");

const HealthSchema = z.object({ status: z.literal("ok"), region: z.string() }).openapi("Health");

const getServiceIndex = createRoute({
  method: "get",
  path: "/",
  operationId: "get-service-index",
  tags,
  summary: "Where things are",
  description: "Links to the OpenAPI document, the API reference, the health check and the API root. No token needed.",
  security,
  responses: { 200: successResponse(ServiceIndexSchema) },
});

const getHealth = createRoute({
  method: "get",
  path: "/health",
  operationId: "get-health",
  tags,
  summary: "Health check",
  description:
    "For load balancers and uptime checks. Touches no storage, so it says whether this deployment can serve, not whether D1 and KV answer right now. 503 only when its REGION is missing or unknown. No token needed.",
  security,
  responses: { 200: successResponse(HealthSchema), ...errorResponses("service_unavailable") },
});

export function registerServiceRoutes(app: App) {
  app.openapi(getServiceIndex, (c) =>
    c.json({ name: "Platform API", region: String(c.env.REGION), links: { openapi: "/doc", docs: "/docs", health: "/health", api: "/v1" } }, 200),
  );
  app.openapi(getHealth, (c) => {
    if (!isRegion(c.env.REGION)) throw new ApiError("service_unavailable", "This deployment's REGION is missing or unknown.");
    return c.json({ status: "ok" as const, region: c.env.REGION }, 200);
  });
}
