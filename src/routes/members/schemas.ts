import { z } from "@hono/zod-openapi";
import { MEMBERSHIP_ROLES } from "../../core/domain";
import { Timestamp, Uuid, WorkspacePathSchema } from "../../http/openapi";
import type { MembershipRow } from "../../storage/d1/schema";
import { paginatedSchema } from "../../storage/pagination";

export const MemberParamsSchema = WorkspacePathSchema.extend({
  identity_id: Uuid.openapi({ param: { name: "identity_id", in: "path" } }),
});

export const MemberResponseSchema = z
  .object({
    workspace_id: Uuid,
    identity_id: Uuid,
    email: z.string().nullable().openapi({ description: "The identity's email; null only if its record cannot be found." }),
    display_name: z.string().nullable(),
    role: z.enum(MEMBERSHIP_ROLES),
    joined_at: Timestamp,
    invited_by: Uuid.nullable().openapi({ description: "The person who invited the member; null for the workspace's creator." }),
  })
  .openapi("MemberResponse");
export type MemberResponse = z.infer<typeof MemberResponseSchema>;

export const PaginatedMembersSchema = paginatedSchema(MemberResponseSchema, "PaginatedResponse_MemberResponse_");

export const UpdateMemberRequestSchema = z
  .object({
    role: z.enum(MEMBERSHIP_ROLES).openapi({ description: "The new role; never above the caller's own.", maxLength: 64 }),
  })
  .openapi("UpdateMemberRequest");

/** The member as the API shows it; `profile` fills a membership made before profiles were stored. */
export function toMemberResponse(row: MembershipRow, profile?: { email: string; display_name: string | null }): MemberResponse {
  return {
    workspace_id: row.workspaceId,
    identity_id: row.identityId,
    email: row.email ?? profile?.email ?? null,
    display_name: row.email === null ? (profile?.display_name ?? null) : row.displayName,
    role: row.role,
    joined_at: row.createdAt,
    invited_by: row.invitedBy,
  };
}
