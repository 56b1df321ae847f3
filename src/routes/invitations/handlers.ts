import { authorize, identityWithScope } from "../../auth/authorize";
import { assertMayGrantRole, assertMayManageMember } from "../../auth/grants";
import type { Scope } from "../../core/domain";
import type { AppContext, AppRouteHandler } from "../../core/env";
import { creatorOf } from "../../core/principal";
import { auditActorOf } from "../../storage/audit-events/record";
import { page } from "../../storage/pagination";
import { toMemberResponse } from "../members/schemas";
import type * as routes from "./routes";
import { toInvitationResponse } from "./schemas";
import * as service from "./service";

export const createInvitation: AppRouteHandler<typeof routes.createInvitation> = async (c) => {
  const { workspace_id } = c.req.valid("param");
  const access = await authorize(c, workspace_id, "Member.manage");
  const { email, role, expires_in_days } = c.req.valid("json");
  assertMayGrantRole(access, role);
  const row = await service.createInvitation(
    c.get("storage"),
    { workspaceId: workspace_id, email, role, expiresInDays: expires_in_days, inviter: creatorOf(c.get("principal")) },
    auditActorOf(c),
  );
  c.get("logger").info("invitation created", { workspace_id, invitation_id: row.id, role });
  return c.json(toInvitationResponse(row), 201);
};

export const listInvitations: AppRouteHandler<typeof routes.listInvitations> = async (c) => {
  const { workspace_id } = c.req.valid("param");
  await authorize(c, workspace_id, "Member.view");
  const { limit, continuation_token } = c.req.valid("query");
  const { rows, total } = await service.listInvitations(c.get("storage"), workspace_id, limit, continuation_token);
  return c.json(page(rows, limit, toInvitationResponse, total), 200);
};

export const revokeInvitation: AppRouteHandler<typeof routes.revokeInvitation> = async (c) => {
  const { workspace_id, invitation_id } = c.req.valid("param");
  const access = await authorize(c, workspace_id, "Member.manage");
  const row = await service.findInvitation(c.get("storage"), workspace_id, invitation_id);
  if (!row) throw service.invitationNotFound();
  assertMayManageMember(access, row.role, "an invitation");
  await service.revokeInvitation(c.get("storage"), row, auditActorOf(c));
  return c.body(null, 204);
};

/** The invitee's routes are for identities, within the token's scopes. */
const invitee = (c: AppContext, scope: Scope) => identityWithScope(c, scope, "invitations are answered");

export const listMyInvitations: AppRouteHandler<typeof routes.listMyInvitations> = async (c) => {
  const identity = await invitee(c, "workspaces:read");
  const { limit, continuation_token } = c.req.valid("query");
  const { rows, total } = await service.myInvitations(c.get("storage"), identity, limit, continuation_token);
  const toItem = (row: (typeof rows)[number]) => ({
    ...toInvitationResponse(row.invitation),
    workspace_name: row.workspaceName,
    workspace_slug: row.workspaceSlug,
  });
  return c.json(page(rows, limit, toItem, total), 200);
};

export const acceptInvitation: AppRouteHandler<typeof routes.acceptInvitation> = async (c) => {
  const identity = await invitee(c, "workspaces:write");
  const row = await service.invitationToAnswer(c.get("storage"), identity, c.req.valid("param").invitation_id);
  const member = await service.acceptInvitation(c.get("storage"), identity, row, auditActorOf(c));
  c.get("logger").info("invitation accepted", { workspace_id: row.workspaceId, invitation_id: row.id, identity_id: identity.identity_id });
  return c.json(toMemberResponse(member), 200);
};

export const declineInvitation: AppRouteHandler<typeof routes.declineInvitation> = async (c) => {
  const identity = await invitee(c, "workspaces:write");
  const row = await service.invitationToAnswer(c.get("storage"), identity, c.req.valid("param").invitation_id);
  await service.declineInvitation(c.get("storage"), identity, row, auditActorOf(c));
  return c.body(null, 204);
};
