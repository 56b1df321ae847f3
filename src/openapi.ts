import { z } from "@hono/zod-openapi";
import type { ErrorCode } from "./errors";

/** Building blocks shared by the route definitions of every group. */

export const Timestamp = z.iso.datetime({ offset: true });
export const Uuid = z.uuid().openapi({ format: "uuid" });

export const WorkspacePathSchema = z.object({
  workspace_id: Uuid.openapi({ param: { name: "workspace_id", in: "path" } }),
});

export const jsonContent = <T>(schema: T) => ({ "application/json": { schema } });
export const jsonRequestBody = <T>(schema: T) => ({ required: true, content: jsonContent(schema) });
export const successResponse = <T>(schema: T, description = "Successful Response") => ({ description, content: jsonContent(schema) });

/** What every route addressing one workspace can answer, besides its success. */
export const WORKSPACE_ROUTE_ERRORS = [
  "validation_error",
  "unauthorized",
  "forbidden",
  "insufficient_scope",
  "not_found",
  "misdirected_request",
  "service_unavailable",
  "internal_error",
] as const satisfies readonly ErrorCode[];

/** What a route with a JSON body can answer on top. */
export const BODY_ERRORS = ["payload_too_large", "unsupported_media_type"] as const satisfies readonly ErrorCode[];
