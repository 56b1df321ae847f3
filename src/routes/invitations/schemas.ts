import { z } from "@hono/zod-openapi";
import { INVITATION_STATES, MEMBERSHIP_ROLES } from "../../core/domain";
import { Timestamp, Uuid, WorkspacePathSchema } from "../../http/openapi";
import type { InvitationRow } from "../../storage/d1/schema";
import { paginatedSchema } from "../../storage/pagination";

const invitationId = Uuid.openapi({ param: { name: "invitation_id", in: "path" } });
export const InvitationParamsSchema = WorkspacePathSchema.extend({ invitation_id: invitationId });
export const MyInvitationParamsSchema = z.object({ invitation_id: invitationId });

export const CreateInvitationRequestSchema = z
  .object({
    email: z.email().max(320).openapi({
      description: "Whom to invite: the identity with this email (compared case-insensitively) may accept.",
      example: "grace@example.com",
    }),
    role: z
      .enum(MEMBERSHIP_ROLES)
      .default("member")
      .openapi({ description: "The role the invitee gets; never above the inviter's own.", maxLength: 64 }),
    expires_in_days: z
      .number()
      .int()
      .min(1)
      .max(30)
      .default(7)
      .openapi({ description: "Days until the invitation expires, 1..30.", example: 7 }),
  })
  .openapi("CreateInvitationRequest");

const invitationFields = {
  id: Uuid,
  workspace_id: Uuid,
  email: z.string().openapi({ description: "Lower-cased." }),
  role: z.enum(MEMBERSHIP_ROLES),
  status: z.enum(INVITATION_STATES).openapi({ description: "`expired`: still unanswered, past `expires_at`." }),
  invited_by: Uuid.nullable().openapi({ description: "The person who invited (null for an API key without one)." }),
  expires_at: Timestamp,
  created_at: Timestamp,
};

export const InvitationResponseSchema = z.object(invitationFields).openapi("InvitationResponse");
export type InvitationResponse = z.infer<typeof InvitationResponseSchema>;

/** What the invitee sees: the invitation and the workspace it leads to. */
// Its own object rather than an extension, which the document would render as allOf with a $ref.
const MyInvitationResponseSchema = z
  .object({ ...invitationFields, workspace_name: z.string(), workspace_slug: z.string() })
  .openapi("MyInvitationResponse");

export const PaginatedInvitationsSchema = paginatedSchema(InvitationResponseSchema, "PaginatedResponse_InvitationResponse_");
export const PaginatedMyInvitationsSchema = paginatedSchema(MyInvitationResponseSchema, "PaginatedResponse_MyInvitationResponse_");

/** A pending invitation past its expiry answers as `expired`. */
export function statusOf(row: InvitationRow, nowMs = Date.now()): InvitationRow["state"] {
  return row.state === "pending" && Date.parse(row.expiresAt) <= nowMs ? "expired" : row.state;
}

export function toInvitationResponse(row: InvitationRow): InvitationResponse {
  return {
    id: row.id,
    workspace_id: row.workspaceId,
    email: row.email,
    role: row.role,
    status: statusOf(row),
    invited_by: row.invitedByEntityId,
    expires_at: row.expiresAt,
    created_at: row.createdAt,
  };
}
