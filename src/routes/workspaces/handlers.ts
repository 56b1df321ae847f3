import { assertScope, authorize, identityWithScope } from "../../auth/authorize";
import { memberWorkspacesPage, workspaceWithRole } from "../../auth/memberships";
import type { AppRouteHandler } from "../../core/env";
import { workspacesPerIdentity } from "../../core/holdings";
import { auditActorOf } from "../../storage/audit-events/record";
import { batchAnswer } from "../../storage/idempotency-records";
import { page } from "../../storage/pagination";
import type * as routes from "./routes";
import { toWorkspaceResponse } from "./schemas";
import * as service from "./service";

export const createMyWorkspace: AppRouteHandler<typeof routes.createMyWorkspace> = async (c) => {
  const principal = await identityWithScope(c, "workspaces:write", "workspaces are created");
  const answer = batchAnswer(c.get("idempotency"), 201, toWorkspaceResponse);
  const limit = workspacesPerIdentity(c.env.WORKSPACES_PER_IDENTITY);
  const row = await service.createWorkspace(c.get("storage"), c.env.SLUGS, principal, c.req.valid("json"), limit, auditActorOf(c), answer);
  c.get("logger").info("workspace created", { workspace_id: row.id, identity_id: principal.identity_id });
  return c.json(toWorkspaceResponse(row), 201);
};

export const listWorkspaces: AppRouteHandler<typeof routes.listWorkspaces> = async (c) => {
  const { limit, continuation_token } = c.req.valid("query");
  const principal = c.get("principal");
  if (principal.type === "api_key") {
    // A key sees exactly its own workspace (a key of an archived one is refused by authorize, 401); any
    // cursor is past the end of a one-item list.
    const { workspace } = await authorize(c, principal.workspace_id, "Workspace.view");
    const items = continuation_token === 0 ? [toWorkspaceResponse(workspace)] : [];
    return c.json({ items, has_more: false, continuation_token: null, total: 1 }, 200);
  }
  assertScope(principal, "workspaces:read");
  if (principal.token_workspace_id !== undefined) {
    // A token for one workspace lists that one alone (a bootstrap token, none).
    if (principal.token_workspace_id === null) return c.json({ items: [], has_more: false, continuation_token: null, total: null }, 200);
    const row = await workspaceWithRole(c.get("storage"), principal.token_workspace_id, principal.identity_id);
    const listed = row?.role && !row.workspace.archivedAt && continuation_token === 0;
    const items = listed ? [toWorkspaceResponse(row.workspace)] : [];
    return c.json({ items, has_more: false, continuation_token: null, total: null }, 200);
  }
  const rows = await memberWorkspacesPage(c.get("storage"), principal.identity_id, limit, continuation_token);
  return c.json(page(rows, limit, toWorkspaceResponse, null), 200);
};

export const getWorkspace: AppRouteHandler<typeof routes.getWorkspace> = async (c) => {
  const { workspace } = await authorize(c, c.req.valid("param").workspace_id, "Workspace.view");
  return c.json(toWorkspaceResponse(workspace), 200);
};

export const updateWorkspace: AppRouteHandler<typeof routes.updateWorkspace> = async (c) => {
  const { workspace } = await authorize(c, c.req.valid("param").workspace_id, "Workspace.update");
  const updated = await service.updateWorkspace(c.get("storage"), workspace, c.req.valid("json"), auditActorOf(c));
  return c.json(toWorkspaceResponse(updated), 200);
};

export const provisionWorkspace: AppRouteHandler<typeof routes.provisionWorkspace> = async (c) => {
  const { workspace } = await authorize(c, c.req.valid("param").workspace_id, "Workspace.update");
  const provisioned = await service.provisionWorkspace(c.get("storage"), workspace, auditActorOf(c));
  return c.json({ workspace: toWorkspaceResponse(provisioned) }, 200);
};

export const archiveWorkspace: AppRouteHandler<typeof routes.archiveWorkspace> = async (c) => {
  const { workspace } = await authorize(c, c.req.valid("param").workspace_id, "Workspace.archive");
  const archived = await service.archiveWorkspace(c.get("storage"), workspace, c.req.valid("json").slug, auditActorOf(c));
  return c.json(toWorkspaceResponse(archived), 200);
};

export const checkEnvironmentConversion: AppRouteHandler<typeof routes.checkEnvironmentConversion> = async (c) => {
  const { workspace } = await authorize(c, c.req.valid("param").workspace_id, "Workspace.view");
  const { target } = c.req.valid("query");
  const warnings = await service.environmentWarnings(c.get("storage"), workspace, target);
  return c.json({ current: workspace.environment, target, warnings }, 200);
};

export const convertEnvironment: AppRouteHandler<typeof routes.convertEnvironment> = async (c) => {
  const { workspace } = await authorize(c, c.req.valid("param").workspace_id, "Workspace.convert");
  const converted = await service.convertEnvironment(c.get("storage"), workspace, c.req.valid("json"), auditActorOf(c));
  return c.json(toWorkspaceResponse(converted), 200);
};

export const getTestCallerNumbers: AppRouteHandler<typeof routes.testCallerNumbers.get> = async (c) => {
  const { workspace } = await authorize(c, c.req.valid("param").workspace_id, "Workspace.view");
  return c.json({ numbers: workspace.testCallerNumbers }, 200);
};

export const updateTestCallerNumbers: AppRouteHandler<typeof routes.testCallerNumbers.update> = async (c) => {
  const { workspace } = await authorize(c, c.req.valid("param").workspace_id, "Workspace.update");
  const numbers = [...new Set(c.req.valid("json").numbers)];
  const updated = await service.setAllowlist(c.get("storage"), workspace, "testCallerNumbers", numbers, auditActorOf(c));
  return c.json({ numbers: updated.testCallerNumbers }, 200);
};

export const getTestCredentialIds: AppRouteHandler<typeof routes.testCredentialIds.get> = async (c) => {
  const { workspace } = await authorize(c, c.req.valid("param").workspace_id, "Workspace.view");
  return c.json({ credential_ids: workspace.testCredentialIds }, 200);
};

export const updateTestCredentialIds: AppRouteHandler<typeof routes.testCredentialIds.update> = async (c) => {
  const { workspace } = await authorize(c, c.req.valid("param").workspace_id, "Workspace.update");
  const ids = [...new Set(c.req.valid("json").credential_ids.map((id) => id.toLowerCase()))];
  const updated = await service.setAllowlist(c.get("storage"), workspace, "testCredentialIds", ids, auditActorOf(c));
  return c.json({ credential_ids: updated.testCredentialIds }, 200);
};
