import { createRouter } from "../../http/router";
import * as handlers from "./handlers";
import * as routes from "./routes";

export const externalRoleRoutes = createRouter()
  .openapi(routes.listExternalRoles, handlers.listExternalRoles)
  .openapi(routes.createExternalRole, handlers.createExternalRole)
  .openapi(routes.getExternalRole, handlers.getExternalRole)
  .openapi(routes.deleteExternalRole, handlers.deleteExternalRole)
  .openapi(routes.listAssignments, handlers.listAssignments)
  .openapi(routes.upsertAssignment, handlers.upsertAssignment)
  .openapi(routes.getAssignment, handlers.getAssignment)
  .openapi(routes.deleteAssignment, handlers.deleteAssignment);
