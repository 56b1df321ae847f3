import { ApiError } from "../core/errors";

/**
 * Server secrets (download-link signing, idempotent-answer sealing, the admin token) shorter than this are
 * treated as absent: a guessable one would make what it protects forgeable.
 */
export const MIN_SERVER_SECRET_LENGTH = 32;

/** Whether `value` may serve as a server secret: set, and at least MIN_SERVER_SECRET_LENGTH characters. */
export function isUsableServerSecret(value: string | undefined): value is string {
  return value !== undefined && value.length >= MIN_SERVER_SECRET_LENGTH;
}

/**
 * The server secret `name`, or 503 `detail` when it is unset or too short; the cause, which onError logs
 * with the 503, names the binding.
 */
export function requiredServerSecret(value: string | undefined, name: string, detail: string): string {
  if (isUsableServerSecret(value)) return value;
  throw new ApiError("service_unavailable", detail, {
    cause: new Error(`${name} is unset or shorter than ${MIN_SERVER_SECRET_LENGTH} characters`),
  });
}
