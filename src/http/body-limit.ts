import { bodyLimit } from "hono/body-limit";
import { ApiError } from "../core/errors";

export const MAX_BODY_BYTES = 64 * 1024;

/** Bodies over 64 KiB are refused (413) while they stream in, before anything reads them whole. */
export const bodyLimitMiddleware = bodyLimit({
  maxSize: MAX_BODY_BYTES,
  onError: () => {
    throw new ApiError("payload_too_large", `The request body exceeds ${MAX_BODY_BYTES} bytes.`);
  },
});
