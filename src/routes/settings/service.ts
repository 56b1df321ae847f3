import { asc, eq } from "drizzle-orm";
import type { Storage } from "../../core/env";
import { ApiError } from "../../core/errors";
import { daysAfter } from "../../core/time";
import { type AuditActor, auditEvent, changedFields, insertEventIfChanged } from "../../storage/audit-events/record";
import { pruneTrail, setTrailHold } from "../../storage/audit-store/trail";
import { type RetentionPolicyRow, retentionPolicies, type WorkspaceRow, workspaces } from "../../storage/d1/schema";
import { RETENTION_DAYS, type RetentionPolicyRequest, type RetentionPolicyResponse } from "./schemas";

/**
 * The audit retention of workspaces that never set `audit_log_days` (and of the operator log): the
 * deployment's AUDIT_RETENTION_DAYS when it is a whole number of days within upstream's bounds, else 2190.
 */
export function defaultAuditDays(configured: unknown): number {
  const days = Number(configured);
  return Number.isInteger(days) && days >= RETENTION_DAYS.min && days <= RETENTION_DAYS.max ? days : RETENTION_DAYS.default;
}

const DAYS_FIELDS = {
  call_recordings_days: "callRecordingsDays",
  call_transcripts_days: "callTranscriptsDays",
  audit_log_days: "auditLogDays",
  world_events_days: "worldEventsDays",
  phi_data_days: "phiDataDays",
} as const;

type StoredPolicy = Pick<
  RetentionPolicyRow,
  (typeof DAYS_FIELDS)[keyof typeof DAYS_FIELDS] | "legalHold" | "legalHoldReason" | "version" | "updatedAt"
>;

const NEVER_SET: StoredPolicy = {
  callRecordingsDays: null,
  callTranscriptsDays: null,
  auditLogDays: null,
  worldEventsDays: null,
  phiDataDays: null,
  legalHold: false,
  legalHoldReason: null,
  version: 0,
  updatedAt: null,
};

function toResponse(policy: StoredPolicy, auditDefault: number): RetentionPolicyResponse {
  return {
    call_recordings_days: policy.callRecordingsDays ?? RETENTION_DAYS.default,
    call_transcripts_days: policy.callTranscriptsDays ?? RETENTION_DAYS.default,
    audit_log_days: policy.auditLogDays ?? auditDefault,
    world_events_days: policy.worldEventsDays ?? RETENTION_DAYS.default,
    phi_data_days: policy.phiDataDays ?? RETENTION_DAYS.default,
    legal_hold: policy.legalHold,
    legal_hold_reason: policy.legalHoldReason,
  };
}

const POLICY_COLUMNS = {
  callRecordingsDays: retentionPolicies.callRecordingsDays,
  callTranscriptsDays: retentionPolicies.callTranscriptsDays,
  auditLogDays: retentionPolicies.auditLogDays,
  worldEventsDays: retentionPolicies.worldEventsDays,
  phiDataDays: retentionPolicies.phiDataDays,
  legalHold: retentionPolicies.legalHold,
  legalHoldReason: retentionPolicies.legalHoldReason,
  version: retentionPolicies.version,
  updatedAt: retentionPolicies.updatedAt,
};

async function storedPolicy({ db }: Storage, workspaceId: string): Promise<StoredPolicy> {
  const row = await db.select(POLICY_COLUMNS).from(retentionPolicies).where(eq(retentionPolicies.workspaceId, workspaceId)).get();
  return row ?? NEVER_SET;
}

export async function retentionPolicy(storage: Storage, workspaceId: string, auditDefault: number): Promise<RetentionPolicyResponse> {
  return toResponse(await storedPolicy(storage, workspaceId), auditDefault);
}

/** The policy with the request applied: a `*_days` or `legal_hold` sent as null stays; `legal_hold_reason: null` clears. */
function applied(policy: StoredPolicy, request: RetentionPolicyRequest): StoredPolicy {
  const next = { ...policy };
  for (const [field, column] of Object.entries(DAYS_FIELDS) as [
    keyof typeof DAYS_FIELDS,
    (typeof DAYS_FIELDS)[keyof typeof DAYS_FIELDS],
  ][]) {
    const days = request[field];
    if (days != null) next[column] = days;
  }
  if (request.legal_hold != null) next.legalHold = request.legal_hold;
  if (request.legal_hold_reason !== undefined) next.legalHoldReason = request.legal_hold_reason;
  return next;
}

/**
 * Applies a partial update. The policy row (its `version` one more) and its `workspace.retention_policy_updated`
 * event are one batch, written only if the row is still the version read (else 409: a concurrent change; read
 * and retry); a request that changes nothing writes nothing. Then the audit stores are told of the hold
 * (holdInStores). A policy under legal hold answers 200 only once every store has it, so no prune passes it
 * from then on; otherwise 503, and a repeat of the request (which changes nothing in D1) completes it.
 */
