import { getTableColumns, SQL, sql } from "drizzle-orm";
import type { SQLiteTable } from "drizzle-orm/sqlite-core";

/**
 * `select <a value for each column, in table order> [from …] where <condition>`: the body of an
 * `insert … select` that inserts only where the condition holds when the statement runs (inside a D1
 * batch, after the statements before it). Plain values are bound as drizzle maps them for their column; an
 * SQL value is used as it is (e.g. an expression over the `from` rows, one inserted row per row).
 */
export function rowsWhere(table: SQLiteTable, values: Record<string, unknown>, condition: SQL, from?: SQL): SQL {
  const columns = Object.entries(getTableColumns(table)).map(([key, column]) => {
    const value = values[key];
    if (value instanceof SQL) return value;
    return value === undefined || value === null ? sql`null` : sql.param(value, column);
  });
  return sql`select ${sql.join(columns, sql`, `)}${from ? sql` from ${from}` : sql``} where ${condition}`;
}

/** A fresh version-4 uuid, computed by SQLite for each row a statement writes. */
export const SQL_UUID = sql.raw(
  "lower(hex(randomblob(4))) || '-' || lower(hex(randomblob(2))) || '-4' || substr(lower(hex(randomblob(2))), 2) || '-' || " +
    "substr('89ab', 1 + (abs(random()) % 4), 1) || substr(lower(hex(randomblob(2))), 2) || '-' || lower(hex(randomblob(6)))",
);
