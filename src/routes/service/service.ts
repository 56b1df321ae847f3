import { isRegion } from "../../core/domain";
import { ApiError } from "../../core/errors";
import type { Health, ServiceIndex } from "./schemas";

export function serviceIndex(region: unknown): ServiceIndex {
  return { name: "Platform API", region: String(region), links: { openapi: "/doc", docs: "/docs", health: "/health", api: "/v1" } };
}

/** Healthy when the deployment can serve at all: its REGION is one we know. No storage is touched. */
export function health(region: unknown): Health {
  if (!isRegion(region)) throw new ApiError("service_unavailable", "This deployment's REGION is missing or unknown.");
  return { status: "ok", region };
}
