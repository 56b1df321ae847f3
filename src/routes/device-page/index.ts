import { createRouter } from "../../http/router";
import * as handlers from "./handlers";
import * as routes from "./routes";

export const devicePageRoutes = createRouter()
  .openapi(routes.showDevicePage, handlers.showDevicePage)
  .openapi(routes.decideDevicePage, handlers.decideDevicePage, handlers.formHook)
  .openapi(routes.startPageSignIn, handlers.startPageSignIn)
  .openapi(routes.finishPageSignIn, handlers.finishPageSignIn);
