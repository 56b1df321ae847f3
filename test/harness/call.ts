/**
 * Calling the app: one request through the real app inside workerd, with real D1 and KV, its body parsed.
 * Bodies are typed by the caller (`call<WorkspaceResponse>(…)`); a test that reads an error names
 * `ErrorBody`, or `ValidationErrorBody` for a 422.
 */
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import worker from "../../src";
import type { ErrorCode, ValidationErrorItem } from "../../src/core/errors";

export type TestEnv = typeof env;

/** Every answer but a 422: a sentence and a code of the closed set. */
export type ErrorBody = { detail: string; error_code: ErrorCode; request_id: string; region?: string };
/** Every 422: FastAPI's validation body. */
export type ValidationErrorBody = { detail: ValidationErrorItem[]; error_code: ErrorCode; request_id: string };

export type ApiResponse<Body = unknown> = { status: number; headers: Headers; body: Body; text: string };

export type CallOptions<Request = unknown> = {
  token?: string | null;
  body?: Request;
  rawBody?: string;
  headers?: Record<string, string>;
  env?: Partial<TestEnv>;
  origin?: string;
};

export async function call<Body = unknown, Request = unknown>(
  method: string,
  path: string,
  options: CallOptions<Request> = {},
): Promise<ApiResponse<Body>> {
  const headers = new Headers(options.headers);
  if (options.token) headers.set("authorization", `Bearer ${options.token}`);
  let body: string | undefined = options.rawBody;
  if (options.body !== undefined) {
    body = JSON.stringify(options.body);
    if (!headers.has("content-type")) headers.set("content-type", "application/json");
  }
  const res = await fetchWorker(new Request(`${options.origin ?? "http://localhost"}${path}`, { method, headers, body }), options.env);
  const text = await res.text();
  let parsed: unknown = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    parsed = text;
  }
  return { status: res.status, headers: res.headers, body: parsed as Body, text };
}

/**
 * One request through the Worker's own fetch handler, as production calls it (the early refusal in front of
 * the app), with the test bindings and `bindings` over them; resolves once its waitUntil work is done.
 */
export async function fetchWorker(
  request: Request<unknown, IncomingRequestCfProperties>,
  bindings: Partial<TestEnv> = {},
): Promise<Response> {
  const ctx = createExecutionContext();
  const res = await worker.fetch(request, { ...env, ...bindings }, ctx);
  await waitOnExecutionContext(ctx);
  return res;
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * For answers that may be either (concurrent requests, a model's random steps): the success's body when
 * the status is 2xx, else undefined. The status decides, as it does for a client; expectConformant checks
 * the shape.
 */
export function successOf<Success>(res: ApiResponse<Success | ErrorBody | ValidationErrorBody>): Success | undefined {
  return res.status < 300 ? (res.body as Success) : undefined;
}

/** The error body when the status is 4xx or 5xx, else undefined (see successOf). */
export function errorOf(res: ApiResponse<unknown>): ErrorBody | undefined {
  return res.status >= 400 ? (res.body as ErrorBody) : undefined;
}
