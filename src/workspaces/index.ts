import { assertScope, authorize } from "../auth/access";
import { type App, storageOf } from "../env";
import { validationError } from "../errors";
import { page } from "../pagination";
import { environmentWarnings, listIdentityWorkspaces, provisionWorkspace, setAllowlist, setEnvironment, updateWorkspace } from "./queries";
import * as routes from "./routes";
import { toWorkspaceResponse } from "./schemas";
import { archiveWorkspace } from "./service";

const slugMismatch = (field: string, input: string) =>
  validationError([{ loc: ["body", field], msg: "Workspace slug confirmation did not match.", type: "value_error", input }]);

export function registerWorkspaceRoutes(app: App) {
  app.openapi(routes.listWorkspacesRoute, async (c) => {
    const { limit, continuation_token } = c.req.valid("query");
    const principal = c.var.principal;
    if (principal.type === "api_key") {
      // A key sees exactly its own workspace (a key of an archived one is refused by authorize, 401); any
      // cursor is past the end of a one-item list.
      const { workspace } = await authorize(c, principal.workspace_id, "Workspace.view");
      const items = continuation_token === 0 ? [toWorkspaceResponse(workspace)] : [];
      return c.json({ items, has_more: false, continuation_token: null, total: 1 }, 200);
    }
    assertScope(c, "Workspace.view");
    const rows = await listIdentityWorkspaces(c.var.db, principal.identity_id, limit, continuation_token);
    return c.json(page(rows, limit, (row) => toWorkspaceResponse(row.workspace), null), 200);
  });

  app.openapi(routes.getWorkspaceRoute, async (c) => {
    const { workspace } = await authorize(c, c.req.valid("param").workspace_id, "Workspace.view");
    return c.json(toWorkspaceResponse(workspace), 200);
  });

  app.openapi(routes.updateWorkspaceRoute, async (c) => {
    const { workspace } = await authorize(c, c.req.valid("param").workspace_id, "Workspace.update");
    const body = c.req.valid("json");
    if (body.environment != null && body.environment !== workspace.environment) {
      throw validationError([
        {
          loc: ["body", "environment"],
          msg: "The environment changes only through POST /v1/workspaces/{workspace_id}/convert-environment",
          type: "value_error",
          input: body.environment,
        },
      ]);
    }
    const updated = await updateWorkspace(c.var.db, workspace, body);
    return c.json(toWorkspaceResponse(updated), 200);
  });

  app.openapi(routes.provisionWorkspaceRoute, async (c) => {
    const { workspace } = await authorize(c, c.req.valid("param").workspace_id, "Workspace.update");
    const provisioned = await provisionWorkspace(c.var.db, workspace);
    return c.json({ workspace: toWorkspaceResponse(provisioned) }, 200);
  });

  app.openapi(routes.archiveWorkspaceRoute, async (c) => {
    const { workspace } = await authorize(c, c.req.valid("param").workspace_id, "Workspace.archive");
    const { slug } = c.req.valid("json");
    if (slug !== workspace.slug) throw slugMismatch("slug", slug);
    const archived = await archiveWorkspace(storageOf(c), workspace);
    c.var.logger.info("workspace archived", { workspace_id: workspace.id });
    return c.json(toWorkspaceResponse(archived), 200);
  });

  app.openapi(routes.environmentCheckRoute, async (c) => {
    const { workspace } = await authorize(c, c.req.valid("param").workspace_id, "Workspace.view");
    const { target } = c.req.valid("query");
    const warnings = await environmentWarnings(c.var.db, workspace, target);
    return c.json({ current: workspace.environment, target, warnings }, 200);
  });

  app.openapi(routes.convertEnvironmentRoute, async (c) => {
    const { workspace } = await authorize(c, c.req.valid("param").workspace_id, "Workspace.convert");
    const { target, confirm_slug } = c.req.valid("json");
    if (confirm_slug !== workspace.slug) throw slugMismatch("confirm_slug", confirm_slug);
    if (workspace.environment === "development") {
      throw validationError([
        { loc: ["body", "target"], msg: "A development workspace cannot be converted; create a staging or production workspace instead.", type: "value_error", input: target },
      ]);
    }
    const converted = await setEnvironment(c.var.db, workspace, target);
    if (converted !== workspace) c.var.logger.info("workspace converted", { workspace_id: workspace.id, from: workspace.environment, to: target });
    return c.json(toWorkspaceResponse(converted), 200);
  });

  app.openapi(routes.getTestCallerNumbersRoute, async (c) => {
    const { workspace } = await authorize(c, c.req.valid("param").workspace_id, "Workspace.view");
    return c.json({ numbers: workspace.testCallerNumbers }, 200);
  });

  app.openapi(routes.updateTestCallerNumbersRoute, async (c) => {
    const { workspace } = await authorize(c, c.req.valid("param").workspace_id, "Workspace.update");
    const numbers = [...new Set(c.req.valid("json").numbers)];
    const updated = await setAllowlist(c.var.db, workspace, "testCallerNumbers", numbers);
    return c.json({ numbers: updated.testCallerNumbers }, 200);
  });

  app.openapi(routes.getTestCredentialIdsRoute, async (c) => {
    const { workspace } = await authorize(c, c.req.valid("param").workspace_id, "Workspace.view");
    return c.json({ credential_ids: workspace.testCredentialIds }, 200);
  });

  app.openapi(routes.updateTestCredentialIdsRoute, async (c) => {
    const { workspace } = await authorize(c, c.req.valid("param").workspace_id, "Workspace.update");
    const ids = [...new Set(c.req.valid("json").credential_ids.map((id) => id.toLowerCase()))];
    const updated = await setAllowlist(c.var.db, workspace, "testCredentialIds", ids);
    return c.json({ credential_ids: updated.testCredentialIds }, 200);
  });
}
