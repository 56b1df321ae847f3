/**
 * Storage as tests need it: the real D1, KV and Durable Object bindings, intercepted to count calls, to fail
 * them as the platform does when a dependency is down, or to pause them so concurrent requests interleave;
 * and direct reads of what storage holds.
 */
import { env } from "cloudflare:workers";
import type { Storage } from "../../src/core/env";
import { createLogger } from "../../src/core/logger";
import type { AuditStoreClient } from "../../src/storage/audit-store/outbox";
import type { AuditEventRow, EventFilters } from "../../src/storage/audit-store/queries";
import { listTrail } from "../../src/storage/audit-store/trail";
import { bindingStorage } from "../../src/storage/regional-storage";
import type { SlugRegistry } from "../../src/storage/slug-registry";
import { sleep, type TestEnv } from "./call";

type KvMethod = "get" | "put" | "delete" | "list" | "getWithMetadata";
type Proceed = () => Promise<unknown>;

/**
 * The one KV proxy the helpers below are built on: every method call goes through `around`, which decides
 * whether (and when) the real call proceeds. `key` is the first argument (a key, or a list of keys).
 */
export function interceptKV(around: (method: string, key: unknown, proceed: Proceed) => Promise<unknown>): KVNamespace {
  return new Proxy(env.KV, {
    get(target, prop) {
      const value = Reflect.get(target, prop);
      if (typeof value !== "function") return value;
      return (...args: unknown[]) => around(String(prop), args[0], () => value.apply(target, args));
    },
  });
}

/**
 * A KV binding whose listed methods throw, as the runtime does when KV is unreachable; with `after`, only
 * once that many calls of those methods have succeeded.
 */
export function faultyKV(failing: KvMethod[], message = "KV PUT failed: 500 Internal Server Error", { after = 0 } = {}): KVNamespace {
  let succeeded = 0;
  return interceptKV(async (method, _key, proceed) => {
    if (!failing.includes(method as KvMethod)) return proceed();
    if (succeeded >= after) throw new Error(message);
    succeeded += 1;
    return proceed();
  });
}

/** A KV binding that counts every call by method. */
export function countingKV(): { kv: KVNamespace; calls: Record<string, number> } {
  const calls: Record<string, number> = {};
  const kv = interceptKV((method, _key, proceed) => {
    calls[method] = (calls[method] ?? 0) + 1;
    return proceed();
  });
  return { kv, calls };
}

/** Where a query ran: on the binding itself (the primary) or on a session of it (src/storage/regional-storage.ts). */
export type QueryRoute = "primary" | "session";

/**
 * The D1 counterpart of interceptKV: every statement (and every batch, its statements' SQL joined by ";")
 * goes through `around`, which may run something before or after the real execution, or fail instead of
 * it, and learns whether it runs on the primary or on a session. The statements stay real ones, so a batch
 * still runs as one transaction. `onSession` hears where each session starts.
 */
export function interceptD1(
  around: (sql: string, proceed: Proceed, route: QueryRoute) => Promise<unknown>,
  { onSession }: { onSession?: (start: string | undefined) => void } = {},
): D1Database {
  const sqlOf = new WeakMap<object, string>();
  const real = new WeakMap<object, D1PreparedStatement>();
  const wrap = (statement: D1PreparedStatement, sql: string, route: QueryRoute): D1PreparedStatement => {
    const proxy = new Proxy(statement, {
      get(target, prop) {
        const value = Reflect.get(target, prop);
        if (typeof value !== "function") return value;
        if (prop === "bind") return (...args: unknown[]) => wrap(value.apply(target, args), sql, route);
        return (...args: unknown[]) => around(sql, () => value.apply(target, args), route);
      },
    });
    sqlOf.set(proxy, sql);
    real.set(proxy, statement);
    return proxy;
  };
  const wrapDatabase = <Database extends D1Database | D1DatabaseSession>(database: Database, route: QueryRoute): Database =>
    new Proxy(database, {
      get(target, prop) {
        const value = Reflect.get(target, prop);
        if (typeof value !== "function") return value;
        if (prop === "prepare") return (sql: string) => wrap(value.call(target, sql), sql, route);
        if (prop === "batch") {
          return (statements: D1PreparedStatement[]) =>
            around(
              statements.map((s) => sqlOf.get(s) ?? "").join(";"),
              () =>
                value.call(
                  target,
                  statements.map((s) => real.get(s) ?? s),
                ),
              route,
            );
        }
        if (prop === "withSession") {
          return (start?: string) => {
            onSession?.(start);
            return wrapDatabase(value.call(target, start), "session");
          };
        }
        return value.bind(target);
      },
    });
  return wrapDatabase(env.DB, "primary");
}

