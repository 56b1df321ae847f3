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
  issuer: z.string().nullable().openapi({
    description: "The identity provider that issued this token (its `iss`); null for a personal access token.",
  }),
}).openapi("IdentityResponse");
export type IdentityResponse = z.infer<typeof IdentityResponseSchema>;
