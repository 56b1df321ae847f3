import type { RouteConfig } from "@hono/zod-openapi";
import { z } from "@hono/zod-openapi";
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import type { AppContext } from "./env";
import { MAX_BODY_BYTES, MAX_HEADER_BYTES, MAX_URL_LENGTH, WORKSPACE_HOLDING_LIMITS } from "./limits";
import { isAbortedBy, isRetryableStorageError, rootCauseMessage } from "./storage-errors";

/**
 * The closed set of error codes: the status each maps to and the sentence the OpenAPI document shows.
 * The runtime (`ApiError`, `onError`) and the spec (`errorResponses`) both read this one table.
 */
export const ERRORS = {
  validation_error: { status: 422, doc: "The request failed validation; `detail` lists each problem." },
  unauthorized: { status: 401, doc: "Missing, malformed, unknown, expired or revoked bearer token." },
  forbidden: { status: 403, doc: "The caller may not perform this operation." },
  insufficient_scope: { status: 403, doc: "The identity token lacks the scope this operation needs." },
  unsupported_principal_type: { status: 403, doc: "This operation is not available to this kind of principal." },
  quota_exceeded: {
    status: 403,
    doc:
      "A documented limit on what one caller may hold is reached (workspaces an identity created in this region; a workspace's live " +
      "API keys, pending invitations, external roles, active role grants or unexpired audit exports; one person's live " +
      "`Idempotency-Key`s): `detail` names it and what frees room, and when. Retrying before room is freed gets the same answer.",
  },
  not_found: { status: 404, doc: "No such resource." },
  slug_taken: { status: 409, doc: "The workspace slug is already taken, in this region or another (slugs are unique across regions)." },
  conflict: {
    status: 409,
    doc:
      "The resource was changed by a concurrent request (e.g. the key was rotated meanwhile): read it again and retry. Also the " +
      "answer to a retry whose `Idempotency-Key` answer can no longer be read (the request ran once and is not run again).",
  },
  already_exists: {
    status: 409,
    doc: "Something unique exists already: an external role with this name, or an active grant of the same role, resource and access.",
  },
  export_in_progress: {
    status: 409,
    doc:
      "An audit export of this workspace is still being written: a workspace writes one export too large for one request at a " +
      "time, and its file can be downloaded once it is done. `detail` names it and how far it is.",
  },
  already_member: { status: 409, doc: "The identity (or the email's identity) is already a member of this workspace." },
  invitation_pending: { status: 409, doc: "This email has a pending invitation to this workspace; revoke it to send another." },
  last_owner: { status: 409, doc: "The change would leave the workspace without an owner: promote another member to owner first." },
  idempotency_key_in_use: {
    status: 409,
    doc: "A request with this `Idempotency-Key` is still running; retry after `Retry-After` seconds.",
  },
  invitation_expired: { status: 410, doc: "The invitation has expired; ask for a new one." },
  payload_too_large: { status: 413, doc: `The request body exceeds ${MAX_BODY_BYTES / 1024} KiB.` },
  unsupported_media_type: { status: 415, doc: "The request body must be `application/json`." },
  uri_too_long: { status: 414, doc: `The URL is longer than ${MAX_URL_LENGTH.toLocaleString("en-US")} characters.` },
  idempotency_key_reused: {
    status: 422,
    doc: "This `Idempotency-Key` was used for a different request (method, path or body) in the last 24 hours.",
  },
  misdirected_request: { status: 421, doc: "The resource lives in another region; `region` names it." },
  rate_limited: {
    status: 429,
    doc: "Too many requests for this credential, workspace or client address; retry after `Retry-After` seconds.",
  },
  headers_too_large: { status: 431, doc: `The request headers exceed ${MAX_HEADER_BYTES / 1024} KiB in total.` },
  internal_error: { status: 500, doc: "An unexpected error. The body never carries internal details." },
  audit_integrity_failure: {
    status: 500,
    doc:
      "An audit log failed its own integrity check (an event, its tree or a checkpoint is not what the log signed): it gives no proof " +
      "or checkpoint until an operator has restored it, and the failure is logged. Retrying gets the same answer.",
  },
  service_unavailable: {
    status: 503,
    doc:
      "A storage dependency is unavailable, or a server secret this operation needs is not configured (`detail` says which); retry " +
      "after `Retry-After` seconds.",
  },
} as const satisfies Record<string, { status: ContentfulStatusCode; doc: string }>;

export type ErrorCode = keyof typeof ERRORS;
const ERROR_CODES = Object.keys(ERRORS) as [ErrorCode, ...ErrorCode[]];

