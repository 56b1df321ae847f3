import { createRoute, OpenAPIHono, type RouteConfig, type z } from "@hono/zod-openapi";
import type { MiddlewareHandler } from "hono";
import type { App, AppEnv } from "../core/env";
import { BODY_ERRORS, errorResponses } from "../core/errors";
import { jsonRequestBody } from "./openapi";
import { jsonBody, validationHook } from "./validation";

/** Where the API and the admin surface are mounted: app.ts mounts their middleware, document-middleware.ts documents it, by these. */
export const API_PREFIX = "/v1";
export const ADMIN_PREFIX = "/admin";

/** A group's router: every group validates into the same FastAPI-shaped 422. */
export function createRouter(): App {
  return new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
}

type JsonBodyRouteConfig<P extends string, B extends z.ZodType> = Omit<RouteConfig, "path" | "request" | "middleware"> & {
  path: P;
  /** The schema of the required `application/json` body. */
  body: B;
  request?: Omit<NonNullable<RouteConfig["request"]>, "body">;
  /** Runs before the body is read (e.g. the admin-token check). */
  middleware?: MiddlewareHandler<AppEnv>[];
};

/**
 * `createRoute` for a route that takes a JSON body: the body is required, read through `jsonBody` (missing,
 * malformed and too-deep bodies become 422s before validation), and the route documents the body errors
 * (413, 415) besides its own.
 */
export function createJsonBodyRoute<P extends string, B extends z.ZodType, R extends JsonBodyRouteConfig<P, B>>(config: R) {
  const { body, middleware = [], request, responses, ...rest } = config;
  return createRoute({
    ...rest,
    middleware: [...middleware, jsonBody],
    request: { ...(request as Omit<NonNullable<R["request"]>, "body">), body: jsonRequestBody(body as R["body"]) },
    responses: { ...(responses as R["responses"]), ...errorResponses(...BODY_ERRORS) },
  });
}
