import { z } from "@hono/zod-openapi";
import { ASSIGNMENT_STATUSES, PROVISIONED_VIA } from "../../core/domain";
import { rowResponse, Timestamp, Uuid, WorkspacePathSchema } from "../../http/openapi";
import type { ExternalRoleAssignmentRow, ExternalRoleRow } from "../../storage/d1/schema";
import { sortedListQuerySchema, sortedListResponseSchema } from "../../storage/sorted-pagination";

/** An external role's name: also how assignments list roles. */
const ExternalRoleName = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[a-z][a-z0-9_]{0,63}$/);

export const RoleParamsSchema = WorkspacePathSchema.extend({ role_id: Uuid.openapi({ param: { name: "role_id", in: "path" } }) });
export const AssignmentParamsSchema = WorkspacePathSchema.extend({
  assignment_id: Uuid.openapi({ param: { name: "assignment_id", in: "path" } }),
});

export const CreateExternalRoleRequestSchema = z
  .strictObject({
    name: ExternalRoleName.openapi({ example: "care_coordinator" }),
    external_name: z.string().min(1).max(256).openapi({ example: "Care Coordinator" }),
    description: z.string().max(2048).nullable().optional(),
  })
  .openapi("src__routes__external_roles__CreateRequest");

export const ExternalRoleItemSchema = z
  .object({
    id: Uuid,
    name: z.string(),
    external_name: z.string(),
    description: z.string().nullable(),
    created_at: Timestamp,
    updated_at: Timestamp,
  })
  .openapi("ExternalRoleItem");

const ROLE_SORT_FIELDS = ["name", "created_at"] as const;
export const ListExternalRolesQuerySchema = sortedListQuerySchema(ROLE_SORT_FIELDS, "name");

export const ExternalRolesListSchema = sortedListResponseSchema(ExternalRoleItemSchema, "src__routes__external_roles__ListResponse");

const externalRoleItem = rowResponse(ExternalRoleItemSchema);
export const toExternalRoleItem = (row: ExternalRoleRow): z.infer<typeof ExternalRoleItemSchema> => externalRoleItem(row);

export const UpsertAssignmentRequestSchema = z
  .strictObject({
    source: z.string().min(1).max(128).openapi({ example: "okta" }),
    external_subject_key: z.string().min(1).max(512).openapi({ example: "00u1abcd" }),
    external_subject_id: z.string().max(512).nullable().optional(),
    entity_id: Uuid.openapi({ description: "A member identity of the workspace." }),
    display_name: z.string().max(512).nullable().optional(),
    roles: z
      .array(ExternalRoleName)
      .max(64)
      .default([])
      .openapi({ description: "External role names of this workspace; duplicates are dropped." }),
    roles_verified: z.boolean().default(false),
    provisioned_via: z.enum(PROVISIONED_VIA),
  })
  .openapi("UpsertRequest");
export type UpsertAssignmentRequest = z.infer<typeof UpsertAssignmentRequestSchema>;

export const ExternalRoleAssignmentItemSchema = z
  .object({
    id: Uuid,
    source: z.string(),
    external_subject_key: z.string(),
    external_subject_id: z.string().nullable(),
    entity_id: Uuid,
    display_name: z.string().nullable(),
    roles: z.array(z.string()),
    roles_verified: z.boolean(),
    status: z.enum(ASSIGNMENT_STATUSES),
    provisioned_via: z.enum(PROVISIONED_VIA),
    last_verified_at: Timestamp.nullable(),
    created_at: Timestamp,
    updated_at: Timestamp,
  })
  .openapi("ExternalRoleAssignmentItem");

const ASSIGNMENT_SORT_FIELDS = ["created_at", "updated_at", "external_subject_key"] as const;
export const ListAssignmentsQuerySchema = sortedListQuerySchema(ASSIGNMENT_SORT_FIELDS, "-created_at");
export const AssignmentsListSchema = sortedListResponseSchema(
  ExternalRoleAssignmentItemSchema,
  "src__routes__external_role_assignments__ListResponse",
);

const assignmentItem = rowResponse(ExternalRoleAssignmentItemSchema);
export const toAssignmentItem = (row: ExternalRoleAssignmentRow): z.infer<typeof ExternalRoleAssignmentItemSchema> => assignmentItem(row);
