import { DurableObject } from "cloudflare:workers";
import { eq } from "drizzle-orm";
import { type DrizzleSqliteDODatabase, drizzle } from "drizzle-orm/durable-sqlite";
import { migrate } from "drizzle-orm/durable-sqlite/migrator";
import type { Bindings } from "../../core/env";
import { createLogger, logLevelOf } from "../../core/logger";
import { auditSigner, auditVerifiers } from "../../security/audit-keys";
import { AUDIT_SERVICE } from "../audit-events/actions";
import { type Checked, type CheckpointRow, EventLog, type InclusionProof, isIntegrityFailure } from "./log";
import migrations from "./migrations";
import {
  type AuditEventRow,
  countEvents,
  deleteOlderThan,
  type EventCursor,
  type EventFilters,
  type EventsPage,
  eventsAfter,
  involves,
  listEvents,
  pageOfEvents,
  type SummaryParts,
  summaryParts,
} from "./queries";
import { auditEvents, checkpoints, retractedEvents } from "./schema";

/**
 * The legal hold as the store last heard of it, with the policy's `version` (a counter in D1, one more on
 * every change: no machine's clock orders holds). Stores from before it hold an ISO timestamp there.
 */
type HoldState = { held: boolean; version: number | string };
const HOLD_KEY = "legal_hold";

/** How long a changed log may go without a signed checkpoint: the alarm signs one this long after a change. */
export const CHECKPOINT_INTERVAL_MS = 10 * 60 * 1000;

/** A checkpoint as the API shows it: the log's origin, the tree size it covers, when it was signed, the signed note. */
export type CheckpointView = { log: string; size: number; signed_at: string; checkpoint: string };
export type EventProof = InclusionProof & { log: string; checkpoint: string };
export type ConsistencyAnswer =
  | { log: string; from: number; to: number; hashes: string[] }
  | { refused: "beyond_size" | "from_after_to" | "pruned" | "empty"; size: number };

export type PruneRequest = { cutoff: string; legalHold: boolean; policyVersion: number; limit: number };
/** What a prune deleted, whether a legal hold stopped it, and how many events the store still holds. */
export type PruneResult = { deleted: number; held: boolean; remaining: number };

/**
 * One year of a workspace's audit trail (or of the region's operator log): a SQLite-backed Durable Object
 * named `<workspace id>:<year>` (src/storage/audit-store/trail.ts), created in the workspace's region
 * (docs/guides/audit.md, "Where events are kept"). Events arrive from the D1 outbox (`append`, idempotent
 * by event id; the store numbers them itself) and are read by the Audit API's queries.
 * Each method runs alone (an object handles one event at a time, and SQLite here answers synchronously),
 * so a page and its count, or an append's rows, are one consistent step.
 */
export class AuditStore extends DurableObject<Bindings> {
  readonly #db: DrizzleSqliteDODatabase;
  readonly #log: EventLog;
  /** Whether this instance has made sure an alarm will sign the log's next checkpoint. */
  #signingScheduled = false;