/** Bindings that pause a random 0..maxMs after every storage call, so concurrent requests interleave differently. */
export function jitteryStorage(maxMs = 4): { DB: D1Database; KV: KVNamespace } {
  const afterPause = async (_: unknown, proceed: Proceed) => {
    const result = await proceed();
    await sleep(Math.random() * maxMs);
    return result;
  };
  return { DB: interceptD1(afterPause), KV: interceptKV((_method, key, proceed) => afterPause(key, proceed)) };
}

/** A D1 binding on which every query and batch fails with the given D1 error message. */
export function faultyD1(message = "D1_ERROR: Network connection lost."): D1Database {
  const fail = async () => {
    throw new Error(message);
  };
  const statement: Record<string, unknown> = { run: fail, all: fail, raw: fail, first: fail };
  statement.bind = () => statement;
  const database: Record<string, unknown> = { prepare: () => statement, batch: fail, exec: fail, getBookmark: () => null };
  database.withSession = () => database;
  return database as unknown as D1Database;
}

type R2Method = "get" | "head" | "put" | "delete" | "list" | "createMultipartUpload";

/** The R2 counterpart of interceptKV: every call on the AUDIT_EXPORTS bucket (the real one) goes through `around`. */
export function interceptR2(around: (method: string, proceed: Proceed) => Promise<unknown>): R2Bucket {
  return new Proxy(env.AUDIT_EXPORTS, {
    get(target, prop) {
      const value = Reflect.get(target, prop);
      if (typeof value !== "function") return value;
      return (...args: unknown[]) => around(String(prop), () => value.apply(target, args));
    },
  });
}

/**
 * The AUDIT_EXPORTS bucket with the listed methods throwing, as R2 does when it cannot be reached; with
 * `after`, only once that many calls of those methods have succeeded. `calls` counts every call by method.
 */
export function faultyR2(
  failing: R2Method[],
  { after = 0, message = "R2 DELETE failed: 500 Internal Server Error" } = {},
): { bucket: R2Bucket; calls: Record<string, number> } {
  const calls: Record<string, number> = {};
  let succeeded = 0;
  const bucket = interceptR2(async (method, proceed) => {
    calls[method] = (calls[method] ?? 0) + 1;
    if (!failing.includes(method as R2Method)) return proceed();
    if (succeeded >= after) throw new Error(message);
    succeeded += 1;
    return proceed();
  });
  return { bucket, calls };
}

/** The rows of a workspace's exports in D1, expired or not. */
export async function exportRows(workspaceId: string): Promise<number> {
  return (await env.DB.prepare("select count(*) as n from audit_exports where workspace_id = ?").bind(workspaceId).first<number>("n")) ?? 0;
}

/** The keys of the objects under a workspace's export prefix in R2, sorted. */
export async function exportObjects(workspaceId: string): Promise<string[]> {
  const keys: string[] = [];
  let cursor: string | undefined;
  do {
    const page = await env.AUDIT_EXPORTS.list({ prefix: `audit-exports/${workspaceId}/`, cursor });
    keys.push(...page.objects.map((object) => object.key));
    cursor = page.truncated ? page.cursor : undefined;
  } while (cursor);
  return keys.sort();
}

type SlugMethod = "reserve" | "confirm" | "release" | "dropHold";

/**
 * The SLUGS namespace (the real objects) with the listed methods failing as an unreachable Durable Object
 * does: its stubs throw.
 */
export function faultySlugs(failing: SlugMethod[], message = "Network connection lost."): TestEnv["SLUGS"] {
  const real = env.SLUGS as DurableObjectNamespace<SlugRegistry>;
  return new Proxy(real, {
    get(target, prop) {
      const value = Reflect.get(target, prop);
      if (prop !== "get") return typeof value === "function" ? value.bind(target) : value;
      return (id: DurableObjectId) => {
        const stub = target.get(id);
        return new Proxy(stub, {
          get(stubTarget, method) {
            if (failing.includes(method as SlugMethod)) return async () => Promise.reject(new Error(message));
            // A stub answers every property name with an RPC method: call through, never bind.
            return (...args: unknown[]) =>
              (stubTarget as unknown as Record<string | symbol, (...a: unknown[]) => unknown>)[method]!(...args);
          },
        });
      };
    },
  });
}

