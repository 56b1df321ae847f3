import { and, eq, inArray, lt, or, type SQL } from "drizzle-orm";
import { SCOPES } from "../../core/domain";
import type { Storage } from "../../core/env";
import { ApiError } from "../../core/errors";
import { bestEffort } from "../../core/logger";
import type { IdentityPrincipal } from "../../core/principal";
import { SECRET_PREFIXES } from "../../core/token-format";
import { providerConfig } from "../../security/oidc-providers";
import { derivedUuid, generateSecret, sha256Hex } from "../../security/secret";
import { type AuditActor, insertEvent } from "../../storage/audit-events/record";
import { apiKeys, identityRevocationSweeps, invitations } from "../../storage/d1/schema";
import {
  clearRevoked,
  deleteIdentity,
  getIdentity,
  grantsRevokedBefore,
  type IdentityRecord,
  identityEvent,
  identityPage,
  identityWithRevocation,
  markGrantsRevoked,
  markRevoked,
  type RevokedBefore,
  revokedBeforePage,
  saveIdentity,
} from "../../storage/identities";
import { kvDelete, kvKeys, kvPutJson } from "../../storage/kv";
import { revokeSignInsOf } from "../../storage/sign-ins";
import { purgeRevokedKeyRecords, revokeKeysStatements } from "../api-keys/service";
import { revokeInvitationsStatements } from "../invitations/service";
import type { CreateIdentityRequest, IdentityListItem } from "./schemas";

/**
 * The identity record (holding only token hashes) is written before the token's principal record, so a
 * token can never exist that revocation cannot find. Then the
 * `identity.created` event goes to this region's operator log. If a later write fails, the earlier ones
 * are undone and the caller sees 503.
 */
export async function createIdentity(
  { db, kv, logger }: Storage,
  input: CreateIdentityRequest,
  actor: AuditActor,
): Promise<{ record: IdentityRecord; token: string }> {
  const token = generateSecret(SECRET_PREFIXES.identity);
  const tokenHash = await sha256Hex(token);
  const record: IdentityRecord = {
    identity_id: crypto.randomUUID(),
    email: input.email,
    email_verified: true,
    display_name: input.display_name ?? null,
    scopes: [...new Set(input.scopes ?? SCOPES)],
    token_hashes: [tokenHash],
    created_at: new Date().toISOString(),
    revoked_at: null,
    issuer: null,
    subject: null,
  };
  await saveIdentity(kv, record);
  try {
    await kvPutJson(kv, kvKeys.principal(SECRET_PREFIXES.identity, tokenHash), personalPrincipal(record));
    await insertEvent(db, identityEvent(actor, record, "identity.created", { scopes: record.scopes }));
  } catch (err) {
    await bestEffort(
      logger,
      "undo identity create",
      // Deleting a record that was never written is harmless: all go, whichever step failed.
      async () => {
        await kvDelete(kv, kvKeys.principal(SECRET_PREFIXES.identity, tokenHash));
        await deleteIdentity(kv, record);
      },
      { identity_id: record.identity_id },
    );
    throw err;
  }
  return { record, token };
}

/** What a personal access token of the identity verifies into; each token has its own credential id. */
function personalPrincipal({ identity_id, email, display_name, scopes }: IdentityRecord): IdentityPrincipal {
  return { type: "identity", identity_id, credential_id: crypto.randomUUID(), email, display_name, scopes };
}

/**
 * Disables the identity: marks it revoked (its provider's tokens are refused from then on: authenticate
 * reads the marker) and its grants revoked (every API key it holds and every invitation it issued, in every
 * region: see applyGrantRevocation), deletes every personal token, revokes its grants in this region's D1
 * at once, then records `identity.revoked` in this region's operator log. Safe to repeat: a retry after a
 * KV or D1 failure completes whatever is left, and records the event once (its id is derived from the
 * identity's and the revocation's time, and the outbox and the store each keep one event per id). 404
 * for an unknown identity.
 */
