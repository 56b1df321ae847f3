import { OpenAPIHono } from "@hono/zod-openapi";
import { drizzle } from "drizzle-orm/d1";
import { bodyLimit } from "hono/body-limit";
import { createMiddleware } from "hono/factory";
import { registerAccountRoutes } from "./account";
import { registerAdminRoutes } from "./admin";
import { registerApiKeyRoutes } from "./api-keys";
import { registerWorkspaceRoutes } from "./workspaces";
import { registerAuthRoutes } from "./auth";
import { authenticate } from "./auth/middleware";
import * as schema from "./db/schema";
import { registerDocRoutes } from "./docs";
import type { AppEnv } from "./env";
import { ApiError, internalError, onError } from "./errors";
import { createLogger } from "./logger";
import { isRegion } from "./regions";
import { validationHook } from "./validation";

export const MAX_BODY_BYTES = 64 * 1024;

/** A client may pass its own `x-request-id` (kept if it is a short token); otherwise one is generated. */
const CLIENT_REQUEST_ID = /^[\w.:-]{1,128}$/;

const requestContext = createMiddleware<AppEnv>(async (c, next) => {
  const incoming = c.req.header("x-request-id");
  const requestId = incoming && CLIENT_REQUEST_ID.test(incoming) ? incoming : `req_${crypto.randomUUID().replaceAll("-", "")}`;
  const logger = createLogger(requestId);
  c.set("requestId", requestId);
  c.set("logger", logger);
  c.header("x-request-id", requestId);
  const started = Date.now();
  await next();
  c.res.headers.set("x-request-id", requestId);
  // The path only: query strings are the caller's and may carry anything.
  logger.info("request", { method: c.req.method, path: c.req.path, status: c.res.status, duration_ms: Date.now() - started });
});

let regionErrorLogged = false;

/** REGION is checked on every request; a misconfigured deployment fails closed (DESIGN §3). */
const regionalStorage = createMiddleware<AppEnv>(async (c, next) => {
  const region = c.env.REGION;
  if (!isRegion(region)) {
    if (!regionErrorLogged) c.var.logger.error("REGION binding is missing or not a known region", { region: String(region) });
    regionErrorLogged = true;
    throw internalError();
  }
  c.set("region", region);
  c.set("db", drizzle(c.env.DB, { schema }));
  await next();
});

export function createApp() {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });

  app.use("*", requestContext);
  app.use(
    "*",
    bodyLimit({
      maxSize: MAX_BODY_BYTES,
      onError: () => {
        throw new ApiError("payload_too_large", `The request body exceeds ${MAX_BODY_BYTES} bytes.`);
      },
    }),
  );
  // Before the /v1/* middleware: the document and the reference are public, also under /v1.
  registerDocRoutes(app);
  app.use("/v1/*", regionalStorage, authenticate);

  app.openAPIRegistry.registerComponent("securitySchemes", "BearerAuth", {
    type: "http",
    scheme: "bearer",
    description:
      "A workspace API key (`wsk_…`, from `POST /v1/{workspace_id}/api-keys`) or an identity's personal access token (`pat_…`, from the admin surface).",
  });
  app.openAPIRegistry.registerComponent("securitySchemes", "AdminToken", {
    type: "http",
    scheme: "bearer",
    description: "The deployment's `ADMIN_TOKEN` secret. Only for the Admin operations.",
  });

  registerAdminRoutes(app);
  registerAccountRoutes(app);
  registerAuthRoutes(app);
  registerWorkspaceRoutes(app);
  registerApiKeyRoutes(app);

  app.notFound((c) => onError(new ApiError("not_found", `No route for ${c.req.method} ${c.req.path}.`), c));
  app.onError(onError);
  return app;
}

