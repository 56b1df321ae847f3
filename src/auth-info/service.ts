import type { Principal } from "../principal";
import { type AuthInfoResponse, AuthInfoResponseSchema, type IdentityAuthInfoResponse, IdentityAuthInfoResponseSchema } from "./schemas";

/** What the caller's own credential says about it; no storage is read beyond authentication's. */
export function authInfoOf(principal: Principal, now = Date.now()): AuthInfoResponse | IdentityAuthInfoResponse {
  if (principal.type === "identity") return IdentityAuthInfoResponseSchema.parse({ ...principal, principal_type: "identity" });
  return AuthInfoResponseSchema.parse({
    ...principal,
    expires_in_seconds: Math.max(0, Math.floor((Date.parse(principal.expires_at) - now) / 1000)),
  });
}
