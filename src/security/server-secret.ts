import { ApiError } from "../core/errors";

/**
 * Server secrets (download-link signing, idempotent-answer sealing) shorter than this are treated as
 * absent: a guessable one would make what it protects forgeable.
 */
const MIN_SERVER_SECRET_LENGTH = 32;

/**
 * The server secret `name`, or 503 `detail` when it is unset or too short; the cause, which onError logs
 * with the 503, names the binding.
 */
export function requiredServerSecret(value: string | undefined, name: string, detail: string): string {
  if (value && value.length >= MIN_SERVER_SECRET_LENGTH) return value;
  throw new ApiError("service_unavailable", detail, {
    cause: new Error(`${name} is unset or shorter than ${MIN_SERVER_SECRET_LENGTH} characters`),
  });
}
