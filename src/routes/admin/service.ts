import { SCOPES } from "../../core/domain";
import type { Storage } from "../../core/env";
import { ApiError } from "../../core/errors";
import { bestEffort } from "../../core/logger";
import type { IdentityPrincipal } from "../../core/principal";
import { SECRET_PREFIXES } from "../../core/token-format";
import { providerConfig } from "../../security/oidc-providers";
import { derivedUuid, generateSecret, sha256Hex } from "../../security/secret";
import { type AuditActor, insertEvent } from "../../storage/audit-events/record";
import {
  clearRevoked,
  deleteIdentity,
  getIdentity,
  type IdentityRecord,
  identityEvent,
  identityPage,
  identityWithRevocation,
  markRevoked,
  saveIdentity,
} from "../../storage/identities";
import { kvDelete, kvKeys, kvPutJson } from "../../storage/kv";
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
 * Deletes every token of the identity, marks it revoked, then records `identity.revoked` in this region's
 * operator log. A provider's tokens for it are refused from then on (authenticate reads `revoked_at`).
 * Safe to repeat: a retry after a KV or D1 failure completes whatever is left, and records the event once
 * (its id is derived from the identity's and the revocation's time, and the outbox and the store each keep
 * one event per id). 404 for an unknown identity.
 */
export async function revokeIdentity({ db, kv }: Storage, identityId: string, actor: AuditActor): Promise<void> {
  const record = await getIdentity(kv, identityId);
  if (record === null) throw identityNotFound();
  await markRevoked(kv, identityId);
  for (const hash of record.token_hashes) await kvDelete(kv, kvKeys.principal(SECRET_PREFIXES.identity, hash));
  const revokedAt = record.revoked_at ?? new Date().toISOString();
  await saveIdentity(kv, { ...record, token_hashes: [], revoked_at: revokedAt }, record);
  const event = {
    ...identityEvent(actor, record, "identity.revoked"),
    id: await derivedUuid(`identity.revoked:${identityId}:${revokedAt}`),
  };
  await insertEvent(db, event).onConflictDoNothing();
}

/**
 * Lets a revoked identity sign in again, recorded as `identity.enabled`. A provider's tokens work again at
 * once; the personal tokens revocation deleted never do, so a personal-token identity gets a new one
 * (returned once). An identity that is not revoked is left as it is (no token, no event).
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
    await clearRevoked(kv, identityId);
    await insertEvent(db, event).onConflictDoNothing();
  } catch (err) {
    await bestEffort(
      logger,
      "undo identity enable",
      async () => {
        await markRevoked(kv, identityId);
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
