import { z } from "@hono/zod-openapi";
import { MEMBERSHIP_ROLES } from "../../core/domain";
import { Uuid } from "../../http/openapi";

/**
 * The identity endpoints' wire (RFC 8628, RFC 6749, RFC 7009), as the official SDK's `core/device-code.ts`
 * sends and reads it: form-encoded requests, OAuth's `{error, error_description}` errors.
 */

const ScopeParam = z.string().max(200).optional().openapi({
  description: "Space-separated scopes (`workspaces:read`, `workspaces:write`); absent: every scope the person has.",
});

export const DeviceCodeRequestSchema = z
  .object({
    client_description: z.string().max(200).optional().openapi({
      description: "What is asking, shown to the person on the approval page (e.g. `amigo-cli on build-42`).",
    }),
    scope: ScopeParam,
  })
  .openapi("DeviceCodeRequest");

export const DeviceCodeResponseSchema = z
  .object({
    device_code: z.string().openapi({ description: "The poller's secret: sent to `POST /token`, never shown to the person." }),
    user_code: z
      .string()
      .openapi({ description: "What the person types on the page: 8 letters, shown as `XXXX-XXXX`.", example: "BCDF-GHJK" }),
    verification_uri: z.string(),
    verification_uri_complete: z.string(),
    expires_in: z.number().int(),
    interval: z.number().int().openapi({ description: "Seconds to wait between polls; `slow_down` adds 5." }),
  })
  .openapi("DeviceCodeResponse");

export const DEVICE_CODE_GRANT_TYPES = ["device_code", "urn:ietf:params:oauth:grant-type:device_code"] as const;

export const TokenRequestSchema = z
  .object({
    grant_type: z.string().openapi({
      description: "`device_code` (as the SDK sends it) or RFC 8628's `urn:ietf:params:oauth:grant-type:device_code`; or `refresh_token`.",
    }),
    device_code: z.string().max(100).optional(),
    refresh_token: z.string().max(100).optional(),
    workspace_id: z.string().max(36).optional().openapi({ description: "The workspace the access token is for.", format: "uuid" }),
    scope: ScopeParam,
  })
  .openapi("TokenRequest");

export const TokenResponseSchema = z
  .object({
    access_token: z.string().openapi({
      description:
        "An RS256 JWT of 15 minutes: `iss`, `sub` (the identity), `workspace_id` (or `workspace_bootstrap: true` for none), " +
        "`scope`, `sid` (the sign-in), `iat`, `exp`, `jti`. A Bearer token on /v1 for that workspace.",
    }),
    token_type: z.literal("Bearer"),
    expires_in: z.number().int(),
    scope: z.string(),
    refresh_token: z.string().openapi({ description: "Opaque, single use: every refresh answers with the next one." }),
  })
  .openapi("TokenResponse");

const WorkspaceChoiceSchema = z.object({ workspace_id: Uuid, role: z.enum(MEMBERSHIP_ROLES), name: z.string() }).openapi("WorkspaceChoice");

export const WorkspaceSelectionSchema = z
  .object({
    error: z.literal("workspace_selection_required"),
    error_description: z.string(),
    workspaces: z.array(WorkspaceChoiceSchema),
    scope: z.string(),
    refresh_token: z.string().openapi({ description: "Exchange it with `grant_type=refresh_token&workspace_id=…` for the chosen one." }),
  })
  .openapi("WorkspaceSelectionRequired");

const OAUTH_ERRORS = [
  "invalid_request",
  "invalid_grant",
  "invalid_scope",
  "unsupported_grant_type",
  "authorization_pending",
  "slow_down",
  "expired_token",
  "access_denied",
] as const;
export type OAuthErrorCode = (typeof OAUTH_ERRORS)[number];

export const OAuthErrorSchema = z
  .object({
    error: z.enum(OAUTH_ERRORS),
    error_description: z.string(),
    request_id: z.string().openapi({ description: "Not OAuth's: the request's id, as in `x-request-id` and the logs." }),
  })
  .openapi("OAuthError");

export const RevokeRequestSchema = z
  .object({
    token: z.string().max(4096).openapi({ description: "A refresh token, or an access token of the sign-in to end." }),
    token_type_hint: z.enum(["refresh_token", "access_token"]).optional(),
  })
  .openapi("RevokeRequest");

export const ProfileResponseSchema = z
  .object({
    identity_id: Uuid,
    email: z.string(),
    display_name: z.string().nullable(),
    workspaces: z.array(WorkspaceChoiceSchema).openapi({
      description: "The person's workspaces in this region (at most 100), newest membership first; a workspace token sees its own only.",
    }),
  })
  .openapi("SelfProfile");

const Jwk = z.object({
  kty: z.literal("RSA"),
  kid: z.string(),
  n: z.string(),
  e: z.string(),
  alg: z.literal("RS256"),
  use: z.literal("sig"),
});
export const JwksSchema = z.object({ keys: z.array(Jwk) }).openapi("JsonWebKeySet");

export const OpenIdConfigurationSchema = z
  .object({
    issuer: z.string(),
    jwks_uri: z.string(),
    token_endpoint: z.string(),
    device_authorization_endpoint: z.string(),
    revocation_endpoint: z.string(),
    grant_types_supported: z.array(z.string()),
    response_types_supported: z.array(z.string()),
    scopes_supported: z.array(z.string()),
    token_endpoint_auth_methods_supported: z.array(z.string()),
    id_token_signing_alg_values_supported: z.array(z.string()),
    subject_types_supported: z.array(z.string()),
  })
  .openapi("OpenIdConfiguration");
