import { createApp } from "./app";
import type { Bindings } from "./core/env";
import { earlyRefusal } from "./http/early-refusal";
import { runScheduled } from "./jobs/scheduled";

// The Durable Object classes behind the SLUGS and AUDIT_STORE bindings, and the Workflow behind
// AUDIT_EXPORT_WORKFLOW (wrangler.toml), must be exported by the Worker.
export { AuditExportWorkflow } from "./jobs/audit-export-workflow";
export { AuditStore } from "./storage/audit-store/object";
export { SlugRegistry } from "./storage/slug-registry";

/** The one app, behind the Worker's fetch handler. */
export const app = createApp();

export default {
  // A missing or malformed credential is refused before the router (src/http/early-refusal.ts).
  fetch: (request, env, ctx) => earlyRefusal(request, env) ?? app.fetch(request, env, ctx),
  scheduled: async (_controller, env, ctx) => {
    ctx.waitUntil(runScheduled(env));
  },
} satisfies ExportedHandler<Bindings>;
