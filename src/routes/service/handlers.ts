import type { AppRouteHandler } from "../../core/env";
import type * as routes from "./routes";
import { health, serviceIndex } from "./service";

export const getServiceIndex: AppRouteHandler<typeof routes.getServiceIndex> = (c) => c.json(serviceIndex(c.env.REGION), 200);

export const getHealth: AppRouteHandler<typeof routes.getHealth> = (c) => c.json(health(c.env.REGION), 200);