/** What every route addressing one workspace can answer, besides its success. */
export const WORKSPACE_ROUTE_ERRORS = [
  "validation_error",
  "unauthorized",
  "forbidden",
  "insufficient_scope",
  "not_found",
  "misdirected_request",
  "service_unavailable",
  "internal_error",
] as const satisfies readonly ErrorCode[];

/** What a route with a JSON body can answer on top. */
export const BODY_ERRORS = ["payload_too_large", "unsupported_media_type"] as const satisfies readonly ErrorCode[];

const RETRY_AFTER_SECONDS = 1;
/** The answers that tell the client when to retry. */
const RETRY_AFTER_CODES: ReadonlySet<ErrorCode> = new Set(["service_unavailable", "rate_limited", "idempotency_key_in_use"]);

const ValidationErrorItemSchema = z
  .object({
    loc: z.array(z.union([z.string(), z.number().int()])),
    msg: z.string(),
    type: z.string(),
    input: z.unknown().optional(),
    ctx: z.record(z.string(), z.unknown()).optional(),
  })
  .openapi("ValidationError");
export type ValidationErrorItem = z.infer<typeof ValidationErrorItemSchema>;

/** The codes answered with 422: each in FastAPI's validation body, so a client typed by upstream parses every 422. */
const UNPROCESSABLE_CODES = ERROR_CODES.filter((code) => ERRORS[code].status === 422) as [ErrorCode, ...ErrorCode[]];

const HTTPValidationErrorSchema = z
  .object({
    detail: z.array(ValidationErrorItemSchema),
    error_code: z.enum(UNPROCESSABLE_CODES),
    request_id: z.string(),
  })
  .openapi("HTTPValidationError", { description: "FastAPI-compatible validation error body: every 422, whatever its `error_code`." });

const ErrorResponseSchema = z
  .object({
    detail: z.string().openapi({ description: "A human-readable sentence.", example: "Workspace slug already taken." }),
    error_code: z.enum(ERROR_CODES).openapi({ description: "Stable, machine-readable code." }),
    request_id: z.string().openapi({ description: "Same value as the `x-request-id` response header." }),
    region: z.string().optional().openapi({ description: "With `misdirected_request`: the region that owns the resource." }),
  })
  .openapi("ErrorResponse");

type ApiErrorOptions = {
  /** 422 only (required there): the FastAPI `detail` list. */
  items?: ValidationErrorItem[];
  /** Extra body fields, e.g. `region` for 421. */
  extra?: Record<string, string>;
  /** The `Retry-After` header, in seconds (the RETRY_AFTER_CODES send 1 unless told otherwise). */
  retryAfterSeconds?: number;
  cause?: unknown;
};

/** V8's Error, with the setting the Workers types leave out: how many frames a new error's stack captures. */
const V8Error = Error as ErrorConstructor & { stackTraceLimit: number };

export class ApiError extends HTTPException {
  readonly code: ErrorCode;
  readonly items?: ValidationErrorItem[];
  readonly extra?: Record<string, string>;
  readonly retryAfterSeconds?: number;

  constructor(code: ErrorCode, detail: string, options: ApiErrorOptions = {}) {
    // A client error's stack is never read (only a 5xx's cause is logged), and capturing it is most of
    // what building the error costs: the cheapest answers, a malformed token's 401 first, stay cheap.
    const stackTraceLimit = V8Error.stackTraceLimit;
    if (ERRORS[code].status < 500) V8Error.stackTraceLimit = 0;
    try {
      super(ERRORS[code].status, { message: detail, cause: options.cause });
    } finally {
      V8Error.stackTraceLimit = stackTraceLimit;
    }
    this.code = code;
    this.items = options.items;
    this.extra = options.extra;
    this.retryAfterSeconds = options.retryAfterSeconds ?? (RETRY_AFTER_CODES.has(code) ? RETRY_AFTER_SECONDS : undefined);
  }
}

export const validationError = (items: ValidationErrorItem[]) => new ApiError("validation_error", "Request validation failed.", { items });

export const UNAUTHORIZED_DETAIL = "Missing or invalid bearer token.";

/** The one 500: its body never says more than this; the cause goes to the log. */
export const internalError = (cause?: unknown) => new ApiError("internal_error", "Internal server error.", { cause });

/** Hono's own HTTPExceptions (body limit, media-type gate, malformed JSON) mapped onto the closed enum. */
function fromHttpException(err: HTTPException): ApiError {
  switch (err.status) {
    case 413:
      return new ApiError("payload_too_large", ERRORS.payload_too_large.doc);
    case 415:
      return new ApiError("unsupported_media_type", ERRORS.unsupported_media_type.doc);
    case 401:
      return new ApiError("unauthorized", UNAUTHORIZED_DETAIL);
    case 400:
      return validationError([{ loc: ["body"], msg: "JSON decode error", type: "json_invalid" }]);
    default:
      return internalError(err);
  }
}