export async function revokeIdentity(storage: Storage, identityId: string, actor: AuditActor): Promise<void> {
  const { db, kv } = storage;
  const record = await getIdentity(kv, identityId);
  if (record === null) throw identityNotFound();
  await markRevoked(kv, identityId);
  const marker = await markGrantsRevoked(kv, record, null);
  for (const hash of record.token_hashes) await kvDelete(kv, kvKeys.principal(SECRET_PREFIXES.identity, hash));
  const revokedAt = record.revoked_at ?? new Date().toISOString();
  await saveIdentity(kv, { ...record, token_hashes: [], revoked_at: revokedAt }, record);
  await applyGrantRevocation(storage, identityId, marker, actor);
  const event = {
    ...identityEvent(actor, record, "identity.revoked"),
    id: await derivedUuid(`identity.revoked:${identityId}:${revokedAt}`),
  };
  await insertEvent(db, event).onConflictDoNothing();
}

/**
 * Lets a revoked identity sign in again, recorded as `identity.enabled`. A provider's tokens work again at
 * once; the personal tokens revocation deleted never do, so a personal-token identity gets a new one
 * (returned once). Nothing else comes back: the grants marker now names this moment, so every key it held
 * and every invitation it issued before stays revoked in every region. An identity that is not revoked is
 * left as it is (no token, no event).
 */
export async function enableIdentity(
  { db, kv, logger }: Storage,
  identityId: string,
  actor: AuditActor,
): Promise<{ record: IdentityRecord; token: string | null }> {
  const { record, revokedAt } = await identityWithRevocation(kv, identityId);
  if (record === null) throw identityNotFound();
  if (revokedAt === null) return { record, token: null };
  const token = record.issuer === null ? generateSecret(SECRET_PREFIXES.identity) : null;
  const tokenHash = token === null ? null : await sha256Hex(token);
  const enabled: IdentityRecord = { ...record, revoked_at: null, token_hashes: tokenHash === null ? [] : [tokenHash] };
  const event = {
    ...identityEvent(actor, record, "identity.enabled"),
    id: await derivedUuid(`identity.enabled:${identityId}:${record.revoked_at}`),
  };
  // The record (holding the new hash) first, as on create: no token can exist that revocation cannot find.
  // The marker goes last among the KV writes: until then the identity is still refused.
  await saveIdentity(kv, enabled, record);
  try {
    if (tokenHash !== null) await kvPutJson(kv, kvKeys.principal(SECRET_PREFIXES.identity, tokenHash), personalPrincipal(enabled));
    // Before the identity is let back in: from here on only what it hands out from now works.
    await markGrantsRevoked(kv, record, new Date().toISOString());
    await clearRevoked(kv, identityId);
    await insertEvent(db, event).onConflictDoNothing();
  } catch (err) {
    await bestEffort(
      logger,
      "undo identity enable",
      async () => {
        await markRevoked(kv, identityId);
        await markGrantsRevoked(kv, record, null);
        if (tokenHash !== null) await kvDelete(kv, kvKeys.principal(SECRET_PREFIXES.identity, tokenHash));
        await saveIdentity(kv, record, enabled);
      },
      { identity_id: identityId },
    );
    throw err;
  }
  return { record: enabled, token };
}

/** A page of identities (or those with `email`), each as the operator sees it. */
export async function listIdentities(
  { kv }: Storage,
  query: { email?: string; limit: number; continuation_token?: string },
  oidcProviders: unknown,
) {
  const { identities, cursor } = await identityPage(kv, query.email ?? null, query.limit, query.continuation_token ?? null);
  return {
    items: identities.map((record) => identityListItem(record, oidcProviders)),
    has_more: cursor !== null,
    continuation_token: cursor,
  };
}

/**
 * How the operator sees an identity (`oidcProviders`: the OIDC_PROVIDERS variable). A provider's identity has
 * the scopes its issuer is configured with now (none if it no longer is): its tokens can only narrow them.
 */
export function identityListItem(record: IdentityRecord, oidcProviders: unknown): IdentityListItem {
  const { identity_id, email, email_verified, display_name, scopes, issuer, created_at, revoked_at } = record;
  const config = providerConfig(oidcProviders);
  const providerScopes = (of: string) => ("providers" in config ? (config.providers.get(of)?.scopes ?? []) : []);
  return {
    identity_id,
    email,
    email_verified,
    display_name,
    scopes: issuer === null ? scopes : providerScopes(issuer),
    sign_in: issuer === null ? "personal_token" : "identity_provider",
    issuer,
    created_at,
    revoked_at,
  };
}

const identityNotFound = () => new ApiError("not_found", "Identity not found.");

// --- a disabled person's grants, in each region ------------------------------------------------------

