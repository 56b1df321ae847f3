import type { AppRouteHandler } from "../../core/env";
import { slugReleaseGraceDays } from "../../core/holdings";
import { auditActorOf } from "../../storage/audit-events/record";
import { consistencyProof, eventProof, listCheckpoints, listEvents, requireAuditSigner } from "../audit/service";
import { releaseArchivedSlug } from "../workspaces/service";
import type * as routes from "./routes";
import { CreateIdentityResponseSchema, EnableIdentityResponseSchema, ReleasedSlugResponseSchema } from "./schemas";
import * as service from "./service";

export const createIdentity: AppRouteHandler<typeof routes.createIdentity> = async (c) => {
  const { record, token } = await service.createIdentity(c.get("storage"), c.req.valid("json"), auditActorOf(c));
  c.get("logger").info("identity created", { identity_id: record.identity_id });
  return c.json(CreateIdentityResponseSchema.parse({ ...record, token }), 201);
};

export const revokeIdentity: AppRouteHandler<typeof routes.revokeIdentity> = async (c) => {
  const { identity_id } = c.req.valid("param");
  await service.revokeIdentity(c.get("storage"), identity_id, auditActorOf(c));
  c.get("logger").info("identity revoked", { identity_id });
  return c.body(null, 204);
};

export const listIdentities: AppRouteHandler<typeof routes.listIdentities> = async (c) =>
  c.json(await service.listIdentities(c.get("storage"), c.req.valid("query"), c.env.OIDC_PROVIDERS), 200);

export const enableIdentity: AppRouteHandler<typeof routes.enableIdentity> = async (c) => {
  const { identity_id } = c.req.valid("param");
  const { record, token } = await service.enableIdentity(c.get("storage"), identity_id, auditActorOf(c));
  c.get("logger").info("identity enabled", { identity_id });
  const item = service.identityListItem(record, c.env.OIDC_PROVIDERS);
  return c.json(EnableIdentityResponseSchema.parse({ ...item, token }), 200);
};

export const listOperatorAudit: AppRouteHandler<typeof routes.listOperatorAudit> = async (c) => {
  const { limit, offset, ...filters } = c.req.valid("query");
  return c.json(await listEvents(c.get("storage"), null, filters, limit, offset), 200);
};

export const listOperatorAuditCheckpoints: AppRouteHandler<typeof routes.listOperatorAuditCheckpoints> = async (c) => {
  await requireAuditSigner(c.env);
  const { year, limit, offset } = c.req.valid("query");
  return c.json(await listCheckpoints(c.get("storage"), null, year ?? null, limit, offset), 200);
};

export const getOperatorAuditEventProof: AppRouteHandler<typeof routes.getOperatorAuditEventProof> = async (c) => {
  await requireAuditSigner(c.env);
  return c.json(await eventProof(c.get("storage"), null, c.req.valid("param").event_id), 200);
};

export const getOperatorAuditConsistencyProof: AppRouteHandler<typeof routes.getOperatorAuditConsistencyProof> = async (c) => {
  await requireAuditSigner(c.env);
  const { year, from, to } = c.req.valid("query");
  return c.json(await consistencyProof(c.get("storage"), null, year, from, to ?? null), 200);
};

export const releaseWorkspaceSlug: AppRouteHandler<typeof routes.releaseWorkspaceSlug> = async (c) => {
  const graceDays = slugReleaseGraceDays(c.env.SLUG_RELEASE_GRACE_DAYS);
  const released = await releaseArchivedSlug(c.get("storage"), c.env.SLUGS, c.req.valid("param").workspace_id, graceDays, auditActorOf(c));
  const { workspaceId, slug, slugReleasedAt } = released;
  return c.json(ReleasedSlugResponseSchema.parse({ workspace_id: workspaceId, slug, slug_released_at: slugReleasedAt }), 200);
};
