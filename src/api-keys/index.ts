import { authorize, type WorkspaceAccess } from "../auth/access";
import { permissionCatalog, roleOutranks, ROLES } from "../auth/roles";
import type { MembershipRole } from "../db/schema";
import { type App, type AppContext, storageOf } from "../env";
import { ApiError } from "../errors";
import { page } from "../pagination";
import { createApiKeyRoute, deleteApiKeyRoute, listApiKeysRoute, permissionCatalogRoute, rotateApiKeyRoute } from "./routes";
import { PermissionCatalogResponseSchema, toApiKeyResponse, toCreateApiKeyResponse } from "./schemas";
import { createApiKey, findApiKey, keyNotFound, listApiKeys, purgeRevokedVerification, revokeApiKey, rotateApiKey } from "./service";

/** Nobody acts on a key whose role is above their own. */
function assertRoleCeiling(access: WorkspaceAccess, role: MembershipRole, action: string) {
  if (roleOutranks(role, access.role)) {
    throw new ApiError("forbidden", `Cannot ${action} a key with role '${role}': it exceeds your role '${access.role}'.`);
  }
}

async function activeKey(c: AppContext, workspaceId: string, keyId: string) {
  const row = await findApiKey(c.var, workspaceId, keyId);
  if (!row) throw keyNotFound();
  if (row.revokedAt) {
    await purgeRevokedVerification(storageOf(c), row);
    throw keyNotFound();
  }
  return row;
}

export function registerApiKeyRoutes(app: App) {
  app.openapi(permissionCatalogRoute, async (c) => {
    await authorize(c, c.req.valid("param").workspace_id, "ApiKey.view");
    return c.json(PermissionCatalogResponseSchema.parse(permissionCatalog()), 200);
  });

  app.openapi(createApiKeyRoute, async (c) => {
    const { workspace_id } = c.req.valid("param");
    const access = await authorize(c, workspace_id, "ApiKey.create");
    const body = c.req.valid("json");
    const permissions = body.permissions ? [...new Set(body.permissions)] : [...ROLES[body.role].permissions];
    assertRoleCeiling(access, body.role, "create");
    const notHeld = permissions.filter((p) => !(access.permissions as readonly string[]).includes(p));
    if (notHeld.length > 0) throw new ApiError("forbidden", `Cannot grant permissions you do not hold: ${notHeld.join(", ")}.`);

    const { row, secret } = await createApiKey(storageOf(c), {
      workspaceId: workspace_id,
      environment: access.workspace.environment,
      name: body.name ?? null,
      role: body.role,
      permissions,
      durationDays: body.duration_days,
      principal: c.var.principal,
    });
    c.var.logger.info("api key created", { workspace_id, key_id: row.keyId, role: row.role });
    return c.json(toCreateApiKeyResponse(row, secret), 201);
  });

  app.openapi(listApiKeysRoute, async (c) => {
    const { workspace_id } = c.req.valid("param");
    await authorize(c, workspace_id, "ApiKey.view");
    const query = c.req.valid("query");
    const principal = c.var.principal;
    const createdBy = !query.mine_only
      ? undefined
      : principal.type === "identity"
        ? { column: "entity" as const, id: principal.identity_id }
        : { column: "credential" as const, id: principal.id };
    const { rows, total } = await listApiKeys(c.var, { workspaceId: workspace_id, limit: query.limit, after: query.continuation_token, createdBy });
    return c.json(page(rows, query.limit, toApiKeyResponse, total), 200);
  });

  app.openapi(deleteApiKeyRoute, async (c) => {
    const { workspace_id, key_id } = c.req.valid("param");
    const access = await authorize(c, workspace_id, "ApiKey.delete");
    const row = await activeKey(c, workspace_id, key_id);
    assertRoleCeiling(access, row.role, "delete");
    await revokeApiKey(storageOf(c), row);
    c.var.logger.info("api key revoked", { workspace_id, key_id });
    return c.body(null, 204);
  });

  app.openapi(rotateApiKeyRoute, async (c) => {
    const { workspace_id, key_id } = c.req.valid("param");
    const access = await authorize(c, workspace_id, "ApiKey.rotate");
    const row = await activeKey(c, workspace_id, key_id);
    assertRoleCeiling(access, row.role, "rotate");
    const rotated = await rotateApiKey(storageOf(c), row, c.req.valid("json").duration_days);
    c.var.logger.info("api key rotated", { workspace_id, key_id });
    return c.json(toCreateApiKeyResponse(rotated.row, rotated.secret), 200);
  });
}