export async function updateRetentionPolicy(
  storage: Storage,
  workspace: WorkspaceRow,
  request: RetentionPolicyRequest,
  actor: AuditActor,
  auditDefault: number,
): Promise<RetentionPolicyResponse> {
  const { db, logger } = storage;
  const workspaceId = workspace.id;
  const before = await storedPolicy(storage, workspaceId);
  const after = applied(before, request);
  const changes = changedFields(toResponse(before, auditDefault), toResponse(after, auditDefault));
  if (Object.keys(changes).length === 0) {
    // Nothing to write; a hold still goes to the stores: this may be the repeat of a PUT that answered 503.
    if (before.legalHold) await holdInStores(storage, workspaceId, before);
    return toResponse(before, auditDefault);
  }

  const now = new Date().toISOString();
  const values = { ...after, version: before.version + 1, updatedAt: now };
  const event = auditEvent(
    actor,
    {
      workspaceId,
      action: "workspace.retention_policy_updated",
      resourceType: "workspace",
      resourceId: workspaceId,
      resourceName: workspace.name,
      metadata: { changes },
    },
    now,
  );
  const [written] = await db.batch([
    db
      .insert(retentionPolicies)
      .values({ workspaceId, ...values })
      .onConflictDoUpdate({ target: retentionPolicies.workspaceId, set: values, setWhere: eq(retentionPolicies.version, before.version) })
      .returning({ workspaceId: retentionPolicies.workspaceId }),
    insertEventIfChanged(db, event),
  ]);
  if (written.length === 0) throw new ApiError("conflict", "The retention policy was changed by a concurrent request; read it and retry.");
  if (values.legalHold) await holdInStores(storage, workspaceId, values);
  else if (before.legalHold) {
    // A lift that does not reach a store is safe: the store goes on refusing prunes until one carries this version.
    try {
      await setTrailHold(storage, workspaceId, false, values.version);
    } catch (err) {
      logger.warn("legal hold lift not yet told to the audit stores; the next prune carries it", {
        workspace_id: workspaceId,
        cause: String(err),
      });
    }
  }
  return toResponse(after, auditDefault);
}

/** Tells every audit store of the workspace of its hold: 503 if one cannot be told (the hold is in D1 already; a repeat finishes). */
async function holdInStores(storage: Storage, workspaceId: string, policy: Pick<StoredPolicy, "version">) {
  try {
    await setTrailHold(storage, workspaceId, true, policy.version);
  } catch (err) {
    throw new ApiError(
      "service_unavailable",
      "The legal hold is recorded but not yet in force in every audit store; repeat the request to complete it.",
      { cause: err },
    );
  }
}

// --- enforcement (the scheduled job) -------------------------------------------------------------------

/** Per scheduled run: workspaces visited (longest ago first), and events deleted per workspace. */
const PRUNE_WORKSPACES = 200;
const PRUNE_EVENTS = 5000;
/** Store calls in flight at once. */
const PRUNE_PARALLEL = 10;

export type RetentionRun = { workspaces: number; events: number; held: number; failed: number };

/**
 * Applies audit retention to the PRUNE_WORKSPACES workspaces (archived ones too) visited longest ago: each
 * store deletes at most PRUNE_EVENTS of its events older than the workspace's `audit_log_days`, nothing
 * under legal hold; then the operator log, by the default. A workspace whose store fails keeps its place
 * at the head of the queue. What is left goes with the next run.
 */
export async function applyRetention(storage: Storage, auditDefault: number, nowMs = Date.now()): Promise<RetentionRun> {
  const { db, logger } = storage;
  const due = await db
    .select({ workspaceId: workspaces.id })
    .from(workspaces)
    .leftJoin(retentionPolicies, eq(retentionPolicies.workspaceId, workspaces.id))
    .orderBy(asc(retentionPolicies.prunedAt), asc(workspaces.seq))
    .limit(PRUNE_WORKSPACES);
  const run: RetentionRun = { workspaces: 0, events: 0, held: 0, failed: 0 };
  const prunedAt = new Date(nowMs).toISOString();
  for (let i = 0; i < due.length; i += PRUNE_PARALLEL) {
    await Promise.all(
      due.slice(i, i + PRUNE_PARALLEL).map(async ({ workspaceId }) => {
        try {
          // Read right before the prune (not with the queue): a hold placed while earlier workspaces were pruned is seen.
          const policy = await storedPolicy(storage, workspaceId);
          const { deleted, held } = await pruneTrail(storage, workspaceId, {
            cutoff: daysAfter(nowMs, -(policy.auditLogDays ?? auditDefault)),
            legalHold: policy.legalHold,
            policyVersion: policy.version,
            limit: PRUNE_EVENTS,
          });
          await db
            .insert(retentionPolicies)
            .values({ workspaceId, prunedAt })
            .onConflictDoUpdate({ target: retentionPolicies.workspaceId, set: { prunedAt } });
          run.workspaces++;
          run.events += deleted;
          if (held) run.held++;
        } catch (err) {
          run.failed++;
          logger.warn("retention not applied", { workspace_id: workspaceId, cause: String(err) });
        }
      }),
    );
  }
  try {
    const operatorLog = await pruneTrail(storage, null, {
      cutoff: daysAfter(nowMs, -auditDefault),
      legalHold: false,
      policyVersion: 0,
      limit: PRUNE_EVENTS,
    });
    run.events += operatorLog.deleted;
  } catch (err) {
    run.failed++;
    logger.warn("retention not applied to the operator log", { cause: String(err) });
  }
  return run;
}
