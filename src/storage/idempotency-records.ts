import { and, eq, isNull, lte, or, type SQL, sql } from "drizzle-orm";
import type { BatchItem } from "drizzle-orm/batch";
import type { Claim, Db, SealContext } from "../core/env";
import { DAY_MS } from "../core/time";
import { seal, unseal } from "../security/seal";
import { rowsWhere } from "./d1/conditional-insert";
import { idempotencyRecords } from "./d1/schema";

/**
 * The idempotency records of this region's D1 (table `idempotency_records`): reserving a key, storing
 * the answer (after the handler, or inside the write's own batch), and taking a reservation back.
 */

/** How long an answer is kept for its retries. */
const IDEMPOTENCY_TTL_MS = DAY_MS;
/**
 * How long a running request holds its key. Longer than any request runs (D1 ends a query after 30 s);
 * a record still running after it belongs to a Worker that was stopped, and a retry takes it over.
 */
const LEASE_MS = 5 * 60 * 1000;
/**
 * Live records one person may hold: those of their identity's tokens and of every API key they are
 * accountable for, together (a key they make does not bring room of its own). A bound on what one person
 * can make this region's D1 store, whatever they send (docs/decisions/0037-storage-bounded-per-caller.md);
 * far above a client's need: one keyed write every 9 seconds, all day. Past it a new key is refused
 * (quota_exceeded); a retry of a live key already held is answered as always.
 */
export const IDEMPOTENCY_KEYS_PER_CALLER = 10_000;

export type Reservation =
  | { outcome: "run"; claim: Claim }
  /** The caller holds IDEMPOTENCY_KEYS_PER_CALLER live records: nothing was stored. */
  | { outcome: "full" }
  | { outcome: "replay"; status: number; text: string | null }
  | { outcome: "in_use" }
  | { outcome: "reused" }
  /** Sealed under another IDEMPOTENCY_SECRET (it was changed since): the request ran, and is not run again. */
  | { outcome: "unreadable" };

/** `holder`: whom the record counts against (the person: an identity id, or `api_key:<id>` for a key with no one behind it). */
type Request = { sealing: SealContext; fingerprint: string; holder: string };

const ofClaim = (claim: Claim) =>
  and(eq(idempotencyRecords.scope, claim.scope), eq(idempotencyRecords.keyHash, claim.keyHash), eq(idempotencyRecords.owner, claim.owner));

/**
 * One batch: insert the record (only while the caller holds fewer than IDEMPOTENCY_KEYS_PER_CALLER live
 * ones, counted in the same statement), or take over one that expired, or one whose request was stopped
 * (same request only); then read the record as it now is. Ours if it names this request as its owner.
 */
export async function reserve(db: Db, { sealing, fingerprint, holder }: Request, now = Date.now()): Promise<Reservation> {
  const { scope, keyHash } = sealing;
  const owner = crypto.randomUUID();
  const at = new Date(now).toISOString();
  const fresh = {
    fingerprint,
    owner,
    lockedUntil: new Date(now + LEASE_MS).toISOString(),
    status: null,
    sealedBody: null,
    createdAt: at,
    expiresAt: new Date(now + IDEMPOTENCY_TTL_MS).toISOString(),
    holder,
  };
  const [, [record]] = await db.batch([
    db
      .insert(idempotencyRecords)
      .select(rowsWhere(idempotencyRecords, { scope, keyHash, ...fresh }, roomFor(holder, scope, keyHash, at)))
      .onConflictDoUpdate({
        target: [idempotencyRecords.scope, idempotencyRecords.keyHash],
        set: fresh,
        setWhere: or(
          lte(idempotencyRecords.expiresAt, at),
          and(isNull(idempotencyRecords.status), lte(idempotencyRecords.lockedUntil, at), eq(idempotencyRecords.fingerprint, fingerprint)),
        ),
      }),
    db
      .select()
      .from(idempotencyRecords)
      .where(and(eq(idempotencyRecords.scope, scope), eq(idempotencyRecords.keyHash, keyHash))),
  ]);
  if (record?.owner === owner) return { outcome: "run", claim: { scope, keyHash, owner, sealing } };
  // No record, or an expired one the upsert would have taken over had there been room: nothing was stored.
  if (!record || record.expiresAt <= at) return { outcome: "full" };
  if (record.fingerprint !== fingerprint) return { outcome: "reused" };
  if (record.status === null || record.lockedUntil > at) return { outcome: "in_use" };
  if (record.sealedBody === null) return { outcome: "replay", status: record.status, text: null };
  try {
    return { outcome: "replay", status: record.status, text: await unseal(sealing, record.sealedBody) };
  } catch {
    return { outcome: "unreadable" };
  }
}

