import { createRouter } from "../../http/router";
import * as handlers from "./handlers";
import * as routes from "./routes";

export const workspaceRoutes = createRouter()
  .openapi(routes.createMyWorkspace, handlers.createMyWorkspace)
  .openapi(routes.listWorkspaces, handlers.listWorkspaces)
  .openapi(routes.getWorkspace, handlers.getWorkspace)
  .openapi(routes.updateWorkspace, handlers.updateWorkspace)
  .openapi(routes.provisionWorkspace, handlers.provisionWorkspace)
  .openapi(routes.archiveWorkspace, handlers.archiveWorkspace)
  .openapi(routes.checkEnvironmentConversion, handlers.checkEnvironmentConversion)
  .openapi(routes.convertEnvironment, handlers.convertEnvironment)
  .openapi(routes.testCallerNumbers.get, handlers.getTestCallerNumbers)
  .openapi(routes.testCallerNumbers.update, handlers.updateTestCallerNumbers)
  .openapi(routes.testCredentialIds.get, handlers.getTestCredentialIds)
  .openapi(routes.testCredentialIds.update, handlers.updateTestCredentialIds);
