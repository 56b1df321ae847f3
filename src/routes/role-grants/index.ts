import { createRouter } from "../../http/router";
import * as handlers from "./handlers";
import * as routes from "./routes";

export const roleGrantRoutes = createRouter()
  .openapi(routes.listRoleGrants, handlers.listRoleGrants)
  .openapi(routes.createRoleGrant, handlers.createRoleGrant)
  .openapi(routes.getRoleGrant, handlers.getRoleGrant)
  .openapi(routes.supersedeRoleGrant, handlers.supersedeRoleGrant);
