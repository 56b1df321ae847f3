import { authorize } from "../../auth/authorize";
import type { AppRouteHandler } from "../../core/env";
import { auditActorOf } from "../../storage/audit-events/record";
import type * as routes from "./routes";
import { toAssignmentItem, toExternalRoleItem } from "./schemas";
import * as service from "./service";

export const listExternalRoles: AppRouteHandler<typeof routes.listExternalRoles> = async (c) => {
  const { workspace_id } = c.req.valid("param");
  await authorize(c, workspace_id, "ExternalRole.view");
  const page = await service.listExternalRoles(c.get("storage"), workspace_id, c.req.valid("query"));
  return c.json({ ...page, items: page.items.map(toExternalRoleItem) }, 200);
};

export const createExternalRole: AppRouteHandler<typeof routes.createExternalRole> = async (c) => {
  const { workspace_id } = c.req.valid("param");
  await authorize(c, workspace_id, "ExternalRole.manage");
  const row = await service.createExternalRole(c.get("storage"), workspace_id, c.req.valid("json"), auditActorOf(c));
  return c.json(toExternalRoleItem(row), 201);
};

export const getExternalRole: AppRouteHandler<typeof routes.getExternalRole> = async (c) => {
  const { workspace_id, role_id } = c.req.valid("param");
  await authorize(c, workspace_id, "ExternalRole.view");
  return c.json(toExternalRoleItem(await service.findExternalRole(c.get("storage"), workspace_id, role_id)), 200);
};

export const deleteExternalRole: AppRouteHandler<typeof routes.deleteExternalRole> = async (c) => {
  const { workspace_id, role_id } = c.req.valid("param");
  await authorize(c, workspace_id, "ExternalRole.manage");
  const role = await service.findExternalRole(c.get("storage"), workspace_id, role_id);
  await service.deleteExternalRole(c.get("storage"), role, auditActorOf(c));
  return c.body(null, 204);
};

export const listAssignments: AppRouteHandler<typeof routes.listAssignments> = async (c) => {
  const { workspace_id } = c.req.valid("param");
  await authorize(c, workspace_id, "ExternalRole.view");
  const page = await service.listAssignments(c.get("storage"), workspace_id, c.req.valid("query"));
  return c.json({ ...page, items: page.items.map(toAssignmentItem) }, 200);
};

export const upsertAssignment: AppRouteHandler<typeof routes.upsertAssignment> = async (c) => {
  const { workspace_id } = c.req.valid("param");
  await authorize(c, workspace_id, "ExternalRole.manage");
  const row = await service.upsertAssignment(c.get("storage"), workspace_id, c.req.valid("json"), auditActorOf(c));
  return c.json(toAssignmentItem(row), 200);
};

export const getAssignment: AppRouteHandler<typeof routes.getAssignment> = async (c) => {
  const { workspace_id, assignment_id } = c.req.valid("param");
  await authorize(c, workspace_id, "ExternalRole.view");
  return c.json(toAssignmentItem(await service.findAssignment(c.get("storage"), workspace_id, assignment_id)), 200);
};

export const deleteAssignment: AppRouteHandler<typeof routes.deleteAssignment> = async (c) => {
  const { workspace_id, assignment_id } = c.req.valid("param");
  await authorize(c, workspace_id, "ExternalRole.manage");
  const row = await service.findAssignment(c.get("storage"), workspace_id, assignment_id);
  await service.deleteAssignment(c.get("storage"), row, auditActorOf(c));
  return c.body(null, 204);
};
