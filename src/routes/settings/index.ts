import { createRouter } from "../../http/router";
import * as handlers from "./handlers";
import * as routes from "./routes";

export const settingsRoutes = createRouter()
  .openapi(routes.getRetentionPolicy, handlers.getRetentionPolicy)
  .openapi(routes.updateRetentionPolicy, handlers.updateRetentionPolicy);