/**
 * How long after a marker was written a location may still not see it (KV's propagation bound, with
 * margin): what the person hands out meanwhile is covered by the marker, and a region that applied the
 * marker before this passed applies it once more after.
 */
const PROPAGATION_MS = 2 * 60 * 1000;

/** Markers one scheduled run applies (each a D1 batch and its keys' KV purge); the rest go with the next run. */
const SWEEP_APPLY_MAX = 50;
/** KV list pages of markers one scheduled run reads (1,000 names each). */
const SWEEP_PAGES_MAX = 10;
/** Ids per D1 read of the sweep notes: one `IN (...)`, within D1's 100 bound parameters. */
const SWEEP_CHUNK = 90;

/**
 * Revokes in this region's D1 what the marker names (the keys the person holds whose secret was issued
 * before its cutoff, the pending invitations they issued or that are addressed to their email made before
 * it; everything while `before` is null),
 * each with its `api_key.deleted` or `invitation.revoked` event (reason `identity_disabled`), in one batch
 * with the note that this region applied the marker; then deletes the revoked keys' KV records. Until a
 * region applies it, the marker itself refuses those keys (authenticate) and invitations (acceptance).
 */
async function applyGrantRevocation(storage: Storage, identityId: string, marker: RevokedBefore, actor: AuditActor) {
  const { db } = storage;
  const at = new Date().toISOString();
  const revocation = { at, actor, reason: "identity_disabled" } as const;
  const held = eq(apiKeys.accountableEntityId, identityId);
  const issued = or(
    eq(invitations.invitedByEntityId, identityId),
    marker.email === null ? undefined : eq(invitations.email, marker.email),
  ) as SQL;
  const { before } = marker;
  await db.batch([
    ...revokeKeysStatements(db, before === null ? held : (and(held, lt(apiKeys.secretIssuedAt, before)) as SQL), revocation),
    ...revokeInvitationsStatements(db, before === null ? issued : (and(issued, lt(invitations.createdAt, before)) as SQL), revocation),
    revokeSignInsOf(db, identityId, before, at),
    db
      .insert(identityRevocationSweeps)
      .values({ identityId, revokedBefore: before, sweptAt: at })
      .onConflictDoUpdate({ target: identityRevocationSweeps.identityId, set: { revokedBefore: before, sweptAt: at } }),
  ]);
  const left = await purgeRevokedKeyRecords(storage, held);
  if (left > 0) storage.logger.warn("a disabled person's revoked keys' records left to purge", { identity_id: identityId, left });
}

/** Whether this region has applied the marker as it stands, after every location could see it. */
function applied(marker: RevokedBefore, sweep: { revokedBefore: string | null; sweptAt: string } | undefined): boolean {
  return (
    sweep !== undefined && sweep.revokedBefore === marker.before && Date.parse(sweep.sweptAt) >= Date.parse(marker.at) + PROPAGATION_MS
  );
}

/**
 * The scheduled run's part (hourly, per region): every person's marker (KV's list) that this region has not
 * applied as it stands is applied here, at most SWEEP_APPLY_MAX a run. Returns how many were applied.
 */
export async function sweepGrantRevocations(storage: Storage, actor: AuditActor): Promise<number> {
  let applies = 0;
  let cursor: string | null = null;
  for (let page = 0; page < SWEEP_PAGES_MAX && applies < SWEEP_APPLY_MAX; page++) {
    const listed = await revokedBeforePage(storage.kv, cursor);
    for (let i = 0; i < listed.markers.length && applies < SWEEP_APPLY_MAX; i += SWEEP_CHUNK) {
      const chunk = listed.markers.slice(i, i + SWEEP_CHUNK);
      const sweeps = await storage.db
        .select()
        .from(identityRevocationSweeps)
        .where(
          inArray(
            identityRevocationSweeps.identityId,
            chunk.map((m) => m.identityId),
          ),
        );
      const byId = new Map(sweeps.map((sweep) => [sweep.identityId, sweep]));
      for (const { identityId, marker } of chunk) {
        if (applies >= SWEEP_APPLY_MAX || applied(marker, byId.get(identityId))) continue;
        // The listed metadata has no email (KV's 1 KiB limit on metadata): the value has.
        await applyGrantRevocation(storage, identityId, (await grantsRevokedBefore(storage.kv, identityId)) ?? marker, actor);
        applies += 1;
      }
    }
    cursor = listed.cursor;
    if (cursor === null) break;
  }
  return applies;
}
