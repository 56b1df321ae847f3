import { z } from "@hono/zod-openapi";
import { and, asc, desc, eq, gt, lt, or, type SQL } from "drizzle-orm";
import type { SQLiteColumn, SQLiteTable } from "drizzle-orm/sqlite-core";
import type { Db } from "./env";
import { validationError } from "./errors";

/**
 * Upstream's list shape for external roles, their assignments and role grants: `limit` 1..200 (default
 * 50), `sort_by` (one field, `-` in front for descending) and an opaque `continuation_token`, which
 * carries the sort and the last row's sort value and `seq`. Keyset pagination: rows created while a client
 * pages do not shift later pages, and page 1000 costs what page 1 costs.
 */

type Cursor = { sort: string; value: string | number; seq: number };

const CursorSchema = z.object({ sort: z.string(), value: z.union([z.string(), z.number()]), seq: z.number().int() });

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

/** The query schema of a list sortable by `fields`; `defaultSort` is used when `sort_by` is empty. */
export function sortedListQuerySchema<F extends string>(fields: readonly F[], defaultSort: F | `-${F}`) {
  const sorts = fields.flatMap((field) => [field, `-${field}`]) as [string, ...string[]];
  return z.object({
    sort_by: z
      .preprocess((value) => (typeof value === "string" ? [value] : value), z.array(z.enum(sorts)).max(1).default([]))
      // A single value arrives as a string: state the wire type (a repeated string) here.
      .openapi({
        type: "array",
        items: { type: "string", enum: sorts },
        maxItems: 1,
        default: [],
        description: `One of ${sorts.map((s) => `\`${s}\``).join(", ")} (\`-\`: descending). Default \`${defaultSort}\`.`,
      }),
    limit: z.coerce.number().int().min(1).max(200).default(50).openapi({ type: "integer", minimum: 1, maximum: 200, default: 50, description: "Page size, 1..200." }),
    continuation_token: z
      .string()
      // Room for a cursor on the longest sortable value (a 512-character key, base64 with its JSON).
      .max(2048)
      .optional()
      .openapi({ description: "From the previous page's `continuation_token` (opaque); absent for the first page. Only valid with the same `sort_by`." }),
  });
}

/** Upstream's page shape for these lists: no `total`; `continuation_token` is opaque. */
export function sortedListResponseSchema<T extends z.ZodTypeAny>(item: T, name: string) {
  return z
    .object({
      items: z.array(item),
      has_more: z.boolean(),
      continuation_token: z.string().nullable().openapi({ description: "Pass as `continuation_token` for the next page; null on the last page." }),
    })
    .openapi(name);
}

export type SortedListQuery = { sort_by: string[]; limit: number; continuation_token?: string };

type SortableTable = SQLiteTable & { seq: SQLiteColumn };

/**
 * One page of `table`'s rows in `scope`, ordered by the requested field (ties by `seq`, in the same
 * direction), with the opaque token for the next page (null on the last). 422 for a token that is not
 * ours or belongs to another sort.
 */
export async function sortedPage<T extends SortableTable>(
  db: Db,
  table: T,
  columns: Record<string, SQLiteColumn>,
  scope: SQL | undefined,
  query: SortedListQuery,
  defaultSort: string,
) {
  const sort = query.sort_by[0] ?? defaultSort;
  const descending = sort.startsWith("-");
  const field = descending ? sort.slice(1) : sort;
  const column = columns[field];
  if (!column) throw new Error(`no sortable column ${field}`);
  let after: SQL | undefined;
  if (query.continuation_token !== undefined) {
    const cursor = decodeCursor(query.continuation_token);
    if (!cursor || cursor.sort !== sort) {
      throw validationError([
        { loc: ["query", "continuation_token"], msg: "Invalid continuation token: pass the one the previous page returned, with the same sort_by", type: "value_error", input: query.continuation_token },
      ]);
    }
    const beyond = descending ? lt : gt;
    after = or(beyond(column, cursor.value), and(eq(column, cursor.value), beyond(table.seq, cursor.seq)));
  }
  const order = descending ? desc : asc;
  const rows = (await db
    .select()
    .from(table as SQLiteTable)
    .where(and(scope, after))
    .orderBy(order(column), order(table.seq))
    .limit(query.limit + 1)) as (T["$inferSelect"] & { seq: number })[];
  const hasMore = rows.length > query.limit;
  const items = rows.slice(0, query.limit);
  const last = items.at(-1) as Record<string, unknown> | undefined;
  // The row's property for the wire field: its camelCase name.
  const lastValue = last?.[field.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase())];
  const token = hasMore && last ? encodeCursor({ sort, value: lastValue as string | number, seq: last.seq as number }) : null;
  return { items, has_more: hasMore, continuation_token: token };
}
