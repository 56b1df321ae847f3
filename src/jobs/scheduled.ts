import { isRegion } from "../core/domain";
import type { Bindings } from "../core/env";
import { createLogger, logLevelOf } from "../core/logger";
import { applyRetention } from "../routes/audit/service";
import { dbFor } from "../storage/d1/client";
import { deleteExpiredRecords } from "../storage/idempotency-records";

/** Used when AUDIT_RETENTION_DAYS is unset or not a whole number of days from 1 to 3650. */
const DEFAULT_AUDIT_RETENTION_DAYS = 365;

function retentionDaysOf(configured: unknown): number {
  const days = Number(configured);
  return Number.isInteger(days) && days >= 1 && days <= 3650 ? days : DEFAULT_AUDIT_RETENTION_DAYS;
}

/** Expired idempotency records deleted per run (each run also ignores the rest: they no longer answer). */
const IDEMPOTENCY_PURGE_LIMIT = 10_000;

/**
 * The cron trigger (wrangler.toml [triggers]): audit retention and the clean-up of expired idempotency
 * records for this region. A failure is logged and rethrown, so the invocation shows as failed; the next
 * run repeats what is left.
 */
export async function runScheduled(
  env: Bindings,
  nowMs = Date.now(),
): Promise<{ events: number; exports: number; idempotencyRecords: number } | undefined> {
  const logger = createLogger(`cron-${crypto.randomUUID()}`, logLevelOf(env.LOG_LEVEL));
  const region = env.REGION;
  if (!isRegion(region)) {
    logger.error("REGION binding is missing or not a known region; retention skipped", { region: String(region) });
    return undefined;
  }
  try {
    const db = dbFor(env.DB);
    const deleted = await applyRetention(
      { db, primary: db, kv: env.KV, region, logger },
      env.AUDIT_EXPORTS,
      retentionDaysOf(env.AUDIT_RETENTION_DAYS),
      nowMs,
    );
    const idempotencyRecords = await deleteExpiredRecords(db, IDEMPOTENCY_PURGE_LIMIT, nowMs);
    logger.info("retention", {
      region,
      events_deleted: deleted.events,
      exports_deleted: deleted.exports,
      idempotency_records_deleted: idempotencyRecords,
    });
    return { ...deleted, idempotencyRecords };
  } catch (err) {
    logger.error("retention failed", { region, cause: String(err) });
    throw err;
  }
}
