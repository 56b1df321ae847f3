import { ApiError } from "../../core/errors";
import type { Principal } from "../../core/principal";
import { pickResponse } from "../../http/openapi";
import { type AuthInfoResponse, AuthInfoResponseSchema, type IdentityResponse, IdentityResponseSchema } from "./schemas";

/** Only the declared fields: the principal's internal ones (its row id, role, permissions) stay out. */
const authInfoResponse = pickResponse(AuthInfoResponseSchema);
const identityResponse = pickResponse(IdentityResponseSchema);

/** get-auth-info describes a workspace API key, as upstream does; an identity token is sent to its own endpoint. */
export function authInfoOf(principal: Principal, now = Date.now()): AuthInfoResponse {
  if (principal.type !== "api_key") {
    throw new ApiError(
      "unsupported_principal_type",
      "GET /v1/auth/me describes a workspace API key. For an identity token, use GET /v1/me.",
    );
  }
  return authInfoResponse({
    ...principal,
    expires_in_seconds: Math.max(0, Math.floor((Date.parse(principal.expires_at) - now) / 1000)),
  });
}

/** Who the identity behind the token is; no storage is read beyond authentication's. */
export function identityOf(principal: Principal): IdentityResponse {
  if (principal.type !== "identity") {
    throw new ApiError(
      "unsupported_principal_type",
      "GET /v1/me describes an identity's token. For a workspace API key, use GET /v1/auth/me.",
    );
  }
  const kind =
    principal.token_workspace_id !== undefined ? "access_token" : principal.issuer ? "identity_provider" : "personal_access_token";
  return identityResponse({
    ...principal,
    token_expires_at: principal.token_expires_at ?? null,
    issuer: principal.issuer ?? null,
    token_kind: kind,
    token_workspace_id: principal.token_workspace_id ?? null,
  });
}