/** The registry object of a slug, to read or drive it directly. */
export const slugObject = (slug: string) => (env.SLUGS as DurableObjectNamespace<SlugRegistry>).get(env.SLUGS.idFromName(slug));
export async function countRows(table: "workspaces" | "memberships"): Promise<number> {
  const row = await env.DB.prepare(`select count(*) as n from ${table}`).first<{ n: number }>();
  return row?.n ?? 0;
}

/**
 * Inserts `count` rows into `table` in one statement, as that many writes would leave them, for tests that
 * need a table filled to a limit: `values` is each row's select list (`n.i` is its number, from 1), `binds`
 * its parameters in order.
 */
export async function insertGeneratedRows(table: string, count: number, columns: string, values: string, ...binds: unknown[]) {
  await env.DB.prepare(
    `with recursive n(i) as (select 1 union all select i + 1 from n where i < ?)
     insert into ${table} (${columns}) select ${values} from n`,
  )
    .bind(count, ...binds)
    .run();
}

/** How many of the workspace's API keys (revoked or not) carry this name. */
export async function keysNamed(workspaceId: string, name: string): Promise<number> {
  const row = await env.DB.prepare("select count(*) as n from api_keys where workspace_id = ? and name = ?")
    .bind(workspaceId, name)
    .first<{ n: number }>();
  return row?.n ?? 0;
}

export async function kvKeyCount(prefix: string): Promise<number> {
  return (await env.KV.list({ prefix })).keys.length;
}

type StoreMethod = keyof AuditStoreClient;

/**
 * An AUDIT_STORE binding whose objects fail the listed methods (all of them by default), as a Durable
 * Object that cannot be reached does; `calls` counts each method called, failed or not.
 */
export function faultyAuditStore(
  failing: StoreMethod[] | "all" = "all",
  message = "Durable Object is overloaded.",
): { binding: TestEnv["AUDIT_STORE"]; calls: Record<string, number> } {
  const calls: Record<string, number> = {};
  const real = env.AUDIT_STORE;
  const binding = new Proxy(real, {
    get(target, prop) {
      const value = Reflect.get(target, prop);
      if (prop !== "get") return typeof value === "function" ? value.bind(target) : value;
      return (id: DurableObjectId, options?: DurableObjectNamespaceGetDurableObjectOptions) => {
        const stub = target.get(id, options);
        return new Proxy(stub, {
          get(stubTarget, method) {
            if (typeof method !== "string" || method === "then") return undefined;
            return (...args: unknown[]) => {
              calls[method] = (calls[method] ?? 0) + 1;
              if (failing === "all" || failing.includes(method as StoreMethod)) return Promise.reject(new Error(message));
              return (stubTarget as unknown as Record<string, (...a: unknown[]) => unknown>)[method]!(...args);
            };
          },
        });
      };
    },
  });
  return { binding, calls };
}

/** Storage as the scheduled job builds it, over the test's bindings (or others given). */
export function testStorage(bindings: Partial<Pick<TestEnv, "DB" | "AUDIT_STORE">> = {}): Storage {
  return bindingStorage({ ...env, ...bindings }, "us-east-1", createLogger("test"));
}

/** Rows of a scope (workspace, or null: the operator log) still in the D1 outbox. */
export async function outboxRows(scope: string | null): Promise<number> {
  const where = scope === null ? "workspace_id is null" : "workspace_id = ?";
  const statement = env.DB.prepare(`select count(*) as n from audit_events where ${where}`);
  return (await (scope === null ? statement : statement.bind(scope)).first<number>("n")) ?? 0;
}

/**
 * Every event of a scope as the Audit API would see it (the outbox forwarded first), oldest first, read
 * from its store directly: for tests that count events without going through a route.
 */
export async function storedEvents(scope: string | null, filters: EventFilters = {}): Promise<AuditEventRow[]> {
  return (await listTrail(testStorage(), scope, filters, Number.MAX_SAFE_INTEGER, 0)).rows.reverse();
}
