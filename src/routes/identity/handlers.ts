import type { z } from "@hono/zod-openapi";
import { signInWorkspaces } from "../../auth/memberships";
import { issuerOf, signingRing } from "../../auth/signing-ring";
import type { AppContext, AppRouteHandler } from "../../core/env";
import { ApiError } from "../../core/errors";
import { verifyAccessToken } from "../../security/access-tokens";
import { countRequest } from "../../security/rate-limit";
import { auditActorOf } from "../../storage/audit-events/record";
import type * as routes from "./routes";
import { DEVICE_CODE_GRANT_TYPES, type OAuthErrorCode } from "./schemas";
import * as service from "./service";

/** Sign-in's answers are never cached (RFC 6749 §5.1). */
const NO_STORE = { "cache-control": "no-store" };

function oauthErrorResponse(c: AppContext, error: OAuthErrorCode, description: string) {
  return c.json({ error, error_description: description, request_id: c.get("requestId") }, 400, NO_STORE);
}

/**
 * A form that does not validate is OAuth's `invalid_request`, not the API's 422. (Typed as answering
 * nothing: zod-openapi types a hook's answer by the route's declared bodies, which a 400 of OAuth's is.)
 */
export function formHook(result: { success: true } | { success: false; error: z.ZodError }, c: AppContext): undefined {
  if (result.success) return;
  const field = result.error.issues[0]?.path.join(".") || "body";
  return oauthErrorResponse(c, "invalid_request", `The form field ${field} is missing or not valid.`) as never;
}

async function grantContext(c: AppContext): Promise<service.GrantContext> {
  const cf = c.req.raw.cf as { country?: unknown } | undefined;
  return {
    storage: c.get("storage"),
    ring: await signingRing(c),
    issuer: issuerOf(c),
    actor: auditActorOf(c),
    country: typeof cf?.country === "string" ? cf.country : null,
  };
}

/** Each address's sign-in requests count against the credential limit, under a key of their own. */
const countSignInRequest = (c: AppContext) =>
  countRequest(c, "CREDENTIAL_RATE_LIMIT", `sign-in:${c.req.header("cf-connecting-ip") ?? "unknown"}`);

/** Runs a grant, answering its OAuthFailure as OAuth does. */
async function oauth(c: AppContext, grant: () => Promise<Response>): Promise<Response> {
  try {
    return await grant();
  } catch (err) {
    if (err instanceof service.OAuthFailure) return oauthErrorResponse(c, err.error, err.description);
    throw err;
  }
}

export const startDeviceAuthorization: AppRouteHandler<typeof routes.startDeviceAuthorization> = async (c) => {
  await countSignInRequest(c);
  const grant = await grantContext(c);
  return (await oauth(c, async () => c.json(await service.startDeviceAuthorization(grant, c.req.valid("form")), 200, NO_STORE))) as never;
};

export const token: AppRouteHandler<typeof routes.token> = async (c) => {
  await countSignInRequest(c);
  const form = c.req.valid("form");
  const grant = await grantContext(c);
  return (await oauth(c, async () => {
    if ((DEVICE_CODE_GRANT_TYPES as readonly string[]).includes(form.grant_type)) {
      if (!form.device_code) throw new service.OAuthFailure("invalid_request", "device_code is required.");
      const answer = await service.pollDeviceAuthorization(grant, form.device_code, form.workspace_id);
      return "error" in answer ? c.json(answer, 300, NO_STORE) : c.json(answer, 200, NO_STORE);
    }
    if (form.grant_type === "refresh_token") {
      if (!form.refresh_token) throw new service.OAuthFailure("invalid_request", "refresh_token is required.");
      return c.json(await service.refresh(grant, { ...form, refresh_token: form.refresh_token }), 200, NO_STORE);
    }
    throw new service.OAuthFailure("unsupported_grant_type", "grant_type must be device_code or refresh_token.");
  })) as never;
};

export const revoke: AppRouteHandler<typeof routes.revoke> = async (c) => {
  await countSignInRequest(c);
  const { token: presented, token_type_hint } = c.req.valid("form");
  const grant = await grantContext(c);
  if (token_type_hint === "access_token" || presented.includes(".")) {
    // An access token of ours names its sign-in; one that does not verify names nothing (RFC 7009: still 200).
    const claims = await verifyAccessToken(grant.ring, grant.issuer, presented).catch(() => null);
    if (claims !== null)
      await service.revokeSignIn(grant, claims.sid, { familyId: claims.sid, identityId: claims.sub, clientDescription: "" });
  } else {
    await service.revokeRefreshToken(grant, presented);
  }
  return c.body(null, 200, NO_STORE) as never;
};

export const getSelfProfile: AppRouteHandler<typeof routes.getSelfProfile> = async (c) => {
  const principal = c.get("principal");
  if (principal.type !== "identity") {
    throw new ApiError("unsupported_principal_type", "GET /self/profile describes a person; a workspace API key has GET /v1/auth/me.");
  }
  const choices = await signInWorkspaces(c.get("storage"), principal.identity_id);
  const limitedTo = principal.token_workspace_id;
  const workspaces =
    limitedTo === undefined || limitedTo === null ? choices : choices.filter((choice) => choice.workspace_id === limitedTo);
  const { identity_id, email, display_name } = principal;
  return c.json({ identity_id, email, display_name, workspaces }, 200, NO_STORE);
};

export const getJwks: AppRouteHandler<typeof routes.getJwks> = async (c) => {
  const ring = await signingRing(c);
  return c.json({ keys: ring.published }, 200, { "cache-control": "public, max-age=300" });
};

export const getOpenIdConfiguration: AppRouteHandler<typeof routes.getOpenIdConfiguration> = (c) => {
  const issuer = issuerOf(c);
  return c.json(
    {
      issuer,
      jwks_uri: `${issuer}/.well-known/jwks.json`,
      token_endpoint: `${issuer}/token`,
      device_authorization_endpoint: `${issuer}/device/code`,
      revocation_endpoint: `${issuer}/revoke`,
      grant_types_supported: ["urn:ietf:params:oauth:grant-type:device_code", "refresh_token"],
      response_types_supported: ["none"],
      scopes_supported: ["workspaces:read", "workspaces:write"],
      token_endpoint_auth_methods_supported: ["none"],
      id_token_signing_alg_values_supported: ["RS256"],
      subject_types_supported: ["public"],
    },
    200,
    { "cache-control": "public, max-age=300" },
  );
};
