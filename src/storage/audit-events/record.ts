import { eq, type SQL, sql } from "drizzle-orm";
import type { BatchItem } from "drizzle-orm/batch";
import type { AppContext, Db } from "../../core/env";
import { creatorOf, type Principal } from "../../core/principal";
import { rowsWhere, SQL_UUID } from "../d1/conditional-insert";
import { auditEvents } from "../d1/schema";
import { AUDIT_SERVICE, type AuditAction, type ResourceType } from "./actions";

/**
 * How a write records its audit event: the service builds the event with `auditEvent` and puts
 * `insertEvent` (or, after a conditional statement, `insertEventIfChanged`) into the same D1 batch as the
 * write, so the write and its event commit together or not at all. An undo of the write deletes the event
 * in the same undo batch.
 */

/**
 * Who acted, from where, in which request. The admin surface's operator token has no entity or credential
 * id: both null. The request id goes into every event's `metadata.request_id`, so the trail and the logs
 * (and the `x-request-id` a client got) name the same request. A person signed in through an identity
 * provider has one credential id per issuer, and the issuer itself in `metadata.credential_issuer`.
 */
export type AuditActor = {
  entityId: string | null;
  credentialId: string | null;
  credentialIssuer?: string | null;
  ipAddress: string | null;
  userAgent: string | null;
  requestId?: string | null;
};

/** Longer User-Agent headers are cut to this many characters. */
const MAX_USER_AGENT = 512;

export function auditActorOf(c: AppContext): AuditActor {
  const principal = c.get("principal") as Principal | undefined;
  const creator = principal ? creatorOf(principal) : { createdByEntityId: null, createdByCredentialId: null };
  return {
    entityId: creator.createdByEntityId,
    credentialId: creator.createdByCredentialId,
    ipAddress: c.req.header("cf-connecting-ip") ?? null,
    userAgent: c.req.header("user-agent")?.slice(0, MAX_USER_AGENT) ?? null,
    requestId: c.get("requestId") ?? null,
    credentialIssuer: principal?.type === "identity" ? (principal.issuer ?? null) : null,
  };
}

export type AuditEntry = {
  /** null: the operator log (identity writes on the admin surface). */
  workspaceId: string | null;
  action: AuditAction;
  resourceType: ResourceType;
  resourceId: string | null;
  resourceName: string | null;
  /** Never a secret, a hash or a token. */
  metadata?: Record<string, unknown>;
};

export type AuditEvent = typeof auditEvents.$inferInsert & { id: string };

export function auditEvent(actor: AuditActor, entry: AuditEntry, at = new Date().toISOString()): AuditEvent {
  return {
    id: crypto.randomUUID(),
    workspaceId: entry.workspaceId,
    service: AUDIT_SERVICE,
    action: entry.action,
    actorEntityId: actor.entityId,
    actorCredentialId: actor.credentialId,
    resourceType: entry.resourceType,
    resourceId: entry.resourceId,
    resourceName: entry.resourceName,
    metadata: actorMetadata(actor, entry.metadata),
    ipAddress: actor.ipAddress,
    userAgent: actor.userAgent,
    phiAccessed: false,
    timestamp: at,
  };
}

/** The entry's metadata, with the request id and the provider's issuer when there are. */
function actorMetadata(actor: AuditActor, metadata: Record<string, unknown> | undefined): Record<string, unknown> | null {
  const added = {
    ...(actor.requestId ? { request_id: actor.requestId } : {}),
    ...(actor.credentialIssuer ? { credential_issuer: actor.credentialIssuer } : {}),
  };
  return Object.keys(added).length === 0 ? (metadata ?? null) : { ...metadata, ...added };
}

export function insertEvent(db: Db, event: AuditEvent) {
  return db.insert(auditEvents).values(event);
}

/**
 * The event, inserted only if the statement just before it in the batch changed a row (SQLite's
 * `changes()`, which a D1 batch keeps between its statements): a conditional write (`… WHERE revoked_at IS
 * NULL`) that lost a race records nothing.
 */
export function insertEventIfChanged(db: Db, event: AuditEvent) {
  return insertEventIf(db, event, sql`changes() > 0`);
}

/** The event, inserted only where `condition` holds when the statement runs. */
export function insertEventIf(db: Db, event: AuditEvent, condition: SQL) {
  return db.insert(auditEvents).select(rowsWhere(auditEvents, event, condition));
}

/** What differs between the events of `changeWithEventPerRow`: SQL expressions over each selected row. */
type PerRowEntry = { workspaceId?: SQL; resourceId: SQL; resourceName: SQL; metadata: SQL };

/** The rows a change makes, one event each: `event` gives what the events share, `perRow` the rest. */
type EventPerRow = { event: AuditEvent; perRow: PerRowEntry; from: SQL; rows: SQL };

/**
 * Statements for one D1 batch: an event for each row `from … where rows` selects, then `change(rows)`, the
 * statement that changes exactly those rows. The events come first, chosen by the change's own condition:
 * a batch is one transaction, so they are of exactly the rows the change then changes. (Selecting the rows
 * after the change by a value it wrote, such as its timestamp, also picks rows another batch wrote with the
 * same value in the same millisecond, under this batch's actor and reason: decision 0038.)
 */
export function changeWithEventPerRow<Change extends BatchItem<"sqlite">>(
  db: Db,
  { event, perRow, from, rows }: EventPerRow,
  change: (rows: SQL) => Change,
) {
  const requestId = event.metadata?.request_id;
  const metadata = typeof requestId === "string" ? sql`json_set(${perRow.metadata}, '$.request_id', ${requestId})` : perRow.metadata;
  const events = db.insert(auditEvents).select(rowsWhere(auditEvents, { ...event, id: SQL_UUID, ...perRow, metadata }, rows, from));
  return [events, change(rows)] as const;
}

/** True once the event is in the table: the condition for what may only follow a recorded write. */
export function eventRecorded(eventId: string): SQL {
  return sql`exists (select 1 from ${auditEvents} where ${auditEvents.id} = ${eventId})`;
}

export function deleteEvent(db: Db, eventId: string) {
  return db.delete(auditEvents).where(eq(auditEvents.id, eventId));
}

/** `{ field: { old, new } }` for each field whose value differs (compared as JSON, so lists compare by content). */
export function changedFields(
  before: Record<string, unknown>,
  after: Record<string, unknown>,
): Record<string, { old: unknown; new: unknown }> {
  const changes: Record<string, { old: unknown; new: unknown }> = {};
  for (const field of Object.keys(after)) {
    if (JSON.stringify(before[field]) !== JSON.stringify(after[field]))
      changes[field] = { old: before[field] ?? null, new: after[field] ?? null };
  }
  return changes;
}
