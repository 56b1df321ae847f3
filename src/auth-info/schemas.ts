import { z } from "@hono/zod-openapi";
import { Timestamp, Uuid } from "../openapi";
import { IdentityProfileSchema } from "../principal";

/** Upstream's `AuthInfoResponse`, for workspace API keys. */
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

/** Not upstream: what an identity's personal access token answers (identities have no expiry). */
export const IdentityAuthInfoResponseSchema = IdentityProfileSchema.extend({
  principal_type: z.literal("identity"),
  identity_id: Uuid,
}).openapi("IdentityAuthInfoResponse");
export type IdentityAuthInfoResponse = z.infer<typeof IdentityAuthInfoResponseSchema>;