  constructor(ctx: DurableObjectState, env: Bindings) {
    super(ctx, env);
    this.#db = drizzle(ctx.storage);
    this.#log = new EventLog(this.#db);
    void ctx.blockConcurrencyWhile(async () => {
      await migrate(this.#db, migrations);
      // A store from before the log: its events become the first leaves, once.
      ctx.storage.transactionSync(() => this.#log.catchUp());
    });
  }

  /**
   * Stores the rows not stored yet, in the order given, each as the log's next leaf, and never one whose
   * write was undone. A repeat is known by its event id alone (rows a concurrent forwarder or a retry sent
   * change nothing). Each row gets the store's own next seq, which is its leaf number + 1: the outbox's seq
   * is D1's, which a restore or a table rebuild in D1 may hand out again. Any other failure throws and
   * stores none of the rows (the forward answers 503 and the rows stay in the outbox). `origin` names the
   * log in its checkpoints; the first append fixes it. Returns how many were new, and the database's size.
   */
  async append(rows: AuditEventRow[], origin: string): Promise<{ stored: number; bytes: number }> {
    const stored = this.ctx.storage.transactionSync(() => {
      const known = this.#log.knownIds(rows.map(({ id }) => id));
      const fresh = rows.filter(({ id }) => !known.has(id)).map(({ seq: _outboxSeq, ...event }) => event);
      if (fresh.length === 0) return 0;
      const state = this.#log.state();
      if (state.origin === null) state.origin = origin;
      return this.#log.appendAll(fresh, state).length;
    });
    if (stored > 0) await this.#scheduleSigning();
    return { stored, bytes: this.ctx.storage.sql.databaseSize };
  }

  /**
   * Takes events whose write was undone out of the trail, and keeps them out for good (a late forward of one
   * is ignored). One the log already holds keeps its leaf: the tree never loses one. Its row goes, and the
   * log gets an entry of its own, `audit.event_retracted`, naming the event, its leaf and the leaf's hash.
   */
  async retract(ids: string[]): Promise<void> {
    const appended = this.ctx.storage.transactionSync(() => {
      const state = this.#log.state();
      const entries = [];
      for (const id of ids) {
        this.#db.insert(retractedEvents).values({ id }).onConflictDoNothing().run();
        const gone = this.#db.delete(auditEvents).where(eq(auditEvents.id, id)).returning().get();
        if (!gone) continue;
        state.retracted++;
        entries.push(retractionEntry(gone, this.#log.leafHash(gone.seq - 1) ?? null));
      }
      return this.#log.appendAll(entries, state).length;
    });
    if (appended > 0) await this.#scheduleSigning();
  }

  list(filters: EventFilters, limit: number, offset: number): EventsPage {
    return listEvents(this.#db, filters, limit, offset);
  }

  count(filters: EventFilters): number {
    return countEvents(this.#db, filters);
  }

  page(filters: EventFilters, limit: number, offset: number): AuditEventRow[] {
    return pageOfEvents(this.#db, filters, limit, offset);
  }

  summaryParts(filters: EventFilters): SummaryParts {
    return summaryParts(this.#db, filters);
  }

  involves(entityId: string): boolean {
    return involves(this.#db, entityId);
  }

  /** Records a policy change's legal hold (see #adoptHold), so a prune already under way cannot pass it. */
  async setLegalHold(held: boolean, version: number): Promise<void> {
    await this.#adoptHold({ held, version });
  }

  /**
   * Deletes up to `limit` events older than `cutoff`, unless the workspace is under legal hold: as the
   * prune's reading of the policy says, or as the store was told. Returns how many it deleted.
   */
  async prune({ cutoff, legalHold, policyVersion, limit }: PruneRequest): Promise<PruneResult> {
    const held = await this.#adoptHold({ held: legalHold, version: policyVersion });
    const deleted = held
      ? 0
      : this.ctx.storage.transactionSync(() => {
          const count = deleteOlderThan(this.#db, cutoff, limit);
          if (count > 0) {
            const state = this.#log.state();
            state.pruned += count;
            this.#log.saveState(state);
            this.#log.dropPrunedTiles(state);
          }
          return count;
        });
    return { deleted, held, remaining: countEvents(this.#db, {}) };
  }

  /**
   * What the store holds: its events, the bytes of its database, and its log's leaves, pruned leaves and
   * the bytes of its tree (for capacity figures and operators).
   */
  stats(): { events: number; bytes: number; leaves: number; pruned: number; treeBytes: number } {
    const { size, pruned } = this.#log.state();
    return {
      events: countEvents(this.#db, {}),
      bytes: this.ctx.storage.sql.databaseSize,
      leaves: size,
      pruned,
      treeBytes: this.#log.treeBytes(),
    };
  }

  // --- the verifiable log ------------------------------------------------------------------------------

  /** The latest signed checkpoint, signed now if the log grew since (null for a log with no leaves). */
  async checkpoint(origin?: string): Promise<Checked<CheckpointView | null>> {
    const signed = await this.#signedCheckpoint(undefined, origin);
    if (isIntegrityFailure(signed)) return signed;
    return signed ? this.#view(signed.row) : null;
  }

  /** Every checkpoint the log kept, newest first, and how many there are. */
  checkpointHistory(limit: number, offset: number): { checkpoints: CheckpointView[]; total: number } {
    const { rows, total } = this.#log.checkpointHistory(limit, offset);
    const log = this.#origin();
    return { checkpoints: rows.map((row) => this.#view(row, log)), total };
  }

  /**
   * The inclusion proof of the event against the latest signed checkpoint (signed now if none covers the
   * event yet); null if the store holds no such event.
   */
  async proof(eventId: string, origin?: string): Promise<Checked<EventProof | null>> {
    const row = this.#db.select().from(auditEvents).where(eq(auditEvents.id, eventId)).get();
    if (!row) return null;
    const signed = await this.#signedCheckpoint(row.seq - 1, origin);
    if (isIntegrityFailure(signed)) return signed;
    if (!signed) return { integrity: `event ${eventId} is stored but the log has no leaves` };
    const proof = this.#log.proveEvent(row, signed.row.size, signed.root, this.#log.reader());
    if (isIntegrityFailure(proof)) return proof;
    return { log: this.#origin(), ...proof, checkpoint: signed.row.note };
  }

  /** The consistency proof from size `from` to size `to` (default: the latest signed checkpoint's, signed now if the log grew). */
  async consistency(from: number, to: number | null, origin?: string): Promise<Checked<ConsistencyAnswer>> {
    const { size } = this.#log.state();
    let target = to;
    if (target === null) {
      const signed = await this.#signedCheckpoint(undefined, origin);
      if (isIntegrityFailure(signed)) return signed;
      if (!signed) return { refused: "empty", size };
      target = signed.row.size;
    }
    if (target > size) return { refused: "beyond_size", size };
    if (from > target) return { refused: "from_after_to", size };
    const hashes = this.#log.consistency(from, target);
    if (!hashes) return { refused: "pruned", size };
    return { log: this.#origin(), from, to: target, hashes };
  }

  /**
   * An export's page: the filter's events after `after` (oldest first) that the checkpoint of `size` covers,
   * each with its inclusion proof against it, every one checked as the proof route checks it.
   */
  async provenEventsAfter(
    filters: EventFilters,
    after: EventCursor | null,
    limit: number,
    checkpointSize: number,
  ): Promise<Checked<{ row: AuditEventRow; proof: InclusionProof }[]>> {
    // The export signed this checkpoint when it began; each page checks the counts and the checkpoint again.
    const state = this.#log.state();
    const counts = this.#log.checkCounts(state);
    if (counts) return counts;
    const checkpoint = this.#db.select().from(checkpoints).where(eq(checkpoints.size, checkpointSize)).get();
    if (!checkpoint) return { integrity: `the log has no signed checkpoint of ${checkpointSize}` };
    const opened = await this.#log.openCheckpoint(checkpoint, await auditVerifiers(this.env), state);
    if (isIntegrityFailure(opened)) return opened;
    const reader = this.#log.reader();
    const page: { row: AuditEventRow; proof: InclusionProof }[] = [];
    for (const row of eventsAfter(this.#db, filters, after, limit, checkpointSize)) {
      const proof = this.#log.proveEvent(row, checkpointSize, opened.root, reader);
      if (isIntegrityFailure(proof)) return proof;
      page.push({ row, proof });
    }
    return page;
  }

  /** Signs the checkpoint a changed log is owed (CHECKPOINT_INTERVAL_MS after the change that scheduled it). */
  override async alarm(): Promise<void> {
    this.#signingScheduled = false;
    const signed = await this.#signedCheckpoint();
    if (isIntegrityFailure(signed)) {
      createLogger(`audit-store:${this.ctx.id}`, logLevelOf(this.env.LOG_LEVEL)).error("audit log integrity check failed", {
        log: this.#log.state().origin,
        integrity: signed.integrity,
      });
    }
  }

  async #scheduleSigning(): Promise<void> {
    if (this.#signingScheduled) return;
    if ((await this.ctx.storage.getAlarm()) === null) await this.ctx.storage.setAlarm(Date.now() + CHECKPOINT_INTERVAL_MS);
    this.#signingScheduled = true;
  }

  /**
   * The latest checkpoint (verified), first signing one if the log grew past it (or, given `covering`, only
   * if it does not cover that leaf). Without a signing key configured there is nothing to sign with: throws
   * (the Worker checks the key first and answers 503). `origin`: the log's name, for a log that has none yet.
   */
  async #signedCheckpoint(covering?: number, origin?: string) {
    const signer = await auditSigner(this.env);
    if (!signer) throw new Error("AUDIT_SIGNING_KEY is unset or malformed");
    return this.#log.checkpoint(signer, await auditVerifiers(this.env), new Date().toISOString(), covering, origin);
  }

  #origin(): string {
    return this.#log.state().origin ?? "";
  }

  #view(row: CheckpointRow, log = this.#origin()): CheckpointView {
    return { log, size: row.size, signed_at: row.signedAt, checkpoint: row.note };
  }

  /**
   * Whether the workspace is held, given what a prune or a policy change offers. Monotone where it matters:
   * "held" from either side stops deletion (an offered hold is kept unless the store knows a newer version);
   * only a lift needs ordering, and it is taken only from a version newer than the one the store knows.
   */
  async #adoptHold(offered: { held: boolean; version: number }): Promise<boolean> {
    const known = await this.ctx.storage.get<HoldState>(HOLD_KEY);
    // A version from before the counter (a timestamp) ranks as 0: no lift read from an older policy passes it.
    const knownVersion = typeof known?.version === "number" ? known.version : 0;
    const newer = known === undefined || offered.version > knownVersion;
    if (offered.held) {
      if (newer || (offered.version === knownVersion && !known?.held)) await this.ctx.storage.put(HOLD_KEY, offered);
      return true;
    }
    if (newer) await this.ctx.storage.put(HOLD_KEY, offered);
    return newer ? false : (known?.held ?? false);
  }
}

/**
 * The log's own entry for an event whose write was undone after the log took it: the leaf stays, and this
 * says which leaf no longer stands for a change, with the hash it holds (so an auditor matches the two).
 */
function retractionEntry(gone: AuditEventRow, leafHash: string | null): Omit<AuditEventRow, "seq"> {
  return {
    id: crypto.randomUUID(),
    workspaceId: gone.workspaceId,
    service: AUDIT_SERVICE,
    action: "audit.event_retracted",
    actorEntityId: null,
    actorCredentialId: null,
    resourceType: "audit_event",
    resourceId: gone.id,
    resourceName: gone.action,
    metadata: { leaf_index: gone.seq - 1, leaf_hash: leafHash, reason: "the write this event recorded was undone" },
    ipAddress: null,
    userAgent: null,
    phiAccessed: false,
    // In the retracted event's year (its store's), even when the undo comes after New Year: a log's entries
    // are of its year.
    timestamp: minIso(new Date().toISOString(), `${gone.timestamp.slice(0, 4)}-12-31T23:59:59.999Z`),
  };
}

const minIso = (a: string, b: string) => (a < b ? a : b);
