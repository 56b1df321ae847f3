import { authorize } from "../../auth/authorize";
import type { AppRouteHandler } from "../../core/env";
import type * as routes from "./routes";
import * as service from "./service";

export const getAccessReview: AppRouteHandler<typeof routes.getAccessReview> = async (c) => {
  const { workspace_id } = c.req.valid("param");
  await authorize(c, workspace_id, "Compliance.view");
  return c.json(await service.accessReview(c.get("storage"), workspace_id), 200);
};
