import { z } from "@hono/zod-openapi";
import { PERMISSIONS, ROLES } from "../../auth/roles";
import { MEMBERSHIP_ROLES } from "../../core/domain";
import { rowResponse, Timestamp, Uuid, WorkspacePathSchema } from "../../http/openapi";
import type { ApiKeyRow } from "../../storage/d1/schema";
import { PaginationQuerySchema, paginatedSchema } from "../../storage/pagination";

export const KeyParamsSchema = WorkspacePathSchema.extend({
  key_id: z
    .string()
    .max(64)
    .openapi({ param: { name: "key_id", in: "path" }, example: "key_3hTqVw9ZkP2mXa7L" }),
});

const DurationDaysSchema = z.number().int().min(1).max(90).openapi({ description: "Lifetime in days, 1..90.", example: 30 });

const NameStringSchema = z.string().min(1).max(256).openapi("NameString");

export const CreateApiKeyRequestSchema = z
  .object({
    name: z.union([NameStringSchema, z.null()]).optional(),
    duration_days: DurationDaysSchema,
    role: z
      .enum(MEMBERSHIP_ROLES)
      .default("member")
      .openapi({ description: "The key's role; never above the caller's own.", maxLength: 64 }),
    permissions: z.array(z.string().max(128)).max(128).optional().openapi({
      description:
        "Permission names, a subset of the role's defaults (see the permission catalog). Default: all of the role's permissions.",
    }),
  })
  .superRefine((body, ctx) => {
    const allowed: readonly string[] = ROLES[body.role].permissions;
    body.permissions?.forEach((name, index) => {
      if (allowed.includes(name)) return;
      const known = (PERMISSIONS as readonly string[]).includes(name);
      ctx.addIssue({
        code: "custom",
        path: ["permissions", index],
        input: name,
        message: known ? `Permission '${name}' is not granted by role '${body.role}'` : `Unknown permission '${name}'`,
      });
    });
  })
  .openapi("CreateApiKeyRequest");

export const RotateApiKeyRequestSchema = z.object({ duration_days: DurationDaysSchema }).openapi("RotateApiKeyRequest");

const ApiKeyResponseSchema = z
  .object({
    id: Uuid,
    workspace_id: Uuid,
    created_by_entity_id: Uuid.nullable().openapi({
      description:
        "The person who created the key (for a key made by a key, the person accountable for that key). Not changed by a " +
        "rotation: who answers for the key now is `accountable_entity_id`.",
    }),
    created_by_credential_id: Uuid.nullable().openapi({
      description: "The credential that created the key: the identity token's `credential_id`, or the creating key's `id`.",
    }),
    accountable_entity_id: Uuid.nullable().openapi({
      description:
        "Not in upstream's schema. The person accountable for the key: whoever received its current secret (its creator, then " +
        "whoever last rotated it; behind a key, that key's accountable person). What the key does is recorded with this person " +
        "as the actor, and the key is revoked when they leave the workspace, are removed, demoted below its role or permissions, " +
        "or disabled. Null only for keys with no person behind them.",
    }),
    key_id: z.string(),
    name: z.string().nullable(),
    role: z.string(),
    permissions: z.array(z.string()),
    expires_at: Timestamp,
    last_used_at: Timestamp.nullable(),
    created_at: Timestamp,
    updated_at: Timestamp,
  })
  .openapi("ApiKeyResponse");

/** The key as created or rotated: the listing's fields that matter then, and the secret, once. */
export const CreateApiKeyResponseSchema = ApiKeyResponseSchema.pick({
  key_id: true,
  name: true,
  role: true,
  permissions: true,
  expires_at: true,
  created_by_entity_id: true,
  created_by_credential_id: true,
  accountable_entity_id: true,
})
  .extend({ api_key: z.string().openapi({ description: "The secret (`wsk_…`). Shown only in this response; store it securely." }) })
  .openapi("CreateApiKeyResponse");
export type CreateApiKeyResponse = z.infer<typeof CreateApiKeyResponseSchema>;

export const PaginatedApiKeysSchema = paginatedSchema(ApiKeyResponseSchema, "PaginatedResponse_ApiKeyResponse_");

export const ListApiKeysQuerySchema = PaginationQuerySchema.extend({
  mine_only: z
    .stringbool()
    .default(false)
    // a stringbool renders as a string: state the wire type here.
    .openapi({
      type: "boolean",
      default: false,
      description: "Only keys created by the caller (an identity: by that person; a key: by that key).",
    }),
});

const RoleEntrySchema = z
  .object({ name: z.string(), priority: z.number().int(), description: z.string(), permission_names: z.array(z.string()) })
  .openapi("RoleEntry");
const PermissionEntrySchema = z.object({ name: z.string(), namespace: z.string(), action: z.string() }).openapi("PermissionEntry");
export const PermissionCatalogResponseSchema = z
  .object({ roles: z.array(RoleEntrySchema), permissions: z.array(PermissionEntrySchema) })
  .openapi("PermissionCatalogResponse");

/** Only the declared fields: the key's hash, seq and revocation columns stay out of every response. */
export const toApiKeyResponse = rowResponse(ApiKeyResponseSchema);

const createApiKeyResponse = rowResponse(CreateApiKeyResponseSchema);
export const toCreateApiKeyResponse = (row: ApiKeyRow, secret: string): CreateApiKeyResponse =>
  createApiKeyResponse({ ...row, apiKey: secret });
