import { z } from "@hono/zod-openapi";
import { MEMBERSHIP_ROLES } from "../../core/domain";
import { Timestamp, Uuid } from "../../http/openapi";
import type { ApiKeyRow } from "../../storage/d1/schema";
import { MemberResponseSchema } from "../members/schemas";

const API_KEY_STATUSES = ["active", "expired", "revoked"] as const;

/** An API key as the review lists it: everything but its secret and hash. */
export const ApiKeyCredentialSchema = z
  .object({
    credential_type: z.literal("api_key"),
    id: Uuid,
    key_id: z.string(),
    name: z.string().nullable(),
    role: z.enum(MEMBERSHIP_ROLES),
    permissions: z.array(z.string()),
    status: z.enum(API_KEY_STATUSES),
    created_by: Uuid.nullable().openapi({ description: "The person who created the key (`created_by_entity_id`)." }),
    created_by_credential_id: Uuid.nullable(),
    accountable_entity_id: Uuid.nullable().openapi({
      description: "Not in upstream's schema. The person accountable for the key now: whoever received its current secret.",
    }),
    created_at: Timestamp,
    last_used_at: Timestamp.nullable(),
    expires_at: Timestamp,
    revoked_at: Timestamp.nullable(),
  })
  .openapi("AccessReviewApiKey");

const ReviewAssignmentSchema = z
  .object({ assignment_id: Uuid, source: z.string(), external_subject_key: z.string(), roles: z.array(z.string()), status: z.string() })
  .openapi("AccessReviewAssignment");

const ReviewGrantSchema = z
  .object({
    grant_id: Uuid,
    role: z.string(),
    resource_type: z.string(),
    resource_key: z.string(),
    access: z.string(),
    param_binding: z.string().nullable(),
  })
  .openapi("AccessReviewGrant");

/**
 * A member identity: it reaches the workspace with its personal access tokens, within its role; and, in
 * the data plane, through the active grants of the external roles its active assignments give it.
 */
const IdentityCredentialSchema = z
  .object({
    ...MemberResponseSchema.omit({ workspace_id: true }).shape,
    credential_type: z.literal("identity"),
    external_role_assignments: z.array(ReviewAssignmentSchema),
    effective_grants: z
      .array(ReviewGrantSchema)
      .openapi({ description: "The active grants of the external roles in its active assignments." }),
  })
  .openapi("AccessReviewIdentity");

export const AccessReviewResponseSchema = z
  .object({
    generated_at: Timestamp,
    workspace_id: Uuid,
    credentials: z.array(z.union([ApiKeyCredentialSchema, IdentityCredentialSchema])),
    total_credentials: z.number().int(),
    jwt_credentials_note: z.string(),
  })
  .openapi("AccessReviewResponse");

function apiKeyStatus(row: ApiKeyRow, nowMs: number): (typeof API_KEY_STATUSES)[number] {
  if (row.revokedAt) return "revoked";
  return Date.parse(row.expiresAt) <= nowMs ? "expired" : "active";
}

export function toApiKeyCredential(row: ApiKeyRow, nowMs: number): z.infer<typeof ApiKeyCredentialSchema> {
  return {
    credential_type: "api_key",
    id: row.id,
    key_id: row.keyId,
    name: row.name,
    role: row.role,
    permissions: row.permissions,
    status: apiKeyStatus(row, nowMs),
    created_by: row.createdByEntityId,
    created_by_credential_id: row.createdByCredentialId,
    accountable_entity_id: row.accountableEntityId,
    created_at: row.createdAt,
    last_used_at: row.lastUsedAt,
    expires_at: row.expiresAt,
    revoked_at: row.revokedAt,
  };
}
