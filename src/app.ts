import { authenticate } from "./auth/authenticate";
import { onError } from "./core/errors";
import { registerDocRoutes } from "./http/docs";
import { documentMiddlewareAnswers } from "./http/document-middleware";
import { IDEMPOTENT_METHODS, idempotency } from "./http/idempotency";
import { notFound } from "./http/not-found";
import { requestContext } from "./http/request-context";
import { requestSize } from "./http/request-size";
import { corsByAllowlist } from "./http/response-headers";
import { ADMIN_PREFIX, API_PREFIX, createRouter } from "./http/router";
import { adminRoutes } from "./routes/admin";
import { apiKeyRoutes } from "./routes/api-keys";
import { auditRoutes } from "./routes/audit";
import { complianceRoutes } from "./routes/compliance";
import { devicePageRoutes } from "./routes/device-page";
import { externalRoleRoutes } from "./routes/external-roles";
import { identityRoutes } from "./routes/identity";
import { invitationRoutes } from "./routes/invitations";
import { memberRoutes } from "./routes/members";
import { roleGrantRoutes } from "./routes/role-grants";
import { serviceRoutes } from "./routes/service";
import { settingsRoutes } from "./routes/settings";
import { whoamiRoutes } from "./routes/whoami";
import { workspaceRoutes } from "./routes/workspaces";
import { regionalStorage } from "./storage/regional-storage";

/** The one app, in production and in tests: middleware in order, then the documents, then every group. */
export function createApp() {
  const app = createRouter();

  app.use("*", requestContext, corsByAllowlist, requestSize);
  // Before the /v1/* middleware: the landing, health, the document and the reference are public.
  app.route("/", serviceRoutes);
  registerDocRoutes(app);
  app.use(`${ADMIN_PREFIX}/*`, regionalStorage);
  app.use(`${API_PREFIX}/*`, regionalStorage, authenticate);
  // The sign-in endpoints (routes/identity/): the grants need this region's storage; /self/* a person's token too.
  for (const path of ["/device", "/device/*", "/token", "/revoke"]) app.use(path, regionalStorage);
  app.use("/self/*", regionalStorage, authenticate);
  // A download reads D1 only when R2 has no object: to say whether the export is still being written.
  app.use("/downloads/*", regionalStorage);
  // Only where it applies: a read does not pass through a layer that has nothing to do for it.
  app.on([...IDEMPOTENT_METHODS], `${API_PREFIX}/*`, idempotency);

  app.openAPIRegistry.registerComponent("securitySchemes", "BearerAuth", {
    type: "http",
    scheme: "bearer",
    description:
      "A workspace API key (`wsk_…`, from `POST /v1/{workspace_id}/api-keys`), an identity's personal access token (`pat_…`, from " +
      "the admin surface), a configured identity provider's token, or this deployment's own access token (`POST /token`, for one " +
      "workspace).",
  });
  app.openAPIRegistry.registerComponent("securitySchemes", "AdminToken", {
    type: "http",
    scheme: "bearer",
    description: "The deployment's `ADMIN_TOKEN` secret. Only for the Admin operations.",
  });

  // Order matters where paths overlap: /v1/workspaces/{id} is matched before /v1/{workspace_id}/api-keys.
  for (const routes of [
    adminRoutes,
    workspaceRoutes,
    whoamiRoutes,
    apiKeyRoutes,
    auditRoutes,
    memberRoutes,
    invitationRoutes,
    externalRoleRoutes,
    roleGrantRoutes,
    complianceRoutes,
    settingsRoutes,
    identityRoutes,
    devicePageRoutes,
  ])
    app.route("/", routes);

  documentMiddlewareAnswers(app);
  app.notFound(notFound(app.routes));
  app.onError(onError);
  return app;
}
