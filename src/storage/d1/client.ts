import { drizzle } from "drizzle-orm/d1";
import type { Db } from "../../core/env";

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

/** Drizzle's client for a D1 binding (every query on the primary), built once per isolate. */
export const dbFor: (d1: D1Database) => Db = oncePer((d1: D1Database) => drizzle(d1));

/**
 * Drizzle over one request's D1 session (read replication), built per request: without a schema to map
 * (nothing uses drizzle's relational `db.query`) that costs next to nothing. drizzle calls only
 * `prepare()` and `batch()`, which a session has as the binding does.
 */
export const sessionDb = (session: D1DatabaseSession): Db => drizzle(session as unknown as D1Database);
