import { defineConfig } from "drizzle-kit";

// The audit store's tables (one SQLite database per workspace, inside its Durable Object). drizzle-kit writes
// the migrations to drizzle/audit-store/; scripts/audit-store-migrations.mjs embeds them in the Worker
// (src/storage/audit-store/migrations.ts), where drizzle's durable-sqlite migrator applies them.
export default defineConfig({
  dialect: "sqlite",
  driver: "durable-sqlite",
  schema: "./src/storage/audit-store/schema.ts",
  out: "./drizzle/audit-store",
});
