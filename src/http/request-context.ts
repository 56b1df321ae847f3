import { createMiddleware } from "hono/factory";
import type { AppEnv } from "../core/env";
import { createLogger, logLevelOf, requestIdOf } from "../core/logger";

/** The request id (body of every error, every log line; response-headers.ts puts it in the header) and the logger bound to it. */
export const requestContext = createMiddleware<AppEnv>(async (c, next) => {
  const requestId = requestIdOf(c.req.header("x-request-id"));
  const level = logLevelOf(c.env.LOG_LEVEL);
  const logger = createLogger(requestId, level);
  c.set("requestId", requestId);
  c.set("logger", logger);
  if (level !== "debug") return next();
  const started = Date.now();
  await next();
  // Only at `debug` (and only then are its fields read: the path is parsed from the URL again): the
  // platform's invocation logs already hold this. The path only: query strings are the caller's and may
  // carry anything.
  logger.debug("request", { method: c.req.method, path: c.req.path, status: c.res.status, duration_ms: Date.now() - started });
});
