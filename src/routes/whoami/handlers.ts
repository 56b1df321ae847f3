import type { AppRouteHandler } from "../../core/env";
import type * as routes from "./routes";
import { authInfoOf, identityOf } from "./service";

export const getAuthInfo: AppRouteHandler<typeof routes.getAuthInfo> = (c) => c.json(authInfoOf(c.get("principal")), 200);

export const getMyIdentity: AppRouteHandler<typeof routes.getMyIdentity> = (c) => c.json(identityOf(c.get("principal")), 200);
