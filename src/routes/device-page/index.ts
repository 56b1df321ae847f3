import { createRouter } from "../../http/router";
import * as handlers from "./handlers";
import * as routes from "./routes";

export const devicePageRoutes = createRouter()
  .openapi(routes.showDevicePage, handlers.showDevicePage, handlers.pageHook)
  .openapi(routes.decideDevicePage, handlers.decideDevicePage, handlers.pageHook)
  .openapi(routes.startPageSignIn, handlers.startPageSignIn, handlers.pageHook)
  .openapi(routes.finishPageSignIn, handlers.finishPageSignIn, handlers.pageHook);
