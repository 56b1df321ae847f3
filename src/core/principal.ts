import { z } from "@hono/zod-openapi";
import { MEMBERSHIP_ROLES, REGIONS, SCOPES } from "./domain";

/**
 * Who is calling: what KV holds under the SHA-256 of a bearer token, and what authentication puts on
 * `c.get("principal")`. Never holds a secret.
 */

/** The fields that describe an identity everywhere: KV records, the admin API, get-auth-info. */
export const IdentityProfileSchema = z.object({
  identity_id: z.string(),
  email: z.string(),
  display_name: z.string().nullable(),
  scopes: z.array(z.enum(SCOPES)),
});

/** Under the hash of an identity's personal access token; also what a provider's token is verified into. */
const IdentityPrincipalSchema = IdentityProfileSchema.extend({
  type: z.literal("identity"),
  /** Names this token (not the person): recorded as `created_by_credential_id` on what it creates. */
  credential_id: z.string(),
  /** Signed in through this identity provider (absent: a personal access token). */
  issuer: z.string().optional(),
  /** When the provider's token stops working (absent: a personal access token, which lasts until revoked). */
  token_expires_at: z.string().optional(),
  /** A provider's person: true only when the email is verified (provider-token.ts); otherwise it matches no invitation. */
  email_verified: z.boolean().optional(),
  /**
   * One of our own access tokens (decision 0040) acts in this workspace only (null: a bootstrap token, in
   * none); any other workspace is as for a non-member. Absent: every workspace the person is a member of.
   */
  token_workspace_id: z.string().nullable().optional(),
});

/** Under the hash of a workspace API key. */
const ApiKeyPrincipalSchema = z.object({
  type: z.literal("api_key"),
  /** The key's row id (uuid); `key_id` is its public, prefixed name. */
  id: z.string(),
  key_id: z.string(),
  workspace_id: z.string(),
  region: z.enum(REGIONS),
  role: z.enum(MEMBERSHIP_ROLES),
  permissions: z.array(z.string()),
  name: z.string().nullable(),
  expires_at: z.string(),
  /** The person who created the key (inherited through keys that create keys). */
  created_by_entity_id: z.string().nullable(),
  /**
   * The person accountable for the key: whoever received its current secret (by create or rotate). Absent
   * in records written before it existed, whose accountable person is `created_by_entity_id`.
   */
  accountable_entity_id: z.string().nullable().optional(),
  /** When the current secret was issued (absent in older records: refused by any revoked-before marker of its person). */
  secret_issued_at: z.string().optional(),
});

export const PrincipalSchema = z.discriminatedUnion("type", [IdentityPrincipalSchema, ApiKeyPrincipalSchema]);

export type IdentityPrincipal = z.infer<typeof IdentityPrincipalSchema>;
export type ApiKeyPrincipal = z.infer<typeof ApiKeyPrincipalSchema>;
export type Principal = z.infer<typeof PrincipalSchema>;

/** Who made something: the accountable person, and the credential (identity token or key) that was used. */
export type Creator = { createdByEntityId: string | null; createdByCredentialId: string };

/** The person accountable for what an API key does: who holds its secret. */
export function accountableOf(principal: ApiKeyPrincipal): string | null {
  return principal.accountable_entity_id === undefined ? principal.created_by_entity_id : principal.accountable_entity_id;
}

/**
 * Who makes something: the accountable person (the identity itself; for an API key, the person who holds
 * it), and the credential that was used.
 */
export function creatorOf(principal: Principal): Creator {
  return principal.type === "identity"
    ? { createdByEntityId: principal.identity_id, createdByCredentialId: principal.credential_id }
    : { createdByEntityId: accountableOf(principal), createdByCredentialId: principal.id };
}
