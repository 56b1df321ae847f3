import { z } from "@hono/zod-openapi";
import { IdentityProfileSchema } from "../../core/principal";
import { Timestamp, Uuid } from "../../http/openapi";

/** Upstream's `AuthInfoResponse`: what get-auth-info answers, only ever for a workspace API key. */
export const AuthInfoResponseSchema = z
  .object({
    workspace_id: Uuid,
    key_id: z.string(),
    name: z.string().nullable(),
    expires_at: Timestamp,
    expires_in_seconds: z.number().int(),
  })
  .openapi("AuthInfoResponse");
export type AuthInfoResponse = z.infer<typeof AuthInfoResponseSchema>;

/** Not upstream: what `GET /v1/me` answers for an identity's token. */
export const IdentityResponseSchema = IdentityProfileSchema.extend({
  identity_id: Uuid,
  credential_id: Uuid.openapi({
    description:
      "This token's id (not the person's): what the audit trail records as `actor_credential_id` for its requests. For a provider's " +
      "token, one id per issuer (the trail's `metadata.credential_issuer` names it).",
  }),
  token_expires_at: Timestamp.nullable().openapi({
    description:
      "When this token stops working: an identity provider's token's `exp`; null for a personal access token, which lasts until revoked.",
  }),
  issuer: z
    .string()
    .nullable()
    .openapi({
      description:
        "Who issued this token (its `iss`): an identity provider, or this deployment for its own access tokens; null for a personal " +
        "access token.",
    }),
  token_kind: z.enum(["personal_access_token", "identity_provider", "access_token"]).openapi({
    description:
      "What this token is: a personal access token, an identity provider's token, or this deployment's own access token (`POST /token`).",
  }),
  token_workspace_id: Uuid.nullable().openapi({
    description:
      "For this deployment's own access token: the one workspace it acts in (null: a bootstrap token, for none). Null for the other " +
      "kinds, which act in every workspace the person is a member of.",
  }),
}).openapi("IdentityResponse");
export type IdentityResponse = z.infer<typeof IdentityResponseSchema>;
