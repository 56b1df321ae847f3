import { adminRoutes } from "./admin";
import { apiKeyRoutes } from "./api-keys";
import { auditRoutes } from "./audit";
import { authInfoRoutes } from "./auth-info";
import { authenticate } from "./authentication/authenticate";
import { complianceRoutes } from "./compliance";
import { registerDocRoutes } from "./docs";
import { onError } from "./errors";
import { externalRoleRoutes } from "./external-roles";
import { idempotency } from "./idempotency/middleware";
import { invitationRoutes } from "./invitations";
import { memberRoutes } from "./members";
import { bodyLimitMiddleware } from "./middleware/body-limit";
import { documentMiddlewareAnswers } from "./middleware/documentation";
import { notFound } from "./middleware/not-found";
import { regionalStorage } from "./middleware/regional-storage";
import { requestContext } from "./middleware/request-context";
import { requestSize } from "./middleware/request-size";
import { roleGrantRoutes } from "./role-grants";
import { createRouter } from "./router";
import { registerServiceRoutes } from "./service-routes";
import { workspaceRoutes } from "./workspaces";

/** The one app, in production and in tests: middleware in order, then the documents, then every group. */
export function createApp() {
  const app = createRouter();

  app.use("*", requestContext, requestSize, bodyLimitMiddleware);
  // Before the /v1/* middleware: the landing, health, the document and the reference are public.
  registerServiceRoutes(app);
  registerDocRoutes(app);
  app.use("/admin/*", regionalStorage);
  app.use("/v1/*", regionalStorage, authenticate, idempotency);

  app.openAPIRegistry.registerComponent("securitySchemes", "BearerAuth", {
    type: "http",
    scheme: "bearer",
    description:
      "A workspace API key (`wsk_…`, from `POST /v1/{workspace_id}/api-keys`) or an identity's personal access token (`pat_…`, from the admin surface).",
  });
  app.openAPIRegistry.registerComponent("securitySchemes", "AdminToken", {
    type: "http",
    scheme: "bearer",
    description: "The deployment's `ADMIN_TOKEN` secret. Only for the Admin operations.",
  });

  // Order matters where paths overlap: /v1/workspaces/{id} is matched before /v1/{workspace_id}/api-keys.
  for (const routes of [adminRoutes, workspaceRoutes, authInfoRoutes, apiKeyRoutes, auditRoutes, memberRoutes, invitationRoutes, externalRoleRoutes, roleGrantRoutes, complianceRoutes]) app.route("/", routes);

  documentMiddlewareAnswers(app);
  app.notFound(notFound(app.routes));
  app.onError(onError);
  return app;
}
