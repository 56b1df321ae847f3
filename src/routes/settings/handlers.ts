import { authorize } from "../../auth/authorize";
import type { AppRouteHandler } from "../../core/env";
import { auditActorOf } from "../../storage/audit-events/record";
import type * as routes from "./routes";
import * as service from "./service";

export const getRetentionPolicy: AppRouteHandler<typeof routes.getRetentionPolicy> = async (c) => {
  const { workspace_id } = c.req.valid("param");
  await authorize(c, workspace_id, "Workspace.view");
  return c.json(await service.retentionPolicy(c.get("storage"), workspace_id, service.defaultAuditDays(c.env.AUDIT_RETENTION_DAYS)), 200);
};

export const updateRetentionPolicy: AppRouteHandler<typeof routes.updateRetentionPolicy> = async (c) => {
  const { workspace } = await authorize(c, c.req.valid("param").workspace_id, "Workspace.update");
  const auditDefault = service.defaultAuditDays(c.env.AUDIT_RETENTION_DAYS);
  return c.json(await service.updateRetentionPolicy(c.get("storage"), workspace, c.req.valid("json"), auditActorOf(c), auditDefault), 200);
};
