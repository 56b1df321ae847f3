import { authorize } from "../../auth/authorize";
import type { AppRouteHandler } from "../../core/env";
import { auditActorOf } from "../../storage/audit-events/record";
import type * as routes from "./routes";
import { toRoleGrantItem } from "./schemas";
import * as service from "./service";

export const listRoleGrants: AppRouteHandler<typeof routes.listRoleGrants> = async (c) => {
  const { workspace_id } = c.req.valid("param");
  await authorize(c, workspace_id, "RoleGrant.view");
  const page = await service.listRoleGrants(c.get("storage"), workspace_id, c.req.valid("query"));
  return c.json({ ...page, items: page.items.map(toRoleGrantItem) }, 200);
};

export const createRoleGrant: AppRouteHandler<typeof routes.createRoleGrant> = async (c) => {
  const { workspace_id } = c.req.valid("param");
  await authorize(c, workspace_id, "RoleGrant.manage");
  const body = c.req.valid("json");
  const grant = {
    roleId: body.role_id,
    resourceType: body.resource_type,
    resourceKey: body.resource_key,
    access: body.access,
    paramBinding: body.param_binding ?? null,
  };
  const row = await service.createRoleGrant(c.get("storage"), workspace_id, grant, auditActorOf(c));
  return c.json(toRoleGrantItem(row), 201);
};

export const getRoleGrant: AppRouteHandler<typeof routes.getRoleGrant> = async (c) => {
  const { workspace_id, grant_id } = c.req.valid("param");
  await authorize(c, workspace_id, "RoleGrant.view");
  return c.json(toRoleGrantItem(await service.findRoleGrant(c.get("storage"), workspace_id, grant_id)), 200);
};

export const supersedeRoleGrant: AppRouteHandler<typeof routes.supersedeRoleGrant> = async (c) => {
  const { workspace_id, grant_id } = c.req.valid("param");
  await authorize(c, workspace_id, "RoleGrant.manage");
  const row = await service.findRoleGrant(c.get("storage"), workspace_id, grant_id);
  await service.supersedeRoleGrant(c.get("storage"), row, auditActorOf(c));
  return c.body(null, 204);
};
