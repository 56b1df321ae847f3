import { z } from "@hono/zod-openapi";
import { isRegion, type MembershipRole, type Scope } from "../core/domain";
import type { AppContext } from "../core/env";
import { ApiError } from "../core/errors";
import { type ApiKeyPrincipal, accountableOf, type IdentityPrincipal, type Principal } from "../core/principal";
import { countRequest } from "../security/rate-limit";
import type { WorkspaceRow } from "../storage/d1/schema";
import { kvGetJson, kvKeys } from "../storage/kv";
import { keyWorkspace, misdirected } from "./authenticate";
import { workspaceWithRole } from "./memberships";
import { countsAsWrite, isPermission, isRead, type Permission, ROLES } from "./roles";

export type WorkspaceAccess = { role: MembershipRole; permissions: readonly Permission[]; workspace: WorkspaceRow };

const WorkspaceRegionSchema = z.object({ region: z.string() });

export const workspaceNotFound = () => new ApiError("not_found", "Workspace not found.");

/** Identity tokens are also limited by scope: reads need workspaces:read, everything else workspaces:write. */
function scopeFor(permission: Permission): Scope {
  return isRead(permission) ? "workspaces:read" : "workspaces:write";
}

/** An identity token may act only within its scopes, whatever its roles. API keys have no scopes. */
export function assertScope(principal: Principal, scope: Scope) {
  if (principal.type === "identity" && !principal.scopes.includes(scope)) {
    throw new ApiError("insufficient_scope", `Missing the ${scope} scope.`);
  }
}

/**
 * The caller as an identity, for the routes that act for a person (create-my-workspace, the invitee's
 * routes): an API key is refused (403 `unsupported_principal_type`, `what` says what identities do
 * there), and the token must hold `scope`.
 */
export async function identityWithScope(c: AppContext, scope: Scope, what: string): Promise<IdentityPrincipal> {
  const principal = c.get("principal");
  if (principal.type !== "identity")
    throw new ApiError("unsupported_principal_type", `Unsupported principal type: ${what} by identities, not API keys.`);
  // A terminal's sign-in acts in its one workspace (or none): what reaches other workspaces for the person
  // (making one, answering an invitation) needs a token of the person's own.
  if (principal.token_workspace_id !== undefined) {
    throw new ApiError(
      "unsupported_principal_type",
      `Unsupported principal type: ${what} by a personal access token or an identity provider's token, not a terminal sign-in's.`,
    );
  }
  assertScope(principal, scope);
  await authorized(c, null);
  return principal;
}

/** The request passed every check: what waits for that runs now (an Idempotency-Key's reservation or replay). */
async function authorized(c: AppContext, role: MembershipRole | null): Promise<void> {
  await c.get("onAuthorized")?.(role);
}

/** Not in this region's database: 421 if the global directory places it elsewhere, else 404. */
async function missingHere(c: AppContext, workspaceId: string): Promise<ApiError> {
  const { kv, region } = c.get("storage");
  const entry = await kvGetJson(kv, kvKeys.workspaceRegion(workspaceId), WorkspaceRegionSchema);
  if (entry && isRegion(entry.region) && entry.region !== region) return misdirected(entry.region);
  return workspaceNotFound();
}

async function identityAccess(c: AppContext, principal: IdentityPrincipal, workspaceId: string) {
  const row = await workspaceWithRole(c.get("storage"), workspaceId, principal.identity_id);
  if (!row) throw await missingHere(c, workspaceId);
  // A token for one workspace is, anywhere else, as a non-member's.
  const limitedElsewhere = principal.token_workspace_id !== undefined && principal.token_workspace_id !== workspaceId;
  if (!row.role || limitedElsewhere) throw new ApiError("forbidden", "You are not a member of this workspace.");
  return { role: row.role, permissions: ROLES[row.role].permissions, workspace: row.workspace };
}

function apiKeyAccess(c: AppContext, principal: ApiKeyPrincipal, workspaceId: string, permission: Permission) {
  // A key acts in its own workspace only; authentication read that one (with the key's row), nothing else.
  if (principal.workspace_id !== workspaceId) throw new ApiError("forbidden", "This API key belongs to another workspace.");
  // What a key changes is its holder's doing: a key with no one behind it (none is made any more; older
  // data may hold one) only reads, or its keys, invitations and role changes would answer to no one.
  if (!isRead(permission) && accountableOf(principal) === null) {
    throw new ApiError("forbidden", "This API key has no accountable person, so it may only read; use a member's key.");
  }
  return { role: principal.role, permissions: principal.permissions.filter(isPermission), workspace: keyWorkspace(c) };
}

/**
 * An archived workspace has left everyone's view except its owner's, who may still read it, repeat the
 * archive and delete a key (both repair what a race before the key-state guards could leave). Everything
 * else about it is 404, as if it did not exist. Its API keys are refused outright (401).
 */
const OWNER_WHILE_ARCHIVED: readonly Permission[] = ["Workspace.archive", "ApiKey.delete"];

function allowedWhileArchived(principalType: string, role: MembershipRole, permission: Permission) {
  return principalType === "identity" && role === "owner" && (isRead(permission) || OWNER_WHILE_ARCHIVED.includes(permission));
}

/**
 * The one answer to "may this principal do `permission` in workspace `workspaceId`". An API key acts with
 * its own permission list; an identity with the defaults of its membership role, within its token's
 * scopes. Returns the caller's role and permissions (for the grant rules in grants.ts) and the workspace row.
 */
export async function authorize(c: AppContext, workspaceId: string, permission: Permission): Promise<WorkspaceAccess> {
  const principal = c.get("principal");
  assertScope(principal, scopeFor(permission));
  const access =
    principal.type === "api_key" ? apiKeyAccess(c, principal, workspaceId, permission) : await identityAccess(c, principal, workspaceId);
  if (access.workspace.archivedAt && !allowedWhileArchived(principal.type, access.role, permission)) throw workspaceNotFound();
  if (!access.permissions.includes(permission)) throw new ApiError("forbidden", `Missing the ${permission} permission.`);
  // Checked last, so only writes that would run count against the workspace.
  if (countsAsWrite(permission, c.req.method)) await countRequest(c, "WORKSPACE_WRITE_RATE_LIMIT", workspaceId);
  await authorized(c, access.role);
  return access;
}
