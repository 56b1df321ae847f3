import { and, eq, isNull, lt, or, type SQL, sql } from "drizzle-orm";
import type { Db } from "../core/env";
import { type AuditEvent, insertEventIfChanged } from "./audit-events/record";
import { rowsWhere } from "./d1/conditional-insert";
import { type DeviceAuthorizationRow, deviceAuthorizations, type RefreshTokenRow, refreshTokens } from "./d1/schema";

/**
 * The sign-in grants in this region's D1 (decision 0040): device authorizations and refresh tokens, by the
 * SHA-256 of their secrets. Every change of state is one conditional statement (with its audit event in the
 * same batch), so two requests racing on one code or one token never both win.
 */

export type NewDeviceAuthorization = typeof deviceAuthorizations.$inferInsert;
export type NewRefreshToken = Omit<typeof refreshTokens.$inferInsert, "spentAt" | "replacedBy" | "revokedAt" | "revokedReason">;

export function insertDeviceAuthorization(db: Db, row: NewDeviceAuthorization) {
  return db.insert(deviceAuthorizations).values(row);
}

export async function deviceAuthorizationBy(
  db: Db,
  code: { deviceCodeHash: string } | { userCodeHash: string },
): Promise<DeviceAuthorizationRow | undefined> {
  const where =
    "deviceCodeHash" in code
      ? eq(deviceAuthorizations.deviceCodeHash, code.deviceCodeHash)
      : eq(deviceAuthorizations.userCodeHash, code.userCodeHash);
  const [row] = await db.select().from(deviceAuthorizations).where(where);
  return row;
}

/** Notes a poll (and, for a poller that came too early, its interval 5 s longer: RFC 8628 §3.5's `slow_down`). */
export async function recordPoll(db: Db, id: string, at: string, intervalSeconds: number) {
  await db.update(deviceAuthorizations).set({ lastPolledAt: at, intervalSeconds }).where(eq(deviceAuthorizations.id, id));
}

/**
 * The person's decision on a pending, unexpired request (and the scopes it grants), with its event; false when it was no longer
 * pending (decided meanwhile, or expired).
 */
export async function decideDeviceAuthorization(
  db: Db,
  id: string,
  decision: { state: "approved" | "denied"; identityId: string; scope: string; at: string },
  event: AuditEvent,
): Promise<boolean> {
  const [decided] = await db.batch([
    db
      .update(deviceAuthorizations)
      .set({ state: decision.state, identityId: decision.identityId, scope: decision.scope, decidedAt: decision.at })
      .where(
        and(
          eq(deviceAuthorizations.id, id),
          eq(deviceAuthorizations.state, "pending"),
          sql`${deviceAuthorizations.expiresAt} > ${decision.at}`,
        ),
      )
      .returning({ id: deviceAuthorizations.id }),
    insertEventIfChanged(db, event),
  ]);
  return decided.length === 1;
}

/**
 * Takes an approved request's tokens, once and before it expires: it becomes `consumed` and the sign-in's
 * first refresh token is written, in one batch; false when another poll took them first (or it just expired).
 */
export async function consumeDeviceAuthorization(db: Db, id: string, first: NewRefreshToken): Promise<boolean> {
  const [consumed] = await db.batch([
    db
      .update(deviceAuthorizations)
      .set({ state: "consumed" })
      .where(
        and(
          eq(deviceAuthorizations.id, id),
          eq(deviceAuthorizations.state, "approved"),
          sql`${deviceAuthorizations.expiresAt} > ${first.issuedAt}`,
        ),
      )
      .returning({ id: deviceAuthorizations.id }),
    db.insert(refreshTokens).select(rowsWhere(refreshTokens, first, sql`changes() > 0`)),
  ]);
  return consumed.length === 1;
}

export async function refreshTokenByHash(db: Db, tokenHash: string): Promise<RefreshTokenRow | undefined> {
  const [row] = await db.select().from(refreshTokens).where(eq(refreshTokens.tokenHash, tokenHash));
  return row;
}

/**
 * Spends `spent` and writes `next`, its successor in the family, in one batch: only while `spent` is live
 * (not spent, not revoked, not expired at `at`). False when it was not: the caller treats that as reuse.
 */
export async function rotateRefreshToken(db: Db, spent: RefreshTokenRow, next: NewRefreshToken, at: string): Promise<boolean> {
  const [rotated] = await db.batch([
    db
      .update(refreshTokens)
      .set({ spentAt: at, replacedBy: next.id })
      .where(
        and(
          eq(refreshTokens.id, spent.id),
          isNull(refreshTokens.spentAt),
          isNull(refreshTokens.revokedAt),
          sql`${refreshTokens.expiresAt} > ${at}`,
        ),
      )
      .returning({ id: refreshTokens.id }),
    db.insert(refreshTokens).select(rowsWhere(refreshTokens, next, sql`changes() > 0`)),
  ]);
  return rotated.length === 1;
}

/**
 * Revokes every live token of the family, with `event` when there was one to revoke (a repeat records
 * nothing). Returns whether this call revoked anything.
 */
export async function revokeFamily(db: Db, familyId: string, reason: string, at: string, event: AuditEvent | null): Promise<boolean> {
  const revoke = db
    .update(refreshTokens)
    .set({ revokedAt: at, revokedReason: reason })
    .where(and(eq(refreshTokens.familyId, familyId), isNull(refreshTokens.revokedAt)))
    .returning({ id: refreshTokens.id });
  if (event === null) return (await revoke).length > 0;
  const [revoked] = await db.batch([revoke, insertEventIfChanged(db, event)]);
  return revoked.length > 0;
}

/**
 * A disabled person's sign-ins in this region, revoked (those begun before `before`; all while it is
 * null): a statement for the batch that applies their revocation (routes/admin/service.ts).
 */
export function revokeSignInsOf(db: Db, identityId: string, before: string | null, at: string) {
  const held = eq(refreshTokens.identityId, identityId);
  return db
    .update(refreshTokens)
    .set({ revokedAt: at, revokedReason: "identity_disabled" })
    .where(and(before === null ? held : and(held, lt(refreshTokens.familyCreatedAt, before)), isNull(refreshTokens.revokedAt)) as SQL);
}

/** What the hourly sweep deletes: requests a day past their expiry, and refresh tokens a day past theirs or revoked a day ago; how many. */
export async function deleteDeadSignIns(db: Db, now: number): Promise<number> {
  const dayAgo = new Date(now - 24 * 60 * 60 * 1000).toISOString();
  const [requests, tokens] = await db.batch([
    db.delete(deviceAuthorizations).where(lt(deviceAuthorizations.expiresAt, dayAgo)),
    db.delete(refreshTokens).where(or(lt(refreshTokens.expiresAt, dayAgo), lt(refreshTokens.revokedAt, dayAgo))),
  ]);
  return requests.meta.changes + tokens.meta.changes;
}
