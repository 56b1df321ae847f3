import { authorize } from "../../auth/authorize";
import { assertCouldCreateKey } from "../../auth/grants";
import { permissionCatalog, ROLES } from "../../auth/roles";
import type { AppContext, AppRouteHandler } from "../../core/env";
import { creatorOf } from "../../core/principal";
import { auditActorOf } from "../../storage/audit-events/record";
import { batchAnswer } from "../../storage/idempotency-records";
import { page } from "../../storage/pagination";
import type * as routes from "./routes";
import { PermissionCatalogResponseSchema, toApiKeyResponse, toCreateApiKeyResponse } from "./schemas";
import * as service from "./service";

const issuedKeyResponse = ({ row, secret }: service.IssuedKey) => toCreateApiKeyResponse(row, secret);

/** The API key making the request, with the hash of the secret it presented (null: a person's token). */
function actingKeyOf(c: AppContext): service.ActingKey {
  const principal = c.get("principal");
  return principal.type === "api_key" ? { id: principal.id, hash: c.get("tokenHash") } : null;
}

export const getPermissionCatalog: AppRouteHandler<typeof routes.getPermissionCatalog> = async (c) => {
  await authorize(c, c.req.valid("param").workspace_id, "ApiKey.view");
  return c.json(PermissionCatalogResponseSchema.parse(permissionCatalog()), 200);
};

export const createApiKey: AppRouteHandler<typeof routes.createApiKey> = async (c) => {
  const { workspace_id } = c.req.valid("param");
  const access = await authorize(c, workspace_id, "ApiKey.create");
  const body = c.req.valid("json");
  const permissions = body.permissions ? [...new Set(body.permissions)] : [...ROLES[body.role].permissions];
  assertCouldCreateKey(access, { role: body.role, permissions }, "create");
  const creator = creatorOf(c.get("principal"));

  const { row, secret } = await service.createApiKey(
    c.get("storage"),
    {
      workspaceId: workspace_id,
      environment: access.workspace.environment,
      name: body.name ?? null,
      role: body.role,
      permissions,
      durationDays: body.duration_days,
      creator,
      actingKey: actingKeyOf(c),
    },
    auditActorOf(c),
    batchAnswer(c.get("idempotency"), 201, issuedKeyResponse),
  );
  c.get("logger").info("api key created", { workspace_id, key_id: row.keyId, role: row.role });
  return c.json(issuedKeyResponse({ row, secret }), 201);
};

export const listApiKeys: AppRouteHandler<typeof routes.listApiKeys> = async (c) => {
  const { workspace_id } = c.req.valid("param");
  await authorize(c, workspace_id, "ApiKey.view");
  const { limit, continuation_token, mine_only } = c.req.valid("query");
  const { rows, total } = await service.listApiKeys(c.get("storage"), {
    workspaceId: workspace_id,
    limit,
    after: continuation_token,
    mineOnlyFor: mine_only ? c.get("principal") : undefined,
  });
  return c.json(page(rows, limit, toApiKeyResponse, total), 200);
};

export const deleteApiKey: AppRouteHandler<typeof routes.deleteApiKey> = async (c) => {
  const { workspace_id, key_id } = c.req.valid("param");
  const access = await authorize(c, workspace_id, "ApiKey.delete");
  const row = await service.activeApiKey(c.get("storage"), workspace_id, key_id);
  assertCouldCreateKey(access, row, "delete");
  await service.revokeApiKey(c.get("storage"), row, auditActorOf(c));
  c.get("logger").info("api key revoked", { workspace_id, key_id });
  return c.body(null, 204);
};

export const rotateApiKey: AppRouteHandler<typeof routes.rotateApiKey> = async (c) => {
  const { workspace_id, key_id } = c.req.valid("param");
  const access = await authorize(c, workspace_id, "ApiKey.rotate");
  const row = await service.activeApiKey(c.get("storage"), workspace_id, key_id);
  assertCouldCreateKey(access, row, "rotate");
  const answer = batchAnswer(c.get("idempotency"), 200, issuedKeyResponse);
  // The secret goes to the caller: its person answers for the key from now on.
  const holder = creatorOf(c.get("principal")).createdByEntityId;
  const rotation = { durationDays: c.req.valid("json").duration_days, holder, actingKey: actingKeyOf(c) };
  const rotated = await service.rotateApiKey(c.get("storage"), row, rotation, auditActorOf(c), answer);
  c.get("logger").info("api key rotated", { workspace_id, key_id });
  return c.json(issuedKeyResponse(rotated), 200);
};
