import type { DrizzleD1Database } from "drizzle-orm/d1";
import type { Context } from "hono";
import type { RouteConfig, RouteHandler } from "@hono/zod-openapi";
import type { Principal } from "./auth/principal";
import type * as schema from "./db/schema";
import type { Logger } from "./logger";
import type { Region } from "./regions";

/** Bindings come from `wrangler types` (worker-configuration.d.ts); the secret is not in wrangler.toml. */
export type Bindings = CloudflareBindings & { ADMIN_TOKEN?: string };

export type AppEnv = {
  Bindings: Bindings;
  Variables: {
    requestId: string;
    logger: Logger;
    region: Region;
    db: DrizzleD1Database<typeof schema>;
    principal: Principal;
  };
};

export type AppContext = Context<AppEnv>;
export type AppRouteHandler<R extends RouteConfig> = RouteHandler<R, AppEnv>;
