import { z } from "@hono/zod-openapi";

export const ServiceIndexSchema = z
  .object({
    name: z.string(),
    region: z.string(),
    links: z.object({ openapi: z.string(), docs: z.string(), health: z.string(), api: z.string() }),
  })
  .openapi("ServiceIndex");
export type ServiceIndex = z.infer<typeof ServiceIndexSchema>;

export const HealthSchema = z.object({ status: z.literal("ok"), region: z.string() }).openapi("Health");
export type Health = z.infer<typeof HealthSchema>;
