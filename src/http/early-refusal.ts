import { getPath } from "hono/utils/url";
import { isRegion } from "../core/domain";
import type { Bindings } from "../core/env";
import { ApiError, errorBody, errorHeaders, UNAUTHORIZED_DETAIL } from "../core/errors";
import { MAX_HEADER_BYTES, MAX_URL_LENGTH } from "../core/limits";
import { logLevelOf, requestIdOf } from "../core/logger";
import { credentialShape, presentedToken } from "../security/presented-credential";
import { BOOKMARK_HEADER } from "../storage/regional-storage";
import { DOCUMENT_ROUTE_PATHS } from "./docs";
import { headerBytes } from "./request-size";
import { allowedOrigins, SECURITY_HEADERS } from "./response-headers";
import { API_PREFIX } from "./router";

const UNAUTHORIZED = new ApiError("unauthorized", UNAUTHORIZED_DETAIL);
/** Served under /v1 without a credential: the document and its reference at upstream's paths. */
const PUBLIC_PATHS = new Set(DOCUMENT_ROUTE_PATHS);
/** The answer's fixed parts, built once: every header but the request id, and the body around the id. */
const FIXED_HEADERS: Record<string, string> = { "content-type": "application/json", ...SECURITY_HEADERS, ...errorHeaders(UNAUTHORIZED) };
const ID_SLOT = "\u0000request-id\u0000";
const [BODY_BEFORE_ID, BODY_AFTER_ID] = JSON.stringify(errorBody(UNAUTHORIZED, ID_SLOT)).split(JSON.stringify(ID_SLOT)) as [string, string];

/**
 * The client's request id, in one pass over the block (every `get` or `has` is a call into the runtime,
 * and the size check walks the block anyway), or null where the app must answer: an `Origin` (CORS), a D1
 * bookmark (its format), or more than MAX_HEADER_BYTES (431).
 */
function readHeaders(headers: Headers): { requestId?: string } | null {
  const read: { requestId?: string } = {};
  let deferred = false;
  const bytes = headerBytes(headers, (name, value) => {
    if (name === "x-request-id") read.requestId = value;
    else if (name === "origin" || name === BOOKMARK_HEADER) deferred = true;
  });
  return deferred || bytes > MAX_HEADER_BYTES ? null : read;
}

/**
 * A request under /v1 with no credential or a malformed one gets its 401 here, before the router: the
 * answer the app would give it (test/http/early-refusal.test.ts compares the two on every header), for a
 * fraction of the CPU. Garbage tokens are what a flood sends, so they should be the cheapest thing to
 * answer (docs/performance.md). The public document and reference under /v1, and whatever the app would
 * check before the credential, are left to the app (null): a preflight or any request with an `Origin`
 * (CORS), a body (its size limit), an oversized URL or header block, a D1 bookmark (its format), a REGION
 * it cannot serve, and `debug` logging (a line per request).
 */
export function earlyRefusal(request: Request, env: Bindings): Response | null {
  // Most requests carry a well-formed credential, which leaves them to the app whatever else they hold:
  // a header read or two tell it, before the pass over the whole block that a refusal needs.
  const { headers, method, url } = request;
  if (credentialShape(presentedToken((name) => headers.get(name))) !== null) return null;
  if (request.body !== null || method === "HEAD" || method === "OPTIONS") return null;
  if (!isRegion(env.REGION) || logLevelOf(env.LOG_LEVEL) === "debug" || url.length > MAX_URL_LENGTH) return null;
  const path = getPath(request);
  if (!path.startsWith(`${API_PREFIX}/`) || PUBLIC_PATHS.has(path)) return null;
  const read = readHeaders(headers);
  if (read === null) return null;

  const requestId = requestIdOf(read.requestId);
  // A record, not a list of pairs: workerd reads a record's entries without running JS's iterator protocol.
  const answerHeaders: Record<string, string> = { ...FIXED_HEADERS, "x-request-id": requestId };
  if (allowedOrigins(env.ALLOWED_ORIGINS).size > 0) answerHeaders.Vary = "Origin";
  return new Response(BODY_BEFORE_ID + JSON.stringify(requestId) + BODY_AFTER_ID, { status: 401, headers: answerHeaders });
}
