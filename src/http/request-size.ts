import { createMiddleware } from "hono/factory";
import type { AppEnv } from "../core/env";
import { ApiError, ERRORS } from "../core/errors";
import { MAX_HEADER_BYTES, MAX_URL_LENGTH } from "../core/limits";

/** A URL over MAX_URL_LENGTH is 414; headers over MAX_HEADER_BYTES in total (names and values) are 431. */
export const requestSize = createMiddleware<AppEnv>(async (c, next) => {
  if (c.req.url.length > MAX_URL_LENGTH) throw new ApiError("uri_too_long", ERRORS.uri_too_long.doc);
  let headerBytes = 0;
  c.req.raw.headers.forEach((value, name) => {
    headerBytes += name.length + value.length;
  });
  if (headerBytes > MAX_HEADER_BYTES) throw new ApiError("headers_too_large", ERRORS.headers_too_large.doc);
  await next();
});
