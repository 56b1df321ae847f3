import type { RouteConfig } from "@hono/zod-openapi";
import { z } from "@hono/zod-openapi";
import type { App } from "../core/env";
import { codesOf, type ErrorCode, errorResponses } from "../core/errors";
import { IDEMPOTENCY_KEYS_PER_CALLER } from "../storage/idempotency-records";
import { BOOKMARK_HEADER } from "../storage/regional-storage";
import { IDEMPOTENCY_KEY_HEADER, IDEMPOTENT_METHODS, IdempotencyKeySchema } from "./idempotency";
import { ADMIN_PREFIX, API_PREFIX } from "./router";

/**
 * The middleware mounted before the routes answers for every route it runs on; this adds those answers
 * (and the Idempotency-Key and bookmark headers) to each route's OpenAPI operation, from the same
 * predicates the middleware uses, so no operation can leave them out.
 */

const EVERY_ROUTE: ErrorCode[] = ["uri_too_long", "headers_too_large"];
/** Authentication and its limits run on every /v1 route; an API key of another region is 421 wherever it is sent. */
const V1_ROUTE: ErrorCode[] = ["rate_limited", "misdirected_request"];
const V1_WRITE: ErrorCode[] = ["conflict", "idempotency_key_in_use", "idempotency_key_reused", "quota_exceeded"];
/** The routes on this region's database (regional-storage.ts) validate the bookmark header. */
const STORAGE_ROUTE: ErrorCode[] = ["validation_error"];

const BOOKMARK_FORMAT = `\`<region>:<bookmark>\`, as a response's \`${BOOKMARK_HEADER}\` header returned it`;
/** What the bookmark guarantees, by kind of route (docs/guides/regions.md). */
const BOOKMARK_DOC = {
  read:
    `Read-your-writes across requests: this read may be answered by a replica of the region's database; with the bookmark of an ` +
    `earlier response (${BOOKMARK_FORMAT}) it sees at least what that response saw. Authorization always reads the primary. A ` +
    `bookmark of another region is ignored; a malformed one is 422.`,
  write:
    `Accepted for symmetry and changes nothing (${BOOKMARK_FORMAT}; a malformed one is 422): a write, and every read it makes, ` +
    `runs on the region's primary database.`,
};
const BOOKMARK_RESPONSE_HEADER = {
  [BOOKMARK_HEADER]: {
    description:
      "This region's database position after the request (`<region>:<bookmark>`). Echo it on a later read in this region to see at " +
      "least this response's data there.",
    schema: { type: "string" },
  },
};

const bookmarkHeader = (kind: keyof typeof BOOKMARK_DOC) =>
  z
    .string()
    .max(233)
    .optional()
    .openapi({ description: BOOKMARK_DOC[kind], example: "us-east-1:00000000-0000000d-00000000-00000000000000000000000000000000" });

const IdempotencyHeaderSchema = z.object({
  [IDEMPOTENCY_KEY_HEADER]: IdempotencyKeySchema.optional().openapi({
    description:
      "Makes a retry of this request safe: the first answer is kept 24 hours and replayed, with " +
      "`Idempotent-Replayed: true`, to a retry with the same key and the same method, path and body. A retry is authorised as a " +
      "first attempt is before anything is replayed, and a refused request stores nothing. One person (their tokens and the API keys " +
      "they hold, together) holds at most " +
      `${IDEMPOTENCY_KEYS_PER_CALLER.toLocaleString("en-US")} keys from the last 24 hours (a new one past that is 403 ` +
      "`quota_exceeded`). 1 to 255 printable ASCII characters; a UUID is the usual choice.",
    example: "6f1c2a47-1d5e-4d0b-9a43-3b2a1f0c9e12",
  }),
});

/** A response as errorResponses builds it (the only kind these routes declare). */
type Response = { description: string; headers?: Record<string, unknown>; content?: Record<string, { schema: z.ZodType }> };

/** `responses` with `codes` merged in: descriptions joined, headers merged, bodies of one status unioned. */
function withErrors(responses: RouteConfig["responses"], codes: ErrorCode[]): RouteConfig["responses"] {
  const merged = { ...responses } as Record<string, Response>;
  for (const [status, added] of Object.entries(errorResponses(...codes)) as [string, Response][]) {
    const existing = merged[status];
    if (!existing) {
      merged[status] = added;
      continue;
    }
    const existingSchema = existing.content?.["application/json"]?.schema;
    const addedSchema = added.content!["application/json"]!.schema; // errorResponses always gives a JSON body
    const schema = existingSchema === undefined || existingSchema === addedSchema ? addedSchema : z.union([existingSchema, addedSchema]);
    merged[status] = {
      ...existing,
      description: `${existing.description} ${added.description}`,
      headers: { ...existing.headers, ...added.headers },
      content: { "application/json": { schema } },
    };
  }
  return merged as unknown as RouteConfig["responses"];
}

export function documentMiddlewareAnswers(app: App): void {
  for (const definition of app.openAPIRegistry.definitions) {
    if (definition.type !== "route") continue;
    const route = definition.route as RouteConfig;
    const isV1 = route.path.startsWith(`${API_PREFIX}/`);
    const usesStorage = isV1 || route.path.startsWith(`${ADMIN_PREFIX}/`);
    const isWrite = isV1 && IDEMPOTENT_METHODS.has(route.method.toUpperCase());
    const codes = [...EVERY_ROUTE, ...(isV1 ? V1_ROUTE : []), ...(isWrite ? V1_WRITE : []), ...(usesStorage ? STORAGE_ROUTE : [])];
    const headers = {
      ...(usesStorage ? { [BOOKMARK_HEADER]: bookmarkHeader(route.method === "get" ? "read" : "write") } : {}),
      ...(isWrite ? IdempotencyHeaderSchema.shape : {}),
    };
    const request = Object.keys(headers).length > 0 ? { ...route.request, headers: z.object(headers) } : route.request;
    let responses = withErrors(
      route.responses,
      codes.filter((code) => !declares(route.responses, code)),
    );
    if (usesStorage) responses = withSuccessHeaders(responses, BOOKMARK_RESPONSE_HEADER);
    if (isWrite) responses = withSuccessHeaders(responses, REPLAYED_HEADER);
    // The registry keeps this entry; the route objects themselves are shared with the router and stay as they are.
    (definition as { route: RouteConfig }).route = { ...route, request, responses };
  }
}

const REPLAYED_HEADER = {
  "Idempotent-Replayed": {
    description: "`true` when this is the stored answer to an earlier request with the same `Idempotency-Key`; absent otherwise.",
    schema: { type: "string", enum: ["true"] },
  },
};

/** `headers` added to every success answer (e.g. a write's may be a replay: its responses name the header). */
function withSuccessHeaders(responses: RouteConfig["responses"], headers: Record<string, unknown>): RouteConfig["responses"] {
  const marked = { ...responses } as Record<string, Response>;
  for (const [status, response] of Object.entries(marked)) {
    if (status.startsWith("2")) marked[status] = { ...response, headers: { ...response.headers, ...headers } };
  }
  return marked as unknown as RouteConfig["responses"];
}

/** Whether the route declares `code` itself (e.g. the Audit routes declare `rate_limited`, as upstream does). */
function declares(responses: RouteConfig["responses"], code: ErrorCode): boolean {
  return Object.values(responses as Record<string, Response>).some((response) => codesOf(response).includes(code));
}
