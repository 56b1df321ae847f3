import { and, eq } from "drizzle-orm";
import type { MembershipRole } from "../db/schema";
import { memberships, workspaces } from "../db/schema";
import type { AppContext } from "../env";
import { ApiError } from "../errors";
import { kvGetJson, kvKeys } from "../kv";
import { isRegion } from "../regions";
import { z } from "@hono/zod-openapi";
import type { Principal } from "./principal";
import { isPermission, type Permission, ROLES } from "./roles";

export type WorkspaceAccess = { role: MembershipRole; permissions: readonly Permission[] };

const WorkspaceRegionSchema = z.object({ region: z.string() });

/** Identity tokens are also limited by scope: reads need workspaces:read, everything else workspaces:write. */
function scopeFor(permission: Permission) {
  return permission.endsWith(".view") ? "workspaces:read" : "workspaces:write";
}

async function notHere(c: AppContext, workspaceId: string): Promise<ApiError> {
  const entry = await kvGetJson(c.env.KV, kvKeys.workspaceRegion(workspaceId), WorkspaceRegionSchema);
  if (entry && isRegion(entry.region) && entry.region !== c.var.region) {
    return new ApiError("misdirected_request", `This workspace lives in region ${entry.region}; send the request to that region.`, {
      extra: { region: entry.region },
    });
  }
  return new ApiError("not_found", "Workspace not found.");
}

async function identityAccess(c: AppContext, principal: Extract<Principal, { type: "identity" }>, workspaceId: string): Promise<WorkspaceAccess> {
  const row = await c.var.db
    .select({ role: memberships.role })
    .from(workspaces)
    .leftJoin(memberships, and(eq(memberships.workspaceId, workspaces.id), eq(memberships.identityId, principal.identity_id)))
    .where(eq(workspaces.id, workspaceId))
    .get();
  if (!row) throw await notHere(c, workspaceId);
  if (!row.role) throw new ApiError("forbidden", "You are not a member of this workspace.");
  return { role: row.role, permissions: ROLES[row.role].permissions };
}

/**
 * The one answer to "may this principal do `permission` in workspace `workspaceId`". An API key is
 * checked against its own record without reading the workspace (a key for another workspace is refused
 * before any read); an identity acts with the default permissions of its membership role, within its
 * token's scopes. Returns the caller's role and permissions, which role-ceiling checks use.
 */
export async function authorize(c: AppContext, workspaceId: string, permission: Permission): Promise<WorkspaceAccess> {
  const principal = c.var.principal;
  let access: WorkspaceAccess;
  if (principal.type === "api_key") {
    if (principal.workspace_id !== workspaceId) throw new ApiError("forbidden", "This API key belongs to another workspace.");
    if (principal.region !== c.var.region) {
      throw new ApiError("misdirected_request", `This API key's workspace lives in region ${principal.region}.`, { extra: { region: principal.region } });
    }
    access = { role: principal.role, permissions: principal.permissions.filter(isPermission) };
  } else {
    if (!principal.scopes.includes(scopeFor(permission))) {
      throw new ApiError("insufficient_scope", `Missing the ${scopeFor(permission)} scope.`);
    }
    access = await identityAccess(c, principal, workspaceId);
  }
  if (!access.permissions.includes(permission)) throw new ApiError("forbidden", `Missing the ${permission} permission.`);
  return access;
}
