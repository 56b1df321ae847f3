import { assertScope, authorize } from "../../auth/authorize";
import { assertMayGrantRole, assertMayManageMember } from "../../auth/grants";
import { findMembership } from "../../auth/memberships";
import type { AppRouteHandler } from "../../core/env";
import { auditActorOf } from "../../storage/audit-events/record";
import type * as routes from "./routes";
import { toMemberResponse } from "./schemas";
import * as service from "./service";

export const listMembers: AppRouteHandler<typeof routes.listMembers> = async (c) => {
  const { workspace_id } = c.req.valid("param");
  await authorize(c, workspace_id, "Member.view");
  const { limit, continuation_token } = c.req.valid("query");
  return c.json(await service.listMembers(c.get("storage"), workspace_id, limit, continuation_token), 200);
};

export const updateMember: AppRouteHandler<typeof routes.updateMember> = async (c) => {
  const { workspace_id, identity_id } = c.req.valid("param");
  const access = await authorize(c, workspace_id, "Member.manage");
  const member = await findMembership(c.get("storage"), workspace_id, identity_id);
  if (!member) throw service.memberNotFound();
  const { role } = c.req.valid("json");
  assertMayManageMember(access, member.role);
  assertMayGrantRole(access, role);
  const changed = await service.changeMemberRole(c.get("storage"), member, role, auditActorOf(c));
  c.get("logger").info("member role changed", { workspace_id, identity_id, from: member.role, to: role });
  return c.json(toMemberResponse(changed), 200);
};

export const removeMember: AppRouteHandler<typeof routes.removeMember> = async (c) => {
  const { workspace_id, identity_id } = c.req.valid("param");
  const principal = c.get("principal");
  const leaving = principal.type === "identity" && principal.identity_id === identity_id;
  // Any member may leave (membership and a write scope are all it takes); removing another needs Member.manage.
  if (leaving) assertScope(principal, "workspaces:write");
  const access = await authorize(c, workspace_id, leaving ? "Workspace.view" : "Member.manage");
  const member = await findMembership(c.get("storage"), workspace_id, identity_id);
  if (!member) throw service.memberNotFound();
  if (!leaving) assertMayManageMember(access, member.role);
  await service.removeMember(c.get("storage"), member, auditActorOf(c), leaving);
  c.get("logger").info(leaving ? "member left" : "member removed", { workspace_id, identity_id });
  return c.body(null, 204);
};
