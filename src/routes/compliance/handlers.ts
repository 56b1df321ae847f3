import { authorize } from "../../auth/authorize";
import type { AppRouteHandler } from "../../core/env";
import { countRequest } from "../../security/rate-limit";
import type * as routes from "./routes";
import * as service from "./service";

export const getAccessReview: AppRouteHandler<typeof routes.getAccessReview> = async (c) => {
  const { workspace_id } = c.req.valid("param");
  await authorize(c, workspace_id, "Compliance.view");
  // A full read of the workspace's credentials: limited like a write.
  await countRequest(c, "WORKSPACE_WRITE_RATE_LIMIT", workspace_id);
  return c.json(await service.accessReview(c.var.storage, workspace_id), 200);
};
