import { createRouter } from "../../http/router";
import * as handlers from "./handlers";
import * as routes from "./routes";

// The invitee's /v1/me/invitations routes first: "me" would otherwise be taken for a workspace id.
export const invitationRoutes = createRouter()
  .openapi(routes.listMyInvitations, handlers.listMyInvitations)
  .openapi(routes.acceptInvitation, handlers.acceptInvitation)
  .openapi(routes.declineInvitation, handlers.declineInvitation)
  .openapi(routes.createInvitation, handlers.createInvitation)
  .openapi(routes.listInvitations, handlers.listInvitations)
  .openapi(routes.revokeInvitation, handlers.revokeInvitation);
