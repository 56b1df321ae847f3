import { createRouter } from "../../http/router";
import * as handlers from "./handlers";
import * as routes from "./routes";

export const whoamiRoutes = createRouter()
  .openapi(routes.getAuthInfo, handlers.getAuthInfo)
  .openapi(routes.getMyIdentity, handlers.getMyIdentity);
