import type { RouteConfig } from "@hono/zod-openapi";
import { z } from "@hono/zod-openapi";
import type { App } from "../env";
import { type ErrorCode, errorResponses } from "../errors";
import { IDEMPOTENCY_KEY_HEADER, IDEMPOTENT_METHODS, IdempotencyKeySchema } from "../idempotency/middleware";

/**
 * The middleware mounted before the routes answers for every route it runs on; this adds those answers
 * (and the Idempotency-Key header) to each route's OpenAPI operation, from the same predicates the
 * middleware uses, so no operation can leave them out.
 */

const EVERY_ROUTE: ErrorCode[] = ["uri_too_long", "headers_too_large"];
/** Authentication and its limits run on every /v1 route. */
const V1_ROUTE: ErrorCode[] = ["rate_limited"];
const V1_WRITE: ErrorCode[] = ["conflict", "idempotency_key_in_use", "idempotency_key_reused"];

const IdempotencyHeaderSchema = z.object({
  [IDEMPOTENCY_KEY_HEADER]: IdempotencyKeySchema.optional().openapi({
    description:
      "Makes a retry of this request safe (README, \"Retries and limits\"): the first answer is kept 24 hours and replayed, with `Idempotent-Replayed: true`, to a retry with the same key and the same method, path and body. 1 to 255 printable ASCII characters; a UUID is the usual choice.",
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
    const isV1 = route.path.startsWith("/v1/");
    const isWrite = isV1 && IDEMPOTENT_METHODS.has(route.method.toUpperCase());
    const codes = [...EVERY_ROUTE, ...(isV1 ? V1_ROUTE : []), ...(isWrite ? V1_WRITE : [])];
    const request = isWrite ? { ...route.request, headers: IdempotencyHeaderSchema } : route.request;
    const responses = withErrors(route.responses, codes.filter((code) => !mentions(route.responses, code)));
    // The registry keeps this entry; the route objects themselves are shared with the router and stay as they are.
    (definition as { route: RouteConfig }).route = { ...route, request, responses: isWrite ? withReplayHeader(responses) : responses };
  }
}

const REPLAYED_HEADER = {
  "Idempotent-Replayed": { description: "`true` when this is the stored answer to an earlier request with the same `Idempotency-Key`; absent otherwise.", schema: { type: "string", enum: ["true"] } },
};

/** Every success answer of a write may be a replay: its responses name the header. */
function withReplayHeader(responses: RouteConfig["responses"]): RouteConfig["responses"] {
  const marked = { ...responses } as Record<string, Response>;
  for (const [status, response] of Object.entries(marked)) {
    if (status.startsWith("2")) marked[status] = { ...response, headers: { ...response.headers, ...REPLAYED_HEADER } };
  }
  return marked as unknown as RouteConfig["responses"];
}

/** Whether the route declares `code` itself (e.g. the Audit routes declare `rate_limited`, as upstream does). */
function mentions(responses: RouteConfig["responses"], code: ErrorCode): boolean {
  return Object.values(responses as Record<string, Response>).some((response) => response.description.includes(`\`${code}\``));
}
