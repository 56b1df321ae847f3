import { z } from "@hono/zod-openapi";

/** Schema building blocks shared by the route definitions of every group. */

/** 0000-01-01T00:00:00Z and 9999-12-31T23:59:59.999Z: the instants a four-digit UTC year can name. */
const FIRST_INSTANT = -62_167_219_200_000;
const LAST_INSTANT = 253_402_300_799_999;

/**
 * An ISO 8601 instant with a time zone (`Z` or an offset); 64 characters at most; in UTC, within years 0000 to
 * 9999 (`9999-12-31T23:00:00-02:00` is in year 10000, which no stored timestamp can hold).
 */
export const Timestamp = z.iso
  .datetime({ offset: true })
  .max(64)
  .refine((value) => {
    const instant = Date.parse(value);
    return instant >= FIRST_INSTANT && instant <= LAST_INSTANT;
  }, "Expected an instant between 0000-01-01T00:00:00Z and 9999-12-31T23:59:59.999Z");
export const Uuid = z.uuid().max(36).openapi({ format: "uuid" });

export const WorkspacePathSchema = z.object({
  workspace_id: Uuid.openapi({ param: { name: "workspace_id", in: "path" } }),
});

const jsonContent = <T>(schema: T) => ({ "application/json": { schema } });
export const jsonRequestBody = <T>(schema: T) => ({ required: true, content: jsonContent(schema) });
export const successResponse = <T>(schema: T, description = "Successful Response") => ({ description, content: jsonContent(schema) });

/** `backend_org_id` -> `backendOrgId`: a wire name as drizzle's row names the column. */
type ColumnName<Wire extends string> = Wire extends `${infer Head}_${infer Tail}` ? `${Head}${Capitalize<ColumnName<Tail>>}` : Wire;
/** A row holding every field of the wire shape `T` under its column name, typed as the wire field is. */
type RowOf<T> = { [K in keyof T as ColumnName<K & string>]: T[K] };

const columnName = (wire: string) => wire.replace(/_([a-z])/g, (_, letter: string) => letter.toUpperCase());

/**
 * The fields `schema` declares, read from a source under `nameOf(field)`: built once per schema, so a
 * response costs one property read per field. Only declared fields are copied, so internal columns
 * (hashes, seq, archive state) and a principal's internal fields never reach a response. Values are not
 * validated again: the source's type says they are the schema's (the type parameters below), and the
 * contract tests check every answer against upstream's spec (docs/decisions/0030-hot-paths.md).
 */
function declaredFields<S extends z.ZodObject>(schema: S, nameOf: (field: string) => string) {
  const fields = Object.keys(schema.shape).map((field) => [field, nameOf(field)] as const);
  return (source: object): z.infer<S> => {
    const picked: Record<string, unknown> = {};
    for (const [field, name] of fields) picked[field] = (source as Record<string, unknown>)[name];
    return picked as z.infer<S>;
  };
}

/** The response of an object schema from a D1 row: each declared field from its camelCase column. */
export const rowResponse = <S extends z.ZodObject>(schema: S): ((row: RowOf<z.infer<S>>) => z.infer<S>) =>
  declaredFields(schema, columnName);

/** The response of an object schema from a value already under the wire names (and maybe more). */
export const pickResponse = <S extends z.ZodObject>(schema: S): ((value: z.infer<S>) => z.infer<S>) =>
  declaredFields(schema, (field) => field);
