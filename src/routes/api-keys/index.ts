import { createRouter } from "../../http/router";
import * as handlers from "./handlers";
import * as routes from "./routes";

export const apiKeyRoutes = createRouter()
  .openapi(routes.createApiKey, handlers.createApiKey)
  .openapi(routes.listApiKeys, handlers.listApiKeys)
  .openapi(routes.getPermissionCatalog, handlers.getPermissionCatalog)
  .openapi(routes.deleteApiKey, handlers.deleteApiKey)
  .openapi(routes.rotateApiKey, handlers.rotateApiKey);
