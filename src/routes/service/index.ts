import { createRouter } from "../../http/router";
import * as handlers from "./handlers";
import * as routes from "./routes";

export const serviceRoutes = createRouter()
  .openapi(routes.getServiceIndex, handlers.getServiceIndex)
  .openapi(routes.getHealth, handlers.getHealth);
