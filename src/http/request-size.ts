import { bodyLimit } from "hono/body-limit";
import { createMiddleware } from "hono/factory";
import type { AppEnv } from "../core/env";
import { ApiError, ERRORS } from "../core/errors";
import { MAX_BODY_BYTES, MAX_HEADER_BYTES, MAX_URL_LENGTH } from "../core/limits";

/**
 * The size of a request's headers as the limit counts it: names and values. `visit` sees each header on
 * the way (lowercased, repeats joined, as `get` gives it), for a caller that would otherwise read them again.
 */
export function headerBytes(headers: Headers, visit?: (name: string, value: string) => void): number {
  let bytes = 0;
  headers.forEach((value, name) => {
    bytes += name.length + value.length;
    visit?.(name, value);
  });
  return bytes;
}

/** Bodies over MAX_BODY_BYTES are refused (413) while they stream in, before anything reads them whole. */
const bodyLimited = bodyLimit({
  maxSize: MAX_BODY_BYTES,
  onError: () => {
    throw new ApiError("payload_too_large", ERRORS.payload_too_large.doc);
  },
});

/**
 * A URL over MAX_URL_LENGTH is 414; headers over MAX_HEADER_BYTES in total (names and values) are 431; a
 * body over MAX_BODY_BYTES is 413. One layer for the three (each layer of the chain costs every request).
 */
export const requestSize = createMiddleware<AppEnv>(async (c, next) => {
  if (c.req.url.length > MAX_URL_LENGTH) throw new ApiError("uri_too_long", ERRORS.uri_too_long.doc);
  if (headerBytes(c.req.raw.headers) > MAX_HEADER_BYTES) throw new ApiError("headers_too_large", ERRORS.headers_too_large.doc);
  return bodyLimited(c, next);
});
