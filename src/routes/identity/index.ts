import { createRouter } from "../../http/router";
import * as handlers from "./handlers";
import * as routes from "./routes";

export const identityRoutes = createRouter()
  .openapi(routes.startDeviceAuthorization, handlers.startDeviceAuthorization, handlers.formHook)
  .openapi(routes.token, handlers.token, handlers.formHook)
  .openapi(routes.revoke, handlers.revoke, handlers.formHook)
  .openapi(routes.getSelfProfile, handlers.getSelfProfile)
  .openapi(routes.getJwks, handlers.getJwks)
  .openapi(routes.getOpenIdConfiguration, handlers.getOpenIdConfiguration);
