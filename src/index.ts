import { createApp } from "./app";
import type { Bindings } from "./core/env";
import { runScheduled } from "./jobs/scheduled";

// The Durable Object classes behind the SLUGS and AUDIT_STORE bindings (wrangler.toml) must be exported by the Worker.
export { AuditStore } from "./storage/audit-store/object";
export { SlugRegistry } from "./storage/slug-registry";

/** The one app: the Worker's fetch handler, and what the tests call. */
export const app = createApp();

export default {
  fetch: app.fetch,
  scheduled: async (_controller, env, ctx) => {
    ctx.waitUntil(runScheduled(env));
  },
} satisfies ExportedHandler<Bindings>;
