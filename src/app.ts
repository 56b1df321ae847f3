import { OpenAPIHono } from "@hono/zod-openapi";
import { Scalar } from "@scalar/hono-api-reference";
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
import type { AppContext, AppEnv } from "./env";
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

const LOOPBACK_HOSTS = new Set(["localhost", "127.0.0.1", "[::1]"]);

/**
 * The server /doc names, so a client generated from a region's document calls that region: the
 * deployment's configured PUBLIC_URL. Without one (local dev) the loopback origin the document was fetched
 * from, else a URL relative to the document; never a name taken from a request's Host header, which would
 * let one request set what a cached document tells everyone.
 */
function documentedServer(c: AppContext): string {
  if (c.env.PUBLIC_URL) return c.env.PUBLIC_URL;
  const { hostname, origin } = new URL(c.req.url);
  return LOOPBACK_HOSTS.has(hostname) ? origin : "/";
}

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

  app.doc31("/doc", (c) => ({
    openapi: "3.1.0",
    servers: [{ url: documentedServer(c), description: `This deployment (${c.env.REGION})` }],
    info: {
      title: "Platform API",
      version: "1.0.0",
      description: "Control plane for workspaces, identities and workspace API keys, wire-compatible with the upstream Platform API v1.",
    },
    security: [{ BearerAuth: [] }],
    tags: [
      { name: "Account", description: "Operations on the authenticated identity's own account." },
      { name: "Auth", description: "Who the caller is." },
      { name: "Workspaces", description: "Read, update, provision, convert and archive workspaces; test allowlists." },
      { name: "API Keys", description: "Workspace API keys: roles, permissions, lifecycle." },
      { name: "Admin", description: "Operator surface (not part of the upstream API): identities and their tokens." },
    ],
  }));

  // A browsable reference of /doc (the page loads Scalar's viewer script from its CDN).
  app.get("/docs", Scalar({ url: "/doc", pageTitle: "Platform API" }));

  app.notFound((c) => onError(new ApiError("not_found", `No route for ${c.req.method} ${c.req.path}.`), c));
  app.onError(onError);
  return app;
}

export type App = ReturnType<typeof createApp>;
