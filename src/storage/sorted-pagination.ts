import { z } from "@hono/zod-openapi";
import { and, asc, desc, eq, gt, lt, or, type SQL } from "drizzle-orm";
import type { SQLiteColumn, SQLiteTable } from "drizzle-orm/sqlite-core";
import type { Db } from "../core/env";
import { validationError } from "../core/errors";

/**
 * Upstream's list shape for external roles, their assignments and role grants: `limit` 1..200 (default
 * 50), `sort_by` (a list of fields, most significant first, each `-`-prefixed for descending) and an
 * opaque `continuation_token`, which carries the sort and the last row's sort values and `seq`. Keyset
 * pagination: rows created while a client pages do not shift later pages, and page 1000 costs what page
 * 1 costs.
 */

type Cursor = { sort: string; values: (string | number)[]; seq: number };

const CursorSchema = z.object({ sort: z.string(), values: z.array(z.union([z.string(), z.number()])), seq: z.number().int() });

function encodeCursor(cursor: Cursor): string {
  return btoa(JSON.stringify(cursor)).replaceAll("+", "-").replaceAll("/", "_").replaceAll("=", "");
}

function decodeCursor(token: string): Cursor | null {
  try {
    const parsed = CursorSchema.safeParse(JSON.parse(atob(token.replaceAll("-", "+").replaceAll("_", "/"))));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}

const fieldOf = (sort: string) => (sort.startsWith("-") ? sort.slice(1) : sort);

/** The query schema of a list sortable by `fields`; `defaultSort` is used when `sort_by` is empty. */
export function sortedListQuerySchema<F extends string>(fields: readonly F[], defaultSort: F | `-${F}`) {
  const sorts = fields.flatMap((field) => [field, `-${field}`]) as [string, ...string[]];
  return z.object({
    sort_by: z
      .preprocess(
        (value) => (typeof value === "string" ? [value] : value),
        z
          .array(z.enum(sorts))
          .max(fields.length)
          .default([])
          .superRefine((list, ctx) => {
            const seen = new Set<string>();
            for (const [i, sort] of list.entries()) {
              const field = fieldOf(sort);
              if (seen.has(field))
                ctx.addIssue({ code: "custom", path: [i], input: sort, message: `Sort by '${field}' only once (ascending or descending)` });
              seen.add(field);
            }
          }),
      )
      // A single value arrives as a string: state the wire type (a repeated string) here.
      .openapi({
        type: "array",
        items: { type: "string", enum: sorts },
        maxItems: fields.length,
        default: [],
        description:
          `Repeat to sort by several fields, most significant first (\`?sort_by=-created_at&sort_by=name\`), each at most ` +
          `once: ${sorts.map((s) => `\`${s}\``).join(", ")} (\`-\`: descending). Ties are broken by creation order, in the ` +
          `direction of the last field. Default \`${defaultSort}\`.`,
      }),
    limit: z.coerce
      .number()
      .int()
      .min(1)
      .max(200)
      .default(50)
      .openapi({ type: "integer", minimum: 1, maximum: 200, default: 50, description: "Page size, 1..200." }),
    continuation_token: z
      .string()
      // Room for a cursor on the longest sortable value (a 512-character key, base64 with its JSON).
      .max(2048)
      .optional()
      .openapi({
        description:
          "From the previous page's `continuation_token` (opaque); absent for the first page. Only valid with the same `sort_by`.",
      }),
  });
}

/** Upstream's page shape for these lists: no `total`; `continuation_token` is opaque. */
export function sortedListResponseSchema<T extends z.ZodTypeAny>(item: T, name: string) {
  return z
    .object({
      items: z.array(item),
      has_more: z.boolean(),
      continuation_token: z
        .string()
        .nullable()
        .openapi({ description: "Pass as `continuation_token` for the next page; null on the last page." }),
    })
    .openapi(name);
}

export type SortedListQuery = { sort_by: string[]; limit: number; continuation_token?: string };

type SortableTable = SQLiteTable & { seq: SQLiteColumn };

/**
 * One page of `table`'s rows in `scope`, ordered by the requested fields (ties by `seq`, in the direction
 * of the last field), with the opaque token for the next page (null on the last). 422 for a token that is
 * not ours or belongs to another sort.
 */
export async function sortedPage<T extends SortableTable>(
  db: Db,
  table: T,
  columns: Record<string, SQLiteColumn>,
  scope: SQL | undefined,
  query: SortedListQuery,
  defaultSort: string,
) {
  const sorts = query.sort_by.length > 0 ? query.sort_by : [defaultSort];
  const keys = sorts.map((sort) => {
    const field = fieldOf(sort);
    const column = columns[field];
    if (!column) throw new Error(`no sortable column ${field}`);
    // The row's property for the wire field: its camelCase name.
    return { column, descending: sort.startsWith("-"), property: field.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase()) };
  });
  const last = keys.at(-1);
  const order = [...keys, { column: table.seq, descending: last?.descending ?? false }];
  const sort = sorts.join(",");
  let after: SQL | undefined;
  if (query.continuation_token !== undefined) {
    const cursor = decodeCursor(query.continuation_token);
    if (!cursor || cursor.sort !== sort || cursor.values.length !== keys.length) {
      throw validationError([
        {
          loc: ["query", "continuation_token"],
          msg: "Invalid continuation token: pass the one the previous page returned, with the same sort_by",
          type: "value_error",
          input: query.continuation_token,
        },
      ]);
    }
    after = afterRow(order, [...cursor.values, cursor.seq]);
  }
  const rows = (await db
    .select()
    .from(table as SQLiteTable)
    .where(and(scope, after))
    .orderBy(...order.map((key) => (key.descending ? desc(key.column) : asc(key.column))))
    .limit(query.limit + 1)) as (T["$inferSelect"] & { seq: number })[];
  const hasMore = rows.length > query.limit;
  const items = rows.slice(0, query.limit);
  const lastRow = items.at(-1) as Record<string, unknown> | undefined;
  const token =
    hasMore && lastRow
      ? encodeCursor({ sort, values: keys.map((key) => lastRow[key.property] as string | number), seq: lastRow.seq as number })
      : null;
  return { items, has_more: hasMore, continuation_token: token };
}

type SortKey = { column: SQLiteColumn; descending: boolean };

/** The rows after `values` in the order of `keys`: beyond it on the first key, or equal on it and after it on the rest. */
function afterRow(keys: SortKey[], values: (string | number)[]): SQL | undefined {
  const [key, ...rest] = keys;
  const [value, ...restValues] = values;
  if (!key || value === undefined) return undefined;
  const beyond = (key.descending ? lt : gt)(key.column, value);
  return rest.length === 0 ? beyond : or(beyond, and(eq(key.column, value), afterRow(rest, restValues)));
}