/**
 * Whether the key may be taken: its record is live already (a retry, or a takeover of a stopped request's
 * hold), or the holder has fewer than IDEMPOTENCY_KEYS_PER_CALLER live records (counted on
 * `idempotency_records_holder_idx`, at most that many entries). An expired record is no place held: taking
 * it over is a new record like any other.
 */
function roomFor(holder: string, scope: string, keyHash: string, at: string): SQL {
  const r = idempotencyRecords;
  const live = sql`exists (select 1 from ${r} where ${r.scope} = ${scope} and ${r.keyHash} = ${keyHash} and ${r.expiresAt} > ${at})`;
  const held = sql`(select count(*) from (select 1 from ${r} where ${r.holder} = ${holder} and ${r.expiresAt} > ${at}
    limit ${IDEMPOTENCY_KEYS_PER_CALLER}))`;
  return sql`(${live} or ${held} < ${IDEMPOTENCY_KEYS_PER_CALLER})`;
}

/** The answer's body as stored: sealed (null for a body-less answer). */
export async function sealAnswer(claim: Claim, text: string | null): Promise<string | null> {
  return text === null ? null : seal(claim.sealing, text);
}

/**
 * The statement that stores the answer (its body sealed first, by `sealAnswer`); with `onlyIf`, only
 * where that holds when it runs. (Not async: a drizzle query is thenable, and returning one from an
 * async function would run it.)
 */
function storeAnswerStatement(db: Db, claim: Claim, status: number, sealedBody: string | null, onlyIf?: SQL) {
  return db
    .update(idempotencyRecords)
    .set({ status, sealedBody })
    .where(and(ofClaim(claim), onlyIf));
}

/** For a write's undo batch: the answer its batch stored is taken back with it (the request runs on). */
function retractAnswerStatement(db: Db, claim: Claim) {
  return db.update(idempotencyRecords).set({ status: null, sealedBody: null }).where(ofClaim(claim));
}

/**
 * Ends the request's hold: stores its answer (or keeps the one its write's batch stored, when `answer` is
 * undefined) and lets retries replay it from now on.
 */
export function finish(db: Db, claim: Claim, answer?: { status: number; sealedBody: string | null }) {
  return db
    .update(idempotencyRecords)
    .set({ ...answer, lockedUntil: new Date().toISOString() })
    .where(ofClaim(claim));
}

/**
 * Frees the key of a request that ended without an answer worth keeping (5xx, 429), so a retry runs;
 * unless its write's batch committed an answer that no undo took back: that one is finished instead.
 */
export function release(db: Db, claim: Claim) {
  return db.batch([db.delete(idempotencyRecords).where(and(ofClaim(claim), isNull(idempotencyRecords.status))), finish(db, claim)]);
}

/** Rows one statement of the clean-up deletes: each statement stays well within D1's 30 seconds. */
const PURGE_CHUNK = 10_000;

/**
 * Records past their 24 hours, at most `limit`, PURGE_CHUNK per statement (the cron's clean-up; reserve
 * already ignores them). Returns how many it deleted.
 */
export async function deleteExpiredRecords(db: Db, limit: number, now = Date.now()): Promise<number> {
  let deleted = 0;
  while (deleted < limit) {
    const chunk = Math.min(PURGE_CHUNK, limit - deleted);
    const expired = db
      .select({ rowid: sql`rowid` })
      .from(idempotencyRecords)
      .where(lte(idempotencyRecords.expiresAt, new Date(now).toISOString()))
      .limit(chunk);
    const rows = await db.delete(idempotencyRecords).where(sql`rowid in ${expired}`).returning({ scope: idempotencyRecords.scope });
    deleted += rows.length;
    if (rows.length < chunk) break;
  }
  return deleted;
}

/**
 * What a write hands its D1 batch so the answer commits with the write (a crash between the two cannot
 * make a retry write again): the statement storing the answer built from the write's result, and the
 * statement taking it back for the write's undo batch. Empty without an Idempotency-Key.
 */
export type BatchAnswer<Result> = {
  store(db: Db, result: Result, onlyIf?: SQL): Promise<BatchItem<"sqlite">[]>;
  retract(db: Db): BatchItem<"sqlite">[];
};

export const NO_BATCH_ANSWER: BatchAnswer<unknown> = { store: async () => [], retract: () => [] };

/** The BatchAnswer of a claimed request whose success is `status` with the body `toBody(result)`. */
export function batchAnswer<Result>(claim: Claim | undefined, status: number, toBody: (result: Result) => unknown): BatchAnswer<Result> {
  if (!claim) return NO_BATCH_ANSWER;
  return {
    async store(db, result, onlyIf) {
      const text = JSON.stringify(await toBody(result));
      claim.stored = { status, text };
      return [storeAnswerStatement(db, claim, status, await sealAnswer(claim, text), onlyIf)];
    },
    retract: (db) => [retractAnswerStatement(db, claim)],
  };
}
