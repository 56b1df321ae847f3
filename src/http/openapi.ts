import { z } from "@hono/zod-openapi";

/** Schema building blocks shared by the route definitions of every group. */

/** An ISO 8601 instant with a time zone (`Z` or an offset); 64 characters at most. */
export const Timestamp = z.iso.datetime({ offset: true }).max(64);
export const Uuid = z.uuid().max(36).openapi({ format: "uuid" });

export const WorkspacePathSchema = z.object({
  workspace_id: Uuid.openapi({ param: { name: "workspace_id", in: "path" } }),
});

const jsonContent = <T>(schema: T) => ({ "application/json": { schema } });
export const jsonRequestBody = <T>(schema: T) => ({ required: true, content: jsonContent(schema) });
export const successResponse = <T>(schema: T, description = "Successful Response") => ({ description, content: jsonContent(schema) });

/**
 * A row's camelCase columns under their snake_case wire names. Every response schema parses this, and
 * parsing keeps only the fields the schema declares, so internal columns (hashes, seq, archive state)
 * never reach a response.
 */
export function toWire(row: object): Record<string, unknown> {
  const wire: Record<string, unknown> = {};
  for (const column in row) wire[wireName(column)] = (row as Record<string, unknown>)[column];
  return wire;
}

/** Column names are a fixed set: each is converted once per isolate, not once per row. */
const wireNames = new Map<string, string>();
function wireName(column: string): string {
  let name = wireNames.get(column);
  if (name === undefined) {
    name = column.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
    wireNames.set(column, name);
  }
  return name;
}