/**
 * `call()`, any failure of it (thrown or rejected) answered 503 with `Retry-After` and `detail`; the
 * failure itself goes to the log as the cause, never to the client. For a dependency that may be briefly
 * unreachable: KV, R2, a Durable Object.
 */
export async function unavailableOnFailure<T>(call: () => Promise<T>, detail: string): Promise<T> {
  try {
    return await call();
  } catch (err) {
    throw new ApiError("service_unavailable", detail, { cause: err });
  }
}

/**
 * An answer decided before the handler gave its own: an idempotent replay of a stored answer
 * (http/idempotency.ts). `onError` sends it as it is.
 */
export class PresetAnswer extends Error {
  constructor(readonly response: Response) {
    super("preset answer");
  }
}

function toApiError(err: unknown): ApiError {
  if (err instanceof ApiError) return err;
  for (const [reason, detail] of Object.entries(WORKSPACE_HOLDING_LIMITS)) {
    if (isAbortedBy(err, reason)) return new ApiError("quota_exceeded", detail, { cause: err });
  }
  if (err instanceof HTTPException) return fromHttpException(err);
  if (isRetryableStorageError(err)) {
    return new ApiError("service_unavailable", "Storage is temporarily unavailable; retry shortly.", { cause: err });
  }
  return internalError(err);
}

export function errorBody(error: ApiError, requestId: string) {
  if (ERRORS[error.code].status === 422) {
    return { detail: error.items ?? [], error_code: error.code, request_id: requestId };
  }
  return { detail: error.message, error_code: error.code, request_id: requestId, ...error.extra };
}

export function onError(err: unknown, c: AppContext): Response {
  if (err instanceof PresetAnswer) return err.response;
  const error = toApiError(err);
  const status = ERRORS[error.code].status;
  if (status >= 500) {
    // Log the storage/runtime cause for operators; the body stays generic.
    c.get("logger")?.error("request failed", {
      method: c.req.method,
      path: c.req.path,
      status,
      error_code: error.code,
      cause: rootCauseMessage(error.cause ?? err),
    });
  }
  return c.json(errorBody(error, c.get("requestId") ?? "unknown"), status, errorHeaders(error));
}

/** The headers an error answer carries besides the common ones: the challenge of a 401, a Retry-After. */
export function errorHeaders(error: ApiError): Record<string, string> {
  const headers: Record<string, string> = {};
  if (ERRORS[error.code].status === 401) headers["WWW-Authenticate"] = 'Bearer realm="platform-api"';
  if (error.retryAfterSeconds !== undefined) headers["Retry-After"] = String(error.retryAfterSeconds);
  return headers;
}

type ResponseConfig = RouteConfig["responses"][number];

/** Every 422 is FastAPI's validation body; every other status the usual error body. */
const bodySchemaOf = (status: number) => (status === 422 ? HTTPValidationErrorSchema : ErrorResponseSchema);

const REQUEST_ID_HEADER = {
  "x-request-id": { description: "Request id, also in the body and the logs.", schema: { type: "string" as const } },
};
const RETRY_AFTER_HEADER = { "Retry-After": { description: "Seconds to wait before retrying.", schema: { type: "string" as const } } };
const WWW_AUTHENTICATE_HEADER = {
  "WWW-Authenticate": { description: 'Always `Bearer realm="platform-api"`.', schema: { type: "string" as const } },
};

/** The codes each response errorResponses built documents, so they can be read back without reading its prose. */
const documentedCodes = new WeakMap<object, readonly ErrorCode[]>();

/** The error codes a response declares (none, for a response errorResponses did not build). */
export const codesOf = (response: object): readonly ErrorCode[] => documentedCodes.get(response) ?? [];

/** OpenAPI error responses for the given codes, grouped by status, from the same table the runtime uses. */
export function errorResponses(...codes: ErrorCode[]): Record<number, ResponseConfig> {
  const byStatus = new Map<number, ErrorCode[]>();
  for (const code of codes) byStatus.set(ERRORS[code].status, [...(byStatus.get(ERRORS[code].status) ?? []), code]);
  const responses: Record<number, ResponseConfig> = {};
  for (const [status, group] of byStatus) {
    responses[status] = {
      description: group.map((code) => `\`${code}\`: ${ERRORS[code].doc}`).join(" "),
      headers: {
        ...REQUEST_ID_HEADER,
        ...(status === 401 ? WWW_AUTHENTICATE_HEADER : {}),
        ...(group.some((code) => RETRY_AFTER_CODES.has(code)) ? RETRY_AFTER_HEADER : {}),
      },
      content: { "application/json": { schema: bodySchemaOf(status) } },
    };
    documentedCodes.set(responses[status], group);
  }
  return responses;
}
