import { z } from "@hono/zod-openapi";
import { GRANT_ACCESS, GRANT_RESOURCE_TYPES, GRANT_STATUSES } from "../../core/domain";
import { rowResponse, Timestamp, Uuid, WorkspacePathSchema } from "../../http/openapi";
import type { RoleGrantRow } from "../../storage/d1/schema";
import { sortedListQuerySchema, sortedListResponseSchema } from "../../storage/sorted-pagination";

const ResourceTypeSchema = z.enum(GRANT_RESOURCE_TYPES).openapi("_ResourceType");
const AccessSchema = z.enum(GRANT_ACCESS).openapi("_Access");

export const GrantParamsSchema = WorkspacePathSchema.extend({ grant_id: Uuid.openapi({ param: { name: "grant_id", in: "path" } }) });

export const CreateRoleGrantRequestSchema = z
  .strictObject({
    role_id: Uuid.openapi({ description: "An external role of the workspace." }),
    resource_type: ResourceTypeSchema,
    resource_key: z.string().min(1).max(512).openapi({ example: "scheduling-api" }),
    access: AccessSchema,
    param_binding: z.string().max(256).nullable().optional(),
  })
  .openapi("src__routes__role_grants__CreateRequest");

export const RoleGrantItemSchema = z
  .object({
    id: Uuid,
    role_id: Uuid,
    resource_type: ResourceTypeSchema,
    resource_key: z.string(),
    access: AccessSchema,
    param_binding: z.string().nullable(),
    status: z.enum(GRANT_STATUSES),
    changed_by: Uuid.nullable().openapi({
      description: "Who made the last change: the creator, then whoever superseded it (null for an API key without a person).",
    }),
    created_at: Timestamp,
  })
  .openapi("RoleGrantItem");

const GRANT_SORT_FIELDS = ["created_at", "resource_key"] as const;
export const ListRoleGrantsQuerySchema = sortedListQuerySchema(GRANT_SORT_FIELDS, "-created_at").extend({
  status: z
    .union([z.enum(GRANT_STATUSES), z.null()])
    .optional()
    .openapi({ description: "Only grants with this status." }),
});
export const RoleGrantsListSchema = sortedListResponseSchema(RoleGrantItemSchema, "src__routes__role_grants__ListResponse");

const roleGrantItem = rowResponse(RoleGrantItemSchema);
export const toRoleGrantItem = (row: RoleGrantRow): z.infer<typeof RoleGrantItemSchema> => roleGrantItem(row);
