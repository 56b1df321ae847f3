import { z } from "@hono/zod-openapi";
import { MEMBERSHIP_ROLES } from "../db/schema";
import { REGIONS } from "../regions";

export const SCOPES = ["workspaces:read", "workspaces:write"] as const;
export type Scope = (typeof SCOPES)[number];
export const DEFAULT_SCOPES: Scope[] = ["workspaces:read", "workspaces:write"];

/** What KV holds under the hash of an identity's personal access token. */
export const IdentityPrincipalSchema = z.object({
  type: z.literal("identity"),
  identity_id: z.string(),
  /** Names this token (not the person): recorded as `created_by_credential_id` on what it creates. */
  credential_id: z.string(),
  email: z.string(),
  display_name: z.string().nullable(),
  scopes: z.array(z.enum(SCOPES)),
});

/** What KV holds under the hash of a workspace API key. */
export const ApiKeyPrincipalSchema = z.object({
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
  /** The person accountable for the key (inherited through keys that create keys). */
  created_by_entity_id: z.string().nullable(),
});

export const PrincipalSchema = z.discriminatedUnion("type", [IdentityPrincipalSchema, ApiKeyPrincipalSchema]);

export type IdentityPrincipal = z.infer<typeof IdentityPrincipalSchema>;
export type ApiKeyPrincipal = z.infer<typeof ApiKeyPrincipalSchema>;
export type Principal = z.infer<typeof PrincipalSchema>;

/** The admin-side record of an identity, under `identity:<id>`. Holds token hashes, never tokens. */
export const IdentityRecordSchema = z.object({
  identity_id: z.string(),
  email: z.string(),
  display_name: z.string().nullable(),
  scopes: z.array(z.enum(SCOPES)),
  token_hashes: z.array(z.string()),
  created_at: z.string(),
  revoked_at: z.string().nullable(),
});
export type IdentityRecord = z.infer<typeof IdentityRecordSchema>;
