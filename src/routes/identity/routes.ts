import { createRoute } from "@hono/zod-openapi";
import { errorResponses } from "../../core/errors";
import { successResponse } from "../../http/openapi";
import {
  DeviceCodeRequestSchema,
  DeviceCodeResponseSchema,
  JwksSchema,
  OAuthErrorSchema,
  OpenIdConfigurationSchema,
  ProfileResponseSchema,
  RevokeRequestSchema,
  TokenRequestSchema,
  TokenResponseSchema,
  WorkspaceSelectionSchema,
} from "./schemas";

/**
 * The deployment as its own small identity service (decision 0040; docs/guides/signing-in-from-a-terminal.md):
 * the endpoints the official SDK's `loginWithDeviceCode` and `TokenManager` call, at the API's own address.
 * Not upstream's Platform API paths: upstream serves them from its identity service.
 */

const tags = ["Sign-in"];
const security: [] = [];
const formBody = <T>(schema: T) => ({ required: true, content: { "application/x-www-form-urlencoded": { schema } } });
const oauthError = (description: string) => ({ description, content: { "application/json": { schema: OAuthErrorSchema } } });
/** What any of them may answer besides its own: a limit, or storage or the signing key unavailable. */
const common = errorResponses("rate_limited", "service_unavailable", "internal_error");

export const startDeviceAuthorization = createRoute({
  method: "post",
  path: "/device/code",
  operationId: "start-device-authorization",
  tags,
  summary: "Start a terminal sign-in",
  description:
    "RFC 8628 §3.1-3.2. A new sign-in request: the terminal shows `user_code` and `verification_uri` to its person and polls " +
    "`POST /token` with `device_code` every `interval` seconds for 10 minutes. Needs no token. 400 `invalid_scope` for a scope " +
    "that does not exist; 429 (with `Retry-After`) past the per-address limit.",
  security,
  request: { body: formBody(DeviceCodeRequestSchema) },
  responses: { 200: successResponse(DeviceCodeResponseSchema), 400: oauthError("`invalid_request` or `invalid_scope`."), ...common },
});

export const token = createRoute({
  method: "post",
  path: "/token",
  operationId: "issue-token",
  tags,
  summary: "Poll a sign-in, or refresh",
  description:
    "`grant_type=device_code` (RFC 8628 §3.4-3.5): 400 `authorization_pending` until the person approves, `slow_down` when polled " +
    "sooner than the interval (which grows by 5 s), `access_denied` once denied, `expired_token` after 10 minutes; then, once, the " +
    "tokens: for `workspace_id` if sent, else for the person's only workspace in this region, a bootstrap token " +
    "(`workspace_bootstrap: true`, for no workspace: read `GET /self/profile`, then refresh with one) when they have none, and " +
    "`300 workspace_selection_required` listing them when they have several. `grant_type=refresh_token` (RFC 6749 §6): the token " +
    "is spent and the answer holds the next one; a spent token used again revokes the whole sign-in (RFC 9700 §4.14). " +
    "`invalid_grant` for an unknown, spent, revoked or expired token or device code, a disabled person, or a workspace that is " +
    "not theirs here.",
  security,
  request: { body: formBody(TokenRequestSchema) },
  responses: {
    200: successResponse(TokenResponseSchema),
    300: {
      description: "The person has several workspaces here: choose one and refresh with it.",
      content: { "application/json": { schema: WorkspaceSelectionSchema } },
    },
    400: oauthError(
      "`authorization_pending`, `slow_down`, `expired_token`, `access_denied`, `invalid_grant`, `invalid_scope`, `invalid_request` or " +
        "`unsupported_grant_type`.",
    ),
    ...common,
  },
});

export const revoke = createRoute({
  method: "post",
  path: "/revoke",
  operationId: "revoke-token",
  tags,
  summary: "End a sign-in",
  description:
    "RFC 7009. A refresh token, or one of our access tokens, ends its sign-in: every refresh token of it is refused from now on " +
    "(access tokens already issued run out within 15 minutes). 200 whatever the token was, as RFC 7009 §2.2 says.",
  security,
  request: { body: formBody(RevokeRequestSchema) },
  responses: { 200: { description: "Done, or nothing to do." }, 400: oauthError("`invalid_request`."), ...common },
});

export const getSelfProfile = createRoute({
  method: "get",
  path: "/self/profile",
  operationId: "get-self-profile",
  tags,
  summary: "My workspaces, for choosing one",
  description:
    "The person of the bearer token (an identity's token of any kind) and their workspaces in this region with their role, as the " +
    "SDK reads them after a bootstrap token. A token for one workspace sees that one only.",
  responses: {
    200: successResponse(ProfileResponseSchema),
    ...errorResponses("unauthorized", "unsupported_principal_type", "rate_limited", "service_unavailable", "internal_error"),
  },
});

export const getJwks = createRoute({
  method: "get",
  path: "/.well-known/jwks.json",
  operationId: "get-jwks",
  tags,
  summary: "The keys that sign our access tokens",
  description: "RFC 7517. Every key of the deployment's ring: the signing key first, then any it is replacing. Needs no token.",
  security,
  responses: { 200: successResponse(JwksSchema), ...errorResponses("service_unavailable", "internal_error") },
});

export const getOpenIdConfiguration = createRoute({
  method: "get",
  path: "/.well-known/openid-configuration",
  operationId: "get-openid-configuration",
  tags,
  summary: "Where the sign-in endpoints are",
  description: "OpenID Connect Discovery / RFC 8414 metadata: issuer, key set, token, device authorization and revocation endpoints.",
  security,
  responses: { 200: successResponse(OpenIdConfigurationSchema), ...errorResponses("service_unavailable", "internal_error") },
});
