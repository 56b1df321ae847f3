import { z } from "@hono/zod-openapi";

/** Building blocks shared by the route definitions of every group. */

export const Timestamp = z.iso.datetime({ offset: true });
export const Uuid = z.uuid().openapi({ format: "uuid" });

export const WorkspacePathSchema = z.object({
  workspace_id: Uuid.openapi({ param: { name: "workspace_id", in: "path" } }),
});

export const jsonContent = <T>(schema: T) => ({ "application/json": { schema } });
export const jsonRequestBody = <T>(schema: T) => ({ required: true, content: jsonContent(schema) });
export const successResponse = <T>(schema: T, description = "Successful Response") => ({ description, content: jsonContent(schema) });
