import { bodyLimit } from "hono/body-limit";
import { ApiError, ERRORS } from "../core/errors";
import { MAX_BODY_BYTES } from "../core/limits";

/** Bodies over MAX_BODY_BYTES are refused (413) while they stream in, before anything reads them whole. */
export const bodyLimitMiddleware = bodyLimit({
  maxSize: MAX_BODY_BYTES,
  onError: () => {
    throw new ApiError("payload_too_large", ERRORS.payload_too_large.doc);
  },
});
