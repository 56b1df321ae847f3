import { isRegion } from "../core/domain";
import type { Bindings } from "../core/env";
import { createLogger, logLevelOf } from "../core/logger";
import { sweepGrantRevocations } from "../routes/admin/service";
import { startStalledExports } from "../routes/audit/service";
import { applyRetention, defaultAuditDays, type RetentionRun } from "../routes/settings/service";
import { deleteExpiredExports } from "../storage/audit-exports";
import { forwardPending } from "../storage/audit-store/outbox";
import { deleteExpiredRecords } from "../storage/idempotency-records";
import { bindingStorage } from "../storage/regional-storage";
import { deleteDeadSignIns } from "../storage/sign-ins";

/**
 * Expired idempotency records deleted per run (reserve ignores the rest meanwhile: they no longer answer):
 * ten times what one caller may hold (IDEMPOTENCY_KEYS_PER_CALLER), every hour, in ten statements.
 */
const IDEMPOTENCY_PURGE_LIMIT = 100_000;
/** Scopes (workspaces) whose outbox rows one run forwards: far more than a healthy outbox ever holds. */
const SWEEP_SCOPES = 500;

export type ScheduledRun = {
  forwarded: number;
  forwardFailures: number;
  retention: RetentionRun;
  /** Expired exports deleted, object and row; a failing step stops them with a warning, and the rest of the run goes on. */
  exports: number;
  /** Exports too large for one request whose workflow this run started (its first start was lost), or found ended unfinished. */
  stalledExports: { started: number; failed: number };
  idempotencyRecords: number;
  /** Disabled people whose keys and invitations this run revoked in this region. */
  grantRevocations: number;
  /** Sign-in requests and refresh tokens deleted a day after they died (decision 0040). */
  signIns: number;
};

/**
 * The cron trigger (wrangler.toml [triggers], hourly), for this region: forwards what the audit outbox
 * still holds (the sweep), applies each workspace's retention policy, deletes old exports and expired
 * idempotency records and dead sign-ins, starts exports whose workflow never started, and revokes here what
 * people disabled in any region held or issued. Each step is bounded; what is left goes with the next run.
 * The sweep comes first, so retention sees every event. A failure is logged and rethrown, so the invocation
 * shows as failed.
 */
export async function runScheduled(env: Bindings, nowMs = Date.now()): Promise<ScheduledRun | undefined> {
  const runId = `cron-${crypto.randomUUID()}`;
  const logger = createLogger(runId, logLevelOf(env.LOG_LEVEL));
  const region = env.REGION;
  if (!isRegion(region)) {
    logger.error("REGION binding is missing or not a known region; the scheduled run is skipped", { region: String(region) });
    return undefined;
  }
  try {
    const storage = bindingStorage(env, region, logger);
    const sweep = await forwardPending(storage, SWEEP_SCOPES);
    const retention = await applyRetention(storage, defaultAuditDays(env.AUDIT_RETENTION_DAYS), nowMs);
    const exports = await deleteExpiredExports(storage, env.AUDIT_EXPORTS, nowMs);
    const stalledExports = await startStalledExports(storage, env.AUDIT_EXPORTS, env.AUDIT_EXPORT_WORKFLOW as Workflow | undefined, nowMs);
    const idempotencyRecords = await deleteExpiredRecords(storage.db, IDEMPOTENCY_PURGE_LIMIT, nowMs);
    // The operator's doing, carried out here: no person, no credential; the run's id in place of a request's.
    const actor = { entityId: null, credentialId: null, ipAddress: null, userAgent: null, requestId: runId };
    const grantRevocations = await sweepGrantRevocations(storage, actor);
    const signIns = await deleteDeadSignIns(storage.db, nowMs);
    const run = {
      forwarded: sweep.moved,
      forwardFailures: sweep.failed,
      retention,
      exports,
      stalledExports,
      idempotencyRecords,
      grantRevocations,
      signIns,
    };
    logger.info("scheduled run", { region, ...run });
    return run;
  } catch (err) {
    logger.error("scheduled run failed", { region, cause: String(err) });
    throw err;
  }
}
