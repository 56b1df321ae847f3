import { defineConfig } from "drizzle-kit";

// Migrations are generated from src/storage/d1/schema.ts and applied by wrangler (`wrangler d1 migrations apply`),
// which reads the plain .sql files in drizzle/.
export default defineConfig({
  dialect: "sqlite",
  schema: "./src/storage/d1/schema.ts",
  out: "./drizzle",
});
