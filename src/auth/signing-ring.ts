import type { AppContext } from "../core/env";
import { ApiError } from "../core/errors";
import { deploymentIssuer, signingKeys } from "../security/access-tokens";

/** The deployment's own key ring and issuer, for the sign-in endpoints and the approval page (decision 0040). */

/** Whether this isolate has logged that IDENTITY_SIGNING_KEYS is unusable: once is enough. */
let keysProblemLogged = false;

/** The key ring, or 503 (logged once per isolate) while IDENTITY_SIGNING_KEYS is unset or unusable. */
export async function signingRing(c: AppContext) {
  const keys = await signingKeys(c.env.IDENTITY_SIGNING_KEYS);
  if ("ring" in keys) return keys.ring;
  if (!keysProblemLogged) {
    keysProblemLogged = true;
    c.get("logger").error("IDENTITY_SIGNING_KEYS cannot be used; sign-in answers 503", { why: keys.invalid });
  }
  throw new ApiError("service_unavailable", "Sign-in is not configured on this deployment (IDENTITY_SIGNING_KEYS).");
}

/** Our issuer, or 503 on a deployment reached at another address than loopback without PUBLIC_URL. */
export function issuerOf(c: AppContext): string {
  const issuer = deploymentIssuer(c.env.PUBLIC_URL, c.req.url);
  if (issuer !== null) return issuer;
  throw new ApiError("service_unavailable", "Sign-in is not configured on this deployment (PUBLIC_URL).");
}
