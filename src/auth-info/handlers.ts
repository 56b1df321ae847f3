import type { AppRouteHandler } from "../env";
import type * as routes from "./routes";
import { authInfoOf } from "./service";

export const getAuthInfo: AppRouteHandler<typeof routes.getAuthInfo> = (c) => c.json(authInfoOf(c.var.principal), 200);
