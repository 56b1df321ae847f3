import { z } from "@hono/zod-openapi";
import { and, count, desc, lt, type SQL } from "drizzle-orm";
import type { SQLiteColumn, SQLiteTable } from "drizzle-orm/sqlite-core";
import type { Db } from "../core/env";

/**
 * Keyset pagination: `continuation_token` is the `seq` of the last item served; the next page
 * holds rows with a smaller `seq` (lists are newest first). Page 1000 costs what page 1 costs, and rows
 * created while a client pages through do not shift later pages.
 */
export const PaginationQuerySchema = z.object({
  limit: z.coerce.number().int().min(1).max(100).default(10).openapi({ description: "Page size, 1..100." }),
  continuation_token: z.coerce
    .number()
    .int()
    .min(0)
    .max(Number.MAX_SAFE_INTEGER)
    .default(0)
    // zod-openapi renders a coerced number as integer|null: state the wire type, and then every bound, here.
    .openapi({
      type: "integer",
      minimum: 0,
      default: 0,
      description: "From the previous page's `continuation_token`; 0 or absent for the first page.",
    }),
});

export function paginatedSchema<T extends z.ZodTypeAny>(item: T, name: string) {
  return z
    .object({
      items: z.array(item),
      has_more: z.boolean(),
      continuation_token: z
        .number()
        .int()
        .nullable()
        .openapi({ description: "Pass as `continuation_token` for the next page; null on the last page." }),
      total: z
        .number()
        .int()
        .nullable()
        .openapi({ description: "Number of items across all pages, where it is cheap to know; else null." }),
    })
    .openapi(name);
}

/** `rows` was fetched with `limit + 1`, newest first; the extra row only says whether there is more. */
export function page<R extends { seq: number }, T>(rows: R[], limit: number, toItem: (row: R) => T, total: number | null) {
  const hasMore = rows.length > limit;
  const pageRows = rows.slice(0, limit);
  return {
    items: pageRows.map(toItem),
    has_more: hasMore,
    continuation_token: hasMore ? (pageRows.at(-1)?.seq ?? null) : null,
    total,
  };
}

type KeysetTable = SQLiteTable & { seq: SQLiteColumn };

/**
 * One page of `table`'s rows in `scope`, newest first (`limit + 1` rows, for `page()`), and the total
 * over all pages, in one D1 batch (one round trip, one snapshot).
 */
export async function keysetPage<T extends KeysetTable>(db: Db, table: T, scope: SQL | undefined, limit: number, after: number) {
  const [rows, [total]] = await db.batch([
    db
      .select()
      .from(table as SQLiteTable)
      .where(and(scope, after > 0 ? lt(table.seq, after) : undefined))
      .orderBy(desc(table.seq))
      .limit(limit + 1),
    db
      .select({ n: count() })
      .from(table as SQLiteTable)
      .where(scope),
  ]);
  return { rows: rows as T["$inferSelect"][], total: total?.n ?? 0 };
}
