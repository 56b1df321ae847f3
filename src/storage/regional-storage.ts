import { createMiddleware } from "hono/factory";
import { isRegion, type Region } from "../core/domain";
import type { AppEnv, Bindings, Db, Storage } from "../core/env";
import { internalError, validationError } from "../core/errors";
import type { Logger } from "../core/logger";
import { forwardPending } from "./audit-store/outbox";
import { dbFor, sessionDb } from "./d1/client";

let regionErrorLogged = false;

/** Scopes (workspaces) one write forwards: its own (the newest rows), and a few left behind by others. */
const SCOPES_PER_WRITE = 3;

async function forwardAfterWrite(storage: Storage): Promise<void> {
  try {
    await forwardPending(storage, SCOPES_PER_WRITE);
  } catch (err) {
    storage.logger.warn("audit outbox not forwarded after a write", { cause: String(err) });
  }
}

/** The host of PUBLIC_URL, which names the region's audit logs (docs/guides/audit.md, "Proving the trail"). */
function auditLogHostOf(env: Bindings): string {
  try {
    return env.PUBLIC_URL ? new URL(env.PUBLIC_URL).host : "localhost";
  } catch {
    return "localhost";
  }
}

/** Storage on the bindings themselves (every query on the primary, no request session): the scheduled job's. */
export function bindingStorage(env: Bindings, region: Region, logger: Logger): Storage {
  const db = dbFor(env.DB);
  return { db, d1: env.DB, primary: db, kv: env.KV, auditStore: env.AUDIT_STORE, auditLogHost: auditLogHostOf(env), region, logger };
}

/** The read-your-writes bookmark a response carries and a later request echoes (docs/guides/regions.md). */
export const BOOKMARK_HEADER = "x-d1-bookmark";

/**
 * `<region>:<D1 bookmark>`. The region names the database the bookmark belongs to (a bookmark is a position
 * in one database's log); D1's part is opaque, so only its length and characters are bounded.
 */
const BOOKMARK = /^([a-z0-9-]{1,32}):([\x21-\x7e]{1,200})$/;

const bookmarkOf = (region: Region, d1Bookmark: string) => `${region}:${d1Bookmark}`;

/**
 * Where the request's D1 session starts. A write starts at the primary (so its reads, the idempotency
 * record's among them, see every committed write). A read starts at the client's bookmark when it sent one
 * of this region's, else anywhere (a replica may answer). A bookmark of another region is ignored: it says
 * nothing about this region's database.
 */
function sessionStart(method: string, header: string | undefined, region: Region): string {
  if (method !== "GET" && method !== "HEAD") return "first-primary";
  if (header === undefined) return "first-unconstrained";
  const match = BOOKMARK.exec(header);
  if (!match || !isRegion(match[1])) {
    throw validationError([
      {
        loc: ["header", BOOKMARK_HEADER],
        msg: `Expected a bookmark as returned in the ${BOOKMARK_HEADER} response header: <region>:<bookmark>.`,
        type: "value_error",
        input: header.slice(0, 300),
      },
    ]);
  }
  return match[1] === region ? match[2]! : "first-unconstrained";
}

/**
 * Builds the one `Storage` of the request on `c.get("storage")`, and answers with its D1 session's bookmark.
 * REGION is checked on every request: a deployment whose REGION is missing or unknown cannot tell which
 * region's data it holds, so it fails closed (500) rather than serve or write under a wrong region.
 */
export const regionalStorage = createMiddleware<AppEnv>(async (c, next) => {
  const region = c.env.REGION;
  if (!isRegion(region)) {
    if (!regionErrorLogged) c.get("logger").error("REGION binding is missing or not a known region", { region: String(region) });
    regionErrorLogged = true;
    throw internalError();
  }
  const { method } = c.req;
  const start = sessionStart(method, c.req.header(BOOKMARK_HEADER), region);
  // The session is made when a service first reads `d1` or `db`, and drizzle over it when one first reads
  // `db`: many requests never query D1 here (GET /v1/auth/me, a refused credential), and the lists run
  // SQL built once on the session itself; they then pay nothing for what they do not use.
  let session: D1DatabaseSession | undefined;
  let db: Db | undefined;
  const sessionOf = () => (session ??= c.env.DB.withSession(start));
  c.set("storage", {
    get d1() {
      return sessionOf();
    },
    get db() {
      db ??= sessionDb(sessionOf());
      return db;
    },
    primary: dbFor(c.env.DB),
    kv: c.env.KV,
    auditStore: c.env.AUDIT_STORE,
    auditLogHost: auditLogHostOf(c.env),
    region,
    logger: c.get("logger"),
  });
  await next();
  // A write that used D1 may have put events in the audit outbox: they leave for their stores once the
  // answer is sent (whatever is left, the next read of the trail or the sweep forwards).
  if (session && method !== "GET" && method !== "HEAD") c.executionCtx.waitUntil(forwardAfterWrite(c.get("storage")));
  const bookmark = session?.getBookmark() ?? null;
  if (bookmark !== null) c.res.headers.set(BOOKMARK_HEADER, bookmarkOf(region, bookmark));
});
