import { createRouter } from "../../http/router";
import * as handlers from "./handlers";
import * as routes from "./routes";

export const adminRoutes = createRouter()
  .openapi(routes.createIdentity, handlers.createIdentity)
  .openapi(routes.listIdentities, handlers.listIdentities)
  .openapi(routes.enableIdentity, handlers.enableIdentity)
  .openapi(routes.revokeIdentity, handlers.revokeIdentity)
  .openapi(routes.releaseWorkspaceSlug, handlers.releaseWorkspaceSlug)
  .openapi(routes.listOperatorAudit, handlers.listOperatorAudit)
  .openapi(routes.listOperatorAuditCheckpoints, handlers.listOperatorAuditCheckpoints)
  .openapi(routes.getOperatorAuditEventProof, handlers.getOperatorAuditEventProof)
  .openapi(routes.getOperatorAuditConsistencyProof, handlers.getOperatorAuditConsistencyProof);
