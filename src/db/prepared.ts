import type { Db } from "../env";

/**
 * A query drizzle builds once per D1 binding rather than on every call: building the SQL (drizzle walks
 * every selected column and condition) is a large share of a simple read's CPU. Per-call values go in as
 * `sql.placeholder()`s. Not for a `db.batch`: drizzle binds a batch's parameters when it builds it.
 */
export function preparedQuery<Query>(build: (db: Db) => Query): (db: Db) => Query {
  const built = new WeakMap<Db, Query>();
  return (db) => {
    let query = built.get(db);
    if (query === undefined) {
      query = build(db);
      built.set(db, query);
    }
    return query;
  };
}
