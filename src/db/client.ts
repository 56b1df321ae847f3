import { drizzle } from "drizzle-orm/d1";
import type { Db } from "../env";
import * as schema from "./schema";

/** `build(key)` computed once per key object, for as long as the key lives (a WeakMap). */
function oncePer<Key extends object, Value>(build: (key: Key) => Value): (key: Key) => Value {
  const built = new WeakMap<Key, Value>();
  return (key) => {
    let value = built.get(key);
    if (value === undefined) {
      value = build(key);
      built.set(key, value);
    }
    return value;
  };
}

/** Drizzle's client for a D1 binding, built once per isolate: building it maps the whole schema. */
export const dbFor: (d1: D1Database) => Db = oncePer((d1: D1Database) => drizzle(d1, { schema }));

/**
 * A query drizzle builds once per D1 binding rather than on every call: building the SQL (drizzle walks
 * every selected column and condition) is a large share of a simple read's CPU. Per-call values go in as
 * `sql.placeholder()`s. Not for a `db.batch`: drizzle binds a batch's parameters when it builds it.
 */
export function preparedQuery<Query>(build: (db: Db) => Query): (db: Db) => Query {
  return oncePer(build);
}
