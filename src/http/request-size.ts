import { createMiddleware } from "hono/factory";
import type { AppEnv } from "../core/env";
import { ApiError } from "../core/errors";

/** Below Cloudflare's own ceilings (16 KB URL, 32 KB of headers), so the answer is this API's, and documented. */
export const MAX_URL_LENGTH = 8192;
export const MAX_HEADER_BYTES = 16 * 1024;

/** A URL over MAX_URL_LENGTH is 414; headers over MAX_HEADER_BYTES in total (names and values) are 431. */
export const requestSize = createMiddleware<AppEnv>(async (c, next) => {
  if (c.req.url.length > MAX_URL_LENGTH) throw new ApiError("uri_too_long", `The URL is longer than ${MAX_URL_LENGTH} characters.`);
  let headerBytes = 0;
  c.req.raw.headers.forEach((value, name) => {
    headerBytes += name.length + value.length;
  });
  if (headerBytes > MAX_HEADER_BYTES) throw new ApiError("headers_too_large", `The request headers exceed ${MAX_HEADER_BYTES} bytes in total.`);
  await next();
});
