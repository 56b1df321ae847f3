import { createRouter } from "../../http/router";
import * as handlers from "./handlers";
import * as routes from "./routes";

export const auditRoutes = createRouter()
  .openapi(routes.listAuditEvents, handlers.listAuditEvents)
  .openapi(routes.getAuditSummary, handlers.getAuditSummary)
  .openapi(routes.getEntityAccessLog, handlers.getEntityAccessLog)
  .openapi(routes.getPhiAccessReport, handlers.getPhiAccessReport)
  .openapi(routes.createAuditExport, handlers.createAuditExport)
  .openapi(routes.listAuditExports, handlers.listAuditExports)
  .openapi(routes.getAuditExport, handlers.getAuditExport)
  .openapi(routes.downloadAuditExport, handlers.downloadAuditExport)
  .openapi(routes.listAuditCheckpoints, handlers.listAuditCheckpoints)
  .openapi(routes.getAuditConsistencyProof, handlers.getAuditConsistencyProof)
  .openapi(routes.getAuditEventProof, handlers.getAuditEventProof)
  .openapi(routes.getAuditKeys, handlers.getAuditKeys);
