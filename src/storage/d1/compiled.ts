import { fillPlaceholders, type Query, type SQL, type SQLWrapper } from "drizzle-orm";
import { QueryBuilder, SQLiteColumn, type SQLiteSelectBuilder } from "drizzle-orm/sqlite-core";
import type { D1Client } from "../../core/env";

/** What a compiled read selects: columns (decoded as drizzle decodes them), or `count(*)`-like SQL under an alias. */
type Selection = Record<string, SQLiteColumn | SQL.Aliased<number>>;
type Compilable<Row> = SQLWrapper & { toSQL(): Query; _: { result: Row[] } };

const queryBuilder = new QueryBuilder();

/**
 * A hot read of `selection` (`build` adds the rest to the select: from, where, order, limit) whose SQL
 * drizzle builds once per isolate (per-call values as `sql.placeholder()`s) and that D1 runs on whichever
 * client the call passes (a request's session, `storage.d1`, or the primary). Drizzle's own prepared
 * queries are tied to the client they were prepared on, and a request's D1 session lives one request:
 * built per request, the SQL and the mapping of every row through drizzle were most of a list's CPU
 * (docs/performance.md). Rows are decoded here by the selection's own columns (a JSON column parsed,
 * as drizzle would), keyed as selected. The selection's SQL names must be distinct: D1 names a row's
 * values by them.
 */
export function compiledSelect<S extends Selection, Row>(
  selection: S,
  build: (select: SQLiteSelectBuilder<S, "sync", void, "qb">) => Compilable<Row>,
) {
  const fields = Object.entries(selection).map(([key, field]) => {
    const decode = field instanceof SQLiteColumn ? (value: unknown) => field.mapFromDriverValue(value) : (value: unknown) => value;
    return { key, name: field instanceof SQLiteColumn ? field.name : field.fieldAlias, decode };
  });
  if (new Set(fields.map((field) => field.name)).size !== fields.length) throw new Error("compiledSelect: two fields share an SQL name");
  let compiled: Query | undefined;

  /** The statement for these placeholder values (for a batch, or to run alone with `rows`). */
  function statement(client: D1Client, values: Record<string, unknown> = {}): D1PreparedStatement {
    compiled ??= build(queryBuilder.select(selection)).toSQL();
    return client.prepare(compiled.sql).bind(...fillPlaceholders(compiled.params, values));
  }

  /** The rows of a result of `statement`, decoded. */
  function rows(result: D1Result): Row[] {
    return (result.results as Record<string, unknown>[]).map((raw) => {
      const row: Record<string, unknown> = {};
      for (const { key, name, decode } of fields) {
        const value = raw[name];
        row[key] = value === null || value === undefined ? null : decode(value);
      }
      return row as Row;
    });
  }

  return {
    statement,
    rows,
    all: async (client: D1Client, values?: Record<string, unknown>) => rows(await statement(client, values).all()),
  };
}
