import { createMiddleware } from "hono/factory";
import { dbFor } from "../db/client";
import { isRegion } from "../domain";
import type { AppEnv } from "../env";
import { internalError } from "../errors";

let regionErrorLogged = false;

/**
 * Builds the one `Storage` of the request on `c.var.storage`. REGION is checked on every request: a
 * deployment whose REGION is missing or unknown cannot tell which region's data it holds, so it fails
 * closed (500) rather than serve or write under a wrong region.
 */
export const regionalStorage = createMiddleware<AppEnv>(async (c, next) => {
  const region = c.env.REGION;
  if (!isRegion(region)) {
    if (!regionErrorLogged) c.var.logger.error("REGION binding is missing or not a known region", { region: String(region) });
    regionErrorLogged = true;
    throw internalError();
  }
  c.set("storage", { db: dbFor(c.env.DB), kv: c.env.KV, region, logger: c.var.logger });
  await next();
});
