import { createMiddleware } from "hono/factory";
import type { AppEnv } from "../core/env";
import { createLogger, logLevelOf, requestIdOf } from "../core/logger";
import { completeAnswerHeaders, prepareAnswerHeaders } from "./response-headers";

/**
 * The request id (body of every error, every log line, and every answer's `x-request-id` with the other
 * headers every answer carries: response-headers.ts) and the logger bound to it. One layer for both: each
 * layer of the chain is a closure, a promise and a dispatch on every request.
 */
export const requestContext = createMiddleware<AppEnv>(async (c, next) => {
  const requestId = requestIdOf(c.req.header("x-request-id"));
  const level = logLevelOf(c.env.LOG_LEVEL);
  const logger = createLogger(requestId, level);
  c.set("requestId", requestId);
  c.set("logger", logger);
  prepareAnswerHeaders(c, requestId);
  const started = level === "debug" ? Date.now() : 0;
  await next();
  completeAnswerHeaders(c, requestId);
  // Only at `debug` (and only then are its fields read: the path is parsed from the URL again): the
  // platform's invocation logs already hold this. The path only: query strings are the caller's and may
  // carry anything.
  if (level === "debug") {
    logger.debug("request", { method: c.req.method, path: c.req.path, status: c.res.status, duration_ms: Date.now() - started });
  }
});
