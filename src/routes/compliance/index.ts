import { createRouter } from "../../http/router";
import * as handlers from "./handlers";
import * as routes from "./routes";

export const complianceRoutes = createRouter().openapi(routes.getAccessReview, handlers.getAccessReview);
