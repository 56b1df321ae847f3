import { drizzle } from "drizzle-orm/d1";
import { createMiddleware } from "hono/factory";
import * as schema from "../db/schema";
import { isRegion } from "../domain";
import type { AppEnv, Db } from "../env";
import { internalError } from "../errors";

let regionErrorLogged = false;

/** Drizzle's client for a D1 binding, built once per isolate: building it maps the whole schema. */
const clients = new WeakMap<D1Database, Db>();
function drizzleFor(d1: D1Database): Db {
  let db = clients.get(d1);
  if (!db) {
    db = drizzle(d1, { schema });
    clients.set(d1, db);
  }
  return db;
}

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
  c.set("storage", { db: drizzleFor(c.env.DB), kv: c.env.KV, region, logger: c.var.logger });
  await next();
});
